package ecs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// The service controller of REPLICA services. It is level-triggered: each
// pass reads every service that is not INACTIVE and its tasks from the
// read model, takes one rolling step per service (services_ctl_rollout.go)
// through RunTask and StopTask, and writes back what it saw: counts,
// deployments' rollout states, events. Nothing but the records in etcd
// carries over between passes, so a restart or a new leader picks up where
// the last one was without starting extra tasks.

const (
	// serviceResync is how often every service is reconciled without a wake-up.
	serviceResync = 5 * time.Second
	// serviceDebounce gathers a burst of task changes into one pass.
	serviceDebounce = 100 * time.Millisecond
	// serviceCallTimeout bounds one service's reconcile (its store calls,
	// placements and stops), and the read of the work list.
	serviceCallTimeout = 30 * time.Second
	// runTaskMax is RunTask's most tasks per call.
	runTaskMax = 10
	// maxStartsPerPass and maxStopsPerPass bound one service's pass.
	maxStartsPerPass = 200
	maxStopsPerPass  = 500
	// placementEventEvery: a placement failure's event is not repeated
	// sooner unless its message changes.
	placementEventEvery = time.Minute
	// Tasks that stop before RUNNING this many times in a row make the
	// controller wait before the next start, twice as long each time from
	// startRetryBase, at most startRetryMax.
	startRetryAfter = 3
	startRetryBase  = 15 * time.Second
	startRetryMax   = 15 * time.Minute
)

// RunServiceController reconciles the region's services until ctx is done:
// on every wake-up (a service or a service's task changed) after a short
// debounce, and every serviceResync.
func (s *Service) RunServiceController(ctx context.Context) {
	wake := time.NewTimer(0)
	defer wake.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.svcKick:
		case <-wake.C:
		}
		debounce := time.NewTimer(serviceDebounce)
		select {
		case <-ctx.Done():
			debounce.Stop()
			return
		case <-debounce.C:
		}
		// What changed until now, this pass sees; later changes wake the next.
		select {
		case <-s.svcKick:
		default:
		}
		if err := s.reconcileServices(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reconcile services", "err", err)
		}
		wake.Reset(serviceResync)
	}
}

