package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/jonboulle/clockwork"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// retryBackoff is how long a task waits before retrying a failed stop or
// cleanup, or re-attaching a failed container wait.
const retryBackoff = 5 * time.Second

// containerState is the engine's view of one container. Only the owning
// taskManager goroutine reads or writes it.
type containerState struct {
	name      string
	def       ecstypes.ContainerDefinition
	deps      []ecstypes.ContainerDependency // dependsOn plus links' implicit START
	essential bool
	spec      runtime.ContainerSpec // set when built, before create

	known       containerStatus
	started     bool // ran at least once (for START/COMPLETE dependencies)
	runtimeID   string
	imageDigest string
	reason      string
	exitCode    *int
	bindings    []ecstypes.NetworkBinding
	health      string // ECS health status; "" without a health check

	adoptedStart time.Time // StartedAt of an adopted container
}

// exitEvent is a container's WaitContainer result.
type exitEvent struct {
	name, id string
	code     int
	err      error
}

// taskManager owns one task. Its goroutine (run) is the only writer of the
// task's state; the engine talks to it through the inbox, container waits
// through exits, and readers see the last published change.
type taskManager struct {
	e       *Engine
	arn     string
	task    Task
	log     *slog.Logger
	mode    string // Docker network mode
	modeErr error  // the task cannot run here: its network mode, or Task.Problem

	containers []*containerState // definition order
	byName     map[string]*containerState
	adopted    []runtime.ContainerState

	known, desired   taskStatus
	stopping         atomic.Bool // desired is taskStopped, for readers outside the goroutine
	reason, stopCode string
	pullStartedAt    *time.Time
	pullStoppedAt    *time.Time
	startedAt        *time.Time
	execStoppedAt    *time.Time
	imagesReady      map[string]bool
	retry            <-chan time.Time
	// work is the context of work a stop abandons (image pulls): it ends
	// when the desired status becomes STOPPED, or with the task's context.
	work context.Context

	inMu       sync.Mutex
	inTask     Task
	inUnwanted bool
	cancelWork context.CancelFunc // set by run; called once a stop is desired
	wake       chan struct{}

	exits chan exitEvent

	pubMu sync.Mutex
	pub   *TaskStateChange
}

func newTaskManager(e *Engine, t Task, adopted []runtime.ContainerState) *taskManager {
	m := &taskManager{
		e:           e,
		arn:         t.Arn,
		task:        t,
		log:         e.log.With("task", t.Arn),
		byName:      map[string]*containerState{},
		adopted:     adopted,
		desired:     taskRunning,
		imagesReady: map[string]bool{},
		inTask:      t,
		wake:        make(chan struct{}, 1),
		exits:       make(chan exitEvent, len(t.TaskDefinition.ContainerDefinitions)+1),
	}
	m.mode, m.modeErr = networkMode(t.TaskDefinition)
	if t.Problem != "" {
		m.modeErr = errors.New(t.Problem)
	}
	for _, def := range t.TaskDefinition.ContainerDefinitions {
		c := &containerState{
			name:      aws.ToString(def.Name),
			def:       def,
			deps:      startDependencies(def),
			essential: def.Essential == nil || *def.Essential, // ECS default: essential
		}
		if def.HealthCheck != nil {
			c.health = ecstypes.HealthStatusUNKNOWN
		}
		m.containers = append(m.containers, c)
		m.byName[c.name] = c
	}
	return m
}

// setDesired hands the manager the task as the latest payload had it;
// unwanted says the server confirmed it wants the task stopped (Stop). A
// stop cancels the work in progress at once (a slow image pull), so the
// task goroutine can act on it. Safe from any goroutine.
func (m *taskManager) setDesired(t Task, unwanted bool) {
	m.inMu.Lock()
	// Payloads resend what the task already has (every task again on a new
	// session): waking it for them would cost every task work.
	unchanged := unwanted && m.inUnwanted || !unwanted &&
		m.inTask.DesiredStatus == t.DesiredStatus && m.inTask.StoppedReason == t.StoppedReason
	// A desired status never moves back: a stop the goroutine has not read
	// yet must not be undone by a later RUNNING.
	backwards := !unwanted && m.stopDesiredLocked() && t.DesiredStatus != ecstypes.DesiredStatusSTOPPED
	if unchanged || backwards {
		m.inMu.Unlock()
		return
	}
	if unwanted {
		m.inUnwanted = true
	} else {
		m.inTask = t
	}
	if m.stopDesiredLocked() && m.cancelWork != nil {
		m.cancelWork()
	}
	m.inMu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// stopDesiredLocked reports whether the inbox asks for a stop. Callers
// hold inMu.
func (m *taskManager) stopDesiredLocked() bool {
	return m.inUnwanted || m.inTask.DesiredStatus == ecstypes.DesiredStatusSTOPPED
}

// wantsRunning reports whether the task's desired status is still RUNNING:
// no stop asked for, none decided by the task itself (an essential exit, a
// failure to start). Safe from any goroutine.
func (m *taskManager) wantsRunning() bool {
	if m.stopping.Load() {
		return false
	}
	m.inMu.Lock()
	defer m.inMu.Unlock()
	return !m.stopDesiredLocked()
}

// readInbox moves the task's desired status forward (never back).
func (m *taskManager) readInbox() {
	m.inMu.Lock()
	t, stop := m.inTask, m.stopDesiredLocked()
	m.inMu.Unlock()
	if stop {
		m.stopWith(t.StoppedReason, "")
	}
}

// stopWith sets desired STOPPED; the first reason for stopping wins.
func (m *taskManager) stopWith(reason, code string) {
	if m.desired == taskStopped {
		return
	}
	m.log.Info("stopping task", "reason", reason, "stopCode", code)
	m.desired, m.reason, m.stopCode = taskStopped, reason, code
	m.stopping.Store(true)
}

// run drives the task until it is cleaned up or ctx ends. Ending ctx leaves
// containers as they are, so an agent restart keeps tasks running.
func (m *taskManager) run(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel() // ends this task's container waits
	work, cancelWork := context.WithCancel(ctx)
	m.work = work
	m.inMu.Lock()
	m.cancelWork = cancelWork
	if m.stopDesiredLocked() {
		cancelWork()
	}
	m.inMu.Unlock()
	m.adopt(ctx)

	clock := m.e.cfg.Clock
	var healthC <-chan time.Time
	if slices.ContainsFunc(m.containers, func(c *containerState) bool { return c.def.HealthCheck != nil }) {
		t := clock.NewTicker(m.e.cfg.HealthPollInterval)
		defer t.Stop()
		healthC = t.Chan()
	}
	var cleanup clockwork.Timer
	defer func() {
		if cleanup != nil {
			cleanup.Stop()
		}
	}()
	for {
		m.progress(ctx)
		m.report()
		var cleanupC <-chan time.Time
		if m.known == taskStopped {
			healthC = nil
			if cleanup == nil {
				cleanup = clock.NewTimer(m.e.cfg.CleanupWait)
			}
			cleanupC = cleanup.Chan()
		}
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
			m.readInbox()
		case ev := <-m.exits:
			m.handleExit(ctx, ev)
		case <-healthC:
			m.pollHealth(ctx)
		case <-m.retry:
			m.retry = nil
		case <-cleanupC:
			if m.cleanup(ctx) {
				m.e.forget(m)
				return
			}
			cleanup.Reset(retryBackoff)
		}
	}
}

