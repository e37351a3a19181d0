package sim

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

var _ runtime.Runtime = (*Runtime)(nil)

// Runtime is one simulated container engine (one host). All methods are safe
// for concurrent use.
type Runtime struct {
	opts   Options
	clock  clockwork.Clock
	prefix uint64 // makes container IDs unique across runtimes

	mu         sync.Mutex
	rnd        *rand.Rand
	images     map[string]bool
	containers map[string]*container // by ID
	byName     map[string]*container
	ports      *ports
	seq        uint64
}

// container is one simulated container; fields are guarded by Runtime.mu.
type container struct {
	spec  runtime.ContainerSpec
	state runtime.ContainerState
	knobs knobs
	run   *run // the current or last run; nil before the first start
}

// run is one start-to-exit span of a container's process. code is written
// before done is closed, so waiters read it without the lock and never see
// a later run's code.
type run struct {
	done     chan struct{}
	code     int
	timers   []clockwork.Timer // scheduled exit, health, stop; stopped at exit
	health   clockwork.Timer   // the pending health change, if any
	stopping bool              // the stop signal was sent
}

// New returns a Runtime configured by opts. It panics on invalid Failures
// or latency, which are programming errors; validate user input with
// Options.Validate first.
func New(opts Options) *Runtime {
	if err := opts.Validate(); err != nil {
		panic("sim: " + err.Error())
	}
	clock := opts.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	r := &Runtime{
		opts:       opts,
		clock:      clock,
		prefix:     rand.Uint64(),
		rnd:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		images:     map[string]bool{},
		containers: map[string]*container{},
		byName:     map[string]*container{},
		ports:      newPorts(opts.Ports),
	}
	for _, img := range opts.Images {
		r.images[img] = true
	}
	return r
}

// Validate checks the options a user may set.
func (o Options) Validate() error {
	if err := o.Failures.Validate(); err != nil {
		return err
	}
	for name, rg := range map[string]Range{"pull": o.Latency.Pull, "create": o.Latency.Create, "start": o.Latency.Start, "stop": o.Latency.Stop} {
		if err := rg.Validate(); err != nil {
			return fmt.Errorf("%s latency: %w", name, err)
		}
	}
	p := o.Ports.withDefaults()
	if p.Last < p.First {
		return fmt.Errorf("port range %d-%d is empty", p.First, p.Last)
	}
	return nil
}

// Exit makes a running container's process end with code.
func (r *Runtime) Exit(id string, code int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return err
	}
	if !c.state.Running {
		return fmt.Errorf("sim: exit container %s: not running (status %s)", id, c.state.Status)
	}
	r.exitLocked(c, code)
	return nil
}

// SetHealth sets the container's health status ("starting", "healthy",
// "unhealthy" or ""), cancelling a scheduled change.
func (r *Runtime) SetHealth(id, status string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return err
	}
	if c.run != nil && c.run.health != nil {
		c.run.health.Stop()
		c.run.health = nil
	}
	c.state.Health = status
	return nil
}

// Spec returns the spec a container was created with.
func (r *Runtime) Spec(id string) (runtime.ContainerSpec, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	return cloneSpec(c.spec), nil
}

// lookup finds a container by ID or name. Callers hold r.mu.
func (r *Runtime) lookup(idOrName string) (*container, error) {
	if c, ok := r.containers[idOrName]; ok {
		return c, nil
	}
	if c, ok := r.byName[idOrName]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("sim: no such container %s: %w", idOrName, runtime.ErrNotFound)
}

// exitLocked ends a running container's process. Callers hold r.mu.
func (r *Runtime) exitLocked(c *container, code int) {
	run := c.run
	for _, t := range run.timers {
		t.Stop()
	}
	run.timers, run.health = nil, nil
	r.ports.release(c.state.Ports)
	c.state.Ports = nil
	c.state.Running = false
	c.state.Status = "exited"
	c.state.ExitCode = code
	c.state.FinishedAt = r.clock.Now()
	run.code = code
	close(run.done)
}

// after runs f under r.mu after d on the runtime's clock, unless the run
// has ended by then (or f is stale: the container restarted).
func (r *Runtime) after(c *container, run *run, d time.Duration, f func()) clockwork.Timer {
	t := r.clock.AfterFunc(d, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if c.run == run && c.state.Running {
			f()
		}
	})
	run.timers = append(run.timers, t)
	return t
}

// delay waits the latency drawn from rg, or until ctx is done.
func (r *Runtime) delay(ctx context.Context, rg Range) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rg.IsZero() {
		return nil
	}
	d := r.pick(rg)
	if d <= 0 {
		return nil
	}
	t := r.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Runtime) pick(rg Range) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return rg.pick(r.rnd)
}

// fails draws whether a call with failure probability p fails. Callers
// hold r.mu.
func (r *Runtime) failsLocked(p float64) bool {
	return p > 0 && r.rnd.Float64() < p
}

// imageID is a stable content ID for an image reference.
func imageID(image string) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(image)))
}

func cloneState(s runtime.ContainerState) runtime.ContainerState {
	s.Labels = maps.Clone(s.Labels)
	s.Ports = slices.Clone(s.Ports)
	return s
}

func cloneSpec(s runtime.ContainerSpec) runtime.ContainerSpec {
	s.Entrypoint = slices.Clone(s.Entrypoint)
	s.Cmd = slices.Clone(s.Cmd)
	s.Env = slices.Clone(s.Env)
	s.Labels = maps.Clone(s.Labels)
	s.Ulimits = slices.Clone(s.Ulimits)
	s.PortMappings = slices.Clone(s.PortMappings)
	s.ExtraHosts = slices.Clone(s.ExtraHosts)
	s.DNSServers = slices.Clone(s.DNSServers)
	s.DNSSearch = slices.Clone(s.DNSSearch)
	s.Links = slices.Clone(s.Links)
	s.GPUIDs = slices.Clone(s.GPUIDs)
	if s.HealthCheck != nil {
		hc := *s.HealthCheck
		hc.Test = slices.Clone(hc.Test)
		s.HealthCheck = &hc
	}
	return s
}
