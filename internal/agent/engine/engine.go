// Package engine owns the agent's task engine: one goroutine per task drives
// its containers from known toward desired status, as the ECS agent's
// task_manager.go does, and reports every change to a Reporter.
//
// Apply is level-triggered: it takes the full desired task set from each
// ACS PayloadMessage. The engine adopts the containers it finds with its own
// instance label at Start, so a restarted agent never duplicates a container,
// and it leaves containers running when its context ends.
//
// A stop (desired STOPPED, or a task the server no longer lists) cancels the
// task's image pulls at once: the task stops with the server's reason
// without waiting for a slow download, and nothing is created afterwards.
// The engine's timers (retry backoff, cleanup wait, health polls) run on an
// injected clock, so tests advance time instead of waiting for it.
package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// Labels the engine puts on every container it creates.
const (
	LabelTaskARN       = "com.amazonaws.ecs.task-arn"
	LabelContainerName = "com.amazonaws.ecs.container-name"
	LabelCluster       = "com.amazonaws.ecs.cluster"
	LabelFamily        = "com.amazonaws.ecs.task-definition-family"
	LabelRevision      = "com.amazonaws.ecs.task-definition-version"
	// LabelInstance marks ownership: an agent manages only containers with
	// its own container instance ARN.
	LabelInstance = "io.berth.container-instance-arn"
)

// Image pull behaviours (ECS_IMAGE_PULL_BEHAVIOR).
const (
	PullDefault      = "default"       // pull; on failure use the cached image if present
	PullAlways       = "always"        // always pull; failure fails the task
	PullOnce         = "once"          // pull unless this engine already pulled it and it is present
	PullPreferCached = "prefer-cached" // pull only if absent
)

// Config configures an Engine.
type Config struct {
	Runtime                 runtime.Runtime
	ClusterARN, InstanceARN string
	Reporter                Reporter
	// Clock drives the engine's timers: retry backoff, cleanup wait and
	// health polls; default the real clock. Deadlines of runtime calls stay
	// on the real clock: they guard against a hung engine, which a fake
	// clock in a test must not turn into an endless wait.
	Clock clockwork.Clock
	// Now is the clock for reported timestamps; default Clock.Now.
	Now func() time.Time
	// StopTimeout is ECS_CONTAINER_STOP_TIMEOUT (default 30s); a container
	// definition's stopTimeout overrides it.
	StopTimeout time.Duration
	// PullBehavior is one of the Pull* constants; default PullDefault.
	PullBehavior string
	// CleanupWait is ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION: how long after
	// STOPPED a task's containers are removed and the task forgotten
	// (default 3h).
	CleanupWait time.Duration
	// HealthPollInterval is how often containers with a health check are
	// inspected (default 2s).
	HealthPollInterval time.Duration
	// CallTimeout bounds each runtime call (default 1m); PullTimeout bounds
	// image pulls (default 10m). Stops get the stop timeout on top.
	CallTimeout time.Duration
	PullTimeout time.Duration
	Logger      *slog.Logger
}

// Reporter receives task state changes. Report must not block long: the
// client keeps the latest change per task and retries submitting it.
type Reporter interface {
	Report(TaskStateChange)
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(TaskStateChange)

// Report calls f.
func (f ReporterFunc) Report(c TaskStateChange) { f(c) }

// TaskStateChange is a task's full current state. Every change carries all
// of the task's containers, so only the latest per task matters.
type TaskStateChange struct {
	TaskARN string
	// Status is PENDING, RUNNING or STOPPED.
	Status string
	Reason string
	// StopCode is EssentialContainerExited, TaskFailedToStart or "" (a
	// server-requested stop: the server already knows why).
	StopCode                                                    string
	PullStartedAt, PullStoppedAt, ExecutionStoppedAt, StartedAt *time.Time
	Containers                                                  []ContainerStateChange
}

// ContainerStateChange is one container's current state.
type ContainerStateChange struct {
	Name, RuntimeID, ImageDigest string
	// Status is PENDING, RUNNING or STOPPED.
	Status, Reason  string
	ExitCode        *int
	NetworkBindings []ecstypes.NetworkBinding
	// HealthStatus is HEALTHY, UNHEALTHY or UNKNOWN; "" when the container
	// has no health check.
	HealthStatus string
}

// Engine runs the tasks assigned to one container instance.
type Engine struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	ctx      context.Context // set by Start
	started  bool
	pending  []acs.Task                          // the latest Apply that came before Start
	buffered bool                                // pending holds a set
	tasks    map[string]*taskManager             // by task ARN
	adopted  map[string][]runtime.ContainerState // by task ARN, until the first Apply
	lastSet  map[string]bool                     // ARNs in the latest Apply
	cleaned  map[string]bool                     // forgotten tasks the server still lists
	wg       sync.WaitGroup
	pulledMu sync.Mutex
	pulled   map[string]bool // images this engine pulled (PullOnce)
}

