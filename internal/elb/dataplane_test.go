package elb

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/elb/health"
	"github.com/berth-dev/berth/internal/elb/proxy"
	"github.com/berth-dev/berth/internal/store/storetest"
)

// fakeEngine records what the data plane applies and hands the test the
// reporter the data plane gave it.
type fakeEngine struct {
	mu      sync.Mutex
	opts    proxy.Options
	applied []proxy.Config
	closed  bool
}

func (e *fakeEngine) Apply(cfg proxy.Config) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.applied = append(e.applied, cfg)
	return nil
}

func (e *fakeEngine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
}

// last is the last configuration applied.
func (e *fakeEngine) last() proxy.Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.applied) == 0 {
		return proxy.Config{}
	}
	return e.applied[len(e.applied)-1]
}

// targetsOf are the targets of group arn in the last configuration, by
// key; nil when the group is not in it.
func (e *fakeEngine) targetsOf(arn string) map[string]proxy.Target {
	g := e.last().TargetGroups[arn]
	if g == nil {
		return nil
	}
	out := map[string]proxy.Target{}
	for _, t := range g.Targets {
		out[t.Key] = t
	}
	return out
}

// testClock is a clock tests move while the data plane reads it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// runFakeDataPlane runs the data plane over a fake engine until the test
// ends, and checks that it closes the engine when it stops.
func runFakeDataPlane(t *testing.T, s *Service) *fakeEngine {
	t.Helper()
	engine := &fakeEngine{}
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runDataPlane(ctx, dataPlaneOptions{
			NewEngine: func(o proxy.Options) applier {
				engine.mu.Lock()
				engine.opts = o
				engine.mu.Unlock()
				close(ready)
				return engine
			},
			Quiet: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
			SweepEvery: 20 * time.Millisecond, Retry: 10 * time.Millisecond,
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		engine.mu.Lock()
		defer engine.mu.Unlock()
		if !engine.closed {
			t.Error("the data plane returned without closing its engine")
		}
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the data plane made no engine")
	}
	return engine
}

func TestDataPlaneRun(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	h := newHarnessWith(t, Config{Now: clock.Now, PortMap: map[int32]int32{80: 18080}})
	lbARN, lbKey := putLB(t, h.s, "application", "web", nil)
	group := putGroup(t, h.s, groupFixture{Name: "web", LBs: []string{lbARN}})
	engine := runFakeDataPlane(t, h.s)
	rep := engine.opts.Reporter
	const wait = 10 * time.Second

	// A new listener, then a new target, reach the engine.
	listenerARN, _ := putListener(t, h.s, lbARN, lbKey, 80, "HTTP", forwardTo(group))
	storetest.WaitFor(t, wait, "the listener applied", func() bool {
		ls := engine.last().Listeners
		return len(ls) == 1 && ls[0].ARN == listenerARN && ls[0].Addr == "127.0.0.1:18080"
	})
	if err := h.register(group, sdkTarget("10.0.0.1", 0)); err != nil {
		t.Fatal(err)
	}
	storetest.WaitFor(t, wait, "the target applied", func() bool {
		tg, ok := engine.targetsOf(group)["10.0.0.1:80"]
		return ok && tg.Addr == "10.0.0.1:80" && !tg.Draining
	})

	// Reported health is what DescribeTargetHealth says.
	rep.TargetHealth(group, "10.0.0.1:80", health.Result{State: "healthy"})
	storetest.WaitFor(t, wait, "the target healthy", func() bool {
		rows := h.describe(t, group)
		return len(rows) == 1 && rows[0].State == "healthy" && rows[0].Reason == ""
	})
	rep.TargetHealth(group, "10.0.0.1:80", health.Result{State: "unhealthy", Reason: "Target.Timeout", Description: "Request timed out"})
	storetest.WaitFor(t, wait, "the target unhealthy", func() bool {
		rows := h.describe(t, group)
		return len(rows) == 1 && rows[0].State == "unhealthy" && rows[0].Reason == "Target.Timeout"
	})

	// Deregistered, it drains; drained, it goes.
	if err := h.deregister(group, sdkTarget("10.0.0.1", 0)); err != nil {
		t.Fatal(err)
	}
	storetest.WaitFor(t, wait, "the target draining in the data plane", func() bool {
		tg, ok := engine.targetsOf(group)["10.0.0.1:80"]
		return ok && tg.Draining && tg.DrainUntil.Equal(clock.Now().Add(300*time.Second))
	})
	rep.TargetDrained(group, "10.0.0.1:80")
	storetest.WaitFor(t, wait, "the drained target gone", func() bool {
		_, inEngine := engine.targetsOf(group)["10.0.0.1:80"]
		return len(h.describe(t, group)) == 0 && !inEngine
	})

	// A drain whose deadline passes without a report is swept.
	if err := h.register(group, sdkTarget("10.0.0.2", 0)); err != nil {
		t.Fatal(err)
	}
	if err := h.deregister(group, sdkTarget("10.0.0.2", 0)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(299 * time.Second)
	if _, ok := getTarget(t, h.s, group, "10.0.0.2:80"); !ok {
		t.Fatal("a draining target went before its deadline")
	}
	clock.Advance(2 * time.Second)
	storetest.WaitFor(t, wait, "the expired drain swept", func() bool {
		_, ok := getTarget(t, h.s, group, "10.0.0.2:80")
		return !ok
	})
}

func TestDataPlaneReportsNeedTheTarget(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	group := putGroup(t, h.s, groupFixture{Name: "web"})
	if err := h.register(group, sdkTarget("10.0.0.1", 0)); err != nil {
		t.Fatal(err)
	}

	// No target, no health record; a registered (not draining) target is
	// not deleted by a drain report: neither writes.
	rev := revision(t, h.s)
	if err := h.s.recordHealth(ctx, reportKey{group, "10.0.0.9:80"}, health.Result{State: "healthy"}); err != nil {
		t.Fatal(err)
	}
	if err := h.s.recordDrained(ctx, reportKey{group, "10.0.0.1:80"}); err != nil {
		t.Fatal(err)
	}
	if got := revision(t, h.s); got != rev {
		t.Errorf("reports about no target or a registered one wrote (revision %d -> %d)", rev, got)
	}
	if _, ok := getTarget(t, h.s, group, "10.0.0.1:80"); !ok {
		t.Error("a drain report deleted a registered target")
	}
	// The same health twice is written once.
	if err := h.s.recordHealth(ctx, reportKey{group, "10.0.0.1:80"}, health.Result{State: "healthy"}); err != nil {
		t.Fatal(err)
	}
	rev = revision(t, h.s)
	if err := h.s.recordHealth(ctx, reportKey{group, "10.0.0.1:80"}, health.Result{State: "healthy"}); err != nil {
		t.Fatal(err)
	}
	if got := revision(t, h.s); got != rev {
		t.Errorf("an unchanged health report wrote (revision %d -> %d)", rev, got)
	}
	// Reports about groups of no account of ours are dropped.
	if err := h.s.recordHealth(ctx, reportKey{"arn:aws:elasticloadbalancing:us-east-1:999999999999:targetgroup/x/0123456789abcdef", "10.0.0.1:80"}, health.Result{State: "healthy"}); err != nil {
		t.Fatal(err)
	}
}

func TestDataPlaneDebouncer(t *testing.T) {
	d := debouncer{Quiet: time.Hour, MaxDelay: 2 * time.Hour}
	defer d.stop()
	if d.C() != nil {
		t.Fatal("an idle debouncer has a pending change")
	}
	start := time.Now()
	d.poke(start)
	select {
	case <-d.C():
		t.Fatal("fired before the burst went quiet")
	default:
	}
	// A burst that goes on past MaxDelay is applied at once.
	d.poke(start.Add(2*time.Hour + time.Second))
	select {
	case <-d.C():
		d.fired()
	case <-time.After(10 * time.Second):
		t.Fatal("a burst past MaxDelay did not fire")
	}
	if d.C() != nil {
		t.Error("pending after firing")
	}
}
