package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

// Run runs the conformance suite against the runtime h describes. Subtests
// run in parallel; each creates its own uniquely named containers.
func Run(t *testing.T, h Harness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*fixture)
	}{
		{"CreateStartInspect", testCreateStartInspect},
		{"DynamicPortPublished", testDynamicPort},
		{"HostNetworkPublishesNothing", testHostNetworkPorts},
		{"ListContainersByLabel", testList},
		{"WaitReturnsExitCode", testWaitExitCode},
		{"WaitBlocksWhileRunning", testWaitBlocks},
		{"StopWithTimeout", testStop},
		{"StopNotRunningIsNoop", testStopNotRunning},
		{"Remove", testRemove},
		{"MissingContainer", testMissing},
		{"Images", testImages},
		{"DuplicateName", testDuplicateName},
		{"HealthCheck", testHealth},
		{"SpecAppliedInside", testSpecApplied},
		{"Links", testLinks},
		{"Stats", testStats},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(newFixture(t, h))
		})
	}
}

func testCreateStartInspect(f *fixture) {
	spec := f.spec("csi", f.h.LongRunning)
	spec.Labels["extra"] = "x"
	id := f.create(spec)

	st := f.inspect(id)
	if st.ID != id || st.Name != spec.Name || st.Image != spec.Image {
		f.t.Errorf("created: ID/Name/Image = %q/%q/%q, want %q/%q/%q", st.ID, st.Name, st.Image, id, spec.Name, spec.Image)
	}
	if st.Status != "created" || st.Running {
		f.t.Errorf("created: Status=%q Running=%v, want created/false", st.Status, st.Running)
	}
	if st.CreatedAt.IsZero() || !st.StartedAt.IsZero() {
		f.t.Errorf("created: CreatedAt=%v StartedAt=%v, want set/zero", st.CreatedAt, st.StartedAt)
	}
	if st.ImageID == "" {
		f.t.Errorf("created: empty ImageID")
	}
	if st.Labels[suiteLabel] != f.run || st.Labels["extra"] != "x" {
		f.t.Errorf("created: Labels = %v, want %s=%s and extra=x", st.Labels, suiteLabel, f.run)
	}

	if err := f.rt.StartContainer(f.h.ctx(f.t), id); err != nil {
		f.t.Fatalf("StartContainer: %v", err)
	}
	st = f.inspect(id)
	if st.Status != "running" || !st.Running || st.StartedAt.IsZero() || !st.FinishedAt.IsZero() {
		f.t.Errorf("started: Status=%q Running=%v StartedAt=%v FinishedAt=%v", st.Status, st.Running, st.StartedAt, st.FinishedAt)
	}
	if byName := f.inspect(spec.Name); byName.ID != id {
		f.t.Errorf("inspect by name: ID = %q, want %q", byName.ID, id)
	}
}

// findPort returns the first binding for port/proto with a real host port.
func findPort(ports []runtime.PortBinding, port uint16, proto string) (runtime.PortBinding, bool) {
	i := slices.IndexFunc(ports, func(b runtime.PortBinding) bool {
		return b.ContainerPort == port && b.Protocol == proto && b.HostPort != 0
	})
	if i < 0 {
		return runtime.PortBinding{}, false
	}
	return ports[i], true
}

func testDynamicPort(f *fixture) {
	spec := f.spec("port", f.h.LongRunning)
	spec.PortMappings = []runtime.PortMapping{
		{ContainerPort: 8080},
		{ContainerPort: 5353, Protocol: "udp"},
	}
	id := f.start(spec)
	st := f.inspect(id)
	for _, want := range []struct {
		port  uint16
		proto string
	}{{8080, "tcp"}, {5353, "udp"}} {
		if _, ok := findPort(st.Ports, want.port, want.proto); !ok {
			f.t.Errorf("no dynamic host port for %d/%s in %+v", want.port, want.proto, st.Ports)
		}
	}
}

