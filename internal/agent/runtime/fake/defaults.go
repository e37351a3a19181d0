package fake

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

// defaults is the fake's built-in behaviour, reachable without the overrides.
type defaults struct{ r *Runtime }

var _ runtime.Runtime = defaults{}

func (d defaults) PullImage(ctx context.Context, image string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: pull image %s: %w", image, err)
	}
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	if d.r.pulled == nil {
		d.r.pulled = map[string]bool{}
	}
	d.r.pulled[image] = true
	return nil
}

func (d defaults) ImagePresent(ctx context.Context, image string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("fake: inspect image %s: %w", image, err)
	}
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	return d.r.imagePresentLocked(image), nil
}

func (r *Runtime) imagePresentLocked(image string) bool {
	return r.pulled[image] || slices.Contains(r.Images, image)
}

func (d defaults) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("fake: create container %s: %w", spec.Name, err)
	}
	switch spec.NetworkMode {
	case "", "bridge", "host", "none":
	default:
		return "", fmt.Errorf("fake: create container %s: unsupported network mode %q", spec.Name, spec.NetworkMode)
	}
	r := d.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.imagePresentLocked(spec.Image) {
		return "", fmt.Errorf("fake: create container %s: no such image %s: %w", spec.Name, spec.Image, runtime.ErrNotFound)
	}
	if spec.Name != "" {
		if _, err := r.lookup(spec.Name); err == nil {
			return "", fmt.Errorf("fake: create container: name %q is already in use", spec.Name)
		}
	}
	if err := r.checkLinksLocked(spec, false); err != nil {
		return "", fmt.Errorf("fake: create container %s: %w", spec.Name, err)
	}
	if r.containers == nil {
		r.containers = map[string]*container{}
	}
	r.seq++
	id := fmt.Sprintf("%064x", r.seq)
	spec = cloneSpec(spec)
	r.containers[id] = &container{
		spec: spec,
		state: runtime.ContainerState{
			ID:        id,
			Name:      spec.Name,
			Image:     spec.Image,
			ImageID:   fmt.Sprintf("sha256:%064x", len(spec.Image)),
			Labels:    spec.Labels,
			Status:    "created",
			CreatedAt: r.now(),
		},
	}
	return id, nil
}

func (d defaults) StartContainer(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: start container %s: %w", id, err)
	}
	r := d.r
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return fmt.Errorf("fake: start container: %w", err)
	}
	if c.state.Running {
		return nil // Docker: starting a running container is a no-op
	}
	if err := r.checkLinksLocked(c.spec, true); err != nil {
		return fmt.Errorf("fake: start container %s: %w", id, err)
	}
	c.run = &run{done: make(chan struct{})}
	c.state.Running = true
	c.state.Status = "running"
	c.state.ExitCode = 0
	c.state.StartedAt = r.now()
	c.state.FinishedAt = time.Time{}
	c.state.Ports = r.bindPortsLocked(c.spec)
	if hc := c.spec.HealthCheck; hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE" {
		c.state.Health = "starting"
	}
	return nil
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

// bindPortsLocked reports published ports as Docker would: none for host or
// none networking, dynamic ports from a counter. Callers hold r.mu.
func (r *Runtime) bindPortsLocked(spec runtime.ContainerSpec) []runtime.PortBinding {
	if spec.NetworkMode == "host" || spec.NetworkMode == "none" {
		return nil
	}
	var out []runtime.PortBinding
	for _, m := range spec.PortMappings {
		host := m.HostPort
		if host == 0 {
			if r.nextPort == 0 {
				r.nextPort = cmp.Or(r.PortBase, DefaultPortBase)
			}
			host = r.nextPort
			r.nextPort++
		}
		hostIP := cmp.Or(m.HostIP, "0.0.0.0")
		out = append(out, runtime.PortBinding{
			ContainerPort: m.ContainerPort,
			HostPort:      host,
			Protocol:      cmp.Or(m.Protocol, "tcp"),
			HostIP:        hostIP,
		})
	}
	return out
}

func (d defaults) StopContainer(ctx context.Context, id string, _ time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: stop container %s: %w", id, err)
	}
	r := d.r
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return fmt.Errorf("fake: stop container: %w", err)
	}
	if c.state.Running {
		r.exitLocked(c, KillExitCode)
	}
	return nil
}

func (d defaults) RemoveContainer(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: remove container %s: %w", id, err)
	}
	r := d.r
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return nil // a missing container is not an error
	}
	if c.state.Running {
		r.exitLocked(c, KillExitCode)
	}
	delete(r.containers, c.state.ID)
	return nil
}

func (d defaults) InspectContainer(ctx context.Context, id string) (runtime.ContainerState, error) {
	if err := ctx.Err(); err != nil {
		return runtime.ContainerState{}, fmt.Errorf("fake: inspect container %s: %w", id, err)
	}
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	c, err := d.r.lookup(id)
	if err != nil {
		return runtime.ContainerState{}, fmt.Errorf("fake: inspect container: %w", err)
	}
	return cloneState(c.state), nil
}

func (d defaults) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.ContainerState, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fake: list containers: %w", err)
	}
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	var out []runtime.ContainerState
	for _, c := range d.r.containers {
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

func (d defaults) WaitContainer(ctx context.Context, id string) (int, error) {
	r := d.r
	r.mu.Lock()
	c, err := r.lookup(id)
	if err != nil {
		r.mu.Unlock()
		return 0, fmt.Errorf("fake: wait container: %w", err)
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
		return 0, fmt.Errorf("fake: wait container %s: %w", id, ctx.Err())
	}
}
