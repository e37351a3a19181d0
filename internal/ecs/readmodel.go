package ecs

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/scheduler"
	"github.com/berth-dev/berth/internal/store"
)

// The read model: informers (list + watch caches) of the tasks, container
// instances and agent sessions of this region, with the indexes that
// placement, the Describe counts, ListTasks, the reaper and the agent
// sessions read instead of scanning etcd. Records in etcd stay the truth:
// every write goes to etcd in a transaction, and what a transaction decides
// on is checked there: read tracked (a task's status), or taken from the
// cache at its revision and compared at commit (an instance's reservations,
// see reserve). The caches are synced to a revision first when a reader
// must see earlier writes (see store.Informer.SyncTo), each reader syncing
// only the caches it reads.

// Task index names. Values join their parts with sep; every index but
// idxTaskStopped is per cluster.
const (
	// idxTaskOnInstance: "<cluster>/<instance id>" for tasks not yet
	// STOPPED: an instance's desired task set, and its task counts.
	idxTaskOnInstance = "instance"
	// idxTaskGroupOn: "<cluster>/<instance id>|<group>" for tasks not yet
	// STOPPED: per-instance group counts for spread and distinctInstance.
	idxTaskGroupOn = "groupOn"
	// idxTaskDesired: "<cluster>|<desiredStatus>": ListTasks.
	idxTaskDesired = "desired"
	// idxTaskFamily: "<cluster>|<desiredStatus>|<family>".
	idxTaskFamily = "family"
	// idxTaskStartedBy: "<cluster>|<desiredStatus>|<startedBy>".
	idxTaskStartedBy = "startedBy"
	// idxTaskGroupDesired: "<cluster>|<desiredStatus>|<group>": ListTasks
	// of a service (its tasks' group is "service:<name>").
	idxTaskGroupDesired = "groupDesired"
	// idxTaskInstanceDesired: "<cluster>|<desiredStatus>|<instance ARN>".
	idxTaskInstanceDesired = "instanceDesired"
	// idxTaskStatus: "<cluster>|<lastStatus>": cluster task counts.
	idxTaskStatus = "status"
	// idxTaskStopped: "STOPPED", for the reaper, across clusters.
	idxTaskStopped = "stopped"

	// idxInstanceCluster: "<cluster>" for instances not INACTIVE.
	idxInstanceCluster = "cluster"
	// idxInstanceEC2: "<ec2InstanceId>" for instances not INACTIVE (ELB's
	// instance targets name them).
	idxInstanceEC2 = "ec2"

	// idxServiceCluster: "<cluster>" for services not INACTIVE (ACTIVE or
	// DRAINING): the controller's work list, the cluster's service count.
	idxServiceCluster = "cluster"

	sep = "|"
)

// taskView is what the read model keeps of a task record: the same JSON
// decoded into only the fields its readers use, so the rest (containers,
// tags, attachments) is skipped rather than allocated on every change.
// DescribeTasks reads whole records from etcd.
type taskView struct {
	Task       taskViewTask `json:"task"`
	InstanceID string       `json:"instanceId"`
	// HealthChecked: the service controller waits for these containers'
	// health before it counts the task healthy.
	HealthChecked []string `json:"healthChecked"`
	// Deactivating: stopped, but its agent is still told RUNNING while its
	// load balancer targets drain (services_ctl_lb.go).
	Deactivating bool `json:"deactivating"`
}

type taskViewTask struct {
	TaskArn, ContainerInstanceArn, TaskDefinitionArn *string
	DesiredStatus, LastStatus, StoppedReason         *string
	StartedBy, Group, LaunchType, AvailabilityZone   *string
	StoppedAt                                        *ecstypes.Timestamp
	Overrides                                        *ecstypes.TaskOverride
	// What the service controller reads: health, start and stop.
	HealthStatus, StopCode *string
	CreatedAt, StartedAt   *ecstypes.Timestamp
}

// taskViews reads the tasks collection as taskViews.
var taskViews = store.NewCollection[taskView](tasks.Name())

type readModel struct {
	tasks     *store.Informer[taskView]
	instances *store.Informer[instanceRecord]
	sessions  *store.Informer[agentSession]
	services  *store.Informer[serviceRecord]
}

