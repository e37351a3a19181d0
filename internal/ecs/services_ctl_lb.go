package ecs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/lbtarget"
	"github.com/berth-dev/berth/internal/store"
)

// A service with loadBalancers[] keeps its tasks registered in its target
// groups, as ECS does (level-triggered, every pass):
//
//   - a task RUNNING on an instance is registered in each group: the
//     instance's ec2InstanceId and the host port its container's port is
//     bound to (bridge and host network modes), dialled at the address the
//     instance's agent connects from;
//   - a registered target the service has no RUNNING task for any more is
//     deregistered, which starts its draining;
//   - a task the controller stops is Deactivating first: desiredStatus
//     STOPPED, but its agent keeps it running (lastStatus DEACTIVATING)
//     until its targets have drained from every group; then it is let go
//     and its agent stops it;
//   - a task counts as healthy only once its targets are healthy in every
//     group, and one whose target a group calls unhealthy after the
//     healthCheckGracePeriodSeconds is replaced ("Task failed ELB health
//     checks in (target-group ...)").

// lbTaskHealth is a task's health across its service's target groups.
type lbTaskHealth struct {
	// healthy: registered and healthy in every group.
	healthy bool
	// unhealthyIn is a group that calls the task unhealthy ("" for none).
	unhealthyIn string
}

// lbPass is what one pass did with a service's targets.
type lbPass struct {
	health map[string]lbTaskHealth // task ARN -> health
	events []string
	// held counts the Deactivating tasks still draining: a deleted
	// service is not INACTIVE before they are let go.
	held int
	// groups are the target groups the service names or still has targets
	// in: the record's TargetGroups.
	groups []string
}

// deactivateGrace is how long past its groups' deregistration delay a
// Deactivating task is held at most, should its targets never be reported
// drained (no data plane runs).
const deactivateGrace = 30 * time.Second

// loadBalanced says whether the service's tasks go into target groups,
// or did and some may still be there (its loadBalancers changed).
func (s *Service) loadBalanced(rec *serviceRecord) bool {
	if s.cfg.LoadBalancing == nil {
		return false
	}
	if len(rec.TargetGroups) > 0 {
		return true
	}
	for _, lb := range rec.Service.LoadBalancers {
		if lb.TargetGroupArn != nil {
			return true
		}
	}
	return false
}

