package ecs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/cql"
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
	identity, err := parseIdentityDocument(in.InstanceIdentityDocument)
	if err != nil {
		return nil, err
	}
	registered := buildResources(cpu, mem, resourceSet(in.TotalResources, resPorts), resourceSet(in.TotalResources, resPortsUDP))
	if gpus := registeredGPUs(in); len(gpus) > 0 {
		registered = append(registered, setResource(resGPU, gpus))
	}
	var out ecstypes.ContainerInstance
	err = s.st.Update(ctx, func(tx *store.Tx) error {
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
		held := reservation{}
		if existing {
			if held, err = s.heldOf(tx, cname, rec); err != nil {
				return err
			}
		}
		rec.Held = &held
		inst := &rec.Instance
		// An agent restart re-registers; it must not undo an operator's drain.
		if !existing {
			inst.Status = aws.String("ACTIVE")
			inst.StatusReason = nil
		}
		inst.RegisteredResources = registered
		inst.RemainingResources = remaining(registered, held)
		inst.VersionInfo = in.VersionInfo
		inst.Attributes = mergeAttributes(mergeAttributes(inst.Attributes, in.Attributes), identity.attributes())
		if identity.InstanceID != "" {
			inst.Ec2InstanceId = aws.String(identity.InstanceID)
		}
		inst.AgentConnected = aws.Bool(false)
		inst.Version = aws.Int64(aws.ToInt64(inst.Version) + 1)
		if in.Tags != nil {
			inst.Tags = in.Tags
		}
		store.Put(tx, instances, cname+"/"+id, rec)
		out = rec.Instance
		counts := taskCounts{}
		if existing {
			rm, err := s.syncedModel(ctx, tx.Revision(), tasksPart)
			if err != nil {
				return err
			}
			counts = instanceTaskCounts(rm, cname+"/"+id)
		}
		out.RunningTasksCount, out.PendingTasksCount = &counts.running, &counts.pending
		return nil
	})
	if err != nil {
		return nil, err
	}
	out = instanceReply(out, true)
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
		held, err := s.heldOf(tx, cname, rec)
		if err != nil {
			return err
		}
		if held.Tasks > 0 && !aws.ToBool(in.Force) {
			return awserr.InvalidParameter("The container instance has tasks running. Stop them first, or deregister with force.")
		}
		rm, err := s.syncedModel(ctx, tx.Revision(), tasksPart)
		if err != nil {
			return err
		}
		rec.Instance.Status = aws.String("INACTIVE")
		rec.Instance.AgentConnected = aws.Bool(false)
		rec.Instance.Version = aws.Int64(aws.ToInt64(rec.Instance.Version) + 1)
		store.Put(tx, instances, cname+"/"+idFromARN(aws.ToString(rec.Instance.ContainerInstanceArn)), rec)
		out = rec.Instance
		counts := instanceTaskCounts(rm, cname+"/"+idFromARN(aws.ToString(out.ContainerInstanceArn)))
		out.RunningTasksCount, out.PendingTasksCount = &counts.running, &counts.pending
		return nil
	})
	if err != nil {
		return nil, err
	}
	out = instanceReply(out, true)
	return &ecstypes.DeregisterContainerInstanceResponse{ContainerInstance: &out}, nil
}

// taskCounts is how many tasks run on, and are pending for, one instance.
type taskCounts struct{ running, pending int32 }

// instanceTaskCounts counts the tasks of one instance ("<cluster>/<id>")
// from the read model: the cost grows with that instance's tasks only.
func instanceTaskCounts(rm *readModel, key string) taskCounts {
	var c taskCounts
	rm.tasks.Ascend(idxTaskOnInstance, key, "", func(_ string, r *taskView) bool {
		if aws.ToString(r.Task.LastStatus) == "RUNNING" {
			c.running++
		} else {
			c.pending++
		}
		return true
	})
	return c
}

// prefetchInstances reads the named instances and their agent sessions in
// one round trip.
func (s *Service) prefetchInstances(tx *store.Tx, cname string, refs []string) error {
	var keys []store.Ref
	for _, ref := range refs {
		c, id, ok := s.arns.idOf(ref, "container-instance")
		if !ok || c != "" && c != cname {
			continue
		}
		keys = append(keys, store.RefTo(s.st, instances, cname+"/"+id), store.RefTo(s.st, agentSessions, id))
	}
	return store.Prefetch(tx, keys...)
}