// New validates cfg, fills in defaults and returns an Engine; call Start.
func New(cfg Config) (*Engine, error) {
	if cfg.Runtime == nil {
		return nil, errors.New("engine: config has no runtime")
	}
	if cfg.InstanceARN == "" {
		return nil, errors.New("engine: config has no container instance ARN")
	}
	cfg.PullBehavior = cmp.Or(cfg.PullBehavior, PullDefault)
	switch cfg.PullBehavior {
	case PullDefault, PullAlways, PullOnce, PullPreferCached:
	default:
		return nil, fmt.Errorf("engine: unknown pull behavior %q", cfg.PullBehavior)
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Clock.Now
	}
	if cfg.Reporter == nil {
		cfg.Reporter = ReporterFunc(func(TaskStateChange) {})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.StopTimeout = cmp.Or(cfg.StopTimeout, 30*time.Second)
	cfg.CleanupWait = cmp.Or(cfg.CleanupWait, 3*time.Hour)
	cfg.HealthPollInterval = cmp.Or(cfg.HealthPollInterval, 2*time.Second)
	cfg.CallTimeout = cmp.Or(cfg.CallTimeout, time.Minute)
	cfg.PullTimeout = cmp.Or(cfg.PullTimeout, 10*time.Minute)
	return &Engine{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "engine"),
		tasks:   map[string]*taskManager{},
		adopted: map[string][]runtime.ContainerState{},
		cleaned: map[string]bool{},
		pulled:  map[string]bool{},
	}, nil
}

// Start adopts this instance's existing containers (by LabelInstance), so a
// restarted agent never duplicates one. They stay untouched until Apply says
// what they belong to. Start returns after adoption; task goroutines run
// until ctx is done.
func (e *Engine) Start(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.CallTimeout)
	existing, err := e.cfg.Runtime.ListContainers(cctx, map[string]string{LabelInstance: e.cfg.InstanceARN})
	cancel()
	if err != nil {
		return fmt.Errorf("engine: adopt containers of %s: %w", e.cfg.InstanceARN, err)
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("engine: already started")
	}
	e.started = true
	e.ctx = ctx
	for _, st := range existing {
		arn := st.Labels[LabelTaskARN]
		if arn == "" || st.Labels[LabelContainerName] == "" {
			e.log.Warn("ignoring owned container without task labels", "id", st.ID, "name", st.Name)
			continue
		}
		e.adopted[arn] = append(e.adopted[arn], st)
	}
	pending, hasPending := e.pending, e.buffered
	e.pending, e.buffered = nil, false
	e.mu.Unlock()
	e.log.Info("adopted containers", "containers", len(existing))
	if hasPending {
		e.Apply(pending)
	}
	return nil
}

// Apply takes the full desired task set from a PayloadMessage. It is
// idempotent: the same set may be applied any number of times. A task the
// engine knows but the set lacks is stopped and cleaned up; so are adopted
// containers whose task the first set does not list.
func (e *Engine) Apply(tasks []acs.Task) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		// Remember the latest set; Start applies it after adoption.
		e.pending, e.buffered = slices.Clone(tasks), true
		return
	}
	if e.ctx.Err() != nil {
		return // the engine has ended; the next agent run adopts everything
	}
	set := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		if t.Arn == "" || set[t.Arn] {
			continue
		}
		set[t.Arn] = true
		if m := e.tasks[t.Arn]; m != nil {
			m.setDesired(t, false)
			continue
		}
		if e.cleaned[t.Arn] {
			continue
		}
		e.launch(t, e.adopted[t.Arn], false)
		delete(e.adopted, t.Arn)
	}
	for arn, m := range e.tasks {
		if !set[arn] {
			m.setDesired(acs.Task{Arn: arn, DesiredStatus: ecstypes.DesiredStatusSTOPPED}, true)
		}
	}
	for arn, states := range e.adopted {
		e.log.Info("stopping adopted containers of a task the server does not list", "task", arn)
		e.launch(orphanTask(arn, states), states, true)
	}
	clear(e.adopted)
	for arn := range e.cleaned {
		if !set[arn] {
			delete(e.cleaned, arn)
		}
	}
	e.lastSet = set
}

// launch starts the goroutine that owns task t. Callers hold e.mu.
func (e *Engine) launch(t acs.Task, adopted []runtime.ContainerState, absent bool) {
	m := newTaskManager(e, t, adopted)
	if absent {
		m.setDesired(t, true)
	}
	e.tasks[t.Arn] = m
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		m.run(e.ctx)
	}()
}

// forget drops a cleaned-up task. If the server still lists it, remember
// that so the next Apply does not start it again.
func (e *Engine) forget(m *taskManager) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tasks[m.arn] != m {
		return
	}
	delete(e.tasks, m.arn)
	if e.lastSet[m.arn] {
		e.cleaned[m.arn] = true
	}
}

// Snapshot returns the current state of every task the engine manages,
// sorted by task ARN, for resync after a reconnect.
func (e *Engine) Snapshot() []TaskStateChange {
	e.mu.Lock()
	ms := make([]*taskManager, 0, len(e.tasks))
	for _, m := range e.tasks {
		ms = append(ms, m)
	}
	e.mu.Unlock()
	out := make([]TaskStateChange, 0, len(ms))
	for _, m := range ms {
		if c, ok := m.published(); ok {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b TaskStateChange) int { return strings.Compare(a.TaskARN, b.TaskARN) })
	return out
}

// Wait waits for the task goroutines to return after Start's context is
// done. Containers are left as they are: an agent restart keeps tasks running.
func (e *Engine) Wait() { e.wg.Wait() }

// pullRecorded and recordPull track images this engine pulled, for PullOnce.
func (e *Engine) pullRecorded(image string) bool {
	e.pulledMu.Lock()
	defer e.pulledMu.Unlock()
	return e.pulled[image]
}

func (e *Engine) recordPull(image string) {
	e.pulledMu.Lock()
	defer e.pulledMu.Unlock()
	e.pulled[image] = true
}