// progress takes steps toward the desired status until none is possible,
// reporting after each.
func (m *taskManager) progress(ctx context.Context) {
	for ctx.Err() == nil && m.retry == nil {
		m.readInbox()
		if !m.step(ctx) {
			return
		}
		m.report()
	}
}

// step takes one step toward the desired status; false when there is none
// to take until something happens.
func (m *taskManager) step(ctx context.Context) bool {
	switch {
	case m.known == taskStopped:
		return false
	case m.desired == taskStopped:
		return m.stopAll(ctx)
	case m.known == taskNone:
		m.known = taskPending
		defs := m.task.TaskDefinition.ContainerDefinitions
		if m.modeErr != nil {
			m.failStart(nil, m.modeErr.Error())
		} else if name, why, bad := linkProblem(defs, m.mode); bad {
			m.failStart(m.byName[name], "CannotCreateContainerError: "+why)
		} else if name, ok := dependencyCycle(defs); ok {
			m.failStart(m.byName[name], "CannotStartContainerError: dependsOn or links of "+name+" form a cycle")
		}
		return true
	}
	for _, c := range m.containers {
		if c.essential && c.known == containerStopped {
			m.stopWith(ReasonEssentialExited, StopCodeEssentialContainerExited)
			return true
		}
	}
	for _, c := range m.containers {
		if c.known == containerNone {
			m.pull(ctx, c)
			return true
		}
	}
	for _, c := range m.containers {
		if c.known == containerPulled && m.linkTargetsExist(c) {
			m.create(ctx, c)
			return true
		}
	}
	// Containers without dependencies start first, in definition order.
	for _, c := range m.startOrder() {
		if c.known != containerCreated {
			continue
		}
		switch verdict, why := checkDependencies(c, m.byName); verdict {
		case depReady:
			m.start(ctx, c)
			return true
		case depNever:
			reason := "CannotStartContainerError: " + why
			if c.essential {
				m.failStart(c, reason)
			} else {
				c.known, c.reason = containerStopped, reason
			}
			return true
		}
	}
	if m.known == taskPending && m.essentialsRunning() {
		m.known = taskRunning
		m.startedAt = m.now()
		m.log.Info("task running")
		return true
	}
	return false
}

// linkTargetsExist reports whether every container c links to has been
// created: Docker resolves links when it creates the linking container.
// Links are acyclic (checked first), so creates always make progress; an
// unknown target (checked first too, except for adopted tasks) is never
// waited on: the create fails with Docker's reason instead.
func (m *taskManager) linkTargetsExist(c *containerState) bool {
	for _, name := range linkTargets(c.def) {
		if t := m.byName[name]; t != nil && t.runtimeID == "" {
			return false
		}
	}
	return true
}

// startOrder lists containers without dependencies (dependsOn or links),
// then the others, each in definition order.
func (m *taskManager) startOrder() []*containerState {
	out := make([]*containerState, 0, len(m.containers))
	for _, c := range m.containers {
		if len(c.deps) == 0 {
			out = append(out, c)
		}
	}
	for _, c := range m.containers {
		if len(c.deps) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// essentialsRunning reports whether every essential container runs.
func (m *taskManager) essentialsRunning() bool {
	found := false
	for _, c := range m.containers {
		if c.essential {
			if c.known != containerRunning {
				return false
			}
			found = true
		}
	}
	return found
}

// failStart stops a task that cannot start; c, if any, is the container
// that failed and carries the reason too.
func (m *taskManager) failStart(c *containerState, reason string) {
	m.log.Warn("task failed to start", "container", nameOf(c), "reason", reason)
	if c != nil {
		c.known, c.reason = containerStopped, reason
	}
	m.stopWith(reason, StopCodeTaskFailedToStart)
}

func nameOf(c *containerState) string {
	if c == nil {
		return ""
	}
	return c.name
}

func (m *taskManager) now() *time.Time {
	t := m.e.cfg.Now()
	return &t
}
