package sim

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

// PullImage makes image present after the pull latency, unless a failure
// is injected for it.
func (r *Runtime) PullImage(ctx context.Context, image string) error {
	if err := r.delay(ctx, r.opts.Latency.Pull); err != nil {
		return fmt.Errorf("sim: pull image %s: %w", image, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if pat, denied := r.opts.Failures.pullDenied(image); denied {
		return fmt.Errorf("sim: pull image %s: pull access denied (simulated: the image matches %q)", image, pat)
	}
	if r.failsLocked(r.opts.Failures.Pull) {
		return fmt.Errorf("sim: pull image %s: simulated registry error", image)
	}
	r.images[image] = true
	return nil
}

// ImagePresent reports whether image was preloaded or pulled.
func (r *Runtime) ImagePresent(ctx context.Context, image string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("sim: inspect image %s: %w", image, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.images[image], nil
}

// CreateContainer records a created container. Like Docker it fails with
// runtime.ErrNotFound when the image is absent, and on a duplicate name; it
// also fails when the BERTH_SIM_* variables are malformed.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if err := r.delay(ctx, r.opts.Latency.Create); err != nil {
		return "", fmt.Errorf("sim: create container %s: %w", spec.Name, err)
	}
	switch spec.NetworkMode {
	case "", "bridge", "host", "none":
	default:
		return "", fmt.Errorf("sim: create container %s: unsupported network mode %q", spec.Name, spec.NetworkMode)
	}
	k, err := parseKnobs(spec.Env)
	if err != nil {
		return "", fmt.Errorf("sim: create container %s: %w", spec.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.images[spec.Image] {
		return "", fmt.Errorf("sim: create container %s: no such image %s: %w", spec.Name, spec.Image, runtime.ErrNotFound)
	}
	if spec.Name != "" {
		if _, err := r.lookup(spec.Name); err == nil {
			return "", fmt.Errorf("sim: create container: name %q is already in use", spec.Name)
		}
	}
	if err := r.checkLinksLocked(spec, false); err != nil {
		return "", fmt.Errorf("sim: create container %s: %w", spec.Name, err)
	}
	for _, id := range spec.GPUIDs {
		if !slices.Contains(r.opts.GPUs, id) {
			return "", fmt.Errorf("sim: create container %s: no GPU %s on this host (it has %d: %v)", spec.Name, id, len(r.opts.GPUs), r.opts.GPUs)
		}
	}
	if r.failsLocked(r.opts.Failures.Create) {
		return "", fmt.Errorf("sim: create container %s: simulated engine error", spec.Name)
	}
	r.seq++
	id := fmt.Sprintf("%016x%048x", r.prefix, r.seq)
	spec = cloneSpec(spec)
	c := &container{
		spec:  spec,
		knobs: k,
		state: runtime.ContainerState{
			ID:        id,
			Name:      spec.Name,
			Image:     spec.Image,
			ImageID:   imageID(spec.Image),
			Labels:    spec.Labels,
			Status:    "created",
			CreatedAt: r.clock.Now(),
		},
	}
	r.containers[id] = c
	if spec.Name != "" {
		r.byName[spec.Name] = c
	}
	return id, nil
}

// StartContainer starts the container's simulated process: it publishes
// ports, sets health to "starting" when there is a health check, and
// schedules what the container's BERTH_SIM_* variables ask for.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if err := r.delay(ctx, r.opts.Latency.Start); err != nil {
		return fmt.Errorf("sim: start container %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return fmt.Errorf("sim: start container: %w", err)
	}
	if c.state.Running {
		return nil // Docker: starting a running container is a no-op
	}
	if err := r.checkLinksLocked(c.spec, true); err != nil {
		return fmt.Errorf("sim: start container %s: %w", id, err)
	}
	if c.knobs.startError != "" {
		return fmt.Errorf("sim: start container %s: %s", id, c.knobs.startError)
	}
	if r.failsLocked(r.opts.Failures.Start) {
		return fmt.Errorf("sim: start container %s: simulated engine error", id)
	}
	bindings, err := r.ports.bind(c.spec)
	if err != nil {
		return fmt.Errorf("sim: start container %s: %w", id, err)
	}
	run := &run{done: make(chan struct{})}
	c.run = run
	c.state.Running = true
	c.state.Status = "running"
	c.state.ExitCode = 0
	c.state.StartedAt = r.clock.Now()
	c.state.FinishedAt = time.Time{}
	c.state.Ports = bindings
	c.state.Health = ""
	if hc := c.spec.HealthCheck; hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE" {
		c.state.Health = "starting"
		r.scheduleHealthLocked(c, run, *hc)
	}
	if c.knobs.exitSet {
		code := c.knobs.exitCode
		r.after(c, run, c.knobs.exitAfter.pick(r.rnd), func() { r.exitLocked(c, code) })
	}
	return nil
}

// scheduleHealthLocked schedules the container's health change: to
// BERTH_SIM_HEALTH (default healthy, unless ManualHealth) after
// BERTH_SIM_HEALTH_AFTER, by default when Docker would first report it: one
// interval for healthy, the start period plus retries intervals for
// unhealthy. Callers hold r.mu.
func (r *Runtime) scheduleHealthLocked(c *container, run *run, hc runtime.HealthCheck) {
	target := c.knobs.health
	if target == "" && !r.opts.ManualHealth {
		target = "healthy"
	}
	if target == "" {
		return
	}
	interval := cmp.Or(hc.Interval, 30*time.Second) // Docker's defaults
	d := interval
	if target == "unhealthy" {
		d = hc.StartPeriod + interval*time.Duration(cmp.Or(hc.Retries, 3))
	}
	if c.knobs.healthAfterS {
		d = c.knobs.healthAfter.pick(r.rnd)
	}
	run.health = r.after(c, run, d, func() {
		c.state.Health = target
		run.health = nil
	})
}

// checkLinksLocked applies Docker's rules for links: bridge networking only,
// and each linked container exists (at create) or runs (at start). A missing
// one is a bad request, not runtime.ErrNotFound, as with Docker, so it is
// never mistaken for a missing image. Callers hold r.mu.
func (r *Runtime) checkLinksLocked(spec runtime.ContainerSpec, running bool) error {
	if len(spec.Links) > 0 && spec.NetworkMode != "" && spec.NetworkMode != "bridge" {
		return fmt.Errorf("links need bridge networking, not %s", spec.NetworkMode)
	}
	for _, l := range spec.Links {
		name, alias, err := runtime.ParseLink(l)
		if err != nil {
			return err
		}
		target, err := r.lookup(name)
		switch {
		case err != nil:
			return fmt.Errorf("could not get container for %s: no such container", name)
		case running && !target.state.Running:
			return fmt.Errorf("cannot link to a non running container: %s AS %s", name, alias)
		}
	}
	return nil
}

// StopContainer sends the stop signal: the process exits with 0 after its
// BERTH_SIM_STOP_AFTER (default at once), or is killed with KillExitCode
// when that is not shorter than timeout. It returns once the container has
// exited, or with ctx's error (the stop still completes, as with Docker).
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	if err := r.delay(ctx, r.opts.Latency.Stop); err != nil {
		return fmt.Errorf("sim: stop container %s: %w", id, err)
	}
	r.mu.Lock()
	c, err := r.lookup(id)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("sim: stop container: %w", err)
	}
	if !c.state.Running {
		r.mu.Unlock()
		return nil
	}
	run := c.run
	if !run.stopping {
		run.stopping = true
		d, code := c.knobs.stopAfter.pick(r.rnd), 0
		if r.opts.KillOnStop {
			d, code = 0, KillExitCode
		} else if d >= timeout {
			d, code = max(timeout, 0), KillExitCode
		}
		if d <= 0 {
			r.exitLocked(c, code)
		} else {
			r.after(c, run, d, func() { r.exitLocked(c, code) })
		}
	}
	r.mu.Unlock()
	select {
	case <-run.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sim: stop container %s: %w", id, ctx.Err())
	}
}