// reconcileTargets registers the service's RUNNING tasks in its target
// groups, deregisters the targets of tasks that are gone or stopping (and
// every target it has in a group its loadBalancers no longer name), lets
// Deactivating tasks go once their targets drained, and answers each
// RUNNING task's health as the groups see it.
func (s *Service) reconcileTargets(ctx context.Context, rm *readModel, cname string, rec *serviceRecord) (lbPass, error) {
	svc := &rec.Service
	pass := lbPass{health: map[string]lbTaskHealth{}}
	var live, deactivating []string // task store ids
	for _, d := range svc.Deployments {
		dep := aws.ToString(d.Id)
		rm.tasks.Ascend(idxTaskStartedBy, cname+sep+"RUNNING"+sep+dep, "", func(id string, v *taskView) bool {
			if aws.ToString(v.Task.LastStatus) == "RUNNING" {
				live = append(live, id)
			}
			return true
		})
		rm.tasks.Ascend(idxTaskStartedBy, cname+sep+"STOPPED"+sep+dep, "", func(id string, v *taskView) bool {
			if v.Deactivating {
				deactivating = append(deactivating, id)
			}
			return true
		})
	}
	var recs map[string]taskRecord
	if len(live)+len(deactivating) > 0 {
		if err := s.st.View(ctx, func(tx *store.Tx) error {
			var err error
			recs, err = store.GetMany(tx, tasks, append(append([]string{}, live...), deactivating...))
			return err
		}); err != nil {
			pass.held = len(deactivating)
			return pass, fmt.Errorf("read the service's tasks: %w", err)
		}
	}
	// A Deactivating task is held while any group still has one of its
	// host ports: its targets drain.
	draining := map[string]map[string]bool{} // task id -> its targets' keys
	for _, id := range deactivating {
		draining[id] = taskTargetKeys(rm, cname, recs[id])
	}
	held := map[string]bool{}
	var maxDelay time.Duration
	var errs []error
	var groups []string // what the service record keeps (TargetGroups)
	syncOne := func(group string, lb *ecstypes.LoadBalancer) {
		info, err := s.cfg.LoadBalancing.TargetGroup(ctx, s.cfg.Region, group)
		switch {
		case errors.Is(err, lbtarget.ErrTargetGroupNotFound):
			// Deleted: nothing drains there, and no task can be
			// registered (nor counted healthy) while the service names it.
			return
		case err != nil:
			errs = append(errs, fmt.Errorf("target group %s: %w", group, err))
			groups = append(groups, group)
			return
		}
		maxDelay = max(maxDelay, time.Duration(info.DeregistrationDelaySeconds)*time.Second)
		owned, err := s.syncGroup(ctx, rm, cname, svc, group, lb, live, recs, &pass)
		if err != nil {
			errs = append(errs, err)
		}
		if lb != nil || len(owned) > 0 {
			groups = append(groups, group)
		}
		for id, keys := range draining {
			for _, st := range owned {
				if keys[st.Key()] {
					held[id] = true
				}
			}
		}
	}
	current := map[string]bool{}
	for i := range svc.LoadBalancers {
		lb := &svc.LoadBalancers[i]
		if group := aws.ToString(lb.TargetGroupArn); group != "" && !current[group] {
			current[group] = true
			syncOne(group, lb)
		}
	}
	for _, group := range rec.TargetGroups {
		if !current[group] {
			syncOne(group, nil) // retired: every target goes
		}
	}
	slices.Sort(groups)
	pass.groups = append([]string{}, groups...) // non-nil: the record takes it
	if len(errs) > 0 {
		// Without every group's view, no Deactivating task is let go.
		pass.held = len(deactivating)
		return pass, errors.Join(errs...)
	}
	var release []string
	now := s.now()
	for _, id := range deactivating {
		rec := recs[id]
		overdue := rec.Task.StoppingAt != nil && now.After(rec.Task.StoppingAt.Add(maxDelay+deactivateGrace))
		if !held[id] || overdue || aws.ToString(rec.Task.LastStatus) != "RUNNING" {
			release = append(release, id)
		}
	}
	pass.held = len(deactivating) - len(release)
	if err := s.releaseDeactivated(ctx, release); err != nil {
		pass.held = len(deactivating)
		return pass, err
	}
	return pass, nil
}

// syncGroup brings one group's targets of the service in line: the live
// tasks registered (lb names the container and port; nil for a group the
// service no longer names, whose targets all go), the rest deregistered.
// It notes each live task's health in pass and returns the service's
// targets in the group as they were.
func (s *Service) syncGroup(ctx context.Context, rm *readModel, cname string, svc *ecstypes.Service, group string, lb *ecstypes.LoadBalancer,
	live []string, recs map[string]taskRecord, pass *lbPass) ([]lbtarget.Status, error) {
	owner, name := aws.ToString(svc.ServiceArn), aws.ToString(svc.ServiceName)
	owned, err := s.cfg.LoadBalancing.OwnedTargets(ctx, s.cfg.Region, group, owner)
	if err != nil {
		return nil, fmt.Errorf("targets of %s: %w", group, err)
	}
	have := make(map[string]lbtarget.Status, len(owned))
	for _, st := range owned {
		have[st.Key()] = st
	}
	want := map[string]bool{}
	var register []lbtarget.Target
	for _, id := range live {
		rec, ok := recs[id]
		if !ok || lb == nil {
			continue
		}
		arn := aws.ToString(rec.Task.TaskArn)
		t, ok := taskTarget(rm, cname, rec, *lb)
		if !ok {
			pass.health[arn] = lbTaskHealth{} // not registrable yet: not healthy
			continue
		}
		want[t.Key()] = true
		h, seen := pass.health[arn]
		if !seen {
			h.healthy = true
		}
		st, registered := have[t.Key()]
		switch {
		case !registered || st.State == lbtarget.StateDraining:
			register = append(register, t)
			h.healthy = false
		case st.State == lbtarget.StateUnhealthy:
			h.healthy = false
			if h.unhealthyIn == "" {
				h.unhealthyIn = group
			}
		case st.State != lbtarget.StateHealthy:
			h.healthy = false
		}
		pass.health[arn] = h
	}
	var deregister []lbtarget.Target
	for key, st := range have {
		if !want[key] && st.State != lbtarget.StateDraining {
			deregister = append(deregister, st.Target)
		}
	}
	var errs []error
	if len(register) > 0 {
		if err := s.cfg.LoadBalancing.RegisterTargets(ctx, s.cfg.Region, group, owner, register); err != nil {
			errs = append(errs, fmt.Errorf("register targets in %s: %w", group, err))
		} else {
			pass.events = append(pass.events, fmt.Sprintf("(service %s) registered %d targets in (target-group %s)", name, len(register), group))
		}
	}
	if len(deregister) > 0 {
		if err := s.cfg.LoadBalancing.DeregisterTargets(ctx, s.cfg.Region, group, deregister); err != nil {
			errs = append(errs, fmt.Errorf("deregister targets in %s: %w", group, err))
		} else {
			pass.events = append(pass.events, fmt.Sprintf("(service %s) deregistered %d targets in (target-group %s)", name, len(deregister), group))
		}
	}
	return owned, errors.Join(errs...)
}

