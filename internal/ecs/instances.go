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

// RegisterContainerInstance registers an agent's host, or re-registers it
// when the agent presents the ARN it was given before.
func (s *Service) RegisterContainerInstance(ctx context.Context, in *ecstypes.RegisterContainerInstanceRequest) (*ecstypes.RegisterContainerInstanceResponse, error) {
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	cpu, mem := resourceInt(in.TotalResources, resCPU), resourceInt(in.TotalResources, resMemory)
	if cpu < 0 || mem < 0 {
		return nil, awserr.InvalidParameter("totalResources CPU and MEMORY must not be negative.")
	}
	for _, a := range in.Attributes {
		if err := validateAttribute(a); err != nil {
			return nil, err
		}
	}
	registered := buildResources(cpu, mem, resourceSet(in.TotalResources, resPorts), resourceSet(in.TotalResources, resPortsUDP))
	var out ecstypes.ContainerInstance
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		rec, existing, err := s.reregistration(tx, cname, aws.ToString(in.ContainerInstanceArn))
		if err != nil {
			return err
		}
		if !existing {
			id := newUUID()
			rec = instanceRecord{ClusterArn: aws.ToString(c.Cluster.ClusterArn), Instance: ecstypes.ContainerInstance{
				ContainerInstanceArn: aws.String(s.arns.instance(cname, id)),
				Ec2InstanceId:        aws.String("i-" + newID()[:17]),
				RegisteredAt:         ecstypes.Time(s.now()),
				Tags:                 in.Tags,
				Attachments:          []ecstypes.Attachment{},
			}}
		}
		id := idFromARN(aws.ToString(rec.Instance.ContainerInstanceArn))
		held, err := s.heldOn(tx, cname, aws.ToString(rec.Instance.ContainerInstanceArn))
		if err != nil {
			return err
		}
		inst := &rec.Instance
		// An agent restart re-registers; it must not undo an operator's drain.
		if !existing {
			inst.Status = aws.String("ACTIVE")
			inst.StatusReason = nil
		}
		inst.RegisteredResources = registered
		inst.RemainingResources = remaining(registered, held)
		inst.VersionInfo = in.VersionInfo
		inst.Attributes = mergeAttributes(inst.Attributes, in.Attributes)
		inst.AgentConnected = aws.Bool(false)
		inst.Version = aws.Int64(aws.ToInt64(inst.Version) + 1)
		if in.Tags != nil {
			inst.Tags = in.Tags
		}
		store.Put(tx, instances, cname+"/"+id, rec)
		out = rec.Instance
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.RegisterContainerInstanceResponse{ContainerInstance: &out}, nil
}

// reregistration finds the ACTIVE/DRAINING record an agent re-registers with.
func (s *Service) reregistration(tx *store.Tx, cname, arn string) (instanceRecord, bool, error) {
	if arn == "" {
		return instanceRecord{}, false, nil
	}
	c, id, ok := s.arns.idOf(arn, "container-instance")
	if !ok || (c != "" && c != cname) {
		return instanceRecord{}, false, awserr.InvalidParameter("%s", "containerInstanceArn "+arn+" does not belong to cluster "+cname+".")
	}
	rec, err := store.Get(tx, instances, cname+"/"+id)
	if errors.Is(err, store.ErrNotFound) {
		return instanceRecord{}, false, nil
	}
	if err != nil {
		return instanceRecord{}, false, fmt.Errorf("get instance %s: %w", id, err)
	}
	if aws.ToString(rec.Instance.Status) == "INACTIVE" {
		return instanceRecord{}, false, nil
	}
	return rec, true, nil
}

// heldOn returns the reservations of the tasks still holding resources on an
// instance. The read is untracked: callers read and write the instance record,
// which every placement and release also writes.
func (s *Service) heldOn(tx *store.Tx, cname, instanceArn string) ([]reservation, error) {
	ts, err := store.ListUntracked(tx, tasks, cname+"/")
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	var held []reservation
	for _, t := range ts {
		if aws.ToString(t.Task.ContainerInstanceArn) == instanceArn && !t.Released {
			held = append(held, t.Reserved)
		}
	}
	return held, nil
}

