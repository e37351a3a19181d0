package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

// call returns a context for one runtime call.
func (e *Engine) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.cfg.CallTimeout)
}

// ensureImage makes image available according to the pull behaviour.
func (e *Engine) ensureImage(ctx context.Context, image string) error {
	present := func() bool {
		cctx, cancel := e.call(ctx)
		defer cancel()
		ok, err := e.cfg.Runtime.ImagePresent(cctx, image)
		if err != nil {
			e.log.Warn("inspect image", "image", image, "err", err)
		}
		return err == nil && ok
	}
	pull := func() error {
		cctx, cancel := context.WithTimeout(ctx, e.cfg.PullTimeout)
		defer cancel()
		if err := e.cfg.Runtime.PullImage(cctx, image); err != nil {
			return err // the runtime's error already names the image
		}
		e.recordPull(image)
		return nil
	}
	switch e.cfg.PullBehavior {
	case PullAlways:
		return pull()
	case PullPreferCached:
		if present() {
			return nil
		}
		return pull()
	case PullOnce:
		if e.pullRecorded(image) && present() {
			return nil
		}
		return pull()
	default:
		err := pull()
		if err != nil && ctx.Err() == nil && present() {
			e.log.Warn("pull failed; using the cached image", "image", image, "err", err)
			return nil
		}
		return err
	}
}

// pull makes c's image available (once per image per task).
func (m *taskManager) pull(ctx context.Context, c *containerState) {
	image := aws.ToString(c.def.Image)
	if image == "" {
		m.failStart(c, fmt.Sprintf("CannotPullContainerError: container %s has no image", c.name))
		return
	}
	if m.imagesReady[image] {
		c.known = containerPulled
		return
	}
	if m.pullStartedAt == nil {
		m.pullStartedAt = m.now()
	}
	// The pull runs under the task's work context: a stop requested
	// meanwhile ends it at once instead of after a slow download.
	err := m.e.ensureImage(m.work, image)
	m.pullStoppedAt = m.now()
	if err != nil {
		if ctx.Err() != nil {
			return // the agent is shutting down, not a task failure
		}
		if m.work.Err() != nil {
			// Stopped during the pull: the next step reads the stop and
			// stops the task with the server's reason; nothing is created.
			m.log.Info("image pull abandoned: the task is stopping", "container", c.name, "image", image)
			return
		}
		m.failStart(c, "CannotPullContainerError: "+err.Error())
		return
	}
	m.imagesReady[image] = true
	c.known = containerPulled
}

// create creates c's container. A failed create may still have made the
// container (a timeout), so one carrying c's labels is taken over.
func (m *taskManager) create(ctx context.Context, c *containerState) {
	spec, err := buildSpec(specInput{
		Task:        m.task,
		Container:   c.def,
		Override:    containerOverride(m.task.Overrides, c.name),
		NetworkMode: m.mode,
		ClusterARN:  m.e.cfg.ClusterARN,
		InstanceARN: m.e.cfg.InstanceARN,
		// Only containers given GPUs run with it.
		NvidiaRuntime: m.e.cfg.NvidiaRuntime,
	})
	if err != nil {
		m.failStart(c, "CannotCreateContainerError: "+err.Error())
		return
	}
	c.spec = spec
	cctx, cancel := m.e.call(ctx)
	id, err := m.e.cfg.Runtime.CreateContainer(cctx, spec)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		existing, ok := m.findExisting(ctx, c)
		if !ok {
			m.failStart(c, fmt.Sprintf("CannotCreateContainerError: create container %s: %v", spec.Name, err))
			return
		}
		m.log.Info("took over a container an earlier create made", "container", c.name, "id", existing.ID)
		id = existing.ID
	}
	c.runtimeID = id
	c.known = containerCreated
}

// findExisting looks up a container of this task with c's name.
func (m *taskManager) findExisting(ctx context.Context, c *containerState) (runtime.ContainerState, bool) {
	cctx, cancel := m.e.call(ctx)
	defer cancel()
	list, err := m.e.cfg.Runtime.ListContainers(cctx, map[string]string{
		LabelInstance: m.e.cfg.InstanceARN, LabelTaskARN: m.arn, LabelContainerName: c.name,
	})
	if err != nil || len(list) == 0 || list[0].Status != "created" {
		return runtime.ContainerState{}, false
	}
	return list[0], true
}

// start starts c's container and begins waiting for its exit.
func (m *taskManager) start(ctx context.Context, c *containerState) {
	cctx, cancel := m.e.call(ctx)
	err := m.e.cfg.Runtime.StartContainer(cctx, c.runtimeID)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		m.failStart(c, fmt.Sprintf("CannotStartContainerError: start container %s: %v", c.spec.Name, err))
		return
	}
	m.log.Info("container started", "container", c.name, "id", c.runtimeID)
	c.known, c.started = containerRunning, true
	if st, err := m.inspect(ctx, c.runtimeID); err == nil {
		m.observe(c, st)
	} else {
		m.log.Warn("inspect started container", "container", c.name, "err", err)
	}
	m.watch(ctx, c, 0)
}

func (m *taskManager) inspect(ctx context.Context, id string) (runtime.ContainerState, error) {
	cctx, cancel := m.e.call(ctx)
	defer cancel()
	st, err := m.e.cfg.Runtime.InspectContainer(cctx, id)
	if err != nil {
		return st, fmt.Errorf("inspect container %s: %w", id, err)
	}
	return st, nil
}

