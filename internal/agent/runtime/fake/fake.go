// Package fake owns the runtime.Runtime for task-engine unit tests: the
// simulated runtime (package sim) configured to change nothing by itself
// (health stays "starting" until SetHealth, a stop kills at once with
// KillExitCode), plus function fields that override any call (a nil field
// means the simulated behaviour). Tests drive exits and health with Exit
// and SetHealth.
//
// The fake is sim rather than a second in-memory engine so that unit tests
// and scale runs exercise one implementation of Docker's rules (names, links,
// ports, waits), checked by one conformance suite; what it adds is only
// what unit tests want: overrides that fail a call once or record it.
package fake

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/agent/runtime/sim"
)

var _ runtime.Runtime = (*Runtime)(nil)

// DefaultPortBase is the first dynamic host port handed out when PortBase is 0.
const DefaultPortBase = sim.DefaultFirstPort

// KillExitCode is the exit code a stopped or force-removed container gets,
// as Docker reports for a process that had to be killed (128+SIGKILL).
const KillExitCode = sim.KillExitCode

// Runtime is an in-memory container engine. The zero value is ready to use.
// Configure the exported fields before the first call; all methods are safe
// for concurrent use.
type Runtime struct {
	// Images are present in the image store from the start.
	Images []string
	// PortBase is the first dynamic host port; 0 means DefaultPortBase.
	PortBase uint16
	// Clock is the clock for timestamps; nil means the real clock.
	Clock clockwork.Clock
	// GPUs are the host's GPU ids (sim.Options.GPUs).
	GPUs []string

	// Overrides: when set, each is called instead of the default behaviour.
	// Use Default() inside one to fall through (e.g. fail once, then succeed).
	PullFunc         func(ctx context.Context, image string) error
	ImagePresentFunc func(ctx context.Context, image string) (bool, error)
	CreateFunc       func(ctx context.Context, spec runtime.ContainerSpec) (string, error)
	StartFunc        func(ctx context.Context, id string) error
	StopFunc         func(ctx context.Context, id string, timeout time.Duration) error
	RemoveFunc       func(ctx context.Context, id string) error
	InspectFunc      func(ctx context.Context, id string) (runtime.ContainerState, error)
	ListFunc         func(ctx context.Context, labels map[string]string) ([]runtime.ContainerState, error)
	WaitFunc         func(ctx context.Context, id string) (int, error)
	StatsFunc        func(ctx context.Context, id string) (runtime.ContainerStats, error)

	once sync.Once
	sim  *sim.Runtime
}

// New returns a Runtime with images already present.
func New(images ...string) *Runtime { return &Runtime{Images: images} }

// Default returns r's default behaviour, ignoring the override fields, for
// overrides that want to fall through.
func (r *Runtime) Default() runtime.Runtime { return r.base() }

// base builds the simulated runtime from the exported fields on first use.
func (r *Runtime) base() *sim.Runtime {
	r.once.Do(func() {
		r.sim = sim.New(sim.Options{
			Clock:        r.Clock,
			Images:       r.Images,
			Ports:        sim.PortRange{First: cmp.Or(r.PortBase, DefaultPortBase)},
			ManualHealth: true,
			KillOnStop:   true,
			GPUs:         r.GPUs,
		})
	})
	return r.sim
}

// PullImage makes image present, unless PullFunc says otherwise.
func (r *Runtime) PullImage(ctx context.Context, image string) error {
	if r.PullFunc != nil {
		return r.PullFunc(ctx, image)
	}
	return r.base().PullImage(ctx, image)
}

// ImagePresent reports whether image was preloaded or pulled.
func (r *Runtime) ImagePresent(ctx context.Context, image string) (bool, error) {
	if r.ImagePresentFunc != nil {
		return r.ImagePresentFunc(ctx, image)
	}
	return r.base().ImagePresent(ctx, image)
}

// CreateContainer records a created container. Like Docker it fails with
// runtime.ErrNotFound when the image is absent, and on a duplicate name.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if r.CreateFunc != nil {
		return r.CreateFunc(ctx, spec)
	}
	return r.base().CreateContainer(ctx, spec)
}

// StartContainer marks the container running, assigns dynamic host ports
// and, when it has a health check, sets its health to "starting".
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if r.StartFunc != nil {
		return r.StartFunc(ctx, id)
	}
	return r.base().StartContainer(ctx, id)
}

// StopContainer makes a running container exit with KillExitCode at once.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	if r.StopFunc != nil {
		return r.StopFunc(ctx, id, timeout)
	}
	return r.base().StopContainer(ctx, id, timeout)
}

// RemoveContainer forgets the container, ending any waits on it.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if r.RemoveFunc != nil {
		return r.RemoveFunc(ctx, id)
	}
	return r.base().RemoveContainer(ctx, id)
}

// InspectContainer returns a copy of the container's state.
func (r *Runtime) InspectContainer(ctx context.Context, id string) (runtime.ContainerState, error) {
	if r.InspectFunc != nil {
		return r.InspectFunc(ctx, id)
	}
	return r.base().InspectContainer(ctx, id)
}

// ListContainers returns every container carrying all labels, oldest first.
func (r *Runtime) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.ContainerState, error) {
	if r.ListFunc != nil {
		return r.ListFunc(ctx, labels)
	}
	return r.base().ListContainers(ctx, labels)
}

// WaitContainer blocks until the container stops running (Exit, Stop or
// Remove) or ctx ends. A container that is not running returns at once.
func (r *Runtime) WaitContainer(ctx context.Context, id string) (int, error) {
	if r.WaitFunc != nil {
		return r.WaitFunc(ctx, id)
	}
	return r.base().WaitContainer(ctx, id)
}

// Stats reads a running container's simulated use (BERTH_SIM_CPU percent
// of a core on the Clock, BERTH_SIM_MEMORY_MIB of memory).
func (r *Runtime) Stats(ctx context.Context, id string) (runtime.ContainerStats, error) {
	if r.StatsFunc != nil {
		return r.StatsFunc(ctx, id)
	}
	return r.base().Stats(ctx, id)
}

// Exit makes a running container exit with code, as if its process ended.
func (r *Runtime) Exit(id string, code int) error { return r.base().Exit(id, code) }

// SetHealth sets the container's health status ("starting", "healthy",
// "unhealthy" or "").
func (r *Runtime) SetHealth(id, status string) error { return r.base().SetHealth(id, status) }

// Spec returns the spec a container was created with, so engine tests can
// check what they asked for without reaching into the fake.
func (r *Runtime) Spec(id string) (runtime.ContainerSpec, error) { return r.base().Spec(id) }