// clusterOfID returns "c" for a store id "c/<id>".
func clusterOfID(id string) string {
	c, _, _ := strings.Cut(id, "/")
	return c
}

var taskIndexes = map[string]store.IndexFunc[taskView]{
	idxTaskOnInstance: func(id string, r *taskView) []string {
		if aws.ToString(r.Task.LastStatus) == "STOPPED" {
			return nil
		}
		return []string{clusterOfID(id) + "/" + r.InstanceID}
	},
	idxTaskGroupOn: func(id string, r *taskView) []string {
		if aws.ToString(r.Task.LastStatus) == "STOPPED" {
			return nil
		}
		return []string{clusterOfID(id) + "/" + r.InstanceID + sep + aws.ToString(r.Task.Group)}
	},
	idxTaskDesired: func(id string, r *taskView) []string {
		return []string{clusterOfID(id) + sep + aws.ToString(r.Task.DesiredStatus)}
	},
	idxTaskFamily: func(id string, r *taskView) []string {
		return []string{clusterOfID(id) + sep + aws.ToString(r.Task.DesiredStatus) + sep + familyOf(aws.ToString(r.Task.TaskDefinitionArn))}
	},
	idxTaskStartedBy: func(id string, r *taskView) []string {
		if r.Task.StartedBy == nil {
			return nil
		}
		return []string{clusterOfID(id) + sep + aws.ToString(r.Task.DesiredStatus) + sep + *r.Task.StartedBy}
	},
	idxTaskGroupDesired: func(id string, r *taskView) []string {
		if r.Task.Group == nil {
			return nil
		}
		return []string{clusterOfID(id) + sep + aws.ToString(r.Task.DesiredStatus) + sep + *r.Task.Group}
	},
	idxTaskInstanceDesired: func(id string, r *taskView) []string {
		return []string{clusterOfID(id) + sep + aws.ToString(r.Task.DesiredStatus) + sep + aws.ToString(r.Task.ContainerInstanceArn)}
	},
	idxTaskStatus: func(id string, r *taskView) []string {
		return []string{clusterOfID(id) + sep + aws.ToString(r.Task.LastStatus)}
	},
	idxTaskStopped: func(_ string, r *taskView) []string {
		if aws.ToString(r.Task.LastStatus) != "STOPPED" {
			return nil
		}
		return []string{"STOPPED"}
	},
}

var instanceIndexes = map[string]store.IndexFunc[instanceRecord]{
	idxInstanceCluster: func(id string, r *instanceRecord) []string {
		if aws.ToString(r.Instance.Status) == "INACTIVE" {
			return nil
		}
		return []string{clusterOfID(id)}
	},
	idxInstanceEC2: func(_ string, r *instanceRecord) []string {
		if aws.ToString(r.Instance.Status) == "INACTIVE" || r.Instance.Ec2InstanceId == nil {
			return nil
		}
		return []string{*r.Instance.Ec2InstanceId}
	},
}

var serviceIndexes = map[string]store.IndexFunc[serviceRecord]{
	idxServiceCluster: func(id string, r *serviceRecord) []string {
		if aws.ToString(r.Service.Status) == "INACTIVE" {
			return nil
		}
		return []string{clusterOfID(id)}
	},
}

// indexInstance precomputes what placement reads of every instance, once
// per change rather than once per placement.
func indexInstance(_ string, r instanceRecord) instanceRecord {
	arn := aws.ToString(r.Instance.ContainerInstanceArn)
	rem := r.Instance.RemainingResources
	attrs := make(map[string]string, len(r.Instance.Attributes))
	for _, a := range r.Instance.Attributes {
		attrs[aws.ToString(a.Name)] = aws.ToString(a.Value)
	}
	r.cand = scheduler.Candidate{
		ID: idFromARN(arn), ARN: arn,
		Active: aws.ToString(r.Instance.Status) == "ACTIVE",
		CPU:    resourceInt(rem, resCPU), Memory: resourceInt(rem, resMemory),
		Ports: resourceSet(rem, resPorts), PortsUDP: resourceSet(rem, resPortsUDP),
		GPUs:          resourceSet(rem, resGPU), // sorted, as stored
		Attributes:    attrs,
		EC2InstanceID: aws.ToString(r.Instance.Ec2InstanceId),
	}
	if vi := r.Instance.VersionInfo; vi != nil {
		r.cand.AgentVersion = aws.ToString(vi.AgentVersion)
	}
	if at := r.Instance.RegisteredAt; at != nil {
		r.cand.RegisteredAt = at.Time
	}
	return r
}

