package ecs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// DAEMON services ("Daemon scheduling strategy"): exactly one task of the
// service on every ACTIVE container instance of the cluster that satisfies
// the service's and the task definition's placement constraints.
//
//   - An instance that joins or becomes eligible gets a task, started on it
//     through StartTask (reservations, ACS delivery and failures are
//     StartTask's), with group service:<name> and startedBy the deployment.
//   - A task on an instance that is no longer eligible (a constraint no
//     longer holds, the instance is gone) is stopped.
//   - On a DRAINING instance the daemon task stops last: only when no task
//     of a REPLICA service is left on the instance.
//   - A new deployment replaces the task on each instance within the
//     deployment configuration (defaults maximumPercent 100 and
//     minimumHealthyPercent 0), the percentages taken of the eligible
//     instances: at maximumPercent 100 the old task stops before the new one
//     starts (so the instance needs no room for both), above it the new one
//     starts first where there is room.
//
// desiredCount is the number of eligible instances. An instance whose agent
// is not connected counts (as it does for ECS) and keeps its task, but a
// new task waits for the agent (StartTask refuses it, and the next pass
// tries again). The circuit breaker does not watch DAEMON deployments.

// isDaemon says whether a service uses the DAEMON scheduling strategy.
func isDaemon(svc *ecstypes.Service) bool {
	return aws.ToString(svc.SchedulingStrategy) == ecstypes.SchedulingStrategyDAEMON
}

// daemonDeploymentConfiguration is what ECS reports for a DAEMON service
// created without one.
func daemonDeploymentConfiguration() *ecstypes.DeploymentConfiguration {
	dc := defaultDeploymentConfiguration()
	dc.MaximumPercent, dc.MinimumHealthyPercent = aws.Int32(100), aws.Int32(0)
	return dc
}

// checkDaemonCreate checks what a DAEMON CreateService must not have.
func checkDaemonCreate(in *ecstypes.CreateServiceRequest) error {
	switch {
	case in.DesiredCount != nil:
		return awserr.InvalidParameter("The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again")
	case len(in.PlacementStrategy) > 0:
		return errDaemonStrategy()
	case aws.ToString(in.LaunchType) == ecstypes.LaunchTypeFARGATE:
		return awserr.InvalidParameter("The daemon scheduling strategy is not supported with the FARGATE launch type.")
	}
	return nil
}

func errDaemonStrategy() error {
	return awserr.InvalidParameter("The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again")
}

// checkDaemonUpdate checks what an UpdateService of a DAEMON service must
// not have.
func checkDaemonUpdate(in *ecstypes.UpdateServiceRequest) error {
	switch {
	case in.DesiredCount != nil:
		return awserr.InvalidParameter("The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again")
	case len(in.PlacementStrategy) > 0:
		return errDaemonStrategy()
	}
	return nil
}

// daemonTask is a live task of the service as a DAEMON pass sees it.
type daemonTask struct {
	rolloutTask
	deployment string
	status     string // "PENDING", "RUNNING" or "" (on its way out)
}

// daemonInstance is one instance's state for the plan.
type daemonInstance struct {
	ID string
	// Eligible: ACTIVE and satisfies the constraints. Draining: DRAINING
	// (kept until Others is 0). Neither: the tasks go.
	Eligible, Draining bool
	// Others counts the tasks of REPLICA services on the instance that
	// have not STOPPED yet.
	Others int
	Tasks  []daemonTask
}

// daemonInput is what the plan decides from.
type daemonInput struct {
	Primary                string
	MinPercent, MaxPercent int
	Deleted                bool
	Instances              []daemonInstance // in a stable order
}

// daemonStep is what one pass does: start a task on Start's instances,
// stop Stop's tasks; Done when every eligible instance runs exactly one
// healthy task of the PRIMARY deployment and nothing else is left.
type daemonStep struct {
	Start   []string
	Stop    []string
	Desired int
	Done    bool
	Blocked bool
}