func idFromARN(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// getInstance resolves an instance ARN or id within a cluster.
func (s *Service) getInstance(tx *store.Tx, cname, ref string) (instanceRecord, error) {
	c, id, ok := s.arns.idOf(ref, "container-instance")
	if !ok || (c != "" && c != cname) {
		return instanceRecord{}, store.ErrNotFound
	}
	return store.Get(tx, instances, cname+"/"+id)
}

// DeregisterContainerInstance removes an instance from its cluster.
func (s *Service) DeregisterContainerInstance(ctx context.Context, in *ecstypes.DeregisterContainerInstanceRequest) (*ecstypes.DeregisterContainerInstanceResponse, error) {
	var out ecstypes.ContainerInstance
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		rec, err := s.getInstance(tx, cname, aws.ToString(in.ContainerInstance))
		if err != nil || aws.ToString(rec.Instance.Status) == "INACTIVE" {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("get instance: %w", err)
			}
			return awserr.InvalidParameter("%s", "The referenced container instance "+aws.ToString(in.ContainerInstance)+" is not registered in cluster "+cname+".")
		}
		held, err := s.heldOn(tx, cname, aws.ToString(rec.Instance.ContainerInstanceArn))
		if err != nil {
			return err
		}
		if len(held) > 0 && !aws.ToBool(in.Force) {
			return awserr.InvalidParameter("The container instance has tasks running. Stop them first, or deregister with force.")
		}
		rec.Instance.Status = aws.String("INACTIVE")
		rec.Instance.AgentConnected = aws.Bool(false)
		rec.Instance.Version = aws.Int64(aws.ToInt64(rec.Instance.Version) + 1)
		store.Put(tx, instances, cname+"/"+idFromARN(aws.ToString(rec.Instance.ContainerInstanceArn)), rec)
		out = rec.Instance
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.DeregisterContainerInstanceResponse{ContainerInstance: &out}, nil
}

// taskCounts is how many tasks run on, and are pending for, one instance.
type taskCounts struct{ running, pending int32 }

// instanceTaskCounts counts a cluster's tasks by instance ARN, once per
// request. The counts are informational: the read is untracked.
func instanceTaskCounts(tx *store.Tx, cname string) (map[string]taskCounts, error) {
	ts, err := store.ListUntracked(tx, tasks, cname+"/")
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	counts := map[string]taskCounts{}
	for _, t := range ts {
		arn := aws.ToString(t.Task.ContainerInstanceArn)
		c := counts[arn]
		switch aws.ToString(t.Task.LastStatus) {
		case "RUNNING":
			c.running++
		case "STOPPED":
		default:
			c.pending++
		}
		counts[arn] = c
	}
	return counts, nil
}

// describeInstance fills an instance's derived fields: connection and task counts.
func (s *Service) describeInstance(tx *store.Tx, rec instanceRecord, counts map[string]taskCounts) (ecstypes.ContainerInstance, error) {
	inst := rec.Instance
	id := idFromARN(aws.ToString(inst.ContainerInstanceArn))
	_, err := store.Get(tx, agentSessions, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return inst, fmt.Errorf("get agent session %s: %w", id, err)
	}
	inst.AgentConnected = aws.Bool(err == nil && aws.ToString(inst.Status) != "INACTIVE")
	c := counts[aws.ToString(inst.ContainerInstanceArn)]
	inst.RunningTasksCount, inst.PendingTasksCount = &c.running, &c.pending
	return inst, nil
}

