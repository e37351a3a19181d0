package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/berth-dev/berth/internal/agent/runtime/sim"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// slowPulls returns a pull that blocks until its context ends, reporting
// each pull's start and the error its context ended with.
func slowPulls() (pull func(ctx context.Context, image string) error, started <-chan string, ended <-chan error) {
	s, e := make(chan string, 10), make(chan error, 10)
	return func(ctx context.Context, image string) error {
		s <- image
		<-ctx.Done()
		e <- ctx.Err()
		return ctx.Err()
	}, s, e
}

// stopTask sends task again with desired status STOPPED.
func stopTask(te *testEngine, task Task, reason string) {
	task.DesiredStatus = ecstypes.DesiredStatusSTOPPED
	task.StoppedReason = reason
	te.Upsert([]Task{task})
}

// TestStopDuringSlowPull: StopTask while an image pull is under way stops
// the task at once with the server's reason, cancels the pull and creates
// nothing. (Before, the task waited for the pull, up to PullTimeout, and
// then reported the pull's failure as the reason.)
func TestStopDuringSlowPull(t *testing.T) {
	tests := []struct {
		name string
		stop func(te *testEngine, task Task)
		want string // reason
	}{
		{"StopTask", func(te *testEngine, task Task) { stopTask(te, task, "Task stopped by user") }, "Task stopped by user"},
		{"stop verified", func(te *testEngine, task Task) { te.Stop([]string{task.Arn}) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, j := newRuntime()
			pull, started, ended := slowPulls()
			inner := rt.PullFunc
			rt.PullFunc = func(ctx context.Context, image string) error {
				_ = inner(ctx, "counted-only")
				return pull(ctx, image)
			}
			te := startEngine(t, rt, func(c *Config) { c.PullTimeout = time.Hour })
			task := newTask(taskARN(1), ctr("app"))
			te.Upsert([]Task{task})
			recv(t, started, "the pull to start")

			tt.stop(te, task)
			got := te.rec.waitStatus(t, task.Arn, "STOPPED")
			if err := recv(t, ended, "the pull to be cancelled"); !errors.Is(err, context.Canceled) {
				t.Errorf("pull ended with %v, want context.Canceled", err)
			}
			if got.Reason != tt.want || got.StopCode != "" {
				t.Errorf("stop = %q/%q, want the server's reason %q and no stop code", got.Reason, got.StopCode, tt.want)
			}
			if cc := container(t, got, "app"); cc.Status != "STOPPED" || cc.RuntimeID != "" {
				t.Errorf("app = %+v, want STOPPED without a container", cc)
			}
			if n := j.count(func(j *journal) int { return j.creates }); n != 0 {
				t.Errorf("%d creates after a stop during the pull", n)
			}
		})
	}
}

// TestStopDuringSlowPullOnSim drives the same case through the simulated
// runtime with an hour-long pull latency (on a clock nobody advances).
func TestStopDuringSlowPullOnSim(t *testing.T) {
	simClock := clockwork.NewFakeClock()
	rt := sim.New(sim.Options{Clock: simClock, Latency: sim.Latency{Pull: sim.Fixed(time.Hour)}})
	te := startEngine(t, rt, func(c *Config) { c.PullTimeout = 2 * time.Hour })
	task := newTask(taskARN(1), ctr("app"))
	te.Upsert([]Task{task})
	ctx, cancel := context.WithTimeout(context.Background(), waitDeadline)
	defer cancel()
	if err := simClock.BlockUntilContext(ctx, 1); err != nil { // the pull's latency
		t.Fatalf("the pull did not start: %v", err)
	}

	stopTask(te, task, "Task stopped by user")
	got := te.rec.waitStatus(t, task.Arn, "STOPPED")
	if got.Reason != "Task stopped by user" || got.PullStartedAt == nil {
		t.Errorf("stopped = %+v", got)
	}
	if list, err := rt.ListContainers(context.Background(), nil); err != nil || len(list) != 0 {
		t.Errorf("containers after a stop during the pull: %+v, %v", list, err)
	}
	if ok, _ := rt.ImagePresent(context.Background(), "img-app"); ok {
		t.Error("the abandoned pull completed")
	}
}

// TestStopRetriedAfterBackoff: a stop that fails is retried after the
// retry backoff, on the engine's clock.
func TestStopRetriedAfterBackoff(t *testing.T) {
	rt, _ := newRuntime(images("app")...)
	stops := make(chan struct{}, 10)
	var calls atomic.Int32
	inner := rt.StopFunc
	rt.StopFunc = func(ctx context.Context, id string, timeout time.Duration) error {
		stops <- struct{}{}
		if calls.Add(1) == 1 {
			return errors.New("engine busy")
		}
		return inner(ctx, id, timeout)
	}
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("app"))
	te.Upsert([]Task{task})
	te.rec.waitStatus(t, task.Arn, "RUNNING")

	stopTask(te, task, "Task stopped by user")
	recv(t, stops, "the first stop")
	te.advance(t, 1, retryBackoff-time.Millisecond) // the retry timer, not yet due
	if c, _ := te.rec.get(task.Arn); c.Status != "RUNNING" {
		t.Fatalf("status %s before the retry backoff passed", c.Status)
	}
	te.clock.Advance(time.Millisecond)
	got := te.rec.waitStatus(t, task.Arn, "STOPPED")
	if got.Reason != "Task stopped by user" || exitCode(container(t, got, "app")) != "137" {
		t.Errorf("stopped = %+v", got)
	}
}

// TestFailedWaitIsReattached: when waiting on a container fails while it
// still runs, the engine waits again after the retry backoff and so still
// sees its exit.
func TestFailedWaitIsReattached(t *testing.T) {
	rt, _ := newRuntime(images("app")...)
	waits := make(chan struct{}, 10)
	var calls atomic.Int32
	rt.WaitFunc = func(ctx context.Context, id string) (int, error) {
		waits <- struct{}{}
		if calls.Add(1) == 1 {
			return 0, errors.New("connection reset by peer")
		}
		return rt.Default().WaitContainer(ctx, id)
	}
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("app"))
	te.Upsert([]Task{task})
	running := te.rec.waitStatus(t, task.Arn, "RUNNING")
	recv(t, waits, "the first wait")

	te.advance(t, 1, retryBackoff) // the re-attach delay
	recv(t, waits, "the second wait")
	if err := rt.Exit(container(t, running, "app").RuntimeID, 9); err != nil {
		t.Fatal(err)
	}
	got := te.rec.waitStatus(t, task.Arn, "STOPPED")
	if exitCode(container(t, got, "app")) != "9" || got.StopCode != StopCodeEssentialContainerExited {
		t.Errorf("stopped = %+v", got)
	}
}

// recv takes one value from ch or fails the test at the deadline.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitDeadline):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
