// Package agent owns the agent process: it registers the container instance
// with the control plane (RegisterContainerInstance, re-registering the same
// instance across restarts from DataDir/state.json, and creating the
// "default" cluster when ECS_CLUSTER names no other), runs the task engine,
// holds the ACS websocket (payloads, acks, heartbeats, health, reconnect with
// backoff and resync), and reports task state back with SubmitTaskStateChange.
//
// # Restarts and outages
//
// Every desired task set received over ACS is saved in DataDir/tasks.json
// before it is applied. A restarted agent starts the engine for its saved
// instance before registering, re-applying that set to the tasks that still
// have containers, so it keeps watching them while the server is down; their
// reports wait in the reporter. If the server then hands out a different
// instance ARN, the old instance's containers are stopped and removed before
// the new identity starts.
//
// # Reporting contract with the server
//
// SubmitTaskStateChange has no stop-code field, so the agent sends only the
// engine's reason and the server derives the task's stopCode from it:
//
//   - reason "Essential container in task exited" -> EssentialContainerExited;
//   - a reason starting with "CannotPullContainerError",
//     "CannotCreateContainerError", "CannotStartContainerError" or
//     "TaskFailedToStart" -> TaskFailedToStart;
//   - otherwise the stop code the server recorded when it set the desired
//     status to STOPPED (UserInitiated, ServiceSchedulerInitiated, ...).
//
// The engine's StopCode is therefore not sent as such: a TaskFailedToStart
// stop whose reason has none of those prefixes is sent as
// "TaskFailedToStart: <reason>"; EssentialContainerExited relies on the
// engine using the exact reason above. The engine's StartedAt is not sent either (the call has no
// field for it): the server stamps startedAt when it first sees RUNNING.
//
// Reports are coalesced per task (the latest state wins), sent in order of
// arrival and retried with backoff until accepted; a ClientException or
// InvalidParameterException (a task the server no longer knows) drops the
// report. After every (re)connection of the websocket the agent re-reports the
// engine's whole snapshot, so the server converges after an outage on either
// side. Container health, which SubmitTaskStateChange cannot carry, goes out as
// an acs.HealthMessage on the websocket whenever it changes (and in full after
// each reconnect).
package agent
