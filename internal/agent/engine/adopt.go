package engine

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// adopt takes over the containers found at Start for this task: running
// ones are watched again, exited ones keep their exit code (so the usual
// essential-exit logic applies), and nothing is created for them anew.
func (m *taskManager) adopt(ctx context.Context) {
	if len(m.adopted) == 0 {
		return
	}
	groups := map[string][]runtime.ContainerState{}
	for _, st := range m.adopted {
		name := st.Labels[LabelContainerName]
		groups[name] = append(groups[name], st)
	}
	m.adopted = nil
	for name, states := range groups {
		c := m.byName[name]
		keep := preferred(states)
		for _, st := range states {
			if c == nil || st.ID != keep.ID {
				m.log.Warn("removing adopted container the task does not need", "container", name, "id", st.ID)
				m.remove(ctx, st.ID)
			}
		}
		if c == nil {
			continue
		}
		st, err := m.inspect(ctx, keep.ID)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // gone since Start: create it again
		}
		if err != nil {
			m.log.Warn("inspect adopted container; using its listed state", "container", name, "err", err)
			st = keep
		}
		m.adoptContainer(ctx, c, st)
	}
	m.known = taskPending
	if m.essentialsRunning() {
		m.known = taskRunning
		var latest time.Time
		for _, c := range m.containers {
			if st := c.adoptedStart; st.After(latest) {
				latest = st
			}
		}
		if !latest.IsZero() {
			m.startedAt = &latest
		}
	}
	m.log.Info("adopted task", "status", m.known.String())
}

// adoptContainer sets c's state from its existing container.
func (m *taskManager) adoptContainer(ctx context.Context, c *containerState, st runtime.ContainerState) {
	c.runtimeID = st.ID
	c.adoptedStart = st.StartedAt
	// The spec gives the declared ports that host-mode bindings report.
	if spec, err := buildSpec(specInput{
		Task: m.task, Container: c.def, Override: containerOverride(m.task.Overrides, c.name),
		NetworkMode: m.mode, ClusterARN: m.e.cfg.ClusterARN, InstanceARN: m.e.cfg.InstanceARN,
		NvidiaRuntime: m.e.cfg.NvidiaRuntime,
	}); err == nil {
		c.spec = spec
	}
	switch {
	case st.Running:
		c.known, c.started = containerRunning, true
		m.observe(c, st)
		m.watch(ctx, c, 0)
	case st.Status == "created":
		c.known = containerCreated
	default:
		code := st.ExitCode
		c.known, c.started, c.exitCode = containerStopped, !st.StartedAt.IsZero(), &code
		c.imageDigest = st.ImageID
	}
	m.log.Info("adopted container", "container", c.name, "id", st.ID, "status", c.known.String())
}

// preferred picks the container to keep among duplicates: a running one,
// else the newest.
func preferred(states []runtime.ContainerState) runtime.ContainerState {
	best := states[0]
	for _, st := range states[1:] {
		if st.Running != best.Running {
			if st.Running {
				best = st
			}
			continue
		}
		if st.CreatedAt.After(best.CreatedAt) {
			best = st
		}
	}
	return best
}

func (m *taskManager) remove(ctx context.Context, id string) {
	cctx, cancel := m.e.call(ctx)
	defer cancel()
	if err := m.e.cfg.Runtime.RemoveContainer(cctx, id); err != nil {
		m.log.Warn("remove container", "id", id, "err", err)
	}
}

// orphanTask describes, from their labels, a task whose containers were
// adopted but which the server does not list, so it can be stopped and
// cleaned up like any other.
func orphanTask(arn string, states []runtime.ContainerState) Task {
	def := ecstypes.TaskDefinition{}
	seen := map[string]bool{}
	for _, st := range states {
		def.Family = aws.String(st.Labels[LabelFamily])
		if rev, err := strconv.Atoi(st.Labels[LabelRevision]); err == nil {
			def.Revision = aws.Int32(int32(rev))
		}
		name := st.Labels[LabelContainerName]
		if seen[name] {
			continue
		}
		seen[name] = true
		def.ContainerDefinitions = append(def.ContainerDefinitions, ecstypes.ContainerDefinition{
			Name: aws.String(name), Image: aws.String(st.Image), Essential: aws.Bool(true),
		})
	}
	slices.SortFunc(def.ContainerDefinitions, func(a, b ecstypes.ContainerDefinition) int {
		return strings.Compare(aws.ToString(a.Name), aws.ToString(b.Name))
	})
	return Task{Arn: arn, DesiredStatus: ecstypes.DesiredStatusSTOPPED, TaskDefinition: def}
}
