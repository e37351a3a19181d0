package ecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// taskStatusOrder ranks task statuses; a task's lastStatus only moves forward.
var taskStatusOrder = []string{"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}

// containerStatusOrder ranks container statuses.
var containerStatusOrder = []string{"PENDING", "RUNNING", "STOPPED"}

func statusBefore(order []string, a, b string) bool {
	return slices.Index(order, a) < slices.Index(order, b)
}

func errTaskNotFound() error { return awserr.InvalidParameter("The referenced task was not found.") }

// StopTask asks a task's agent to stop it.
func (s *Service) StopTask(ctx context.Context, in *ecstypes.StopTaskRequest) (*ecstypes.StopTaskResponse, error) {
	return s.stopTask(ctx, in, ecstypes.TaskStopCodeUserInitiated)
}

// stopTask is StopTask with the stop code to record: UserInitiated for the
// API, ServiceSchedulerInitiated for the service controller.
func (s *Service) stopTask(ctx context.Context, in *ecstypes.StopTaskRequest, stopCode string) (*ecstypes.StopTaskResponse, error) {
	if len(aws.ToString(in.Reason)) > 255 {
		return nil, awserr.InvalidParameter("reason can be up to 255 characters.")
	}
	cname, id, ok := s.taskRef(aws.ToString(in.Cluster), aws.ToString(in.Task))
	if !ok {
		return nil, errTaskNotFound()
	}
	var out ecstypes.Task
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		if _, err := s.getActiveCluster(tx, cname); err != nil {
			return err
		}
		var err error
		out, err = s.stopInTx(tx, cname, id, aws.ToString(in.Reason), stopCode)
		return err
	})
	if err != nil {
		return nil, err
	}
	out = taskReply(out, true)
	return &ecstypes.StopTaskResponse{Task: &out}, nil
}

// stopInTx marks one task of cluster cname to stop, in tx: desired STOPPED,
// with the reason (default "Task stopped by user") and stop code; a task
// whose instance is gone is STOPPED at once, since no agent will report it.
// A task already asked to stop is left as it is.
func (s *Service) stopInTx(tx *store.Tx, cname, id, reason, stopCode string) (ecstypes.Task, error) {
	rec, err := store.Get(tx, tasks, cname+"/"+id)
	if errors.Is(err, store.ErrNotFound) {
		return ecstypes.Task{}, errTaskNotFound()
	}
	if err != nil {
		return ecstypes.Task{}, fmt.Errorf("get task %s: %w", id, err)
	}
	t := &rec.Task
	if aws.ToString(t.DesiredStatus) == "STOPPED" {
		return rec.Task, nil
	}
	if reason == "" {
		reason = "Task stopped by user"
	}
	now := ecstypes.Time(s.now())
	t.DesiredStatus = aws.String("STOPPED")
	t.StoppedReason = aws.String(reason)
	t.StopCode = aws.String(stopCode)
	t.StoppingAt = now
	t.Version = aws.Int64(aws.ToInt64(t.Version) + 1)
	inst, ierr := store.Get(tx, instances, cname+"/"+rec.InstanceID)
	if ierr != nil && !errors.Is(ierr, store.ErrNotFound) {
		return ecstypes.Task{}, fmt.Errorf("get instance: %w", ierr)
	}
	if errors.Is(ierr, store.ErrNotFound) || aws.ToString(inst.Instance.Status) == "INACTIVE" {
		if err := s.markStopped(tx, cname, &rec, reason, nil); err != nil {
			return ecstypes.Task{}, err
		}
	}
	store.Put(tx, tasks, cname+"/"+id, rec)
	return rec.Task, nil
}

// taskStop is one task the service controller stops, and why.
type taskStop struct {
	ID, Reason string
	// Deactivate: a RUNNING task is held Deactivating while its load
	// balancer targets drain (services_ctl_lb.go).
	Deactivate bool
}

// stopBatch is how many tasks one transaction of stopTasks stops: each
// writes its task (and, if its instance is gone, the instance), within an
// external etcd's default of 128 operations a transaction.
const stopBatch = 50