// reconcileServices takes one pass over every service not INACTIVE.
func (s *Service) reconcileServices(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, serviceCallTimeout)
	rm, err := s.freshModel(lctx, servicesPart|tasksPart|instancesPart|sessionsPart)
	cancel()
	if err != nil {
		return err
	}
	type work struct {
		id  string
		rec serviceRecord
	}
	var todo []work
	rm.services.Each(func(id string, r *serviceRecord) bool {
		if aws.ToString(r.Service.Status) != "INACTIVE" {
			todo = append(todo, work{id, *r}) // read only: shares the cache's slices
		}
		return true
	})
	defer s.lost.forget() // agents no service task waits for any more
	var errs []error
	for _, w := range todo {
		sctx, cancel := context.WithTimeout(ctx, serviceCallTimeout)
		err := s.reconcileService(sctx, rm, w.id, w.rec)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", w.id, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// observedDeployment is what one pass saw of a deployment's tasks.
type observedDeployment struct {
	id, taskDefinition string
	primary            bool
	running, pending   int
	failed             int // tasks that stopped before RUNNING
	// stopping: tasks told to stop that have not stopped yet, on instances
	// whose agents are connected (maximumPercent counts them until they
	// have stopped).
	stopping int
	// retryAt: after repeated failures to start, no start before then.
	retryAt time.Time
	// lastFailure is when the latest failure to start stopped.
	lastFailure time.Time
}

// serviceObservation is what one pass saw and did, for the write-back.
type serviceObservation struct {
	deployments map[string]*observedDeployment
	primaryID   string
	step        rolloutStep
	started     []string          // task ARNs
	stopped     map[string]string // task ARN -> deployment id
	events      []string          // oldest first
	draining    bool
	tasksLeft   int
	// generation is the service's generation the pass acted on: a
	// deployment is complete only if nothing was asked of it since.
	generation int64
	// breaker is what the deployment circuit breaker saw and decided.
	breaker breakerObservation
	// loadBalanced: the service's tasks are (or were) in target groups;
	// targetGroups is its record's TargetGroups after the pass (nil:
	// unchanged).
	loadBalanced bool
	targetGroups []string
	// daemonDesired is a DAEMON service's desiredCount: its eligible
	// instances (services_ctl_daemon.go).
	daemonDesired *int32
}

// reconcileService takes one step for one service and writes back what
// changed.
func (s *Service) reconcileService(ctx context.Context, rm *readModel, id string, rec serviceRecord) error {
	if isDaemon(&rec.Service) {
		return s.reconcileDaemon(ctx, rm, id, rec) // services_ctl_daemon.go
	}
	cname := clusterOfID(id)
	svc := &rec.Service
	name := aws.ToString(svc.ServiceName)
	now := s.now()
	obs := serviceObservation{deployments: map[string]*observedDeployment{}, stopped: map[string]string{},
		draining: rec.Deleted, generation: rec.Generation}
	in := rolloutInput{
		Desired:    int(aws.ToInt32(svc.DesiredCount)),
		MinPercent: defaultMinimumHealthyPercent, MaxPercent: defaultMaximumPercent,
		Draining: rec.Deleted,
	}
	if dc := svc.DeploymentConfiguration; dc != nil {
		if dc.MinimumHealthyPercent != nil {
			in.MinPercent = int(*dc.MinimumHealthyPercent)
		}
		if dc.MaximumPercent != nil {
			in.MaxPercent = int(*dc.MaximumPercent)
		}
	}
	grace := time.Duration(aws.ToInt32(svc.HealthCheckGracePeriodSeconds)) * time.Second
	zone := spreadZone(svc.PlacementStrategy)
	seen := map[string]seenTask{}
	lost := map[string]string{} // task ARN -> why its instance is lost
	var errs []error
	// Load balancer targets first: a task's health is also theirs
	// (services_ctl_lb.go).
	var lbp lbPass
	elbUnhealthy := map[string]string{} // task ARN -> the group that fails it
	if s.loadBalanced(&rec) {
		obs.loadBalanced = true
		var err error
		lbp, err = s.reconcileTargets(ctx, rm, cname, &rec)
		obs.targetGroups = lbp.groups
		if err != nil {
			errs = append(errs, err)
		}
		obs.events = append(obs.events, lbp.events...)
	}
	for _, d := range svc.Deployments {
		od := obs.observe(svc, d)
		if od == nil {
			continue
		}
		view := func(v *taskView) rolloutTask {
			t := rolloutTaskOf(v, od.primary, now, grace, zone)
			t.Draining = onDrainingInstance(rm, cname, v) // services_ctl_drain.go
			if lbp.health != nil {
				if group := applyTargetHealth(&t, lbp.health[t.ID], v, now, grace); group != "" {
					elbUnhealthy[t.ID] = group
				}
			}
			if why := s.lostReason(rm, cname, v, now); why != "" {
				lost[t.ID] = why // services_ctl_lost.go
			}
			return t
		}
		in.Tasks = observeDeployment(rm, cname, od, view, in.Tasks, seen)
		in.Stopping += od.stopping
	}
	for arn, group := range elbUnhealthy {
		st := seen[arn]
		st.elb = group
		seen[arn] = st
	}
	obs.tasksLeft = len(in.Tasks) + lbp.held
	var lostStops []string
	in.Tasks, lostStops = withoutLost(in.Tasks, lost, seen)
	if obs.primaryID == "" && !rec.Deleted {
		return nil // no PRIMARY deployment: nothing to roll toward
	}
	step := planRollout(in)
	step = breakerStep(rm, cname, &rec, &obs, in, step) // services_ctl_breaker.go
	// A pass does a bounded amount, so that a large rollout neither holds
	// the other services up nor runs past the pass's deadline: the next
	// pass, woken by the changes this one makes, goes on from there. Stop
	// is in the order the tasks should go.
	step.Start = min(step.Start, maxStartsPerPass)
	step.Stop = step.Stop[:min(len(step.Stop), maxStopsPerPass)]
	obs.step = step
	primary := obs.deployments[obs.primaryID]

	if step.Start > 0 && primary != nil && now.Before(primary.retryAt) {
		step.Start = 0
		obs.step.Blocked = false
		msg := "(service " + name + ") is unable to consistently start tasks successfully."
		if !hasEventSince(svc.Events, msg, primary.lastFailure) {
			obs.events = append(obs.events, msg)
		}
	}
	if step.Start > 0 {
		started, reason, err := s.startServiceTasks(ctx, cname, svc, primary, step.Start)
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
	if err := s.stopServiceTasks(ctx, cname, svc, append(lostStops, step.Stop...), seen, &obs); err != nil {
		errs = append(errs, err)
	}
	return s.finishServicePass(ctx, id, name, svc, seen, &obs, errs)
}

// stopServiceTasks stops a pass's tasks (ARNs, in the order they should go)
// with the reason ECS gives, and notes them and the event in obs.
func (s *Service) stopServiceTasks(ctx context.Context, cname string, svc *ecstypes.Service, arns []string, seen map[string]seenTask, obs *serviceObservation) error {
	if len(arns) == 0 {
		return nil
	}
	name := aws.ToString(svc.ServiceName)
	// A task behind a load balancer drains before it stops.
	deactivate := obs.loadBalanced
	stops := make([]taskStop, 0, len(arns))
	arnOf := make(map[string]string, len(arns))
	for _, arn := range arns {
		id := idFromARN(arn)
		arnOf[id] = arn
		stops = append(stops, taskStop{ID: id, Reason: serviceStopReason(name, seen[arn]), Deactivate: deactivate && seen[arn].lost == ""})
	}
	ids, err := s.stopTasks(ctx, cname, stops, ecstypes.TaskStopCodeServiceSchedulerInitiated)
	var stopped []string
	for _, id := range ids {
		arn := arnOf[id]
		obs.stopped[arn] = seen[arn].deployment
		stopped = append(stopped, arn)
	}
	if len(stopped) > 0 {
		obs.events = append(obs.events, taskListEvent(name, "has stopped %d running tasks:", stopped))
	}
	return err
}

// finishServicePass ends a pass of either scheduling strategy: the event of
// a step the deployment configuration does not allow, the counts less the
// tasks just stopped, and the write-back.
func (s *Service) finishServicePass(ctx context.Context, id, name string, svc *ecstypes.Service, seen map[string]seenTask, obs *serviceObservation, errs []error) error {
	if obs.step.Blocked {
		msg := "(service " + name + ") was unable to stop or start tasks during a deployment because of the service deployment configuration. " +
			"Update the minimumHealthyPercent or maximumPercent value and try again."
		if len(svc.Events) == 0 || aws.ToString(svc.Events[0].Message) != msg {
			obs.events = append(obs.events, msg)
		}
	}
	for arn, dep := range obs.stopped {
		obs.tasksLeft--
		od := obs.deployments[dep]
		switch seen[arn].status {
		case "PENDING":
			od.pending--
		case "RUNNING":
			od.running--
		}
		// Told to stop, it runs until its agent stops it: maximumPercent
		// counts it until then (unless its agent is gone).
		if seen[arn].lost == "" {
			od.stopping++
		}
	}
	if err := s.writeServiceStatus(ctx, id, name, obs); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// observe starts the pass's record of deployment d of svc (nil for one
// without an id): its task definition (the service's when it names none)
// and whether it is the PRIMARY.
func (obs *serviceObservation) observe(svc *ecstypes.Service, d ecstypes.Deployment) *observedDeployment {
	od := &observedDeployment{id: aws.ToString(d.Id), taskDefinition: aws.ToString(d.TaskDefinition),
		primary: aws.ToString(d.Status) == deploymentPrimary}
	if od.id == "" {
		return nil
	}
	if od.taskDefinition == "" {
		od.taskDefinition = aws.ToString(svc.TaskDefinition)
	}
	obs.deployments[od.id] = od
	if od.primary {
		obs.primaryID = od.id
	}
	return od
}

// seenTask is what a pass noted of a live task: its deployment, whether
// it counted as PENDING or RUNNING ("" for neither), whether it is on a
// DRAINING instance, and why its instance is lost ("" when it is not).
type seenTask struct {
	deployment, status string
	draining           bool
	lost               string
	// elb is the target group that failed the task's health checks ("" for
	// none; services_ctl_lb.go).
	elb string
}

// observeDeployment reads one deployment's tasks from the read model: its
// live ones (desiredStatus RUNNING) join the step's tasks and its counts;
// its stopped ones tell how many failed to start, and how many in a row
// since one last did (which makes the next start wait), and how many are
// still on their way to STOPPED on an instance whose agent can stop them.
// One whose agent is gone is not waited for: it may never say it stopped.
func observeDeployment(rm *readModel, cname string, od *observedDeployment, view func(*taskView) rolloutTask,
	tasks []rolloutTask, seen map[string]seenTask) []rolloutTask {
	var lastStart time.Time
	rm.tasks.Ascend(idxTaskStartedBy, cname+sep+"RUNNING"+sep+od.id, "", func(_ string, v *taskView) bool {
		t := view(v)
		tasks = append(tasks, t)
		st := seenTask{deployment: od.id, draining: t.Draining}
		switch {
		case t.Pending:
			od.pending++
			st.status = "PENDING"
		case aws.ToString(v.Task.LastStatus) == "RUNNING":
			od.running++
			st.status = "RUNNING"
		}
		seen[t.ID] = st
		if at := v.Task.StartedAt; at != nil && at.After(lastStart) {
			lastStart = at.Time
		}
		return true
	})
	var failures []time.Time
	rm.tasks.Ascend(idxTaskStartedBy, cname+sep+"STOPPED"+sep+od.id, "", func(_ string, v *taskView) bool {
		t := &v.Task
		if aws.ToString(t.LastStatus) != "STOPPED" && v.InstanceID != "" {
			if _, connected := rm.sessions.Get(v.InstanceID); connected {
				od.stopping++
			}
		}
		switch {
		case t.StartedAt != nil:
			if t.StartedAt.After(lastStart) {
				lastStart = t.StartedAt.Time
			}
		case aws.ToString(t.StopCode) == ecstypes.TaskStopCodeTaskFailedToStart && t.StoppedAt != nil:
			failures = append(failures, t.StoppedAt.Time)
			if t.StoppedAt.After(od.lastFailure) {
				od.lastFailure = t.StoppedAt.Time
			}
		}
		return true
	})
	od.failed = len(failures)
	recent := 0
	for _, at := range failures {
		if at.After(lastStart) {
			recent++
		}
	}
	if recent >= startRetryAfter {
		od.retryAt = od.lastFailure.Add(startRetryDelay(recent))
	}
	return tasks
}

// rolloutTaskOf is a task as the rolling step sees it.
func rolloutTaskOf(v *taskView, primary bool, now time.Time, grace time.Duration, zone string) rolloutTask {
	t := &v.Task
	rt := rolloutTask{ID: aws.ToString(t.TaskArn), Primary: primary}
	if t.CreatedAt != nil {
		rt.CreatedAt = t.CreatedAt.Time
	}
	switch zone {
	case "az":
		rt.Zone = aws.ToString(t.AvailabilityZone)
	case "instance":
		rt.Zone = v.InstanceID
	}
	switch aws.ToString(t.LastStatus) {
	case "RUNNING":
	case "PROVISIONING", "PENDING", "ACTIVATING":
		rt.Pending = true
		return rt
	default:
		return rt // on its way out: neither healthy nor pending
	}
	if len(v.HealthChecked) == 0 {
		rt.Healthy = true
		return rt
	}
	switch aws.ToString(t.HealthStatus) {
	case ecstypes.HealthStatusHEALTHY:
		rt.Healthy = true
	case ecstypes.HealthStatusUNHEALTHY:
		started := now
		if t.StartedAt != nil {
			started = t.StartedAt.Time
		}
		rt.Unhealthy = !now.Before(started.Add(grace))
	}
	return rt
}

// spreadZone says what scale-in balances over: the service's first spread
// strategy's field, when it is one a task view knows.
func spreadZone(strategies []ecstypes.PlacementStrategy) string {
	for _, ps := range strategies {
		if aws.ToString(ps.Type) != "spread" {
			continue
		}
		switch aws.ToString(ps.Field) {
		case "attribute:ecs.availability-zone":
			return "az"
		case "instanceId", "host":
			return "instance"
		}
		return ""
	}
	return ""
}

// startRetryDelay is the wait before the next start after n failures to
// start in a row.
func startRetryDelay(n int) time.Duration {
	d := startRetryBase
	for i := startRetryAfter; i < n && d < startRetryMax; i++ {
		d *= 2
	}
	return min(d, startRetryMax)
}

// startServiceTasks starts n tasks of the PRIMARY deployment through
// RunTask (at most runTaskMax a call), so that placement, reservations and
// the agents' payloads are RunTask's. It returns the tasks started and,
// when some could not be placed, why.
func (s *Service) startServiceTasks(ctx context.Context, cname string, svc *ecstypes.Service, dep *observedDeployment, n int) (started []string, reason string, err error) {
	name := aws.ToString(svc.ServiceName)
	for n > 0 {
		count := min(n, runTaskMax)
		req := &ecstypes.RunTaskRequest{
			Cluster: aws.String(cname), TaskDefinition: aws.String(dep.taskDefinition), Count: aws.Int32(int32(count)),
			Group: aws.String(serviceGroup(name)), StartedBy: aws.String(dep.id),
			PlacementConstraints: svc.PlacementConstraints, PlacementStrategy: svc.PlacementStrategy,
			LaunchType: svc.LaunchType, NetworkConfiguration: svc.NetworkConfiguration,
			EnableECSManagedTags: svc.EnableECSManagedTags, EnableExecuteCommand: svc.EnableExecuteCommand,
		}
		req.Tags, req.PropagateTags = serviceTaskTags(svc)
		out, err := s.RunTask(ctx, req)
		if err != nil {
			reason, err := startRefusal(err, "run tasks")
			return started, reason, err
		}
		for _, t := range out.Tasks {
			started = append(started, aws.ToString(t.TaskArn))
		}
		if len(out.Failures) > 0 {
			f := out.Failures[0]
			return started, cmp.Or(aws.ToString(f.Detail), aws.ToString(f.Reason)), nil
		}
		n -= count
	}
	return started, "", nil
}

// serviceTaskTags are the tags a service's new task gets, as its
// propagateTags says: the service's, or (propagated by RunTask/StartTask)
// the task definition's.
func serviceTaskTags(svc *ecstypes.Service) (tags []ecstypes.Tag, propagate *string) {
	switch aws.ToString(svc.PropagateTags) {
	case ecstypes.PropagateTagsSERVICE:
		return svc.Tags, nil
	case ecstypes.PropagateTagsTASKDEFINITION:
		return nil, svc.PropagateTags
	}
	return nil, nil
}

// startRefusal sorts the error of a call that starts a service's tasks: a
// refusal (no instances, an inactive task definition) is the service's
// problem to report, as a reason; anything else is an error, retried by a
// later pass.
func startRefusal(err error, what string) (reason string, _ error) {
	if e, ok := awserr.As(err); ok && e.Code != awserr.CodeServer && e.Code != awserr.CodeInternalFailure {
		return e.Message, nil
	}
	return "", fmt.Errorf("%s: %w", what, err)
}

// taskListEvent is "(service web) has started 2 tasks: (task a) (task b).".
func taskListEvent(service, verb string, arns []string) string {
	var b strings.Builder
	b.WriteString("(service " + service + ") " + fmt.Sprintf(verb, len(arns)))
	for _, arn := range arns {
		b.WriteString(" (task " + idFromARN(arn) + ")")
	}
	b.WriteString(".")
	return b.String()
}

// hasEventSince reports whether the service has an event saying msg
// created after since.
func hasEventSince(events []ecstypes.ServiceEvent, msg string, since time.Time) bool {
	for _, e := range events {
		if aws.ToString(e.Message) == msg && e.CreatedAt != nil && e.CreatedAt.After(since) {
			return true
		}
	}
	return false
}

// writeServiceStatus writes back what a pass saw and did, in one
// transaction that re-reads the service and changes only the controller's
// fields (an API change in between stays), and only when something changed.
func (s *Service) writeServiceStatus(ctx context.Context, id, name string, obs *serviceObservation) error {
	now := s.now()
	return s.st.Update(ctx, func(tx *store.Tx) error {
		cur, err := store.Get(tx, services, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get service: %w", err)
		}
		before, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		next := cur // decoded afresh by this attempt: ours to change
		applyObservation(&next, name, obs, now)
		if err := s.recordDeploymentTransitions(tx, &cur, &next, obs, now); err != nil { // services_history.go
			return err
		}
		after, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if string(before) == string(after) {
			return nil
		}
		store.Put(tx, services, id, next)
		return nil
	})
}

// applyObservation updates the controller's fields of a service record.
func applyObservation(rec *serviceRecord, name string, obs *serviceObservation, now time.Time) {
	svc := &rec.Service
	if obs.targetGroups != nil {
		rec.TargetGroups = obs.targetGroups
		if len(rec.TargetGroups) == 0 {
			rec.TargetGroups = nil
		}
	}
	events := append([]string{}, obs.events...)
	if n := obs.daemonDesired; n != nil {
		svc.DesiredCount = aws.Int32(*n)
		for i := range svc.Deployments {
			if d := &svc.Deployments[i]; aws.ToString(d.Id) == obs.primaryID && aws.ToInt32(d.DesiredCount) != *n {
				d.DesiredCount, d.UpdatedAt = aws.Int32(*n), ecstypes.Time(now)
			}
		}
	}
	// What the pass saw is the steady state only if nothing was asked since.
	done := obs.step.Done && !rec.Deleted && rec.Generation == obs.generation
	var running, pending int32
	kept := svc.Deployments[:0:0]
	for _, d := range svc.Deployments {
		od, seen := obs.deployments[aws.ToString(d.Id)]
		if !seen {
			kept = append(kept, d) // new since the pass read the service
			continue
		}
		isPrimary := aws.ToString(d.Status) == deploymentPrimary
		run, pend := int32(od.running), int32(od.pending)
		if od.id == obs.primaryID && isPrimary {
			pend += int32(len(obs.started))
		}
		if !isPrimary && run+pend == 0 && od.stopping == 0 && od.id != obs.primaryID {
			continue // drained: its last tasks have stopped
		}
		failed := max(int32(od.failed), aws.ToInt32(d.FailedTasks))
		if aws.ToInt32(d.RunningCount) != run || aws.ToInt32(d.PendingCount) != pend || aws.ToInt32(d.FailedTasks) != failed || d.FailedTasks == nil {
			d.RunningCount, d.PendingCount, d.FailedTasks = aws.Int32(run), aws.Int32(pend), aws.Int32(failed)
			d.UpdatedAt = ecstypes.Time(now)
		}
		if isPrimary && od.id == obs.primaryID && done &&
			aws.ToString(d.RolloutState) != rolloutCompleted {
			d.RolloutState = aws.String(rolloutCompleted)
			d.RolloutStateReason = aws.String("ECS deployment " + od.id + " completed.")
			d.UpdatedAt = ecstypes.Time(now)
			events = append(events, "(service "+name+") (deployment "+od.id+") deployment completed.")
		}
		running += run
		pending += pend
		kept = append(kept, d)
	}
	svc.Deployments = kept
	svc.RunningCount, svc.PendingCount = aws.Int32(running), aws.Int32(pending)
	events = append(events, applyBreaker(rec, name, obs, now)...) // services_ctl_breaker.go

	// A deleted service is INACTIVE once a pass finds none of its tasks left.
	if rec.Deleted && obs.draining && obs.tasksLeft == 0 && len(obs.stopped) == 0 && len(obs.started) == 0 {
		svc.Status = aws.String("INACTIVE")
		svc.DesiredCount = aws.Int32(0)
		svc.RunningCount, svc.PendingCount = aws.Int32(0), aws.Int32(0)
	}
	steady := "(service " + name + ") has reached a steady state."
	if done && obs.primaryID == primaryIDOf(svc) {
		newest := ""
		if len(events) > 0 {
			newest = events[len(events)-1]
		} else if len(svc.Events) > 0 {
			newest = aws.ToString(svc.Events[0].Message)
		}
		if newest != steady {
			events = append(events, steady)
		}
	}
	if len(events) == 0 {
		return
	}
	out := make([]ecstypes.ServiceEvent, 0, min(len(events)+len(svc.Events), maxServiceEvents))
	for i := len(events) - 1; i >= 0; i-- {
		// Events of one pass share its time; the newest comes first.
		out = append(out, ecstypes.ServiceEvent{Id: aws.String(newUUID()), CreatedAt: ecstypes.Time(now), Message: aws.String(events[i])})
	}
	out = append(out, svc.Events...)
	if len(out) > maxServiceEvents {
		out = out[:maxServiceEvents]
	}
	svc.Events = out
}

// primaryIDOf is the id of a service's PRIMARY deployment.
func primaryIDOf(svc *ecstypes.Service) string {
	for _, d := range svc.Deployments {
		if aws.ToString(d.Status) == deploymentPrimary {
			return aws.ToString(d.Id)
		}
	}
	return ""
}
