package docker_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/agent/runtime/docker"
	"github.com/berth-dev/berth/internal/agent/runtime/runtimetest"
	"github.com/berth-dev/berth/internal/testutil/testimage"
)

// newRuntime connects to the engine and fails, never skips, when it is
// absent: a silently skipped Docker suite looks like a passing one.
func newRuntime(t *testing.T) *docker.Runtime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt, err := docker.New(ctx, docker.Options{})
	if err != nil {
		t.Fatalf("docker engine unavailable: %v\nfix: %s", err, testimage.DockerHint)
	}
	t.Cleanup(func() { _ = rt.Close() })
	return rt
}

func TestConformance(t *testing.T) {
	newRuntime(t) // fail fast, with the hint, before building images
	runtimetest.Run(t, runtimetest.Harness{
		New:         func(t *testing.T) runtime.Runtime { return newRuntime(t) },
		Image:       testimage.Busybox(t),
		AbsentImage: "berth-test/absent:never",
		LongRunning: []string{"sleep", "3600"},
		ExitWith:    func(code int) []string { return []string{"sh", "-c", "exit " + strconv.Itoa(code)} },
		HealthyCheck: runtime.HealthCheck{
			Test: []string{"CMD-SHELL", "true"}, Interval: time.Second, Timeout: 5 * time.Second, Retries: 3,
		},
		Shell: func(script string) []string { return []string{"sh", "-c", script} },
	})
}

// rawClient gives tests the engine's own view, to check what the mapping
// sent beyond what ContainerState reports.
func rawClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func createStarted(t *testing.T, rt *docker.Runtime, spec runtime.ContainerSpec) string {
	t.Helper()
	id, err := rt.CreateContainer(ctxFor(t), spec)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = rt.RemoveContainer(ctx, id)
	})
	if err := rt.StartContainer(ctxFor(t), id); err != nil {
		t.Fatalf("start: %v", err)
	}
	return id
}

func uniqueName() string {
	return fmt.Sprintf("berth-docker-test-%d", time.Now().UnixNano())
}