// readModelState starts the read model on first use: Service.New must not
// block on etcd, and a failed start is retried by the next caller.
type readModelState struct {
	mu   sync.Mutex
	rm   *readModel
	stop context.CancelFunc // ends the informers (Close ends them too)
}

// model returns the started read model.
func (s *Service) model(ctx context.Context) (*readModel, error) {
	s.rms.mu.Lock()
	defer s.rms.mu.Unlock()
	if s.rms.rm != nil {
		return s.rms.rm, nil
	}
	rm := &readModel{
		tasks: store.NewInformer(s.st, taskViews, store.InformerConfig[taskView]{
			Indexes:  taskIndexes,
			OnChange: []store.ChangeFunc[taskView]{s.acs.taskChanged, s.serviceTaskChanged},
		}),
		instances: store.NewInformer(s.st, instances, store.InformerConfig[instanceRecord]{
			Indexes: instanceIndexes, Transform: indexInstance,
			OnChange: []store.ChangeFunc[instanceRecord]{s.acs.instanceChanged, s.serviceInstanceChanged},
		}),
		sessions: store.NewInformer(s.st, agentSessions, store.InformerConfig[agentSession]{
			// An agent that leaves or comes back changes what the service
			// controller does with its tasks (services_ctl_lost.go).
			OnChange: []store.ChangeFunc[agentSession]{func(string, *agentSession, *agentSession) { s.kickServices() }},
		}),
		services: store.NewInformer(s.st, services, store.InformerConfig[serviceRecord]{
			Indexes:  serviceIndexes,
			OnChange: []store.ChangeFunc[serviceRecord]{func(string, *serviceRecord, *serviceRecord) { s.kickServices() }},
		}),
	}
	// The caches live as long as the service; a failed start stops what
	// did start, and the next caller tries again.
	life, cancel := context.WithCancel(s.life)
	for _, start := range []func(context.Context) error{rm.tasks.Start, rm.instances.Start, rm.sessions.Start, rm.services.Start} {
		if err := start(life); err != nil {
			cancel()
			return nil, fmt.Errorf("start read model: %w", err)
		}
	}
	s.rms.rm, s.rms.stop = rm, cancel
	return rm, nil
}

// part names one cache of the read model, for syncing only what a reader
// reads: syncing a cache that had no change since a revision costs a
// round trip to etcd (and more under load), so readers name their parts.
type part int

const (
	tasksPart part = 1 << iota
	instancesPart
	sessionsPart
	servicesPart
)

// syncedModel returns the read model once the named parts reflect etcd
// revision rev (a transaction's snapshot), so that what they say agrees
// with the transaction's reads.
func (s *Service) syncedModel(ctx context.Context, rev int64, parts part) (*readModel, error) {
	rm, err := s.model(ctx)
	if err != nil {
		return nil, err
	}
	if err := rm.sync(ctx, rev, parts); err != nil {
		return nil, err
	}
	return rm, nil
}

func (rm *readModel) sync(ctx context.Context, rev int64, parts part) error {
	syncs := []struct {
		p    part
		sync func(context.Context, int64) error
	}{{tasksPart, rm.tasks.SyncTo}, {instancesPart, rm.instances.SyncTo}, {sessionsPart, rm.sessions.SyncTo}, {servicesPart, rm.services.SyncTo}}
	for _, x := range syncs {
		if parts&x.p == 0 {
			continue
		}
		if err := x.sync(ctx, rev); err != nil {
			return fmt.Errorf("read model: %w", err)
		}
	}
	return nil
}

// freshModel returns the read model once the named parts reflect every
// write committed before the call: for reads outside a transaction.
func (s *Service) freshModel(ctx context.Context, parts part) (*readModel, error) {
	var rev int64
	if err := s.st.View(ctx, func(tx *store.Tx) error {
		rev = tx.Revision()
		return nil
	}); err != nil {
		return nil, err
	}
	return s.syncedModel(ctx, rev, parts)
}