func testHostNetworkPorts(f *fixture) {
	for _, mode := range []string{"host", "none"} {
		spec := f.spec("net-"+mode, f.h.LongRunning)
		spec.NetworkMode = mode
		spec.PortMappings = []runtime.PortMapping{{ContainerPort: 8080}}
		id := f.start(spec)
		if st := f.inspect(id); !st.Running || len(st.Ports) != 0 {
			f.t.Errorf("network %s: Running=%v Ports=%+v, want running with no published ports", mode, st.Running, st.Ports)
		}
	}
}

func testList(f *fixture) {
	specA := f.spec("list-a", f.h.LongRunning)
	specA.Labels["role"] = "a"
	specB := f.spec("list-b", f.h.LongRunning)
	specB.Labels["role"] = "b"
	idA := f.start(specA)
	idB := f.create(specB) // never started: List must include stopped containers

	tests := []struct {
		name   string
		labels map[string]string
		want   []string
	}{
		{"suite label", map[string]string{suiteLabel: f.run}, []string{idA, idB}},
		{"exact value", map[string]string{suiteLabel: f.run, "role": "a"}, []string{idA}},
		{"any value", map[string]string{suiteLabel: f.run, "role": ""}, []string{idA, idB}},
		{"wrong value", map[string]string{suiteLabel: f.run, "role": "c"}, nil},
		{"missing key", map[string]string{suiteLabel: f.run, "absent": ""}, nil},
	}
	for _, tt := range tests {
		got, err := f.rt.ListContainers(f.h.ctx(f.t), tt.labels)
		if err != nil {
			f.t.Fatalf("%s: ListContainers: %v", tt.name, err)
		}
		var ids []string
		for _, st := range got {
			ids = append(ids, st.ID)
			if st.ID == idA && (!st.Running || st.Labels["role"] != "a") {
				f.t.Errorf("%s: listed %s as Running=%v Labels=%v", tt.name, st.Name, st.Running, st.Labels)
			}
		}
		slices.Sort(ids)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			f.t.Errorf("%s: ListContainers(%v) = %v, want %v", tt.name, tt.labels, ids, want)
		}
	}
}

func testWaitExitCode(f *fixture) {
	for _, code := range []int{0, 3, 42} {
		id, got := f.exitWith(f.spec(fmt.Sprintf("exit%d", code), f.h.ExitWith(code)), code)
		if got != code {
			f.t.Errorf("WaitContainer = %d, want %d", got, code)
		}
		st := f.inspect(id)
		if st.Running || st.Status != "exited" || st.ExitCode != code {
			f.t.Errorf("after exit %d: Status=%q Running=%v ExitCode=%d", code, st.Status, st.Running, st.ExitCode)
		}
		// Only presence: Docker may stamp StartedAt after a fast process has
		// already finished, so the two are not ordered.
		if st.StartedAt.IsZero() || st.FinishedAt.IsZero() {
			f.t.Errorf("after exit %d: StartedAt=%v FinishedAt=%v", code, st.StartedAt, st.FinishedAt)
		}
		// Waiting again on an exited container returns the same code at once.
		if again, err := f.rt.WaitContainer(f.h.ctx(f.t), id); err != nil || again != code {
			f.t.Errorf("second WaitContainer = %d, %v; want %d", again, err, code)
		}
	}
}

func testWaitBlocks(f *fixture) {
	id := f.start(f.spec("waitblk", f.h.LongRunning))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	code, err := f.rt.WaitContainer(ctx, id)
	if !errors.Is(err, context.DeadlineExceeded) {
		f.t.Fatalf("WaitContainer on a running container = %d, %v; want context.DeadlineExceeded", code, err)
	}
}