// planDaemon is the pure step of a DAEMON service.
func planDaemon(in daemonInput) daemonStep {
	var step daemonStep
	var eligible []*daemonInstance
	for i := range in.Instances {
		inst := &in.Instances[i]
		switch {
		case in.Deleted:
			for _, t := range inst.Tasks {
				step.Stop = append(step.Stop, t.ID)
			}
		case inst.Eligible:
			eligible = append(eligible, inst)
		case inst.Draining && inst.Others > 0:
			// stops last: after the other services' tasks
		default:
			for _, t := range inst.Tasks {
				step.Stop = append(step.Stop, t.ID)
			}
		}
	}
	step.Desired = len(eligible)
	if in.Deleted {
		step.Desired = 0
		return step
	}
	maxTotal := step.Desired * in.MaxPercent / 100
	minHealthy := (step.Desired*in.MinPercent + 99) / 100
	total, healthy := 0, 0
	for _, inst := range eligible {
		total += len(inst.Tasks)
		for _, t := range inst.Tasks {
			if t.Healthy {
				healthy++
			}
		}
	}
	done := len(step.Stop) == 0
	var replace []*daemonInstance // instances whose old task waits its turn
	for _, inst := range eligible {
		var current *daemonTask
		var old []daemonTask
		for i := range inst.Tasks {
			t := &inst.Tasks[i]
			switch {
			case t.deployment != in.Primary:
				old = append(old, *t)
			case t.status == "" || t.Unhealthy || current != nil && (current.Healthy || !t.Healthy):
				// on its way out, unhealthy, or one too many
				step.Stop = append(step.Stop, t.ID)
				total--
				if t.Healthy {
					healthy--
				}
			default:
				if current != nil {
					step.Stop = append(step.Stop, current.ID)
					total--
				}
				current = t
			}
		}
		if current == nil || !current.Healthy || len(old) > 0 {
			done = false
		}
		switch {
		case current != nil && current.Healthy:
			for _, t := range old {
				step.Stop = append(step.Stop, t.ID) // replaced
				total--
				if t.Healthy {
					healthy--
				}
			}
		case current != nil: // the new task is on its way: wait
		case len(old) == 0:
			if total < maxTotal {
				step.Start = append(step.Start, inst.ID)
				total++
			} else {
				step.Blocked = true
			}
		default:
			replace = append(replace, inst)
		}
	}
	for _, inst := range replace {
		healthyOld := 0
		for _, t := range inst.Tasks {
			if t.Healthy {
				healthyOld++
			}
		}
		switch {
		case in.MaxPercent > 100 && total < maxTotal:
			step.Start = append(step.Start, inst.ID) // new first, old after
			total++
		case healthy-healthyOld >= minHealthy:
			for _, t := range inst.Tasks {
				step.Stop = append(step.Stop, t.ID) // old first, new next pass
			}
			total -= len(inst.Tasks)
			healthy -= healthyOld
		default:
			step.Blocked = true
		}
	}
	step.Done = done && len(step.Stop) == 0 && len(step.Start) == 0
	return step
}

