// Package docker owns the Docker Engine implementation of runtime.Runtime:
// it maps container specs onto the Engine API, maps inspect results back, and
// turns the daemon's errors into the runtime's (runtime.ErrNotFound).
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"

	"github.com/berth-dev/berth/internal/agent/runtime"

	"github.com/berth-dev/berth/internal/dockerprogress"
)

var _ runtime.Runtime = (*Runtime)(nil)

// Runtime runs containers on a Docker engine. It is safe for concurrent use.
type Runtime struct {
	cli  *client.Client
	log  *slog.Logger
	auth RegistryAuth
}

// RegistryAuth finds the credentials an image is pulled with
// (*ecrauth.Provider is the agent's).
type RegistryAuth interface {
	// RegistryAuth returns the credentials for image's registry, or nil to
	// pull it anonymously; an error fails the pull.
	RegistryAuth(ctx context.Context, image string) (*registry.AuthConfig, error)
}

// Options configures a Runtime; the zero value pulls every image
// anonymously.
type Options struct {
	RegistryAuth RegistryAuth
}

// New connects to the engine named by the environment (DOCKER_HOST etc.,
// default /var/run/docker.sock), negotiates the API version and pings it, so
// a Runtime that is returned is known to be reachable.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if _, err := cli.Ping(ctx); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("ping docker engine at %s: %w", cli.DaemonHost(), err)
	}
	return NewWithClient(cli, opts), nil
}

// NewWithClient wraps an existing client; the caller keeps ownership of its
// configuration (version negotiation should be enabled). Close closes it.
func NewWithClient(cli *client.Client, opts Options) *Runtime {
	return &Runtime{cli: cli, log: slog.Default().With("runtime", "docker"), auth: opts.RegistryAuth}
}

// Close releases the client's connections.
func (r *Runtime) Close() error { return r.cli.Close() }

// Version returns the engine's version, e.g. "20.10.24+dfsg1", for the
// container instance's versionInfo.dockerVersion.
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.cli.ServerVersion(ctx)
	if err != nil {
		return "", wrap("docker version", err)
	}
	return v.Version, nil
}

// wrap adds op to err and marks the daemon's not-found answers with
// runtime.ErrNotFound so callers need not know about Docker's error types.
func wrap(op string, err error) error {
	if client.IsErrNotFound(err) {
		return fmt.Errorf("%s: %w: %w", op, runtime.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// PullImage pulls image, with the credentials RegistryAuth gives it if any,
// and reads the progress stream to the end: the daemon reports most pull
// failures inside the stream, not as an HTTP error.
func (r *Runtime) PullImage(ctx context.Context, ref string) error {
	var opts image.PullOptions
	if r.auth != nil {
		ac, err := r.auth.RegistryAuth(ctx, ref)
		if err != nil {
			return fmt.Errorf("pull image %s: %w", ref, err)
		}
		if ac != nil {
			enc, err := registry.EncodeAuthConfig(*ac)
			if err != nil {
				return fmt.Errorf("pull image %s: encode registry auth: %w", ref, err)
			}
			opts.RegistryAuth = enc
		}
	}
	rc, err := r.cli.ImagePull(ctx, ref, opts)
	if err != nil {
		return wrap("pull image "+ref, err)
	}
	defer rc.Close()
	if err := dockerprogress.Drain(rc); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("pull image %s: %w", ref, ctx.Err())
		}
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	return nil
}

// ImagePresent reports whether ref is in the engine's image store.
func (r *Runtime) ImagePresent(ctx context.Context, ref string) (bool, error) {
	if _, err := r.cli.ImageInspect(ctx, ref); err != nil {
		if client.IsErrNotFound(err) {
			return false, nil
		}
		return false, wrap("inspect image "+ref, err)
	}
	return true, nil
}

// CreateContainer creates (but does not start) a container. A missing image
// yields an error wrapping runtime.ErrNotFound, so callers can pull and retry.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	cc, err := toCreateConfig(spec)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	resp, err := r.cli.ContainerCreate(ctx, cc.Config, cc.HostConfig, nil, nil, spec.Name)
	if err != nil {
		return "", wrap(fmt.Sprintf("create container %s (image %s)", spec.Name, spec.Image), err)
	}
	for _, w := range resp.Warnings {
		r.log.Warn("container create warning", "container", spec.Name, "id", resp.ID, "warning", w)
	}
	return resp.ID, nil
}

// StartContainer starts a created container.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return wrap("start container "+id, err)
	}
	return nil
}

// StopContainer sends the container's stop signal and kills it once timeout
// (rounded up to whole seconds, Docker's unit) has passed. Stopping a
// container that is not running is not an error. ctx must outlive timeout.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	secs := max(0, int(math.Ceil(timeout.Seconds())))
	if err := r.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		return wrap("stop container "+id, err)
	}
	return nil
}

// RemoveContainer force-removes the container and its anonymous volumes.
// A container that is already gone, or already being removed, is not an error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	err := r.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil, client.IsErrNotFound(err):
		return nil
	case strings.Contains(err.Error(), "already in progress"):
		return nil
	default:
		return wrap("remove container "+id, err)
	}
}

// InspectContainer reports the container's current state.
func (r *Runtime) InspectContainer(ctx context.Context, id string) (runtime.ContainerState, error) {
	resp, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return runtime.ContainerState{}, wrap("inspect container "+id, err)
	}
	return toState(resp), nil
}

// ListContainers lists every container (running or not) carrying all of
// labels, then inspects each one: the list endpoint lacks exit codes and
// timestamps, which the task engine needs when it reconciles after a restart.
// Containers removed between the two calls are left out.
func (r *Runtime) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.ContainerState, error) {
	args := filters.NewArgs()
	for k, v := range labels {
		if v == "" {
			args.Add("label", k)
		} else {
			args.Add("label", k+"="+v)
		}
	}
	summaries, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, wrap("list containers", err)
	}
	out := make([]runtime.ContainerState, 0, len(summaries))
	for _, s := range summaries {
		st, err := r.InspectContainer(ctx, s.ID)
		if errors.Is(err, runtime.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		out = append(out, st)
	}
	return out, nil
}

// WaitContainer blocks until the container is not running and returns its
// exit code. Like Docker's "not-running" condition, a container that was
// created but never started returns at once.
func (r *Runtime) WaitContainer(ctx context.Context, id string) (int, error) {
	resC, errC := r.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case res := <-resC:
		if res.Error != nil && res.Error.Message != "" {
			return int(res.StatusCode), fmt.Errorf("wait container %s: %s", id, res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-errC:
		if ctx.Err() != nil {
			return 0, fmt.Errorf("wait container %s: %w", id, ctx.Err())
		}
		return 0, wrap("wait container "+id, err)
	case <-ctx.Done():
		return 0, fmt.Errorf("wait container %s: %w", id, ctx.Err())
	}
}