// stopTasks stops tasks of cluster cname, stopBatch to a transaction, with
// stop code stopCode: what the service controller does to many tasks at
// once. It returns the ids it stopped (a task already gone is skipped)
// and the first error, after which it stops.
func (s *Service) stopTasks(ctx context.Context, cname string, stops []taskStop, stopCode string) ([]string, error) {
	var done []string
	for len(stops) > 0 {
		batch := stops[:min(stopBatch, len(stops))]
		stops = stops[len(batch):]
		var ids []string
		err := s.st.Update(ctx, func(tx *store.Tx) error {
			ids = ids[:0]
			refs := make([]store.Ref, 0, len(batch))
			for _, st := range batch {
				refs = append(refs, store.RefTo(s.st, tasks, cname+"/"+st.ID))
			}
			if err := store.Prefetch(tx, refs...); err != nil {
				return err
			}
			for _, st := range batch {
				if _, err := store.Get(tx, tasks, cname+"/"+st.ID); errors.Is(err, store.ErrNotFound) {
					continue // reaped since: nothing to stop
				}
				t, err := s.stopInTx(tx, cname, st.ID, st.Reason, stopCode)
				if err != nil {
					return err
				}
				if st.Deactivate && aws.ToString(t.LastStatus) == "RUNNING" {
					if err := deactivateInTx(tx, cname+"/"+st.ID); err != nil {
						return err
					}
				}
				ids = append(ids, st.ID)
			}
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("stop tasks: %w", err)
		}
		done = append(done, ids...)
	}
	return done, nil
}

// DescribeTasks describes tasks by ARN or id; unknown ones are MISSING failures.
func (s *Service) DescribeTasks(ctx context.Context, in *ecstypes.DescribeTasksRequest) (*ecstypes.DescribeTasksResponse, error) {
	if len(in.Tasks) == 0 {
		return nil, awserr.InvalidParameter("Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, awserr.InvalidParameter("A maximum of 100 tasks can be described at once.")
	}
	out := &ecstypes.DescribeTasksResponse{}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		out.Tasks, out.Failures = []ecstypes.Task{}, []ecstypes.Failure{}
		// Every task in one round trip, with the cluster.
		refs := []store.Ref{}
		if cname, ok := s.arns.clusterName(aws.ToString(in.Cluster)); ok {
			refs = append(refs, store.RefTo(s.st, clusters, cname))
		}
		for _, ref := range in.Tasks {
			if cname, id, ok := s.taskRef(aws.ToString(in.Cluster), ref); ok {
				refs = append(refs, store.RefTo(s.st, tasks, cname+"/"+id))
			}
		}
		if err := store.Prefetch(tx, refs...); err != nil {
			return err
		}
		if _, err := s.getActiveCluster(tx, aws.ToString(in.Cluster)); err != nil {
			return err
		}
		for _, ref := range in.Tasks {
			cname, id, ok := s.taskRef(aws.ToString(in.Cluster), ref)
			var rec taskRecord
			var err error
			if ok {
				rec, err = store.Get(tx, tasks, cname+"/"+id)
			}
			if !ok || errors.Is(err, store.ErrNotFound) {
				arn := ref
				if !strings.HasPrefix(ref, "arn:") && ok {
					arn = s.arns.task(cname, ref)
				}
				out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")})
				continue
			}
			if err != nil {
				return fmt.Errorf("get task %s: %w", id, err)
			}
			out.Tasks = append(out.Tasks, taskReply(rec.shown(), includes(in.Include, ecstypes.TaskFieldTAGS)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListTasks lists task ARNs of a cluster with ECS's filters, one page at a
// time from the read model's indexes: the cost grows with the page, not
// with the cluster's tasks.
func (s *Service) ListTasks(ctx context.Context, in *ecstypes.ListTasksRequest) (*ecstypes.ListTasksResponse, error) {
	desired := aws.ToString(in.DesiredStatus)
	if desired == "" {
		desired = "RUNNING"
	}
	limit, after, err := pageArgs(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &ecstypes.ListTasksResponse{TaskArns: []string{}}
	err = s.st.View(ctx, func(tx *store.Tx) error {
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		group := ""
		if in.ServiceName != nil {
			// The service's tasks, whatever its status (ECS lists a deleted
			// service's stopped tasks too while it remembers the service).
			svc, err := s.getService(tx, cname, *in.ServiceName)
			if err != nil {
				return err
			}
			group = serviceGroup(aws.ToString(svc.Service.ServiceName))
		}
		instanceArn := ""
		if ref := aws.ToString(in.ContainerInstance); ref != "" {
			rec, err := s.getInstance(tx, cname, ref)
			if err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return awserr.InvalidParameter("%s", "The referenced container instance "+ref+" was not found.")
				}
				return fmt.Errorf("get instance: %w", err)
			}
			instanceArn = aws.ToString(rec.Instance.ContainerInstanceArn)
		}
		rm, err := s.syncedModel(ctx, tx.Revision(), tasksPart)
		if err != nil {
			return err
		}
		index, value := idxTaskDesired, cname+sep+desired
		switch {
		case instanceArn != "":
			index, value = idxTaskInstanceDesired, value+sep+instanceArn
		case group != "":
			index, value = idxTaskGroupDesired, value+sep+group
		case in.Family != nil:
			index, value = idxTaskFamily, value+sep+*in.Family
		case in.StartedBy != nil:
			index, value = idxTaskStartedBy, value+sep+*in.StartedBy
		}
		if after != "" {
			after = cname + "/" + idFromARN(after)
		}
		var last string
		rm.tasks.Ascend(index, value, after, func(_ string, r *taskView) bool {
			t := &r.Task
			switch {
			case group != "" && aws.ToString(t.Group) != group,
				instanceArn != "" && aws.ToString(t.ContainerInstanceArn) != instanceArn,
				in.Family != nil && familyOf(aws.ToString(t.TaskDefinitionArn)) != *in.Family,
				in.StartedBy != nil && aws.ToString(t.StartedBy) != *in.StartedBy,
				in.LaunchType != nil && aws.ToString(t.LaunchType) != *in.LaunchType:
				return true
			}
			if len(out.TaskArns) == limit {
				out.NextToken = nextToken(last)
				return false
			}
			last = aws.ToString(t.TaskArn)
			out.TaskArns = append(out.TaskArns, last)
			return true
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// familyOf returns "web" for "arn:...:task-definition/web:3".
func familyOf(taskDefArn string) string {
	_, rest, _ := strings.Cut(taskDefArn, ":task-definition/")
	fam, _, _ := strings.Cut(rest, ":")
	return fam
}