// describeInstance fills an instance's derived fields: connection and task counts.
func (s *Service) describeInstance(tx *store.Tx, rm *readModel, cname string, rec instanceRecord) (ecstypes.ContainerInstance, error) {
	inst := rec.Instance
	id := idFromARN(aws.ToString(inst.ContainerInstanceArn))
	_, err := store.Get(tx, agentSessions, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return inst, fmt.Errorf("get agent session %s: %w", id, err)
	}
	inst.AgentConnected = aws.Bool(err == nil && aws.ToString(inst.Status) != "INACTIVE")
	c := instanceTaskCounts(rm, cname+"/"+id)
	inst.RunningTasksCount, inst.PendingTasksCount = &c.running, &c.pending
	return inst, nil
}

// DescribeContainerInstances describes instances; unknown ones are MISSING failures.
func (s *Service) DescribeContainerInstances(ctx context.Context, in *ecstypes.DescribeContainerInstancesRequest) (*ecstypes.DescribeContainerInstancesResponse, error) {
	if len(in.ContainerInstances) == 0 {
		return nil, awserr.InvalidParameter("Container instance cannot be empty.")
	}
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
		if err := s.prefetchInstances(tx, cname, in.ContainerInstances); err != nil {
			return err
		}
		rm, err := s.syncedModel(ctx, tx.Revision(), tasksPart)
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
			inst, err := s.describeInstance(tx, rm, cname, rec)
			if err != nil {
				return err
			}
			out.ContainerInstances = append(out.ContainerInstances, instanceReply(inst, includes(in.Include, ecstypes.ContainerInstanceFieldTAGS)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListContainerInstances lists a cluster's instances, optionally by status
// and by a Cluster Query Language filter, one page at a time straight from
// etcd.
func (s *Service) ListContainerInstances(ctx context.Context, in *ecstypes.ListContainerInstancesRequest) (*ecstypes.ListContainerInstancesResponse, error) {
	var filter *cql.Expr
	if f := aws.ToString(in.Filter); f != "" {
		e, err := cql.Parse(f)
		if err != nil {
			return nil, awserr.InvalidParameter("%s", "Invalid filter: "+err.Error()+".")
		}
		filter = e
	}
	limit, after, err := pageArgs(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &ecstypes.ListContainerInstancesResponse{}
	err = s.st.View(ctx, func(tx *store.Tx) error {
		out.ContainerInstanceArns, out.NextToken = []string{}, nil
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		if after != "" {
			after = cname + "/" + idFromARN(after)
		}
		var match func(instanceRecord) bool
		if filter != nil {
			rm, err := s.syncedModel(ctx, tx.Revision(), tasksPart|sessionsPart)
			if err != nil {
				return err
			}
			subject := &instanceSubject{rm: rm, cname: cname}
			match = func(r instanceRecord) bool {
				cand := indexInstance("", r).cand
				_, cand.Connected = rm.sessions.Get(cand.ID)
				subject.reset(&cand)
				return filter.Eval(subject)
			}
		}
		var last string
		return store.Scan(tx, instances, cname+"/", after, false, func(id string, r instanceRecord) (bool, error) {
			st := aws.ToString(r.Instance.Status)
			if in.Status != nil && st != *in.Status || in.Status == nil && st == "INACTIVE" {
				return true, nil
			}
			if match != nil && !match(r) {
				return true, nil
			}
			if len(out.ContainerInstanceArns) == limit {
				out.NextToken = nextToken(last)
				return false, nil
			}
			last = aws.ToString(r.Instance.ContainerInstanceArn)
			out.ContainerInstanceArns = append(out.ContainerInstanceArns, last)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
		rm, err := s.syncedModel(ctx, tx.Revision(), tasksPart)
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
			inst, err := s.describeInstance(tx, rm, cname, rec)
			if err != nil {
				return err
			}
			out.ContainerInstances = append(out.ContainerInstances, instanceReply(inst, true))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WaitAgentConnected waits until a container instance of the cluster is
// ACTIVE with its agent connected (the dev server waits for its own agent
// before it says it is ready).
func (s *Service) WaitAgentConnected(ctx context.Context, cluster string) error {
	cname, ok := s.arns.clusterName(cluster)
	if !ok {
		return errClusterNotFound()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		rm, err := s.freshModel(ctx, instancesPart|sessionsPart)
		if err != nil {
			return err
		}
		found := false
		rm.instances.Ascend(idxInstanceCluster, cname, "", func(id string, r *instanceRecord) bool {
			if aws.ToString(r.Instance.Status) == "ACTIVE" {
				_, found = rm.sessions.Get(idFromARN(id))
			}
			return !found
		})
		if found {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for an agent in cluster %s: %w", cname, ctx.Err())
		case <-tick.C:
		}
	}
}
