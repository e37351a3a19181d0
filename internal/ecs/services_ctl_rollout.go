package ecs

import (
	"cmp"
	"slices"
	"time"
)

// The rolling-update arithmetic of a REPLICA service, kept free of the
// store so that it can be tested as a table: given the tasks the service
// has (those whose desiredStatus is RUNNING) and what it asks for, one
// step says how many PRIMARY tasks to start and which tasks to stop.
// The controller takes one step per pass and looks again.

// rolloutTask is what the step needs to know of one task.
type rolloutTask struct {
	ID      string
	Primary bool // started by the PRIMARY deployment
	// Pending: not RUNNING yet. Healthy: RUNNING and, if it has
	// health-checked essential containers, HEALTHY. Unhealthy: RUNNING,
	// reported UNHEALTHY, past the health check grace period. A RUNNING
	// task that is neither still waits for its health checks.
	Pending, Healthy, Unhealthy bool
	// Zone is what scale-in balances over (the service's spread field:
	// an availability zone or an instance id); "" when it spreads by none.
	Zone      string
	CreatedAt time.Time
	// Draining: on a DRAINING container instance, to be replaced and the
	// first to stop (services_ctl_drain.go).
	Draining bool
}

// rolloutInput is what a step is computed from.
type rolloutInput struct {
	Desired                int
	MinPercent, MaxPercent int
	// Draining: the service is being deleted; every task goes.
	Draining bool
	Tasks    []rolloutTask
	// Stopping counts the tasks told to stop that have not stopped yet
	// (not in Tasks): until they have, they are RUNNING or PENDING to
	// maximumPercent, as much as the tasks that replace them.
	Stopping int
}

// rolloutStep is one step: start Start PRIMARY tasks, stop Stop.
type rolloutStep struct {
	Start int
	Stop  []string
	// Done: the PRIMARY has Desired healthy tasks and no more, and no other
	// deployment has tasks (steady state).
	Done bool
	// Blocked: not done, nothing in flight, and the deployment
	// configuration allows no step.
	Blocked bool
	// MaxTotal and MinHealthy are the bounds the step kept.
	MaxTotal, MinHealthy int
}

// Deployment configuration defaults for REPLICA services, as in ECS.
const (
	defaultMaximumPercent        = 200
	defaultMinimumHealthyPercent = 100
)

// rolloutBounds returns the most tasks a service may have (maximumPercent of
// desired, rounded down) and the fewest healthy ones it must keep
// (minimumHealthyPercent, rounded up). ECS lets the bound be at least one
// task above desired only through maximumPercent; rounding stays as ECS's.
func rolloutBounds(desired, minPercent, maxPercent int) (maxTotal, minHealthy int) {
	maxTotal = desired * maxPercent / 100
	minHealthy = (desired*minPercent + 99) / 100
	return maxTotal, minHealthy
}

// planRollout computes one step.
func planRollout(in rolloutInput) rolloutStep {
	maxTotal, minHealthy := rolloutBounds(in.Desired, in.MinPercent, in.MaxPercent)
	step := rolloutStep{MaxTotal: maxTotal, MinHealthy: minHealthy}
	if in.Draining {
		for _, t := range in.Tasks {
			step.Stop = append(step.Stop, t.ID)
		}
		return step
	}
	var primary, old, draining []rolloutTask
	healthy, inFlight := 0, in.Stopping > 0
	total := len(in.Tasks) + in.Stopping
	for _, t := range in.Tasks {
		switch {
		case t.Draining: // services_ctl_drain.go
			draining = append(draining, t)
			if !t.Healthy {
				total-- // stops in this step
			}
		case t.Primary:
			primary = append(primary, t)
		default:
			old = append(old, t)
		}
		if t.Healthy {
			healthy++
		}
		if !t.Healthy && !t.Unhealthy {
			inFlight = true // pending, or waiting for its health checks
		}
	}
	good := 0 // PRIMARY tasks that are, or may still become, healthy
	for _, t := range primary {
		if !t.Unhealthy {
			good++
		}
	}

	// Start what the PRIMARY lacks, within maximumPercent. An unhealthy
	// task's replacement starts before it is stopped.
	if want := in.Desired - good; want > 0 {
		step.Start = max(0, min(want, maxTotal-total))
	}
	stopped := map[string]bool{}
	stop := func(t rolloutTask) {
		stopped[t.ID] = true
		step.Stop = append(step.Stop, t.ID)
		if t.Healthy {
			healthy--
		}
	}

	// PRIMARY tasks above desired go (scale-in, or unhealthy ones whose
	// replacement has started); so do unhealthy ones that maximumPercent
	// leaves no room to replace first.
	excess := len(primary) - in.Desired
	if in.Desired-good-step.Start > 0 {
		excess = len(primary) - good // every unhealthy one (scaleInOrder takes them first)
	}
	for _, t := range scaleInOrder(primary, excess) {
		stop(t)
	}

	// Tasks on DRAINING instances go first, within minimumHealthyPercent
	// (services_ctl_drain.go).
	for _, t := range drainOrder(draining) {
		if t.Healthy && healthy-1 < minHealthy {
			break
		}
		stop(t)
	}

	// Older deployments' tasks go while the healthy tasks left stay at
	// minimumHealthyPercent: those not healthy first (stopping them costs
	// nothing), then the healthy ones, oldest first.
	slices.SortStableFunc(old, func(a, b rolloutTask) int {
		if a.Healthy != b.Healthy {
			if a.Healthy {
				return 1
			}
			return -1
		}
		return a.CreatedAt.Compare(b.CreatedAt)
	})
	for _, t := range old {
		if t.Healthy && healthy-1 < minHealthy {
			break
		}
		stop(t)
	}

	primaryHealthy := 0
	for _, t := range primary {
		if t.Healthy && !stopped[t.ID] {
			primaryHealthy++
		}
	}
	step.Done = len(old) == 0 && len(draining) == 0 && len(primary) == in.Desired && primaryHealthy == in.Desired
	step.Blocked = !step.Done && step.Start == 0 && len(step.Stop) == 0 && !inFlight
	return step
}

// scaleInOrder picks n of a deployment's tasks to stop: unhealthy ones
// first, then pending ones, then those that leave the rest balanced across
// zones (always from the zone with the most), newest first.
func scaleInOrder(tasks []rolloutTask, n int) []rolloutTask {
	if n <= 0 {
		return nil
	}
	rank := func(t rolloutTask) int {
		switch {
		case t.Unhealthy:
			return 0
		case t.Pending:
			return 1
		}
		return 2
	}
	left := slices.Clone(tasks)
	perZone := map[string]int{}
	for _, t := range left {
		perZone[t.Zone]++
	}
	var out []rolloutTask
	for range min(n, len(tasks)) {
		best := 0
		for i := 1; i < len(left); i++ {
			a, b := left[i], left[best]
			if c := cmp.Or(
				cmp.Compare(rank(a), rank(b)),
				cmp.Compare(perZone[b.Zone], perZone[a.Zone]),
				b.CreatedAt.Compare(a.CreatedAt),
				cmp.Compare(b.ID, a.ID),
			); c < 0 {
				best = i
			}
		}
		t := left[best]
		perZone[t.Zone]--
		out = append(out, t)
		left = slices.Delete(left, best, best+1)
	}
	return out
}