// DescribeContainerInstances describes instances; unknown ones are MISSING failures.
func (s *Service) DescribeContainerInstances(ctx context.Context, in *ecstypes.DescribeContainerInstancesRequest) (*ecstypes.DescribeContainerInstancesResponse, error) {
	if len(in.ContainerInstances) > 100 {
		return nil, awserr.InvalidParameter("A maximum of 100 container instances can be described at once.")
	}
	out := &ecstypes.DescribeContainerInstancesResponse{}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		out.ContainerInstances, out.Failures = []ecstypes.ContainerInstance{}, []ecstypes.Failure{}
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		counts, err := instanceTaskCounts(tx, cname)
		if err != nil {
			return err
		}
		for _, ref := range in.ContainerInstances {
			rec, err := s.getInstance(tx, cname, ref)
			if errors.Is(err, store.ErrNotFound) {
				arn := ref
				if !strings.HasPrefix(ref, "arn:") {
					arn = s.arns.instance(cname, ref)
				}
				out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")})
				continue
			}
			if err != nil {
				return fmt.Errorf("get instance %s: %w", ref, err)
			}
			inst, err := s.describeInstance(tx, rec, counts)
			if err != nil {
				return err
			}
			if !slices.Contains(in.Include, "TAGS") {
				inst.Tags = nil
			}
			out.ContainerInstances = append(out.ContainerInstances, inst)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListContainerInstances lists a cluster's instances, optionally by status.
func (s *Service) ListContainerInstances(ctx context.Context, in *ecstypes.ListContainerInstancesRequest) (*ecstypes.ListContainerInstancesResponse, error) {
	if aws.ToString(in.Filter) != "" {
		return nil, awserr.InvalidParameter("Berth does not support Cluster Query Language filters yet.")
	}
	var arns []string
	err := s.st.View(ctx, func(tx *store.Tx) error {
		arns = arns[:0]
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		all, err := store.List(tx, instances, aws.ToString(c.Cluster.ClusterName)+"/")
		if err != nil {
			return fmt.Errorf("list instances: %w", err)
		}
		for _, r := range all {
			st := aws.ToString(r.Instance.Status)
			if in.Status != nil && st != *in.Status || in.Status == nil && st == "INACTIVE" {
				continue
			}
			arns = append(arns, aws.ToString(r.Instance.ContainerInstanceArn))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	pg, next, err := page(arns, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &ecstypes.ListContainerInstancesResponse{ContainerInstanceArns: pg, NextToken: next}, nil
}

// UpdateContainerInstancesState sets instances ACTIVE or DRAINING.
func (s *Service) UpdateContainerInstancesState(ctx context.Context, in *ecstypes.UpdateContainerInstancesStateRequest) (*ecstypes.UpdateContainerInstancesStateResponse, error) {
	status := aws.ToString(in.Status)
	if status != "ACTIVE" && status != "DRAINING" {
		return nil, awserr.InvalidParameter("Container instances status can only be updated to ACTIVE or DRAINING.")
	}
	if len(in.ContainerInstances) > 10 {
		return nil, awserr.InvalidParameter("A maximum of 10 container instances can be updated at once.")
	}
	out := &ecstypes.UpdateContainerInstancesStateResponse{}
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		out.ContainerInstances, out.Failures = []ecstypes.ContainerInstance{}, []ecstypes.Failure{}
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		counts, err := instanceTaskCounts(tx, cname)
		if err != nil {
			return err
		}
		for _, ref := range in.ContainerInstances {
			rec, err := s.getInstance(tx, cname, ref)
			if errors.Is(err, store.ErrNotFound) || err == nil && aws.ToString(rec.Instance.Status) == "INACTIVE" {
				out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(ref), Reason: aws.String("MISSING")})
				continue
			}
			if err != nil {
				return fmt.Errorf("get instance %s: %w", ref, err)
			}
			rec.Instance.Status = aws.String(status)
			rec.Instance.Version = aws.Int64(aws.ToInt64(rec.Instance.Version) + 1)
			store.Put(tx, instances, cname+"/"+idFromARN(aws.ToString(rec.Instance.ContainerInstanceArn)), rec)
			inst, err := s.describeInstance(tx, rec, counts)
			if err != nil {
				return err
			}
			out.ContainerInstances = append(out.ContainerInstances, inst)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