// reconcileDaemon takes one step for a DAEMON service and writes back what
// changed, as reconcileService does for REPLICA ones.
func (s *Service) reconcileDaemon(ctx context.Context, rm *readModel, id string, rec serviceRecord) error {
	cname := clusterOfID(id)
	svc := &rec.Service
	name := aws.ToString(svc.ServiceName)
	group := serviceGroup(name)
	now := s.now()
	obs := serviceObservation{deployments: map[string]*observedDeployment{}, stopped: map[string]string{},
		draining: rec.Deleted, generation: rec.Generation}
	in := daemonInput{MinPercent: 0, MaxPercent: 100, Deleted: rec.Deleted}
	if dc := svc.DeploymentConfiguration; dc != nil {
		if dc.MinimumHealthyPercent != nil {
			in.MinPercent = int(*dc.MinimumHealthyPercent)
		}
		if dc.MaximumPercent != nil {
			in.MaxPercent = int(*dc.MaximumPercent)
		}
	}
	grace := time.Duration(aws.ToInt32(svc.HealthCheckGracePeriodSeconds)) * time.Second
	byInstance := map[string][]daemonTask{}
	seen := map[string]seenTask{}
	var errs []error
	// Load balancer targets, as for REPLICA services (services_ctl_lb.go).
	var lbp lbPass
	if s.loadBalanced(&rec) {
		obs.loadBalanced = true
		var err error
		if lbp, err = s.reconcileTargets(ctx, rm, cname, &rec); err != nil {
			errs = append(errs, err)
		}
		obs.targetGroups = lbp.groups
		obs.events = append(obs.events, lbp.events...)
	}
	for _, d := range svc.Deployments {
		od := obs.observe(svc, d)
		if od == nil {
			continue
		}
		var tasks []rolloutTask
		tasks = observeDeployment(rm, cname, od, func(v *taskView) rolloutTask {
			t := rolloutTaskOf(v, od.primary, now, grace, "instance")
			if lbp.health != nil {
				applyTargetHealth(&t, lbp.health[t.ID], v, now, grace)
			}
			return t
		}, tasks, seen)
		for _, t := range tasks {
			byInstance[t.Zone] = append(byInstance[t.Zone], daemonTask{rolloutTask: t, deployment: od.id, status: seen[t.ID].status})
		}
	}
	obs.tasksLeft = lbp.held
	for _, ts := range byInstance {
		obs.tasksLeft += len(ts)
	}
	if obs.primaryID == "" && !rec.Deleted {
		return nil
	}
	in.Primary = obs.primaryID
	primary := obs.deployments[obs.primaryID]

	eligible, err := s.daemonEligibility(ctx, rm, cname, svc, primary)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(byInstance))
	rm.instances.Ascend(idxInstanceCluster, cname, "", func(_ string, r *instanceRecord) bool {
		ids = append(ids, r.cand.ID)
		return true
	})
	known := map[string]bool{}
	for _, iid := range ids {
		known[iid] = true
	}
	for iid := range byInstance {
		if !known[iid] {
			ids = append(ids, iid) // deregistered, or not placed
		}
	}
	slices.Sort(ids)
	for _, iid := range ids {
		di := daemonInstance{ID: iid, Tasks: byInstance[iid]}
		if r, ok := rm.instances.Get(cname + "/" + iid); ok && iid != "" {
			switch aws.ToString(r.Instance.Status) {
			case "ACTIVE":
				di.Eligible = eligible[iid]
			case "DRAINING":
				di.Draining = true
				di.Others = s.replicaTasksOn(rm, cname, iid, group)
			}
		}
		in.Instances = append(in.Instances, di)
	}
	step := planDaemon(in)
	step.Stop = step.Stop[:min(len(step.Stop), maxStopsPerPass)]
	step.Start = step.Start[:min(len(step.Start), maxStartsPerPass)]
	obs.daemonDesired = aws.Int32(int32(step.Desired))
	obs.step = rolloutStep{Done: step.Done, Blocked: step.Blocked}

	if len(step.Start) > 0 && primary != nil && now.Before(primary.retryAt) {
		step.Start = nil
		obs.step.Blocked = false
		msg := "(service " + name + ") is unable to consistently start tasks successfully."
		if !hasEventSince(svc.Events, msg, primary.lastFailure) {
			obs.events = append(obs.events, msg)
		}
	}
	if len(step.Start) > 0 {
		started, reason, err := s.startDaemonTasks(ctx, cname, svc, primary, step.Start)
		obs.started = started
		if err != nil {
			errs = append(errs, err)
		}
		if len(started) > 0 {
			obs.events = append(obs.events, taskListEvent(name, "has started %d tasks:", started))
		}
		if reason != "" {
			msg := "(service " + name + ") was unable to place a task because no container instance met all of its requirements. Reason: " +
				strings.TrimSuffix(reason, ".") + "."
			if !hasEventSince(svc.Events, msg, now.Add(-placementEventEvery)) {
				obs.events = append(obs.events, msg)
			}
		}
	}
	// A draining instance's tasks stop with the reason that says so.
	for _, di := range in.Instances {
		for _, t := range di.Tasks {
			st := seen[t.ID]
			st.draining = di.Draining
			seen[t.ID] = st
		}
	}
	if err := s.stopServiceTasks(ctx, cname, svc, step.Stop, seen, &obs); err != nil {
		errs = append(errs, err)
	}
	return s.finishServicePass(ctx, id, name, svc, seen, &obs, errs)
}

