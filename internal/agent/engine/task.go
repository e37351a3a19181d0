package engine

import "github.com/berth-dev/berth/internal/api/gen/ecstypes"

// Task is one task as the engine runs it: the server's desired status for
// it and the task definition it runs (the agent rebuilds the definition,
// overrides applied, from what ACS sends). The JSON names are those of the
// agent's saved task set (DataDir/tasks.json), which older agents wrote in
// the same shape.
type Task struct {
	Arn           string `json:"arn"`
	DesiredStatus string `json:"desiredStatus"` // RUNNING or STOPPED
	// StoppedReason, when DesiredStatus is STOPPED, says why (e.g. StopTask's
	// reason); ACS does not carry it, so tasks from the server have none.
	StoppedReason  string                  `json:"stoppedReason,omitempty"`
	TaskDefinition ecstypes.TaskDefinition `json:"taskDefinition"`
	// Overrides are RunTask/StartTask overrides still to apply (nil when the
	// definition already has them applied, as from ACS).
	Overrides        *ecstypes.TaskOverride `json:"overrides,omitempty"`
	StartedBy        string                 `json:"startedBy,omitempty"`
	Group            string                 `json:"group,omitempty"`
	AvailabilityZone string                 `json:"availabilityZone,omitempty"`
	// GPUs are the ids of the GPUs each container gets, by container name
	// (from the task's ACS gpu associations).
	GPUs map[string][]string `json:"gpus,omitempty"`
	// Problem, when set, is why the task cannot run (e.g. the agent could
	// not rebuild its definition): the engine fails it at start with this
	// reason (stop code TaskFailedToStart) instead of running it.
	Problem string `json:"problem,omitempty"`
}
