// Package agent owns the agent process: it registers the container instance
// with the control plane (RegisterContainerInstance, re-registering the same
// instance across restarts from DataDir/state.json, and creating the
// "default" cluster when ECS_CLUSTER names no other), runs the task engine,
// speaks ECS's own agent protocols to the server (so that Berth's agent and
// the official amazon-ecs-agent are interchangeable), and reports task state
// back with SubmitTaskStateChange.
//
// # ACS: tasks
//
// The agent holds the Agent Communication Service websocket at the endpoint
// DiscoverPollEndpoint returns, plus acs.Path; the upgrade is SigV4-signed
// (service "ecs") and its query names the cluster, the instance and the
// agent's and container runtime's versions, as the ECS agent's does. On it:
//
//   - PayloadMessage carries the tasks that are new to this session or
//     whose desired status changed (a new session gets every task of the
//     instance again). The agent upserts them into the engine and answers
//     with an AckRequest; a payload lacking its messageId, clusterArn or
//     containerInstanceArn is dropped, as the ECS agent drops it. A task
//     absent from a payload is never stopped for it.
//   - TaskManifestMessage lists every task the server has on the instance.
//     One whose timeline is not past every seqNum and timeline seen is
//     stale and dropped; a newer one is acknowledged, and the tasks the
//     engine runs with desired RUNNING that it does not list as RUNNING
//     (adopted containers no payload claimed included) go back as a
//     TaskStopVerificationMessage. The TaskStopVerificationAck answering
//     that manifest names the tasks to stop, and the engine stops exactly
//     those.
//   - HeartbeatMessage is answered with a HeartbeatAckRequest. The agent
//     also pings; a socket silent (no message, no pong) for three
//     heartbeat intervals is redialled.
//   - An error envelope (its type the error's name, e.g. ServerException)
//     ends the session, as does CloseMessage; so does a refused upgrade,
//     whose body is read as an error envelope. The agent redials with
//     backoff, and after InactiveInstanceException (the instance is not, or
//     no longer, registered) only after the backoff's maximum. The engine
//     keeps its tasks meanwhile.
//
// # TCS: health and metrics
//
// Container health, which SubmitTaskStateChange cannot carry, goes to the
// Telemetry Service websocket at the TelemetryEndpoint DiscoverPollEndpoint
// returns, plus "/ws": a PublishHealthRequest whenever a container's health
// changes, and all current health after every (re)connect. Task metrics go
// there too, as ECS's agent sends them: the running containers of RUNNING
// tasks are sampled every 5 seconds (runtime Stats) and every 20 seconds a
// PublishMetricsRequest carries per container a statistic set of CPU, in
// percent of the instance's registered CPU (BERTH_CPU_UNITS/1024 cores,
// by default the host's cores), and one of memory in MiB.
// ECS_DISABLE_METRICS=true turns metrics off. Every message is a frame
// that carries its own SigV4 signature (tcs.SignFrame). The agent dials
// TCS only once it has health or metrics to publish (an idle instance
// without health checks, like most of a simulated fleet, holds one socket,
// not two), then keeps it, redialling on failure or silence as for ACS.
//
// # Images
//
// The Docker runtime pulls an image of the Berth registry (whose host is
// the endpoint's host:port) or one named like ECR's own
// (<12 digits>.dkr.ecr.<region>.amazonaws.com) with an ECR token that
// ecrauth gets from the endpoint with the agent's credentials, and any
// other image anonymously; the wiring is the caller's (cmd/berth, the
// --dev server), which builds the runtime. A pull that fails, for want of
// a token too, stops the task with TaskFailedToStart and a reason starting
// "CannotPullContainerError: ". The simulated runtime pulls nothing, so it
// asks for no tokens.
//
// # Restarts and outages
//
// The tasks received over ACS are merged into DataDir/tasks.json before
// they are applied (and confirmed stops recorded); tasks a manifest no
// longer lists and the engine no longer holds are dropped from it. A
// restarted agent starts the engine for its saved instance before
// registering and upserts the saved tasks that still have containers, so
// it keeps watching them while the server is down; their reports wait in
// the reporter. Containers of tasks the file lacks are adopted and left
// alone until the server's manifest says whether to stop them. If the
// server then hands out a different instance ARN, the old instance's
// containers are stopped and removed before the new identity starts.
//
// # Reporting contract with the server
//
// SubmitTaskStateChange has no stop-code field, so the agent sends only the
// engine's reason, as the ECS agent does, and the server derives the task's
// stopCode:
//
//   - the stop code the server recorded when it set the desired status to
//     STOPPED (UserInitiated, ServiceSchedulerInitiated, ...), if any;
//   - otherwise EssentialContainerExited when the reason is "Essential
//     container in task exited" or the task had reached RUNNING;
//   - otherwise TaskFailedToStart.
//
// The engine's StopCode is therefore not sent as such; a TaskFailedToStart
// stop whose reason does not already say so (CannotPullContainerError,
// CannotCreateContainerError, CannotStartContainerError, TaskFailedToStart)
// is sent as "TaskFailedToStart: <reason>", so the reason shows it too, and
// EssentialContainerExited relies on the engine using the exact reason
// above. ACS carries no stop reason to the agent, so a stop the server
// asked for is reported without one and the server keeps its own. The
// engine's StartedAt is not sent either (the call has no field for it):
// the server stamps startedAt when it first sees RUNNING.
//
// Reports are coalesced per task (the latest state wins), sent in order of
// arrival and retried with backoff until accepted; a ClientException or
// InvalidParameterException (a task the server no longer knows) drops the
// report. After every (re)connection of the ACS websocket the agent
// re-reports the engine's whole snapshot, so the server converges after an
// outage on either side.
package agent
