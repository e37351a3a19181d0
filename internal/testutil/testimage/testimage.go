// Package testimage owns the container images that tests and benchmarks run,
// built locally because the test machines have no registry access:
// berth-test/busybox (a busybox rootfs imported from the host's static
// busybox) and berth-test/app (the app of internal/localimage, the demo
// image's program, under the tests' own tag). Builds are idempotent across
// processes: an image carries a label with the hash of its content and is
// reused while that hash matches.
package testimage

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/berth-dev/berth/internal/localimage"
)

const (
	// BusyboxRef is the tag of the busybox image; its default command is sh.
	BusyboxRef = "berth-test/busybox:latest"
	// AppRef is the tag of the test app image; its entrypoint is /app.
	AppRef = "berth-test/app:latest"
	// ContentLabel carries the hash of what an image was built from.
	ContentLabel = "dev.berth.test.content"

	// DockerHint tells a person what to do when the engine is unreachable.
	DockerHint = localimage.DockerHint

	// buildTimeout bounds one TB helper's build, including go build.
	buildTimeout = 5 * time.Minute
)

// ImageAPI is the part of the Docker client the builders use.
type ImageAPI = localimage.ImageAPI

// NewClient connects to the engine named by the environment and pings it.
func NewClient(ctx context.Context) (*client.Client, error) { return localimage.NewClient(ctx) }

// app is the app image under the tests' tag and label.
var app = localimage.AppImage{Ref: AppRef, ContentLabel: ContentLabel}

// EnsureApp makes AppRef exist (see localimage.AppImage.Ensure).
func EnsureApp(ctx context.Context, cli ImageAPI) (string, error) { return app.Ensure(ctx, cli) }

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
