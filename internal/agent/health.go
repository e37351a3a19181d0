package agent

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/tcs"
)

// healthTracker keeps the health of the tasks' health-checked containers,
// from the engine's state changes, and which tasks' health the telemetry
// connection has yet to publish. SubmitTaskStateChange cannot carry
// health; ECS's agent publishes it over TCS.
type healthTracker struct {
	clusterARN string
	now        func() time.Time

	mu      sync.Mutex
	tasks   map[string]*taskHealth // running tasks with health-checked containers
	pending map[string]bool        // tasks whose health is unpublished
	wake    chan struct{}          // cap 1: pending is non-empty
}

// taskHealth is what the tracker knows of one task.
type taskHealth struct {
	family     string
	revision   int32
	containers map[string]containerHealth // by container name
}

// containerHealth is a container's health and when it last changed.
type containerHealth struct {
	status string // HEALTHY, UNHEALTHY or UNKNOWN
	since  time.Time
}

func newHealthTracker(clusterARN string, now func() time.Time) *healthTracker {
	if now == nil {
		now = time.Now
	}
	return &healthTracker{
		clusterARN: clusterARN, now: now,
		tasks: map[string]*taskHealth{}, pending: map[string]bool{}, wake: make(chan struct{}, 1),
	}
}

// track records a task's state change: the task's health is queued when a
// container's health changed, and forgotten once the task stopped.
func (h *healthTracker) track(c engine.TaskStateChange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.Status == "STOPPED" {
		delete(h.tasks, c.TaskARN)
		delete(h.pending, c.TaskARN)
		return
	}
	th := h.tasks[c.TaskARN]
	changed := false
	for _, ct := range c.Containers {
		if ct.HealthStatus == "" {
			continue // no health check
		}
		if th == nil {
			th = &taskHealth{containers: map[string]containerHealth{}}
			h.tasks[c.TaskARN] = th
		}
		if prev, ok := th.containers[ct.Name]; !ok || prev.status != ct.HealthStatus {
			th.containers[ct.Name] = containerHealth{status: ct.HealthStatus, since: h.now()}
			changed = true
		}
	}
	if th == nil {
		return
	}
	th.family, th.revision = c.Family, c.Revision
	if changed {
		h.pending[c.TaskARN] = true
		notify(h.wake)
	}
}

// ready is signalled when health is waiting to be published.
func (h *healthTracker) ready() <-chan struct{} { return h.wake }

// take removes and returns, sorted by task, the health waiting to be
// published.
func (h *healthTracker) take() []tcs.TaskHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]tcs.TaskHealth, 0, len(h.pending))
	for _, arn := range slices.Sorted(maps.Keys(h.pending)) {
		if th := h.tasks[arn]; th != nil {
			out = append(out, h.build(arn, th))
		}
	}
	clear(h.pending)
	return out
}

// build is one task's health as TCS carries it. Callers hold h.mu.
func (h *healthTracker) build(arn string, th *taskHealth) tcs.TaskHealth {
	out := tcs.TaskHealth{
		TaskArn: arn, ClusterArn: h.clusterARN,
		TaskDefinitionFamily: th.family, TaskDefinitionVersion: strconv.Itoa(int(th.revision)),
	}
	for _, name := range slices.Sorted(maps.Keys(th.containers)) {
		ch := th.containers[name]
		out.Containers = append(out.Containers, tcs.ContainerHealth{
			ContainerName: name, HealthStatus: ch.status, StatusSince: ecstypes.Time(ch.since),
		})
	}
	return out
}

// requeue queues again the tasks of a publish that failed, unless they
// stopped meanwhile; their health is rebuilt, newest, when next taken.
func (h *healthTracker) requeue(ths []tcs.TaskHealth) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, th := range ths {
		if h.tasks[th.TaskArn] != nil {
			h.pending[th.TaskArn] = true
		}
	}
	if len(h.pending) > 0 {
		notify(h.wake)
	}
}

// queueAll queues every tracked task's health: after a (re)connect the
// server may have missed any of it.
func (h *healthTracker) queueAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for arn := range h.tasks {
		h.pending[arn] = true
	}
	if len(h.pending) > 0 {
		notify(h.wake)
	}
}