// RemoveContainer kills the container if it runs and forgets it; a missing
// container is not an error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sim: remove container %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return nil
	}
	if c.state.Running {
		r.exitLocked(c, KillExitCode)
	}
	delete(r.containers, c.state.ID)
	if r.byName[c.spec.Name] == c {
		delete(r.byName, c.spec.Name)
	}
	return nil
}

// InspectContainer returns a copy of the container's state.
func (r *Runtime) InspectContainer(ctx context.Context, id string) (runtime.ContainerState, error) {
	if err := ctx.Err(); err != nil {
		return runtime.ContainerState{}, fmt.Errorf("sim: inspect container %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return runtime.ContainerState{}, fmt.Errorf("sim: inspect container: %w", err)
	}
	return cloneState(c.state), nil
}

// ListContainers returns this runtime's containers carrying all labels,
// oldest first. It looks only at this runtime's containers: a process
// simulating many hosts gives each its own Runtime.
func (r *Runtime) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.ContainerState, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sim: list containers: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []runtime.ContainerState
	for _, c := range r.containers {
		if matches(c.state.Labels, labels) {
			out = append(out, cloneState(c.state))
		}
	}
	slices.SortFunc(out, func(a, b runtime.ContainerState) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// matches reports whether have carries every label in want; an empty wanted
// value matches any value.
func matches(have, want map[string]string) bool {
	for k, v := range want {
		got, ok := have[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

// WaitContainer blocks until the container stops running or ctx ends. A
// container that is not running (created, or exited) returns at once.
func (r *Runtime) WaitContainer(ctx context.Context, id string) (int, error) {
	r.mu.Lock()
	c, err := r.lookup(id)
	if err != nil {
		r.mu.Unlock()
		return 0, fmt.Errorf("sim: wait container: %w", err)
	}
	if !c.state.Running {
		code := c.state.ExitCode
		r.mu.Unlock()
		return code, nil
	}
	cur := c.run
	r.mu.Unlock()

	select {
	case <-cur.done:
		return cur.code, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("sim: wait container %s: %w", id, ctx.Err())
	}
}