func testStop(f *fixture) {
	id := f.start(f.spec("stop", f.h.LongRunning))
	type result struct {
		code int
		err  error
	}
	waited := make(chan result, 1)
	go func() {
		code, err := f.rt.WaitContainer(f.h.ctx(f.t), id)
		waited <- result{code, err}
	}()

	const timeout = time.Second
	begin := time.Now()
	if err := f.rt.StopContainer(f.h.ctx(f.t), id, timeout); err != nil {
		f.t.Fatalf("StopContainer: %v", err)
	}
	// The long-running command may ignore the stop signal; the kill after
	// timeout must still end it well before the harness timeout.
	if elapsed := time.Since(begin); elapsed > timeout+15*time.Second {
		f.t.Errorf("StopContainer took %s with timeout %s", elapsed, timeout)
	}
	if st := f.inspect(id); st.Running || st.Status != "exited" {
		f.t.Errorf("after stop: Status=%q Running=%v", st.Status, st.Running)
	}
	select {
	case r := <-waited:
		if r.err != nil {
			f.t.Errorf("WaitContainer during stop: %v", r.err)
		}
	case <-f.h.ctx(f.t).Done():
		f.t.Fatalf("WaitContainer did not return after stop")
	}
}

func testStopNotRunning(f *fixture) {
	created := f.create(f.spec("stop-created", f.h.LongRunning))
	exited, _ := f.exitWith(f.spec("stop-exited", f.h.ExitWith(0)), 0)
	for _, id := range []string{created, exited} {
		if err := f.rt.StopContainer(f.h.ctx(f.t), id, time.Second); err != nil {
			f.t.Errorf("StopContainer on a container that is not running: %v", err)
		}
	}
}

func testRemove(f *fixture) {
	id := f.start(f.spec("rm", f.h.LongRunning))
	if err := f.rt.RemoveContainer(f.h.ctx(f.t), id); err != nil {
		f.t.Fatalf("RemoveContainer on a running container: %v", err)
	}
	if _, err := f.rt.InspectContainer(f.h.ctx(f.t), id); !errors.Is(err, runtime.ErrNotFound) {
		f.t.Errorf("InspectContainer after remove: err = %v, want ErrNotFound", err)
	}
	if err := f.rt.RemoveContainer(f.h.ctx(f.t), id); err != nil {
		f.t.Errorf("second RemoveContainer: %v, want nil", err)
	}
	if err := f.rt.RemoveContainer(f.h.ctx(f.t), "berth-rt-never-"+f.run); err != nil {
		f.t.Errorf("RemoveContainer on a missing container: %v, want nil", err)
	}
}

func testMissing(f *fixture) {
	missing := "berth-rt-missing-" + f.run
	ops := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Inspect", func(ctx context.Context) error { _, err := f.rt.InspectContainer(ctx, missing); return err }},
		{"Start", func(ctx context.Context) error { return f.rt.StartContainer(ctx, missing) }},
		{"Stop", func(ctx context.Context) error { return f.rt.StopContainer(ctx, missing, time.Second) }},
		{"Wait", func(ctx context.Context) error { _, err := f.rt.WaitContainer(ctx, missing); return err }},
	}
	for _, op := range ops {
		if err := op.call(f.h.ctx(f.t)); !errors.Is(err, runtime.ErrNotFound) {
			f.t.Errorf("%s on a missing container: err = %v, want ErrNotFound", op.name, err)
		}
	}
}

func testImages(f *fixture) {
	tests := []struct {
		image string
		want  bool
	}{{f.h.Image, true}, {f.h.AbsentImage, false}}
	for _, tt := range tests {
		got, err := f.rt.ImagePresent(f.h.ctx(f.t), tt.image)
		if err != nil || got != tt.want {
			f.t.Errorf("ImagePresent(%s) = %v, %v; want %v, nil", tt.image, got, err, tt.want)
		}
	}
	spec := f.spec("noimage", f.h.LongRunning)
	spec.Image = f.h.AbsentImage
	if id, err := f.rt.CreateContainer(f.h.ctx(f.t), spec); !errors.Is(err, runtime.ErrNotFound) {
		if err == nil {
			_ = f.rt.RemoveContainer(f.h.ctx(f.t), id)
		}
		f.t.Errorf("CreateContainer with an absent image: err = %v, want ErrNotFound", err)
	}
}

