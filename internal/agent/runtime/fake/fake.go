// Package fake owns an in-memory runtime.Runtime for task-engine unit tests.
// Containers move through Docker's states without running anything: tests
// drive exits and health with Exit and SetHealth, and inject faults through
// the function fields (a nil field means the default behaviour).
package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

var _ runtime.Runtime = (*Runtime)(nil)

// DefaultPortBase is the first dynamic host port handed out when PortBase is 0.
const DefaultPortBase = 32768

// KillExitCode is the exit code a stopped or force-removed container gets,
// as Docker reports for a process that had to be killed (128+SIGKILL).
const KillExitCode = 137

// Runtime is an in-memory container engine. The zero value is ready to use.
// Configure the exported fields before sharing the Runtime between
// goroutines; all methods are safe for concurrent use.
type Runtime struct {
	// Images are present in the image store from the start.
	Images []string
	// PortBase is the first dynamic host port; 0 means DefaultPortBase.
	PortBase uint16
	// Now is the clock for timestamps; nil means time.Now.
	Now func() time.Time

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

	mu         sync.Mutex
	pulled     map[string]bool
	containers map[string]*container // by ID
	seq        int
	nextPort   uint16
}

// container is one fake container; fields are guarded by Runtime.mu.
type container struct {
	spec  runtime.ContainerSpec
	state runtime.ContainerState
	run   *run // the current or last run; nil before the first start
}

// run is one start-to-exit span; code is written before done is closed, so
// waiters read it without the lock and never see a later run's code.
type run struct {
	done chan struct{}
	code int
}

// New returns a Runtime with images already present.
func New(images ...string) *Runtime { return &Runtime{Images: images} }

func (r *Runtime) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// PullImage makes image present, unless PullFunc says otherwise.
func (r *Runtime) PullImage(ctx context.Context, image string) error {
	if r.PullFunc != nil {
		return r.PullFunc(ctx, image)
	}
	return defaults{r}.PullImage(ctx, image)
}

// ImagePresent reports whether image was preloaded or pulled.
func (r *Runtime) ImagePresent(ctx context.Context, image string) (bool, error) {
	if r.ImagePresentFunc != nil {
		return r.ImagePresentFunc(ctx, image)
	}
	return defaults{r}.ImagePresent(ctx, image)
}

// CreateContainer records a created container. Like Docker it fails with
// runtime.ErrNotFound when the image is absent, and on a duplicate name.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if r.CreateFunc != nil {
		return r.CreateFunc(ctx, spec)
	}
	return defaults{r}.CreateContainer(ctx, spec)
}

// StartContainer marks the container running, assigns dynamic host ports
// and, when it has a health check, sets its health to "starting".
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if r.StartFunc != nil {
		return r.StartFunc(ctx, id)
	}
	return defaults{r}.StartContainer(ctx, id)
}

// StopContainer makes a running container exit with KillExitCode at once.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	if r.StopFunc != nil {
		return r.StopFunc(ctx, id, timeout)
	}
	return defaults{r}.StopContainer(ctx, id, timeout)
}

// RemoveContainer forgets the container, ending any waits on it.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if r.RemoveFunc != nil {
		return r.RemoveFunc(ctx, id)
	}
	return defaults{r}.RemoveContainer(ctx, id)
}

// InspectContainer returns a copy of the container's state.
func (r *Runtime) InspectContainer(ctx context.Context, id string) (runtime.ContainerState, error) {
	if r.InspectFunc != nil {
		return r.InspectFunc(ctx, id)
	}
	return defaults{r}.InspectContainer(ctx, id)
}

// ListContainers returns every container carrying all labels, oldest first.
func (r *Runtime) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.ContainerState, error) {
	if r.ListFunc != nil {
		return r.ListFunc(ctx, labels)
	}
	return defaults{r}.ListContainers(ctx, labels)
}

// WaitContainer blocks until the container stops running (Exit, Stop or
// Remove) or ctx ends. A container that is not running returns at once.
func (r *Runtime) WaitContainer(ctx context.Context, id string) (int, error) {
	if r.WaitFunc != nil {
		return r.WaitFunc(ctx, id)
	}
	return defaults{r}.WaitContainer(ctx, id)
}

// Default returns r's default behaviour, ignoring the override fields, for
// overrides that want to fall through.
func (r *Runtime) Default() runtime.Runtime { return defaults{r} }

// Exit makes a running container exit with code, as if its process ended.
func (r *Runtime) Exit(id string, code int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return err
	}
	if !c.state.Running {
		return fmt.Errorf("fake: exit container %s: not running (status %s)", id, c.state.Status)
	}
	r.exitLocked(c, code)
	return nil
}

// SetHealth sets the container's health status ("starting", "healthy",
// "unhealthy" or "").
func (r *Runtime) SetHealth(id, status string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return err
	}
	c.state.Health = status
	return nil
}

// Spec returns the spec a container was created with, so engine tests can
// check what they asked for without reaching into the fake.
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
	for _, c := range r.containers {
		if c.spec.Name != "" && c.spec.Name == idOrName {
			return c, nil
		}
	}
	return nil, fmt.Errorf("fake: no such container %s: %w", idOrName, runtime.ErrNotFound)
}

// exitLocked moves a running container to exited. Callers hold r.mu.
func (r *Runtime) exitLocked(c *container, code int) {
	c.state.Running = false
	c.state.Status = "exited"
	c.state.ExitCode = code
	c.state.FinishedAt = r.now()
	c.run.code = code
	close(c.run.done)
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
	if s.HealthCheck != nil {
		hc := *s.HealthCheck
		hc.Test = slices.Clone(hc.Test)
		s.HealthCheck = &hc
	}
	return s
}