// TestHostConfigApplied checks the settings ContainerState cannot show.
func TestHostConfigApplied(t *testing.T) {
	t.Parallel()
	rt, cli := newRuntime(t), rawClient(t)
	spec := runtime.ContainerSpec{
		Name: uniqueName(), Image: testimage.Busybox(t), Cmd: []string{"sleep", "3600"},
		CPUShares: 256, MemoryBytes: 64 << 20, MemoryReservationBytes: 32 << 20,
		Ulimits:        []runtime.Ulimit{{Name: "nofile", Soft: 1000, Hard: 2000}},
		ReadonlyRootfs: true, Init: true, StopSignal: "SIGUSR1",
		ExtraHosts: []string{"db:10.1.2.3"}, DNSServers: []string{"10.0.0.53"}, DNSSearch: []string{"corp.example"},
		Entrypoint: []string{"/bin/sh", "-c", "exec \"$@\"", "--"},
	}
	id := createStarted(t, rt, spec)
	got, err := cli.ContainerInspect(ctxFor(t), id)
	if err != nil {
		t.Fatal(err)
	}
	h := got.HostConfig
	checks := []struct {
		name      string
		got, want any
	}{
		{"CPUShares", h.CPUShares, int64(256)},
		{"Memory", h.Memory, int64(64 << 20)},
		{"MemoryReservation", h.MemoryReservation, int64(32 << 20)},
		{"Ulimit nofile", fmt.Sprint(h.Ulimits[0]), "nofile=1000:2000"},
		{"ReadonlyRootfs", h.ReadonlyRootfs, true},
		{"Init", h.Init != nil && *h.Init, true},
		{"ExtraHosts", h.ExtraHosts, []string{"db:10.1.2.3"}},
		{"DNS", h.DNS, []string{"10.0.0.53"}},
		{"DNSSearch", h.DNSSearch, []string{"corp.example"}},
		{"StopSignal", got.Config.StopSignal, "SIGUSR1"},
		{"Entrypoint", []string(got.Config.Entrypoint), spec.Entrypoint},
		{"Privileged", h.Privileged, false},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestDynamicPortReachable serves HTTP with busybox httpd on a dynamic port
// and fetches it through the host port Inspect reports.
func TestDynamicPortReachable(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	id := createStarted(t, rt, runtime.ContainerSpec{
		Name: uniqueName(), Image: testimage.Busybox(t),
		Cmd:          []string{"sh", "-c", "mkdir -p /tmp/www && echo berth > /tmp/www/index.html && exec httpd -f -p 8000 -h /tmp/www"},
		PortMappings: []runtime.PortMapping{{ContainerPort: 8000, HostIP: "127.0.0.1"}},
	})
	st, err := rt.InspectContainer(ctxFor(t), id)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(st.Ports, func(b runtime.PortBinding) bool { return b.ContainerPort == 8000 })
	if i < 0 || st.Ports[i].HostPort == 0 || st.Ports[i].HostIP != "127.0.0.1" {
		t.Fatalf("ports = %+v, want 8000/tcp on 127.0.0.1 with a host port", st.Ports)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", st.Ports[i].HostPort)
	ctx := ctxFor(t)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		body, err := get(ctx, url)
		if err == nil && body == "berth\n" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s: body %q, err %v", url, body, err)
		case <-tick.C:
		}
	}
}

func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestPullUnreachableRegistryFails(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.PullImage(ctx, "127.0.0.1:1/berth/none:latest"); err == nil {
		t.Fatal("PullImage from an unreachable registry succeeded")
	}
}

func TestUnhealthy(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	id := createStarted(t, rt, runtime.ContainerSpec{
		Name: uniqueName(), Image: testimage.Busybox(t), Cmd: []string{"sleep", "3600"},
		HealthCheck: &runtime.HealthCheck{Test: []string{"CMD-SHELL", "false"}, Interval: time.Second, Timeout: 5 * time.Second, Retries: 1},
	})
	ctx := ctxFor(t)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := rt.InspectContainer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Health == "unhealthy" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("health = %q, want unhealthy", st.Health)
		case <-tick.C:
		}
	}
}

// TestStatsMeasureBusyContainer: a container spinning on one core shows CPU
// time growing, never faster than the wall clock between two readings (a
// unit error would), and faster than an idle container's over the same
// span. How fast it grows depends on the host's load, so no lower bound on
// the rate is asserted: the test waits for 200ms of CPU time instead.
func TestStatsMeasureBusyContainer(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	busy := createStarted(t, rt, runtime.ContainerSpec{
		Name: uniqueName(), Image: testimage.Busybox(t), Cmd: []string{"sh", "-c", "while :; do :; done"},
	})
	idle := createStarted(t, rt, runtime.ContainerSpec{
		Name: uniqueName(), Image: testimage.Busybox(t), Cmd: []string{"sleep", "3600"},
	})
	stats := func(id string) runtime.ContainerStats {
		t.Helper()
		st, err := rt.Stats(ctxFor(t), id)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first, idleFirst := stats(busy), stats(idle)
	last := first
	deadline := time.Now().Add(time.Minute)
	for last.CPUTime-first.CPUTime < 200*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("the busy loop's CPU time grew only %v in a minute: %+v then %+v", last.CPUTime-first.CPUTime, first, last)
		}
		time.Sleep(50 * time.Millisecond) // polling pace
		last = stats(busy)
	}
	idleLast := stats(idle)
	cores := float64(last.CPUTime-first.CPUTime) / float64(last.At.Sub(first.At))
	if cores > 1.5 {
		t.Errorf("busy loop used %.2f cores between %+v and %+v: more than its one thread can", cores, first, last)
	}
	if busyGrew, idleGrew := last.CPUTime-first.CPUTime, idleLast.CPUTime-idleFirst.CPUTime; idleGrew >= busyGrew {
		t.Errorf("idle container's CPU time grew %v, the busy one's %v over the same span", idleGrew, busyGrew)
	}
}
