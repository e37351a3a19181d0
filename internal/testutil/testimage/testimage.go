// Package testimage owns the container images that tests and benchmarks run,
// built locally because the test machines have no registry access:
// berth-test/busybox (a busybox rootfs imported from the host's static
// busybox) and berth-test/app (a scratch image holding the Go program in
// ./app). Builds are idempotent across processes: an image carries a label
// with the hash of its content and is reused while that hash matches.
package testimage

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

const (
	// BusyboxRef is the tag of the busybox image; its default command is sh.
	BusyboxRef = "berth-test/busybox:latest"
	// AppRef is the tag of the test app image; its entrypoint is /app.
	AppRef = "berth-test/app:latest"
	// ContentLabel carries the hash of what an image was built from.
	ContentLabel = "dev.berth.test.content"

	// DockerHint tells a person what to do when the engine is unreachable.
	DockerHint = "start dockerd, or run the README test command which installs it"

	// buildTimeout bounds one TB helper's build, including go build.
	buildTimeout = 5 * time.Minute
)

// ImageAPI is the part of the Docker client the builders use.
type ImageAPI interface {
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageImport(ctx context.Context, src image.ImportSource, ref string, opts image.ImportOptions) (io.ReadCloser, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error)
}

var _ ImageAPI = (*client.Client)(nil)

// NewClient connects to the engine named by the environment with API version
// negotiation and pings it; the error says how to get an engine running.
func NewClient(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w (%s)", err, DockerHint)
	}
	if _, err := cli.Ping(ctx); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("docker engine at %s is not reachable: %w (%s)", cli.DaemonHost(), err, DockerHint)
	}
	return cli, nil
}

// BuildBusybox ensures BusyboxRef exists using a client from the environment.
func BuildBusybox(ctx context.Context) (string, error) {
	return busyboxMemo.get(ctx, EnsureBusybox)
}

// BuildApp ensures AppRef exists using a client from the environment.
func BuildApp(ctx context.Context) (string, error) {
	return appMemo.get(ctx, EnsureApp)
}

// Busybox returns BusyboxRef, building it once per process if needed. It
// fails t when Docker is unreachable: tests that need images must not skip.
func Busybox(t testing.TB) string {
	t.Helper()
	return mustBuild(t, "busybox", BuildBusybox)
}

// App returns AppRef, building it once per process if needed.
func App(t testing.TB) string {
	t.Helper()
	return mustBuild(t, "app", BuildApp)
}

func mustBuild(t testing.TB, name string, build func(context.Context) (string, error)) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	ref, err := build(ctx)
	if err != nil {
		t.Fatalf("test image %s: %v", name, err)
	}
	return ref
}

var busyboxMemo, appMemo memo

// memo remembers a successful build for the life of the process; failures
// are not remembered so a later caller may retry.
type memo struct {
	mu  sync.Mutex
	ref string
}

func (m *memo) get(ctx context.Context, ensure func(context.Context, ImageAPI) (string, error)) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ref != "" {
		return m.ref, nil
	}
	cli, err := NewClient(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	ref, err := ensure(ctx, cli)
	if err != nil {
		return "", err
	}
	m.ref = ref
	return ref, nil
}

// upToDate reports whether ref exists and was built from content hash.
func upToDate(ctx context.Context, cli ImageAPI, ref, hash string) (bool, error) {
	img, err := cli.ImageInspect(ctx, ref)
	if client.IsErrNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img.Config != nil && img.Config.Labels[ContentLabel] == hash, nil
}
