package ecs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// essentialExitReason is the stoppedReason the agent reports, as ECS words it.
const essentialExitReason = "Essential container in task exited"

// stopCodeFor derives the stopCode of a task its agent stopped on its own:
// an essential container exited, or the task never got going.
func stopCodeFor(reason string, reachedRunning bool) string {
	if reason == essentialExitReason || reachedRunning {
		return ecstypes.TaskStopCodeEssentialContainerExited
	}
	return ecstypes.TaskStopCodeTaskFailedToStart
}

// markStopped records a task as STOPPED and releases what it held.
func (s *Service) markStopped(tx *store.Tx, cname string, rec *taskRecord, reason string, executionStoppedAt *ecstypes.Timestamp) error {
	t := &rec.Task
	now := ecstypes.Time(s.now())
	reachedRunning := t.StartedAt != nil
	t.LastStatus = aws.String("STOPPED")
	t.DesiredStatus = aws.String("STOPPED")
	t.StoppedAt = now
	if t.StoppingAt == nil {
		t.StoppingAt = now
	}
	t.ExecutionStoppedAt = executionStoppedAt
	if t.ExecutionStoppedAt == nil {
		t.ExecutionStoppedAt = now
	}
	if t.StoppedReason == nil && reason != "" {
		t.StoppedReason = aws.String(reason)
	}
	if t.StopCode == nil {
		t.StopCode = aws.String(stopCodeFor(aws.ToString(t.StoppedReason), reachedRunning))
	}
	for i := range t.Containers {
		t.Containers[i].LastStatus = aws.String("STOPPED")
	}
	if rec.Released {
		return nil
	}
	rec.Released = true
	// The caller writes the task again; written now so that a record from
	// before instances kept their holdings counts without it (release).
	store.Put(tx, tasks, cname+"/"+idFromARN(aws.ToString(t.TaskArn)), *rec)
	return s.release(tx, cname, rec.InstanceID, rec.Reserved)
}

// applyContainerChange merges one container report into the task.
func applyContainerChange(t *ecstypes.Task, name string, ch ecstypes.ContainerStateChange) {
	for i := range t.Containers {
		c := &t.Containers[i]
		if aws.ToString(c.Name) != name {
			continue
		}
		if st := aws.ToString(ch.Status); st != "" && statusBefore(containerStatusOrder, aws.ToString(c.LastStatus), st) {
			c.LastStatus = aws.String(st)
		}
		if ch.RuntimeId != nil {
			c.RuntimeId = ch.RuntimeId
		}
		if ch.ImageDigest != nil {
			c.ImageDigest = ch.ImageDigest
		}
		if ch.ExitCode != nil {
			c.ExitCode = ch.ExitCode
		}
		if ch.Reason != nil {
			c.Reason = ch.Reason
		}
		if ch.NetworkBindings != nil {
			c.NetworkBindings = ch.NetworkBindings
		}
	}
}

func (s *Service) getTaskForAgent(tx *store.Tx, clusterRef, taskRef string) (string, taskRecord, error) {
	cname, id, ok := s.taskRef(clusterRef, taskRef)
	if !ok {
		return "", taskRecord{}, errTaskNotFound()
	}
	rec, err := store.Get(tx, tasks, cname+"/"+id)
	if errors.Is(err, store.ErrNotFound) {
		return "", taskRecord{}, errTaskNotFound()
	}
	if err != nil {
		return "", taskRecord{}, fmt.Errorf("get task %s: %w", id, err)
	}
	return cname, rec, nil
}