// taskTargetKeys are the target keys a task may have in any group: its
// instance's id with each of its host ports.
func taskTargetKeys(rm *readModel, cname string, rec taskRecord) map[string]bool {
	keys := map[string]bool{}
	inst, ok := rm.instances.Get(cname + "/" + rec.InstanceID)
	if !ok || inst.Instance.Ec2InstanceId == nil {
		return keys
	}
	for _, c := range rec.Task.Containers {
		for _, b := range c.NetworkBindings {
			if p := aws.ToInt32(b.HostPort); p > 0 {
				keys[lbtarget.Target{ID: *inst.Instance.Ec2InstanceId, Port: p}.Key()] = true
			}
		}
	}
	return keys
}

// releaseDeactivated lets Deactivating tasks go: their agents are told
// to stop them.
func (s *Service) releaseDeactivated(ctx context.Context, ids []string) error {
	for len(ids) > 0 {
		batch := ids[:min(stopBatch, len(ids))]
		ids = ids[len(batch):]
		err := s.st.Update(ctx, func(tx *store.Tx) error {
			recs, err := store.GetMany(tx, tasks, batch)
			if err != nil {
				return err
			}
			for id, rec := range recs {
				if !rec.Deactivating {
					continue
				}
				rec.Deactivating = false
				rec.Task.Version = aws.Int64(aws.ToInt64(rec.Task.Version) + 1)
				store.Put(tx, tasks, id, rec)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("let deactivated tasks stop: %w", err)
		}
	}
	return nil
}

// taskTarget is a task's target in a load balancer's group: its
// instance's id and the host port of the load balancer's container port,
// dialled at the address the instance's agent connects from. False while
// the task has no such binding or its instance is unknown.
func taskTarget(rm *readModel, cname string, rec taskRecord, lb ecstypes.LoadBalancer) (lbtarget.Target, bool) {
	inst, ok := rm.instances.Get(cname + "/" + rec.InstanceID)
	if !ok || inst.Instance.Ec2InstanceId == nil {
		return lbtarget.Target{}, false
	}
	var port int32
	for _, c := range rec.Task.Containers {
		if aws.ToString(c.Name) != aws.ToString(lb.ContainerName) {
			continue
		}
		for _, b := range c.NetworkBindings {
			if aws.ToInt32(b.ContainerPort) == aws.ToInt32(lb.ContainerPort) && aws.ToString(b.Protocol) != "udp" && aws.ToInt32(b.HostPort) > 0 {
				port = aws.ToInt32(b.HostPort)
				break
			}
		}
	}
	if port == 0 {
		return lbtarget.Target{}, false
	}
	t := lbtarget.Target{ID: aws.ToString(inst.Instance.Ec2InstanceId), Port: port}
	if sess, ok := rm.sessions.Get(rec.InstanceID); ok {
		t.Address = sess.Address
	}
	return t, true
}

// applyTargetHealth is a RUNNING task's rollout view with its targets'
// health: healthy only once every group says so, unhealthy when a group
// says so after the grace period (and why, for its stop reason).
func applyTargetHealth(t *rolloutTask, h lbTaskHealth, v *taskView, now time.Time, grace time.Duration) (unhealthyIn string) {
	if t.Pending || aws.ToString(v.Task.LastStatus) != "RUNNING" {
		return ""
	}
	if !h.healthy {
		t.Healthy = false
	}
	started := now
	if v.Task.StartedAt != nil {
		started = v.Task.StartedAt.Time
	}
	if h.unhealthyIn != "" && !now.Before(started.Add(grace)) {
		t.Unhealthy = true
		t.Healthy = false
		return h.unhealthyIn
	}
	return ""
}

// checkTargetGroups checks a service's load balancers against Elastic Load
// Balancing, as CreateService and UpdateService do: each target group
// exists, has a load balancer, and its target type fits the task
// definition's network mode.
func (s *Service) checkTargetGroups(ctx context.Context, def ecstypes.TaskDefinition, lbs []ecstypes.LoadBalancer) error {
	for _, lb := range lbs {
		arn := aws.ToString(lb.TargetGroupArn)
		if arn == "" {
			if lb.LoadBalancerName != nil {
				return awserr.InvalidParameter("Berth supports load balancers by targetGroupArn only (Application and Network Load Balancers); Classic Load Balancer %s cannot be used.", aws.ToString(lb.LoadBalancerName))
			}
			continue
		}
		if s.cfg.LoadBalancing == nil {
			return awserr.InvalidParameter("This Berth server runs no Elastic Load Balancing: target group %s cannot be used.", arn)
		}
		g, err := s.cfg.LoadBalancing.TargetGroup(ctx, s.cfg.Region, arn)
		if errors.Is(err, lbtarget.ErrTargetGroupNotFound) {
			return awserr.InvalidParameter("Unable to find the target group %s.", arn)
		}
		if err != nil {
			return fmt.Errorf("target group %s: %w", arn, err)
		}
		if len(g.LoadBalancerARNs) == 0 {
			return awserr.InvalidParameter("The target group with targetGroupArn %s does not have an associated load balancer.", arn)
		}
		mode := aws.ToString(def.NetworkMode)
		if mode == "" {
			mode = ecstypes.NetworkModeBridge
		}
		switch {
		case mode == ecstypes.NetworkModeAwsvpc:
			return awserr.InvalidParameter("Berth does not register awsvpc tasks in target groups yet (target group %s).", arn)
		case g.TargetType != "instance":
			return awserr.InvalidParameter("The provided target group %s has target type %s, which is incompatible with the %s network mode specified in the task definition.", arn, g.TargetType, mode)
		}
	}
	return nil
}

// remoteIP is the IP of a socket's peer ("" when it has none).
func remoteIP(a net.Addr) string {
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return ""
	}
	return host
}

// deactivateInTx holds a task the transaction just stopped Deactivating.
func deactivateInTx(tx *store.Tx, id string) error {
	rec, err := store.Get(tx, tasks, id)
	if err != nil {
		return fmt.Errorf("get task %s: %w", id, err)
	}
	rec.Deactivating = true
	store.Put(tx, tasks, id, rec)
	return nil
}

// shown is the task as the API answers it: a Deactivating task that still
// runs is DEACTIVATING, as in ECS.
func (r taskRecord) shown() ecstypes.Task {
	t := r.Task
	if r.Deactivating && aws.ToString(t.LastStatus) == "RUNNING" {
		t.LastStatus = aws.String("DEACTIVATING")
	}
	return t
}

// InstanceAddress resolves a container instance's ec2InstanceId to the
// address its agent connects from: where Elastic Load Balancing dials an
// instance target. False for an instance this region does not have, or
// whose agent is not connected.
func (s *Service) InstanceAddress(ctx context.Context, ec2ID string) (string, bool) {
	rm, err := s.freshModel(ctx, instancesPart|sessionsPart)
	if err != nil {
		return "", false
	}
	var addr string
	rm.instances.Ascend(idxInstanceEC2, ec2ID, "", func(id string, _ *instanceRecord) bool {
		if sess, ok := rm.sessions.Get(id[len(clusterOfID(id))+1:]); ok {
			addr = sess.Address
		}
		return false
	})
	return addr, addr != ""
}