// observe records what inspect says about a running container.
func (m *taskManager) observe(c *containerState, st runtime.ContainerState) {
	c.imageDigest = st.ImageID
	c.bindings = bindings(m.mode, c.spec.PortMappings, st)
	if c.def.HealthCheck != nil {
		c.health = healthStatus(st.Health)
	}
}

// watch waits for c's container to exit, after delay, and hands the
// result to the task goroutine. The wait has no timeout: containers run
// for as long as they run. It ends with ctx.
func (m *taskManager) watch(ctx context.Context, c *containerState, delay time.Duration) {
	name, id := c.name, c.runtimeID
	m.e.wg.Add(1)
	go func() {
		defer m.e.wg.Done()
		if delay > 0 {
			t := m.e.cfg.Clock.NewTimer(delay)
			select {
			case <-t.Chan():
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		code, err := m.e.cfg.Runtime.WaitContainer(ctx, id)
		select {
		case m.exits <- exitEvent{name: name, id: id, code: code, err: err}:
		case <-ctx.Done():
		}
	}()
}

// handleExit records a container's exit. A failed wait is checked with
// inspect: still running means wait again, later.
func (m *taskManager) handleExit(ctx context.Context, ev exitEvent) {
	c := m.byName[ev.name]
	if c == nil || c.runtimeID != ev.id || c.known != containerRunning {
		return // already recorded (e.g. by a stop)
	}
	code := ev.code
	if ev.err != nil {
		if ctx.Err() != nil {
			return
		}
		st, err := m.inspect(ctx, ev.id)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			c.known, c.reason = containerStopped, "container was removed from the runtime"
			return
		case err != nil || st.Running:
			m.log.Warn("wait for container failed; waiting again", "container", c.name, "err", ev.err)
			m.watch(ctx, c, retryBackoff)
			return
		}
		code = st.ExitCode
	}
	m.log.Info("container exited", "container", c.name, "exitCode", code, "essential", c.essential)
	c.known, c.exitCode = containerStopped, &code
}

// pollHealth refreshes the health of running containers with a health check.
func (m *taskManager) pollHealth(ctx context.Context) {
	for _, c := range m.containers {
		if c.known != containerRunning || c.def.HealthCheck == nil {
			continue
		}
		st, err := m.inspect(ctx, c.runtimeID)
		if err != nil || !st.Running {
			continue // the wait reports exits
		}
		if h := healthStatus(st.Health); h != c.health {
			m.log.Info("container health changed", "container", c.name, "from", c.health, "to", h)
			c.health = h
		}
	}
}

// stopTimeout is c's stopTimeout, or the engine's.
func (m *taskManager) stopTimeout(c *containerState) time.Duration {
	if s := aws.ToInt32(c.def.StopTimeout); s > 0 {
		return time.Duration(s) * time.Second
	}
	return m.e.cfg.StopTimeout
}

// stopAll stops every running container (in parallel, each with its stop
// timeout) and, once all are stopped, marks the task STOPPED. If a stop
// fails it schedules a retry and reports no progress.
func (m *taskManager) stopAll(ctx context.Context) bool {
	type result struct {
		c   *containerState
		st  runtime.ContainerState
		err error
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []result
	)
	for _, c := range m.containers {
		if c.known != containerRunning {
			if c.known < containerRunning {
				c.known = containerStopped
			}
			continue
		}
		id, name, timeout := c.runtimeID, c.name, m.stopTimeout(c)
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout+m.e.cfg.CallTimeout)
			err := m.e.cfg.Runtime.StopContainer(cctx, id, timeout)
			cancel()
			if err != nil {
				m.log.Warn("stop container", "container", name, "err", err)
			}
			st, err := m.inspect(ctx, id)
			mu.Lock()
			results = append(results, result{c, st, err})
			mu.Unlock()
		})
	}
	wg.Wait()
	done := true
	for _, r := range results {
		switch {
		case errors.Is(r.err, runtime.ErrNotFound):
			r.c.known, r.c.reason = containerStopped, "container was removed from the runtime"
		case r.err != nil || r.st.Running:
			done = false
		default:
			code := r.st.ExitCode
			r.c.known, r.c.exitCode = containerStopped, &code
		}
	}
	if ctx.Err() != nil {
		return false
	}
	if !done {
		m.retry = m.e.cfg.Clock.After(retryBackoff)
		return false
	}
	m.known = taskStopped
	m.execStoppedAt = m.now()
	m.log.Info("task stopped", "reason", m.reason, "stopCode", m.stopCode)
	return true
}

// cleanup removes the task's containers; false if one could not be removed.
func (m *taskManager) cleanup(ctx context.Context) bool {
	ok := true
	for _, c := range m.containers {
		if c.runtimeID == "" {
			continue
		}
		cctx, cancel := m.e.call(ctx)
		err := m.e.cfg.Runtime.RemoveContainer(cctx, c.runtimeID)
		cancel()
		if err != nil && !errors.Is(err, runtime.ErrNotFound) {
			m.log.Warn("remove container", "container", c.name, "id", c.runtimeID, "err", err)
			ok = false
		}
	}
	if ok {
		m.log.Info("task cleaned up")
	}
	return ok
}
