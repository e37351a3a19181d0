package sim_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/agent/runtime/sim"
)

// TestLatencyHonoursContext: every slow call returns when its context ends.
func TestLatencyHonoursContext(t *testing.T) {
	slow := sim.Fixed(time.Hour)
	f := newFixture(t, func(o *sim.Options) { o.Latency = sim.Latency{Pull: slow, Create: slow, Start: slow, Stop: slow} })
	calls := map[string]func(ctx context.Context) error{
		"pull": func(ctx context.Context) error { return f.rt.PullImage(ctx, "x") },
		"create": func(ctx context.Context) error {
			_, err := f.rt.CreateContainer(ctx, runtime.ContainerSpec{Image: image})
			return err
		},
		"start": func(ctx context.Context) error { return f.rt.StartContainer(ctx, "any") },
		"stop":  func(ctx context.Context) error { return f.rt.StopContainer(ctx, "any", time.Second) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(f.ctx)
			errc := make(chan error, 1)
			go func() { errc <- call(ctx) }()
			cancel()
			select {
			case err := <-errc:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
			case <-f.ctx.Done():
				t.Fatal("the call did not return when its context was cancelled")
			}
		})
	}
}

func TestPullLatencyAndFailures(t *testing.T) {
	f := newFixture(t, func(o *sim.Options) {
		o.Latency.Pull = sim.Range{Min: time.Second, Max: 3 * time.Second}
		o.Failures.PullImages = []string{"*/broken:*"}
	})
	errc := make(chan error, 1)
	go func() { errc <- f.rt.PullImage(f.ctx, "example.com/app:1") }()
	if err := f.clock.BlockUntilContext(f.ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(999 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("pull returned before its minimum latency: %v", err)
	default:
	}
	f.clock.Advance(2*time.Second + time.Millisecond)
	if err := <-errc; err != nil {
		t.Fatalf("pull: %v", err)
	}
	if ok, _ := f.rt.ImagePresent(f.ctx, "example.com/app:1"); !ok {
		t.Error("pulled image not present")
	}
	go func() { errc <- f.rt.PullImage(f.ctx, "example.com/broken:1") }()
	if err := f.clock.BlockUntilContext(f.ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(3 * time.Second)
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "pull access denied") {
		t.Errorf("pull of a denied image: %v", err)
	}
}

func TestFailureProbabilities(t *testing.T) {
	tests := []struct {
		name     string
		failures sim.Failures
		call     func(f *fixture) error
		wantFail int // of 200 calls
	}{
		{"never", sim.Failures{}, func(f *fixture) error { return f.rt.PullImage(f.ctx, image) }, 0},
		{"always", sim.Failures{Create: 1}, func(f *fixture) error {
			_, err := f.rt.CreateContainer(f.ctx, runtime.ContainerSpec{Image: image})
			return err
		}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(o *sim.Options) { o.Failures = tt.failures })
			failed := 0
			for range 200 {
				if tt.call(f) != nil {
					failed++
				}
			}
			if failed != tt.wantFail {
				t.Errorf("%d of 200 calls failed, want %d", failed, tt.wantFail)
			}
		})
	}
	// A probability in between fails some calls, not all.
	f := newFixture(t, func(o *sim.Options) { o.Failures.Start = 0.5 })
	failed := 0
	for range 200 {
		id, err := f.rt.CreateContainer(f.ctx, runtime.ContainerSpec{Image: image})
		if err != nil {
			t.Fatal(err)
		}
		if f.rt.StartContainer(f.ctx, id) != nil {
			failed++
		}
	}
	if failed < 50 || failed > 150 {
		t.Errorf("%d of 200 starts failed with probability 0.5", failed)
	}
}

func TestStartError(t *testing.T) {
	f := newFixture(t)
	id, err := f.rt.CreateContainer(f.ctx, runtime.ContainerSpec{Image: image, Env: []string{"BERTH_SIM_START_ERROR=exec format error"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.rt.StartContainer(f.ctx, id); err == nil || !strings.Contains(err.Error(), "exec format error") {
		t.Fatalf("start: %v", err)
	}
}

func TestPorts(t *testing.T) {
	f := newFixture(t, func(o *sim.Options) { o.Ports = sim.PortRange{First: 40000, Last: 40002} })
	dyn := runtime.ContainerSpec{PortMappings: []runtime.PortMapping{{ContainerPort: 80}}}
	hostPort := func(id string) uint16 { return f.inspect(id).Ports[0].HostPort }

	a, b := f.start(dyn), f.start(dyn)
	if hostPort(a) != 40000 || hostPort(b) != 40001 {
		t.Fatalf("dynamic ports %d, %d; want 40000, 40001", hostPort(a), hostPort(b))
	}
	static := runtime.ContainerSpec{PortMappings: []runtime.PortMapping{{ContainerPort: 80, HostPort: 40002}}}
	c := f.start(static)
	// The range is full: the next dynamic start fails, a freed port is reused.
	id, err := f.rt.CreateContainer(f.ctx, runtime.ContainerSpec{Image: image, PortMappings: dyn.PortMappings})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.rt.StartContainer(f.ctx, id); err == nil {
		t.Fatal("start with the port range exhausted succeeded")
	}
	if err := f.rt.Exit(a, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.rt.StartContainer(f.ctx, id); err != nil || hostPort(id) != 40000 {
		t.Fatalf("start after a port was freed: %v, port %v", err, f.inspect(id).Ports)
	}
	// A static port in use fails the start, as with Docker.
	dup, err := f.rt.CreateContainer(f.ctx, runtime.ContainerSpec{Image: image, PortMappings: static.PortMappings})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.rt.StartContainer(f.ctx, dup); err == nil || !strings.Contains(err.Error(), "port is already allocated") {
		t.Fatalf("second start on static port: %v", err)
	}
	if err := f.rt.RemoveContainer(f.ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := f.rt.StartContainer(f.ctx, dup); err != nil {
		t.Fatalf("start once the static port is free: %v", err)
	}
	_ = b
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    sim.Range
		wantErr bool
	}{
		{"", sim.Range{}, false},
		{"2s", sim.Fixed(2 * time.Second), false},
		{"500ms-1.5s", sim.Range{Min: 500 * time.Millisecond, Max: 1500 * time.Millisecond}, false},
		{"-1s", sim.Range{}, true},
		{"3s-1s", sim.Range{}, true},
		{"soon", sim.Range{}, true},
		{"1s-", sim.Range{}, true},
	}
	for _, tt := range tests {
		got, err := sim.ParseRange(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseRange(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
