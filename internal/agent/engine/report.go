package engine

import (
	"reflect"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// report publishes the task's state and tells the Reporter, unless nothing
// changed since the last report.
func (m *taskManager) report() {
	if m.known == taskNone {
		return
	}
	change := m.build()
	m.pubMu.Lock()
	same := m.pub != nil && reflect.DeepEqual(*m.pub, change)
	if !same {
		m.pub = &change
	}
	m.pubMu.Unlock()
	if !same {
		m.e.cfg.Reporter.Report(cloneChange(change))
	}
}

// published returns a copy of the last reported state.
func (m *taskManager) published() (TaskStateChange, bool) {
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	if m.pub == nil {
		return TaskStateChange{}, false
	}
	return cloneChange(*m.pub), true
}

// build assembles the task's full current state.
func (m *taskManager) build() TaskStateChange {
	out := TaskStateChange{
		TaskARN:            m.arn,
		Family:             aws.ToString(m.task.TaskDefinition.Family),
		Revision:           aws.ToInt32(m.task.TaskDefinition.Revision),
		Status:             m.known.String(),
		PullStartedAt:      m.pullStartedAt,
		PullStoppedAt:      m.pullStoppedAt,
		StartedAt:          m.startedAt,
		ExecutionStoppedAt: m.execStoppedAt,
	}
	if m.known == taskStopped {
		out.Reason, out.StopCode = m.reason, m.stopCode
	}
	for _, c := range m.containers {
		out.Containers = append(out.Containers, ContainerStateChange{
			Name:            c.name,
			RuntimeID:       c.runtimeID,
			ImageDigest:     c.imageDigest,
			Status:          c.known.reported(),
			Reason:          c.reason,
			ExitCode:        c.exitCode,
			NetworkBindings: c.bindings,
			HealthStatus:    c.health,
		})
	}
	return cloneChange(out)
}

// cloneChange deep-copies a change so no caller shares memory with the engine.
func cloneChange(in TaskStateChange) TaskStateChange {
	out := in
	out.PullStartedAt = cloneTime(in.PullStartedAt)
	out.PullStoppedAt = cloneTime(in.PullStoppedAt)
	out.StartedAt = cloneTime(in.StartedAt)
	out.ExecutionStoppedAt = cloneTime(in.ExecutionStoppedAt)
	out.Containers = slices.Clone(in.Containers)
	for i, c := range out.Containers {
		if c.ExitCode != nil {
			code := *c.ExitCode
			out.Containers[i].ExitCode = &code
		}
		out.Containers[i].NetworkBindings = nil
		for _, b := range c.NetworkBindings {
			out.Containers[i].NetworkBindings = append(out.Containers[i].NetworkBindings, ecstypes.NetworkBinding{
				BindIP:             cloneP(b.BindIP),
				ContainerPort:      cloneP(b.ContainerPort),
				ContainerPortRange: cloneP(b.ContainerPortRange),
				HostPort:           cloneP(b.HostPort),
				HostPortRange:      cloneP(b.HostPortRange),
				Protocol:           cloneP(b.Protocol),
			})
		}
	}
	return out
}

func cloneTime(t *time.Time) *time.Time { return cloneP(t) }

func cloneP[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