func testDuplicateName(f *fixture) {
	spec := f.spec("dup", f.h.LongRunning)
	f.create(spec)
	if id, err := f.rt.CreateContainer(f.h.ctx(f.t), spec); err == nil {
		_ = f.rt.RemoveContainer(f.h.ctx(f.t), id)
		f.t.Errorf("second CreateContainer with name %s succeeded", spec.Name)
	}
}

func testHealth(f *fixture) {
	plain := f.start(f.spec("nohealth", f.h.LongRunning))
	if st := f.inspect(plain); st.Health != "" {
		f.t.Errorf("no health check: Health = %q, want empty", st.Health)
	}

	spec := f.spec("health", f.h.LongRunning)
	hc := f.h.HealthyCheck
	spec.HealthCheck = &hc
	id := f.start(spec)
	if st := f.inspect(id); st.Health != "starting" && st.Health != "healthy" {
		f.t.Errorf("just started: Health = %q, want starting (or already healthy)", st.Health)
	}
	if f.h.MarkHealthy != nil {
		f.h.MarkHealthy(f.t, f.rt, id)
	}
	f.eventually("healthy", func() (bool, string) {
		st := f.inspect(id)
		return st.Health == "healthy", "Health=" + st.Health
	})
}

func testSpecApplied(f *fixture) {
	if f.h.Shell == nil {
		f.t.Skip("harness cannot run commands inside containers")
	}
	// Each check exits with its own code so a failure says which one.
	script := `[ "$BERTH_A" = one ] || exit 10
[ "$BERTH_B" = "two=2" ] || exit 11
[ "$(pwd)" = /tmp ] || exit 12
[ "$(id -u)" = 65534 ] || exit 13
[ "$(hostname)" = berth-host ] || exit 14
exit 0`
	spec := f.spec("applied", f.h.Shell(script))
	spec.Env = []string{"BERTH_A=one", "BERTH_B=two=2"}
	spec.WorkingDir = "/tmp"
	spec.User = "65534"
	spec.Hostname = "berth-host"
	if _, code := f.exitWith(spec, 0); code != 0 {
		f.t.Errorf("in-container check failed with code %d (10 env, 11 env with '=', 12 workdir, 13 user, 14 hostname)", code)
	}
}

func testStats(f *fixture) {
	id := f.start(f.spec("stats", f.h.LongRunning))
	read := func(what string) runtime.ContainerStats {
		f.t.Helper()
		s, err := f.rt.Stats(f.h.ctx(f.t), id)
		if err != nil {
			f.t.Fatalf("Stats (%s reading): %v", what, err)
		}
		if s.At.IsZero() || s.MemoryBytes == 0 {
			f.t.Errorf("Stats (%s reading) = %+v, want a read time and memory in use", what, s)
		}
		return s
	}
	first := read("first")
	second := read("second")
	if second.CPUTime < first.CPUTime || second.At.Before(first.At) {
		f.t.Errorf("second reading %+v went back from the first %+v", second, first)
	}

	created := f.create(f.spec("stats-created", f.h.LongRunning))
	exited, _ := f.exitWith(f.spec("stats-exited", f.h.ExitWith(0)), 0)
	for what, id := range map[string]string{"created": created, "exited": exited} {
		if s, err := f.rt.Stats(f.h.ctx(f.t), id); !errors.Is(err, runtime.ErrNotRunning) {
			f.t.Errorf("Stats of a %s container = %+v, %v; want ErrNotRunning", what, s, err)
		}
	}
	if _, err := f.rt.Stats(f.h.ctx(f.t), "berth-rt-missing-"+f.run); !errors.Is(err, runtime.ErrNotFound) {
		f.t.Errorf("Stats of a missing container: err = %v, want ErrNotFound", err)
	}
}
