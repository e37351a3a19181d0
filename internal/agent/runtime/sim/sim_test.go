package sim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/agent/runtime/runtimetest"
	"github.com/berth-dev/berth/internal/agent/runtime/sim"
)

const image = "berth-test/busybox:latest"

func asSim(t *testing.T, rt runtime.Runtime) *sim.Runtime {
	t.Helper()
	s, ok := rt.(*sim.Runtime)
	if !ok {
		t.Fatalf("runtime is %T, want *sim.Runtime", rt)
	}
	return s
}

// TestConformance runs the shared suite with the sim's defaults: health
// turns healthy by itself after the check's interval (MarkHealthy is nil).
func TestConformance(t *testing.T) {
	runtimetest.Run(t, runtimetest.Harness{
		New:         func(*testing.T) runtime.Runtime { return sim.New(sim.Options{Images: []string{image}}) },
		Image:       image,
		AbsentImage: "berth-test/absent:never",
		LongRunning: []string{"sleep", "3600"},
		ExitWith:    func(int) []string { return []string{"exit"} },
		Exit: func(t *testing.T, rt runtime.Runtime, id string, code int) {
			if err := asSim(t, rt).Exit(id, code); err != nil {
				t.Fatal(err)
			}
		},
		HealthyCheck: runtime.HealthCheck{Test: []string{"CMD-SHELL", "true"}, Interval: 20 * time.Millisecond},
		Timeout:      10 * time.Second,
	})
}

// fixture is a sim on a fake clock with one image.
type fixture struct {
	t     *testing.T
	clock *clockwork.FakeClock
	rt    *sim.Runtime
	ctx   context.Context
}

