package ecs

import (
	"reflect"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Container instance draining, as the service controller sees it
// ("Draining Amazon ECS container instances"). Placement already takes no
// new task on a DRAINING instance (its candidate is not Active). What is
// left is the services' tasks already there:
//
//   - those not RUNNING yet (PENDING) are stopped at once;
//   - RUNNING ones are replaced elsewhere within the service's deployment
//     configuration: they do not count toward what the service has (so a
//     replacement starts when maximumPercent leaves room), and they are the
//     first tasks to stop, while the healthy tasks left stay at
//     minimumHealthyPercent.
//
// Tasks not started by a service (RunTask, StartTask) are left alone, and
// an instance with no service tasks left stays DRAINING, as in ECS. The
// controller learns which instances are DRAINING from the read model's
// instances cache, and an instance's status change wakes it.
//
// The rolling step (planRollout) keeps tasks with Draining set apart from
// their deployment's: drainOrder says in which order they go.

// onDrainingInstance says whether a task is placed on a DRAINING container
// instance of cluster cname, as the read model has the instance.
func onDrainingInstance(rm *readModel, cname string, v *taskView) bool {
	if v.InstanceID == "" {
		return false // Fargate, or not placed
	}
	r, ok := rm.instances.Get(cname + "/" + v.InstanceID)
	return ok && aws.ToString(r.Instance.Status) == "DRAINING"
}

// drainOrder is the order in which tasks on DRAINING instances stop: those
// not healthy first (stopping them costs nothing: PENDING ones stop at
// once), then the healthy ones, oldest first.
func drainOrder(tasks []rolloutTask) []rolloutTask {
	out := slices.Clone(tasks)
	slices.SortStableFunc(out, func(a, b rolloutTask) int {
		if a.Healthy != b.Healthy {
			if a.Healthy {
				return 1
			}
			return -1
		}
		return a.CreatedAt.Compare(b.CreatedAt)
	})
	return out
}

// serviceStopReason is the stoppedReason of a task the controller stops:
// one on a lost or DRAINING instance says so, others are scaling activity.
func serviceStopReason(service string, t seenTask) string {
	switch {
	case t.lost != "":
		return "Service " + service + ": " + t.lost
	case t.draining:
		return "Service " + service + ": container instance is in DRAINING state"
	case t.elb != "":
		return "Task failed ELB health checks in (target-group " + t.elb + ")"
	}
	return "Scaling activity initiated by (deployment " + t.deployment + ")"
}

// serviceInstanceChanged is the instances informer's hook: an instance's
// status change (DRAINING, ACTIVE again, registered, deregistered) or
// attribute change wakes the service controller.
func (s *Service) serviceInstanceChanged(_ string, old, new *instanceRecord) {
	status := func(r *instanceRecord) string {
		if r == nil {
			return ""
		}
		return aws.ToString(r.Instance.Status)
	}
	if status(old) != status(new) {
		s.kickServices()
		return
	}
	// An attribute change can make an instance eligible for a DAEMON
	// service's task, or no longer (services_ctl_daemon.go).
	if old != nil && new != nil && !reflect.DeepEqual(old.Instance.Attributes, new.Instance.Attributes) {
		s.kickServices()
	}
}