// SubmitTaskStateChange records an agent's report of a task's state.
func (s *Service) SubmitTaskStateChange(ctx context.Context, in *ecstypes.SubmitTaskStateChangeRequest) (*ecstypes.SubmitTaskStateChangeResponse, error) {
	status := aws.ToString(in.Status)
	if status != "" && !containsStr(taskStatusOrder, status) {
		return nil, awserr.InvalidParameter("%s", "Invalid task status "+status+".")
	}
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		cname, rec, err := s.getTaskForAgent(tx, aws.ToString(in.Cluster), aws.ToString(in.Task))
		if err != nil {
			return err
		}
		t := &rec.Task
		if aws.ToString(t.LastStatus) == "STOPPED" {
			return nil // final; late reports change nothing
		}
		for _, ch := range in.Containers {
			applyContainerChange(t, aws.ToString(ch.ContainerName), ch)
		}
		if in.PullStartedAt != nil {
			t.PullStartedAt = in.PullStartedAt
		}
		if in.PullStoppedAt != nil {
			t.PullStoppedAt = in.PullStoppedAt
		}
		if status != "" && statusBefore(taskStatusOrder, aws.ToString(t.LastStatus), status) {
			switch status {
			case "STOPPED":
				if err := s.markStopped(tx, cname, &rec, aws.ToString(in.Reason), in.ExecutionStoppedAt); err != nil {
					return err
				}
			case "RUNNING":
				now := ecstypes.Time(s.now())
				t.LastStatus = aws.String("RUNNING")
				t.StartedAt = now
				t.Connectivity = aws.String("CONNECTED")
				t.ConnectivityAt = now
			default:
				t.LastStatus = aws.String(status)
			}
		}
		t.Version = aws.Int64(aws.ToInt64(t.Version) + 1)
		store.Put(tx, tasks, cname+"/"+idFromARN(aws.ToString(t.TaskArn)), rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.SubmitTaskStateChangeResponse{Acknowledgment: aws.String("ACK")}, nil
}

// SubmitContainerStateChange records an agent's report of one container.
func (s *Service) SubmitContainerStateChange(ctx context.Context, in *ecstypes.SubmitContainerStateChangeRequest) (*ecstypes.SubmitContainerStateChangeResponse, error) {
	if aws.ToString(in.ContainerName) == "" {
		return nil, awserr.InvalidParameter("containerName is required.")
	}
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		cname, rec, err := s.getTaskForAgent(tx, aws.ToString(in.Cluster), aws.ToString(in.Task))
		if err != nil {
			return err
		}
		if !containsContainerName(rec.Task.Containers, aws.ToString(in.ContainerName)) {
			return awserr.InvalidParameter("%s", "The task has no container named "+aws.ToString(in.ContainerName)+".")
		}
		if aws.ToString(rec.Task.LastStatus) == "STOPPED" {
			return nil // final; late reports change nothing
		}
		applyContainerChange(&rec.Task, aws.ToString(in.ContainerName), ecstypes.ContainerStateChange{
			Status: in.Status, RuntimeId: in.RuntimeId, ExitCode: in.ExitCode, Reason: in.Reason, NetworkBindings: in.NetworkBindings,
		})
		rec.Task.Version = aws.Int64(aws.ToInt64(rec.Task.Version) + 1)
		store.Put(tx, tasks, cname+"/"+idFromARN(aws.ToString(rec.Task.TaskArn)), rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.SubmitContainerStateChangeResponse{Acknowledgment: aws.String("ACK")}, nil
}

// TaskHealth is the health of one task's containers as an agent reports it
// (over the telemetry connection).
type TaskHealth struct {
	TaskArn string
	// InstanceArn, when set, is the reporting instance: health for a task
	// placed elsewhere is refused.
	InstanceArn string
	Containers  []ContainerHealth
}

// ContainerHealth is HEALTHY, UNHEALTHY or UNKNOWN (ecstypes.HealthStatus*).
type ContainerHealth struct {
	Name, Status string
}

// ApplyHealth records container health an agent reports and derives the
// task's health from its essential, health-checked containers.
func (s *Service) ApplyHealth(ctx context.Context, cname string, h TaskHealth) error {
	return s.st.Update(ctx, func(tx *store.Tx) error {
		_, rec, err := s.getTaskForAgent(tx, cname, h.TaskArn)
		if err != nil {
			return err
		}
		t := &rec.Task
		if h.InstanceArn != "" && aws.ToString(t.ContainerInstanceArn) != h.InstanceArn {
			return awserr.Client("%s", "The task "+h.TaskArn+" is not on container instance "+h.InstanceArn+".")
		}
		changed := false
		for _, ch := range h.Containers {
			for i := range t.Containers {
				c := &t.Containers[i]
				if aws.ToString(c.Name) == ch.Name && aws.ToString(c.HealthStatus) != ch.Status {
					c.HealthStatus = aws.String(ch.Status)
					changed = true
				}
			}
		}
		health := taskHealth(rec)
		if health != aws.ToString(t.HealthStatus) {
			t.HealthStatus = aws.String(health)
			changed = true
		}
		if !changed {
			return nil
		}
		t.Version = aws.Int64(aws.ToInt64(t.Version) + 1)
		store.Put(tx, tasks, cname+"/"+idFromARN(aws.ToString(t.TaskArn)), rec)
		return nil
	})
}

// taskHealth is UNHEALTHY if any essential checked container is, HEALTHY if
// all are, UNKNOWN otherwise (including when none has a health check).
func taskHealth(rec taskRecord) string {
	if len(rec.HealthChecked) == 0 {
		return "UNKNOWN"
	}
	healthy := 0
	for _, c := range rec.Task.Containers {
		if !containsStr(rec.HealthChecked, aws.ToString(c.Name)) {
			continue
		}
		switch aws.ToString(c.HealthStatus) {
		case "UNHEALTHY":
			return "UNHEALTHY"
		case "HEALTHY":
			healthy++
		}
	}
	if healthy == len(rec.HealthChecked) {
		return "HEALTHY"
	}
	return "UNKNOWN"
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func containsContainerName(cs []ecstypes.Container, name string) bool {
	for _, c := range cs {
		if aws.ToString(c.Name) == name {
			return true
		}
	}
	return false
}

// DiscoverPollEndpoint tells an agent where its ACS socket is (the server's
// URL; the agent appends /ws) and its telemetry socket (TelemetryPrefix
// under it; the agent appends /ws too).
func (s *Service) DiscoverPollEndpoint(ctx context.Context, in *ecstypes.DiscoverPollEndpointRequest) (*ecstypes.DiscoverPollEndpointResponse, error) {
	base := strings.TrimSuffix(s.cfg.AdvertiseURL, "/")
	return &ecstypes.DiscoverPollEndpointResponse{
		Endpoint:               aws.String(base),
		TelemetryEndpoint:      aws.String(base + TelemetryPrefix),
		ServiceConnectEndpoint: aws.String(base),
	}, nil
}