func newFixture(t *testing.T, mutate ...func(*sim.Options)) *fixture {
	t.Helper()
	clock := clockwork.NewFakeClock()
	opts := sim.Options{Clock: clock, Images: []string{image}, Seed: 1}
	for _, m := range mutate {
		m(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return &fixture{t: t, clock: clock, rt: sim.New(opts), ctx: ctx}
}

func (f *fixture) start(spec runtime.ContainerSpec) string {
	f.t.Helper()
	if spec.Image == "" {
		spec.Image = image
	}
	id, err := f.rt.CreateContainer(f.ctx, spec)
	if err != nil {
		f.t.Fatalf("create: %v", err)
	}
	if err := f.rt.StartContainer(f.ctx, id); err != nil {
		f.t.Fatalf("start: %v", err)
	}
	return id
}

func (f *fixture) inspect(id string) runtime.ContainerState {
	f.t.Helper()
	st, err := f.rt.InspectContainer(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// waitState polls until the container's state satisfies ok: scheduled
// changes run in their own goroutine once the fake clock reaches them.
func (f *fixture) waitState(id, what string, ok func(runtime.ContainerState) bool) runtime.ContainerState {
	f.t.Helper()
	for {
		st := f.inspect(id)
		if ok(st) {
			return st
		}
		select {
		case <-f.ctx.Done():
			f.t.Fatalf("timed out waiting for %s; last %+v", what, st)
		case <-time.After(time.Millisecond): // polling pace, not a wait for state
		}
	}
}

func healthCheck(interval time.Duration) *runtime.HealthCheck {
	return &runtime.HealthCheck{Test: []string{"CMD", "true"}, Interval: interval, Retries: 2, StartPeriod: time.Second}
}

func TestScriptedContainers(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		hc      *runtime.HealthCheck
		advance time.Duration
		// before is checked just short of advance, after at advance.
		before, after func(runtime.ContainerState) bool
	}{
		{
			name: "exit after with code", env: []string{"BERTH_SIM_EXIT_AFTER=30s", "BERTH_SIM_EXIT_CODE=3"}, advance: 30 * time.Second,
			before: func(st runtime.ContainerState) bool { return st.Running },
			after:  func(st runtime.ContainerState) bool { return !st.Running && st.ExitCode == 3 && st.Status == "exited" },
		},
		{
			name: "exit after defaults to code 0", env: []string{"BERTH_SIM_EXIT_AFTER=1m"}, advance: time.Minute,
			before: func(st runtime.ContainerState) bool { return st.Running },
			after:  func(st runtime.ContainerState) bool { return !st.Running && st.ExitCode == 0 },
		},
		{
			name: "healthy after the interval by default", hc: healthCheck(10 * time.Second), advance: 10 * time.Second,
			before: func(st runtime.ContainerState) bool { return st.Health == "starting" },
			after:  func(st runtime.ContainerState) bool { return st.Health == "healthy" },
		},
		{
			name: "unhealthy after start period and retries", env: []string{"BERTH_SIM_HEALTH=unhealthy"}, hc: healthCheck(10 * time.Second),
			advance: 21 * time.Second,
			before:  func(st runtime.ContainerState) bool { return st.Health == "starting" },
			after:   func(st runtime.ContainerState) bool { return st.Health == "unhealthy" && st.Running },
		},
		{
			name: "health after overrides", env: []string{"BERTH_SIM_HEALTH=healthy", "BERTH_SIM_HEALTH_AFTER=2s"}, hc: healthCheck(time.Hour),
			advance: 2 * time.Second,
			before:  func(st runtime.ContainerState) bool { return st.Health == "starting" },
			after:   func(st runtime.ContainerState) bool { return st.Health == "healthy" },
		},
		{
			name: "health knob without a health check is ignored", env: []string{"BERTH_SIM_HEALTH=healthy"}, advance: time.Hour,
			before: func(st runtime.ContainerState) bool { return st.Health == "" },
			after:  func(st runtime.ContainerState) bool { return st.Health == "" && st.Running },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.start(runtime.ContainerSpec{Name: "c", Env: append([]string{"OTHER=1"}, tt.env...), HealthCheck: tt.hc})
			f.clock.Advance(tt.advance - time.Millisecond)
			if st := f.inspect(id); !tt.before(st) {
				t.Fatalf("just before %s: %+v", tt.advance, st)
			}
			f.clock.Advance(time.Millisecond)
			f.waitState(id, "the scripted change", tt.after)
		})
	}
}

func TestExitAfterEndsWait(t *testing.T) {
	f := newFixture(t)
	id := f.start(runtime.ContainerSpec{Env: []string{"BERTH_SIM_EXIT_AFTER=5s", "BERTH_SIM_EXIT_CODE=42"}})
	codes := make(chan int, 1)
	go func() {
		code, err := f.rt.WaitContainer(f.ctx, id)
		if err != nil {
			t.Error(err)
		}
		codes <- code
	}()
	f.clock.Advance(5 * time.Second)
	select {
	case code := <-codes:
		if code != 42 {
			t.Errorf("WaitContainer = %d, want 42", code)
		}
	case <-f.ctx.Done():
		t.Fatal("WaitContainer did not return after the scripted exit")
	}
}

func TestBadKnobsFailCreate(t *testing.T) {
	for _, env := range []string{
		"BERTH_SIM_EXIT_AFTER=soon", "BERTH_SIM_EXIT_CODE=x", "BERTH_SIM_EXIT_CODE=300",
		"BERTH_SIM_HEALTH=sick", "BERTH_SIM_STOP_AFTER=-1s", "BERTH_SIM_EXIT_AFTER=3s-1s", "BERTH_SIM_TYPO=1",
		"BERTH_SIM_CPU=-1", "BERTH_SIM_CPU=lots", "BERTH_SIM_CPU=Inf", "BERTH_SIM_MEMORY_MIB=NaN",
	} {
		t.Run(env, func(t *testing.T) {
			f := newFixture(t)
			key, _, _ := strings.Cut(env, "=")
			_, err := f.rt.CreateContainer(f.ctx, runtime.ContainerSpec{Image: image, Env: []string{env}})
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Fatalf("err = %v, want one naming %s", err, key)
			}
		})
	}
}

// A container may be given only GPUs the simulated host has.
func TestGPUsMustExist(t *testing.T) {
	f := newFixture(t, func(o *sim.Options) { o.GPUs = []string{"GPU-sim-0001-0", "GPU-sim-0001-1"} })
	if _, err := f.rt.CreateContainer(f.ctx, runtime.ContainerSpec{Image: image, Name: "ok", GPUIDs: []string{"GPU-sim-0001-1"}, Runtime: "nvidia"}); err != nil {
		t.Fatalf("create with a host GPU: %v", err)
	}
	_, err := f.rt.CreateContainer(f.ctx, runtime.ContainerSpec{Image: image, Name: "bad", GPUIDs: []string{"GPU-sim-0001-0", "GPU-other"}})
	if err == nil || !strings.Contains(err.Error(), "no GPU GPU-other") {
		t.Fatalf("create with a GPU the host lacks: err = %v", err)
	}
	none := newFixture(t)
	if _, err := none.rt.CreateContainer(none.ctx, runtime.ContainerSpec{Image: image, GPUIDs: []string{"GPU-x"}}); err == nil {
		t.Fatal("a host without GPUs created a container with one")
	}
}

func TestStop(t *testing.T) {
	tests := []struct {
		name     string
		opts     func(*sim.Options)
		env      []string
		timeout  time.Duration
		advance  time.Duration // fake time the stop takes
		wantCode int
	}{
		{"exits at once with 0", nil, nil, 10 * time.Second, 0, 0},
		{"takes its stop time", nil, []string{"BERTH_SIM_STOP_AFTER=3s"}, 10 * time.Second, 3 * time.Second, 0},
		{"killed at the timeout", nil, []string{"BERTH_SIM_STOP_AFTER=1m"}, 10 * time.Second, 10 * time.Second, sim.KillExitCode},
		{"KillOnStop kills at once", func(o *sim.Options) { o.KillOnStop = true }, []string{"BERTH_SIM_STOP_AFTER=1m"}, 10 * time.Second, 0, sim.KillExitCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mutate []func(*sim.Options)
			if tt.opts != nil {
				mutate = append(mutate, tt.opts)
			}
			f := newFixture(t, mutate...)
			id := f.start(runtime.ContainerSpec{Env: tt.env})
			done := make(chan error, 1)
			go func() { done <- f.rt.StopContainer(f.ctx, id, tt.timeout) }()
			if tt.advance > 0 {
				if err := f.clock.BlockUntilContext(f.ctx, 1); err != nil {
					t.Fatal(err)
				}
				f.clock.Advance(tt.advance - time.Millisecond)
				if st := f.inspect(id); !st.Running {
					t.Fatalf("exited %s early", time.Millisecond)
				}
				f.clock.Advance(time.Millisecond)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-f.ctx.Done():
				t.Fatal("StopContainer did not return")
			}
			if st := f.inspect(id); st.Running || st.ExitCode != tt.wantCode {
				t.Errorf("after stop: Running=%v ExitCode=%d, want exited %d", st.Running, st.ExitCode, tt.wantCode)
			}
		})
	}
}
