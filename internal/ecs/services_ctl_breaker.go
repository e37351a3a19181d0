package ecs

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// The deployment circuit breaker (deploymentConfiguration.
// deploymentCircuitBreaker), as ECS documents it. While the PRIMARY
// deployment is IN_PROGRESS, its failed tasks are counted in two stages:
// tasks that stopped without ever reaching RUNNING (the deployment's
// failedTasks), and tasks that reached RUNNING and then failed: an essential
// container exited, or they were UNHEALTHY when they stopped. When the count
// reaches clamp(ceil(desired/2), 3, 200) the deployment goes FAILED. Without
// rollback it stays PRIMARY and starts no more tasks (nor stops the older
// deployments' ones). With rollback, and a COMPLETED deployment to go back
// to, a new PRIMARY deployment of that deployment's task definition and
// configuration rolls out as any deployment does, and the failed one is
// drained. The rollback deployment is IN_PROGRESS, so it is no target for
// another rollback until it completes.
//
// Nothing is kept in memory: the counts, the FAILED state and the last
// COMPLETED deployment are in the service record, so a restarted controller
// (or a new leader) decides as the last one would have.

const (
	breakerMinThreshold = 3
	breakerMaxThreshold = 200
	// breakerFailedReason is the FAILED deployment's rolloutStateReason.
	breakerFailedReason = "ECS deployment circuit breaker: tasks failed to start."
)

// completedDeployment is what a rollback needs of the last deployment that
// reached COMPLETED: the controller drops drained deployments from
// deployments[], so it is kept apart.
type completedDeployment struct {
	ID                   string                         `json:"id"`
	TaskDefinition       string                         `json:"taskDefinition"`
	LaunchType           *string                        `json:"launchType,omitempty"`
	NetworkConfiguration *ecstypes.NetworkConfiguration `json:"networkConfiguration,omitempty"`
	PlacementConstraints []ecstypes.PlacementConstraint `json:"placementConstraints,omitempty"`
	PlacementStrategy    []ecstypes.PlacementStrategy   `json:"placementStrategy,omitempty"`
	LoadBalancers        []ecstypes.LoadBalancer        `json:"loadBalancers,omitempty"`
	ServiceRegistries    []ecstypes.ServiceRegistry     `json:"serviceRegistries,omitempty"`
}

// breakerRecord is the breaker's count of tasks of a deployment that failed
// after reaching RUNNING (stage 2), kept as the highest seen: stopped tasks
// leave the store after a while.
type breakerRecord struct {
	Deployment    string `json:"deployment"`
	FailedRunning int32  `json:"failedRunning"`
}

// breakerThreshold is how many failed tasks fail a deployment.
func breakerThreshold(desired int) int {
	return min(max((desired+1)/2, breakerMinThreshold), breakerMaxThreshold)
}

// breakerAction is what the breaker does in a pass.
type breakerAction int

const (
	breakerNone     breakerAction = iota
	breakerStall                  // the PRIMARY is FAILED: start nothing
	breakerFail                   // trips now: FAILED, no rollback
	breakerRollback               // trips now: FAILED, roll back
)

// breakerInput is what the decision is taken from.
type breakerInput struct {
	Enable, Rollback bool
	// RolloutState is the PRIMARY deployment's.
	RolloutState string
	// Done: the pass found the PRIMARY at steady state.
	Done    bool
	Desired int
	// Failed counts the PRIMARY's failed tasks, both stages.
	Failed int
	// CanRollBack: a COMPLETED deployment is known to go back to.
	CanRollBack bool
}

// decideBreaker is the breaker's decision for one pass.
func decideBreaker(in breakerInput) breakerAction {
	switch {
	case in.RolloutState == rolloutFailed:
		return breakerStall // FAILED launches no new tasks, breaker on or off since
	case !in.Enable || in.RolloutState != rolloutInProgress || in.Done:
		return breakerNone
	case in.Failed < breakerThreshold(in.Desired):
		return breakerNone
	case in.Rollback && in.CanRollBack:
		return breakerRollback
	}
	return breakerFail
}

// breakerObservation is what a pass saw and decided of the breaker.
type breakerObservation struct {
	action     breakerAction
	deployment string
	// failedRunning is the stage-2 count seen (with the stored one), kept
	// while the breaker watches the deployment.
	failedRunning int32
	watching      bool
}

// breakerStep applies the breaker to a pass's step: it counts the PRIMARY's
// failures, decides, and when the PRIMARY is FAILED or fails now, starts
// nothing and stops only the PRIMARY's own tasks (scale-in).
func breakerStep(rm *readModel, cname string, rec *serviceRecord, obs *serviceObservation, in rolloutInput, step rolloutStep) rolloutStep {
	primary := obs.deployments[obs.primaryID]
	if primary == nil || rec.Deleted {
		return step
	}
	var stored *ecstypes.Deployment
	for i := range rec.Service.Deployments {
		if aws.ToString(rec.Service.Deployments[i].Id) == primary.id {
			stored = &rec.Service.Deployments[i]
		}
	}
	if stored == nil {
		return step
	}
	var cb ecstypes.DeploymentCircuitBreaker
	if dc := rec.Service.DeploymentConfiguration; dc != nil && dc.DeploymentCircuitBreaker != nil {
		cb = *dc.DeploymentCircuitBreaker
	}
	bi := breakerInput{
		Enable: aws.ToBool(cb.Enable), Rollback: aws.ToBool(cb.Rollback),
		RolloutState: aws.ToString(stored.RolloutState), Done: step.Done, Desired: in.Desired,
		CanRollBack: rec.LastCompleted != nil && rec.LastCompleted.ID != primary.id,
	}
	bo := breakerObservation{deployment: primary.id}
	if bi.Enable && bi.RolloutState == rolloutInProgress {
		bo.watching = true
		bo.failedRunning = int32(countFailedRunning(rm, cname, primary.id))
		if b := rec.Breaker; b != nil && b.Deployment == primary.id {
			bo.failedRunning = max(bo.failedRunning, b.FailedRunning)
		}
		bi.Failed = max(primary.failed, int(aws.ToInt32(stored.FailedTasks))) + int(bo.failedRunning)
	}
	bo.action = decideBreaker(bi)
	obs.breaker = bo
	if bo.action == breakerNone {
		return step
	}
	primaryTask := map[string]bool{}
	for _, t := range in.Tasks {
		if t.Primary {
			primaryTask[t.ID] = true
		}
	}
	stops := step.Stop[:0:0]
	for _, id := range step.Stop {
		if primaryTask[id] {
			stops = append(stops, id)
		}
	}
	step.Start, step.Stop, step.Done, step.Blocked = 0, stops, false, false
	return step
}