// daemonEligibility says which of the cluster's instances satisfy the
// service's placement constraints and its PRIMARY task definition's.
func (s *Service) daemonEligibility(ctx context.Context, rm *readModel, cname string, svc *ecstypes.Service, primary *observedDeployment) (map[string]bool, error) {
	var defConstraints []ecstypes.TaskDefinitionPlacementConstraint
	if primary != nil {
		e, err := s.taskDefByARN(ctx, primary.taskDefinition)
		if err != nil {
			return nil, err
		}
		defConstraints = e.def.PlacementConstraints
	}
	parsed, err := placementConstraints(defConstraints, svc.PlacementConstraints)
	if err != nil {
		return nil, fmt.Errorf("placement constraints: %w", err)
	}
	cands := placementSnapshot(rm, cname)
	cs := bind(parsed, rm, cname, &decisionTasks{})
	out := make(map[string]bool, len(cands))
	for i := range cands {
		ok := true
		for _, c := range cs {
			if c.Member != nil && !c.Member.Match(&cands[i]) {
				ok = false // distinctInstance holds by construction
			}
		}
		out[cands[i].ID] = ok
	}
	return out, nil
}

// replicaTasksOn counts the tasks on an instance not STOPPED yet that
// belong to services other than group's and not to a DAEMON service (so
// that two daemons on a draining instance do not wait for each other).
func (s *Service) replicaTasksOn(rm *readModel, cname, instanceID, group string) int {
	n := 0
	rm.tasks.Ascend(idxTaskOnInstance, cname+"/"+instanceID, "", func(_ string, v *taskView) bool {
		g := aws.ToString(v.Task.Group)
		other, ok := strings.CutPrefix(g, "service:")
		if !ok || g == group {
			return true
		}
		if r, found := rm.services.Get(serviceID(cname, other)); found && isDaemon(&r.Service) {
			return true
		}
		n++
		return true
	})
	return n
}

// startDaemonTasks starts one task of the PRIMARY deployment on each of
// the instances, through StartTask (at most 10 a call). It returns the
// tasks started and, when some could not start, why.
func (s *Service) startDaemonTasks(ctx context.Context, cname string, svc *ecstypes.Service, dep *observedDeployment, instances []string) (started []string, reason string, err error) {
	for chunk := range slices.Chunk(instances, runTaskMax) {
		req := &ecstypes.StartTaskRequest{
			Cluster: aws.String(cname), TaskDefinition: aws.String(dep.taskDefinition), ContainerInstances: chunk,
			Group: aws.String(serviceGroup(aws.ToString(svc.ServiceName))), StartedBy: aws.String(dep.id),
			NetworkConfiguration: svc.NetworkConfiguration,
			EnableECSManagedTags: svc.EnableECSManagedTags, EnableExecuteCommand: svc.EnableExecuteCommand,
		}
		req.Tags, req.PropagateTags = serviceTaskTags(svc)
		out, err := s.StartTask(ctx, req)
		if err != nil {
			reason, err := startRefusal(err, "start tasks")
			return started, reason, err
		}
		for _, t := range out.Tasks {
			started = append(started, aws.ToString(t.TaskArn))
		}
		if len(out.Failures) > 0 && reason == "" {
			f := out.Failures[0]
			reason = cmp.Or(aws.ToString(f.Detail), aws.ToString(f.Reason))
		}
	}
	return started, reason, nil
}
