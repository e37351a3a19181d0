package engine

import "github.com/berth-dev/berth/internal/api/gen/ecstypes"

// taskStatus is a task's status as an ordered enum, so progress is simply
// known < desired (as in the ECS agent's apitaskstatus).
type taskStatus int

const (
	taskNone taskStatus = iota
	taskPending
	taskRunning
	taskStopped
)

func (s taskStatus) String() string {
	switch s {
	case taskPending:
		return ecstypes.DesiredStatusPENDING
	case taskRunning:
		return ecstypes.DesiredStatusRUNNING
	case taskStopped:
		return ecstypes.DesiredStatusSTOPPED
	default:
		return "NONE"
	}
}

// containerStatus is a container's status as an ordered enum.
type containerStatus int

const (
	containerNone containerStatus = iota
	containerPulled
	containerCreated
	containerRunning
	containerStopped
)

func (s containerStatus) String() string {
	switch s {
	case containerPulled:
		return "PULLED"
	case containerCreated:
		return "CREATED"
	case containerRunning:
		return "RUNNING"
	case containerStopped:
		return "STOPPED"
	default:
		return "NONE"
	}
}

// reported is the status the ECS API knows for a container: everything
// before RUNNING is PENDING.
func (s containerStatus) reported() string {
	switch s {
	case containerRunning:
		return ecstypes.DesiredStatusRUNNING
	case containerStopped:
		return ecstypes.DesiredStatusSTOPPED
	default:
		return ecstypes.DesiredStatusPENDING
	}
}

// healthStatus maps Docker's health states onto ECS's.
func healthStatus(docker string) string {
	switch docker {
	case "healthy":
		return ecstypes.HealthStatusHEALTHY
	case "unhealthy":
		return ecstypes.HealthStatusUNHEALTHY
	default:
		return ecstypes.HealthStatusUNKNOWN
	}
}

// Stop codes the engine reports (ecs StopCode values).
const (
	StopCodeEssentialContainerExited = "EssentialContainerExited"
	StopCodeTaskFailedToStart        = "TaskFailedToStart"
	// StopCodeUserInitiated is the server's code for StopTask; the engine
	// reports "" for server-requested stops since the server knows already.
	StopCodeUserInitiated = "UserInitiated"
)

// ReasonEssentialExited is the task reason when an essential container exits.
const ReasonEssentialExited = "Essential container in task exited"