// countFailedRunning counts a deployment's stopped tasks that had reached
// RUNNING and failed: an essential container exited, or they were
// UNHEALTHY when they stopped (the scheduler replaced them).
func countFailedRunning(rm *readModel, cname, dep string) int {
	n := 0
	rm.tasks.Ascend(idxTaskStartedBy, cname+sep+"STOPPED"+sep+dep, "", func(_ string, v *taskView) bool {
		t := &v.Task
		if t.StartedAt != nil && (aws.ToString(t.StopCode) == ecstypes.TaskStopCodeEssentialContainerExited ||
			aws.ToString(t.HealthStatus) == ecstypes.HealthStatusUNHEALTHY) {
			n++
		}
		return true
	})
	return n
}

// applyBreaker writes what the breaker saw and decided into the record
// (applyObservation's last step, in the write-back's transaction): it
// remembers the PRIMARY once COMPLETED, keeps the stage-2 count, and on a
// trip fails the PRIMARY and, with rollback, starts the rollback
// deployment. It returns the events, oldest first.
func applyBreaker(rec *serviceRecord, name string, obs *serviceObservation, now time.Time) []string {
	svc := &rec.Service
	var primary *ecstypes.Deployment
	for i := range svc.Deployments {
		if aws.ToString(svc.Deployments[i].Status) == deploymentPrimary {
			primary = &svc.Deployments[i]
			break
		}
	}
	if primary == nil {
		return nil
	}
	id := aws.ToString(primary.Id)
	if aws.ToString(primary.RolloutState) == rolloutCompleted {
		if rec.LastCompleted == nil || rec.LastCompleted.ID != id {
			rec.LastCompleted = &completedDeployment{
				ID: id, TaskDefinition: aws.ToString(primary.TaskDefinition), LaunchType: svc.LaunchType,
				NetworkConfiguration: svc.NetworkConfiguration,
				PlacementConstraints: svc.PlacementConstraints, PlacementStrategy: svc.PlacementStrategy,
				LoadBalancers: svc.LoadBalancers, ServiceRegistries: svc.ServiceRegistries,
			}
		}
		if rec.Breaker != nil && rec.Breaker.Deployment == id {
			rec.Breaker = nil // a COMPLETED deployment is no longer watched
		}
		return nil
	}
	bo := obs.breaker
	if bo.deployment != id {
		return nil // a new PRIMARY since the pass read the service
	}
	if bo.watching && (rec.Breaker == nil || rec.Breaker.Deployment != id || rec.Breaker.FailedRunning < bo.failedRunning) {
		rec.Breaker = &breakerRecord{Deployment: id, FailedRunning: bo.failedRunning}
	}
	if bo.action != breakerFail && bo.action != breakerRollback {
		return nil
	}
	// Trip only on what the pass read: an API change since is looked at again.
	if rec.Generation != obs.generation || aws.ToString(primary.RolloutState) != rolloutInProgress {
		return nil
	}
	primary.RolloutState = aws.String(rolloutFailed)
	primary.RolloutStateReason = aws.String(breakerFailedReason)
	primary.UpdatedAt = ecstypes.Time(now)
	events := []string{"(service " + name + ") (deployment " + id + ") deployment failed: tasks failed to start."}
	rec.Breaker = nil
	lc := rec.LastCompleted
	if bo.action != breakerRollback || lc == nil {
		return events
	}
	primary.Status = aws.String(deploymentActive)
	svc.TaskDefinition = aws.String(lc.TaskDefinition)
	svc.LaunchType = lc.LaunchType
	svc.NetworkConfiguration = lc.NetworkConfiguration
	svc.PlacementConstraints, svc.PlacementStrategy = lc.PlacementConstraints, lc.PlacementStrategy
	svc.LoadBalancers, svc.ServiceRegistries = lc.LoadBalancers, lc.ServiceRegistries
	back := newDeploymentID()
	at := ecstypes.Time(now)
	svc.Deployments = append([]ecstypes.Deployment{{
		Id: aws.String(back), Status: aws.String(deploymentPrimary), TaskDefinition: aws.String(lc.TaskDefinition),
		DesiredCount: aws.Int32(aws.ToInt32(svc.DesiredCount)), PendingCount: aws.Int32(0), RunningCount: aws.Int32(0),
		FailedTasks: aws.Int32(0), CreatedAt: at, UpdatedAt: at, LaunchType: lc.LaunchType,
		RolloutState:       aws.String(rolloutInProgress),
		RolloutStateReason: aws.String("ECS deployment circuit breaker: rolling back to deploymentId " + lc.ID + "."),
	}}, svc.Deployments...)
	// In progress, the deployment rolled back to is no target for another
	// rollback until it completes.
	rec.LastCompleted = nil
	return append(events, "(service "+name+") rolling back to deployment "+lc.ID+".")
}
