// Package runtimetest owns the conformance suite every runtime.Runtime
// implementation must pass. Each implementation's test calls Run with a
// Harness describing how to drive it; the suite only uses the Runtime
// interface, plus the harness hooks where a fake cannot run real programs.
package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

// Harness tells the suite how to drive one implementation.
type Harness struct {
	// New returns a Runtime for one subtest; the suite may call it often
	// and from parallel subtests. Cleanup belongs on t.
	New func(t *testing.T) runtime.Runtime
	// Image is present in the runtime's image store.
	Image string
	// AbsentImage is a well-formed reference that is surely not present.
	AbsentImage string
	// LongRunning is a Cmd for Image that runs until the container is stopped.
	LongRunning []string
	// ExitWith returns a Cmd for Image that exits promptly with code.
	ExitWith func(code int) []string
	// Exit, when set, makes a started container's process end with code;
	// fakes need it because their commands do not run. Nil means the command
	// from ExitWith ends by itself.
	Exit func(t *testing.T, rt runtime.Runtime, id string, code int)
	// HealthyCheck is a health check that passes on Image.
	HealthyCheck runtime.HealthCheck
	// MarkHealthy, when set, makes the container's check pass (fakes); nil
	// means the engine runs HealthyCheck by itself.
	MarkHealthy func(t *testing.T, rt runtime.Runtime, id string)
	// Shell, when set, returns a Cmd for Image that runs script in a POSIX
	// shell, so the suite can check env, working dir and user from inside.
	// Nil skips those checks (fakes run nothing).
	Shell func(script string) []string
	// Timeout bounds each step that waits on the engine; 0 means 60s.
	Timeout time.Duration
}

func (h Harness) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return 60 * time.Second
}

// ctx returns a context for one engine call, cancelled when t ends.
func (h Harness) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	t.Cleanup(cancel)
	return ctx
}

// suiteLabel marks every container the suite creates, so ListContainers
// checks see only their own containers even on a shared engine.
const suiteLabel = "dev.berth.runtimetest"

// fixture is one subtest's runtime plus a unique run ID for names and labels.
type fixture struct {
	t   *testing.T
	h   Harness
	rt  runtime.Runtime
	run string
}

func newFixture(t *testing.T, h Harness) *fixture {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &fixture{t: t, h: h, rt: h.New(t), run: hex.EncodeToString(b)}
}

// spec returns a spec with a unique name and the suite's labels.
func (f *fixture) spec(suffix string, cmd []string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name:   "berth-rt-" + f.run + "-" + suffix,
		Image:  f.h.Image,
		Cmd:    cmd,
		Labels: map[string]string{suiteLabel: f.run},
	}
}

// create creates spec and removes the container when the test ends.
func (f *fixture) create(spec runtime.ContainerSpec) string {
	f.t.Helper()
	id, err := f.rt.CreateContainer(f.h.ctx(f.t), spec)
	if err != nil {
		f.t.Fatalf("CreateContainer(%s): %v", spec.Name, err)
	}
	if id == "" {
		f.t.Fatalf("CreateContainer(%s) returned an empty ID", spec.Name)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), f.h.timeout())
		defer cancel()
		if err := f.rt.RemoveContainer(ctx, id); err != nil {
			f.t.Errorf("cleanup: RemoveContainer(%s): %v", id, err)
		}
	})
	return id
}

// start creates and starts spec.
func (f *fixture) start(spec runtime.ContainerSpec) string {
	f.t.Helper()
	id := f.create(spec)
	if err := f.rt.StartContainer(f.h.ctx(f.t), id); err != nil {
		f.t.Fatalf("StartContainer(%s): %v", spec.Name, err)
	}
	return id
}

func (f *fixture) inspect(id string) runtime.ContainerState {
	f.t.Helper()
	st, err := f.rt.InspectContainer(f.h.ctx(f.t), id)
	if err != nil {
		f.t.Fatalf("InspectContainer(%s): %v", id, err)
	}
	return st
}

// exitWith runs a container whose process ends with code and waits for it.
func (f *fixture) exitWith(spec runtime.ContainerSpec, code int) (string, int) {
	f.t.Helper()
	id := f.start(spec)
	if f.h.Exit != nil {
		f.h.Exit(f.t, f.rt, id, code)
	}
	got, err := f.rt.WaitContainer(f.h.ctx(f.t), id)
	if err != nil {
		f.t.Fatalf("WaitContainer(%s): %v", id, err)
	}
	return id, got
}

// eventually polls cond until it returns true or the harness timeout passes.
func (f *fixture) eventually(what string, cond func() (bool, string)) {
	f.t.Helper()
	deadline := time.NewTimer(f.h.timeout())
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-deadline.C:
			f.t.Fatalf("timed out after %s waiting for %s; last: %s", f.h.timeout(), what, last)
		case <-tick.C:
		}
	}
}
