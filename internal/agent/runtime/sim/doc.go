// Package sim owns the simulated container runtime: an in-memory
// runtime.Runtime that behaves like one Docker engine (one host) without
// running anything, so one process can drive thousands of container
// instances through the real task engine (`berth agent --runtime sim`).
//
// A Runtime owns its image store, its containers (by ID and by name), their
// simulated processes, and its host's dynamic port range (hostPort 0 takes
// the next free port, round the range, as Docker's allocator does; a port is
// in use from start to exit, and a static host port already in use fails
// the start). It passes the same conformance suite (runtimetest) as the
// Docker runtime.
//
// # Scripting a container
//
// A container's process runs until it is stopped, unless its environment
// (a container definition's "environment") says otherwise:
//
//	BERTH_SIM_EXIT_AFTER=30s      the process exits by itself 30s after start ("20s-40s": uniformly in between)
//	BERTH_SIM_EXIT_CODE=1         ... with this exit code (default 0)
//	BERTH_SIM_HEALTH=unhealthy    a container with a health check becomes healthy (default) or unhealthy
//	BERTH_SIM_HEALTH_AFTER=5s     ... after this long (default: the check's interval for healthy,
//	                              startPeriod + retries x interval for unhealthy, as Docker would report it)
//	BERTH_SIM_STOP_AFTER=10s      the process takes this long to exit (code 0) after the stop signal;
//	                              if the stop timeout is shorter it is killed then (code 137)
//	BERTH_SIM_START_ERROR=message StartContainer fails with this message
//	BERTH_SIM_CPU=50              while running, the process uses this percent of one core (default 1;
//	                              250 is two and a half cores): Stats' CPU time grows by 0.5s a second
//	BERTH_SIM_MEMORY_MIB=256      ... and this much memory (default 16)
//
// A malformed or unknown BERTH_SIM_* variable fails CreateContainer, so a
// typo shows up as the task's CannotCreateContainerError instead of a task
// that silently runs forever. Tests drive containers directly with Exit and
// SetHealth.
//
// # GPUs
//
// Options.GPUs are the simulated host's GPU ids (`berth agent --runtime sim`
// gives each instance BERTH_SIM_GPUS of them): a container given another
// (ContainerSpec.GPUIDs) fails to create, as with Docker's nvidia runtime.
//
// # Latency and failures
//
// Options add latency to pulls, creates, starts and stops (fixed, or jittered
// uniformly within a range) and make calls fail with a probability, or pulls
// of images matching a pattern fail always. Every call honours its context:
// a slow pull returns as soon as its context is cancelled. Time (latency,
// scheduled exits and health, timestamps) comes from an injectable clock.
package sim
