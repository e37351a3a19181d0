// Package engine owns the agent's task engine: one goroutine per task drives
// its containers from known toward desired status, as the ECS agent's
// task_manager.go does, and reports every change to a Reporter.
//
// The engine follows ECS's Agent Communication Service: Upsert takes the
// tasks of each PayloadMessage, which carries only tasks that are new or
// whose desired status changed, so a task absent from a payload keeps
// running. Stop stops the tasks the server confirmed it no longer wants,
// after the agent compared a task manifest with Running. The engine adopts
// the containers it finds with its own instance label at Start, so a
// restarted agent never duplicates a container; adopted containers no
// payload claims are left alone until a Stop names their task. The engine
// leaves containers running when its context ends.
//
// A stop (desired STOPPED, or a confirmed Stop) cancels the task's image
// pulls at once: the task stops with the server's reason without waiting
// for a slow download, and nothing is created afterwards.
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
	// NvidiaRuntime is ECS_NVIDIA_RUNTIME: the runtime containers that
	// were given GPUs run with (default DefaultNvidiaRuntime).
	NvidiaRuntime string
	Logger        *slog.Logger
}

// DefaultNvidiaRuntime is the Docker runtime of containers with GPUs
// unless the config names another, as for the ECS agent.
const DefaultNvidiaRuntime = "nvidia"

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
	// Family and Revision name the task's definition (the agent publishes
	// them with the task's health).
	Family   string
	Revision int32
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

	mu      sync.Mutex
	ctx     context.Context // set by Start
	started bool
	// What came before Start, applied by it after adoption: the latest of
	// each upserted task (in arrival order) and the ARNs to stop.
	pending     []Task
	pendingStop []string
	tasks       map[string]*taskManager             // by task ARN
	adopted     map[string][]runtime.ContainerState // by task ARN, until a payload claims them or a stop
	cleaned     map[string]bool                     // forgotten tasks the server may still list
	wg          sync.WaitGroup
	pulledMu    sync.Mutex
	pulled      map[string]bool // images this engine pulled (PullOnce)
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
	cfg.NvidiaRuntime = cmp.Or(cfg.NvidiaRuntime, DefaultNvidiaRuntime)
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
// restarted agent never duplicates one. They stay untouched until a payload
// claims them for their task or a Stop names their task. Start returns after
// adoption; task goroutines run until ctx is done.
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
	pending, pendingStop := e.pending, e.pendingStop
	e.pending, e.pendingStop = nil, nil
	e.mu.Unlock()
	e.log.Info("adopted containers", "containers", len(existing))
	e.Upsert(pending)
	e.Stop(pendingStop)
	return nil
}

// Upsert takes the tasks of a PayloadMessage: tasks new to the engine, or
// whose desired status changed. A task the engine runs gets its desired
// status; an unknown one is launched, taking over the containers adopted
// for it, even when its desired status is STOPPED (it then reports STOPPED,
// so the server releases it). A task the engine already cleaned up is not
// launched again. Tasks absent from tasks are not affected: only Stop stops
// them. Upsert is idempotent.
func (e *Engine) Upsert(tasks []Task) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		// Keep the latest of each; Start applies them after adoption.
		for _, t := range tasks {
			if i := slices.IndexFunc(e.pending, func(p Task) bool { return p.Arn == t.Arn }); i >= 0 {
				e.pending[i] = t
			} else {
				e.pending = append(e.pending, t)
			}
		}
		return
	}
	if e.ctx.Err() != nil {
		return // the engine has ended; the next agent run adopts everything
	}
	for _, t := range tasks {
		switch {
		case t.Arn == "":
		case e.tasks[t.Arn] != nil:
			e.tasks[t.Arn].setDesired(t, false)
		case e.cleaned[t.Arn]:
			// Cleaned up while the server still wanted it (e.g. its
			// essential container exited): it must not run again.
		default:
			e.launch(t, e.adopted[t.Arn], false)
			delete(e.adopted, t.Arn)
		}
	}
}

// Stop stops the tasks the server confirmed it no longer wants (the answer
// to a stop verification), with no reason of the engine's own: the server
// already knows why. Adopted containers no payload claimed are stopped and
// cleaned up as a task of their own. ARNs the engine does not know are
// ignored.
func (e *Engine) Stop(arns []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		e.pendingStop = append(e.pendingStop, arns...)
		return
	}
	if e.ctx.Err() != nil {
		return
	}
	for _, arn := range arns {
		if m := e.tasks[arn]; m != nil {
			m.setDesired(Task{Arn: arn, DesiredStatus: ecstypes.DesiredStatusSTOPPED}, true)
			continue
		}
		if states, ok := e.adopted[arn]; ok {
			e.log.Info("stopping adopted containers of a task the server does not want", "task", arn)
			e.launch(orphanTask(arn, states), states, true)
			delete(e.adopted, arn)
		}
	}
}

// Running returns, sorted, the ARNs of the tasks the engine runs with
// desired status RUNNING, and of the tasks whose adopted containers no
// payload has claimed yet: what a task manifest is compared with.
func (e *Engine) Running() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.tasks)+len(e.adopted))
	for arn, m := range e.tasks {
		if m.wantsRunning() {
			out = append(out, arn)
		}
	}
	for arn := range e.adopted {
		out = append(out, arn)
	}
	slices.Sort(out)
	return out
}

// Holds reports whether the engine has task arn: running, stopping,
// stopped and not yet cleaned up, or as adopted containers.
func (e *Engine) Holds(arn string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, adopted := e.adopted[arn]
	return e.tasks[arn] != nil || adopted
}

// ForgetUnlisted takes the task ARNs a task manifest lists (whatever their
// desired status): the server's only full list of the instance's tasks. A
// cleaned-up task it no longer lists can never be sent again, so the engine
// stops remembering it.
func (e *Engine) ForgetUnlisted(listed map[string]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for arn := range e.cleaned {
		if !listed[arn] {
			delete(e.cleaned, arn)
		}
	}
}

// launch starts the goroutine that owns task t; unwanted says the server
// confirmed it wants t stopped. Callers hold e.mu.
func (e *Engine) launch(t Task, adopted []runtime.ContainerState, unwanted bool) {
	m := newTaskManager(e, t, adopted)
	if unwanted {
		m.setDesired(t, true)
	}
	e.tasks[t.Arn] = m
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		m.run(e.ctx)
	}()
}

// forget drops a cleaned-up task, remembering its ARN so that a payload
// the server sends before it learns of the stop (or a new session's) does
// not start it again; ForgetUnlisted drops the ARN once the server no
// longer lists it.
func (e *Engine) forget(m *taskManager) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tasks[m.arn] != m {
		return
	}
	delete(e.tasks, m.arn)
	e.cleaned[m.arn] = true
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
