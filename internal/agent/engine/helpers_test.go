package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/jonboulle/clockwork"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/agent/runtime/fake"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

const (
	testCluster  = "arn:aws:ecs:us-east-1:000000000000:cluster/default"
	testInstance = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/i-1"
	waitDeadline = 5 * time.Second
	// The engine's timers run on a fake clock that tests advance, so these
	// are realistic values that cost no waiting.
	testCleanupWait  = time.Hour
	testHealthPoll   = 2 * time.Second
	testStopTimeout  = 7 * time.Second
	testCallDeadline = time.Second
)

// testNow is where every test engine's fake clock starts.
var testNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// recorder is a Reporter keeping every change and the latest per task.
type recorder struct {
	mu     sync.Mutex
	all    []TaskStateChange
	latest map[string]TaskStateChange
	notify chan struct{}
}

func newRecorder() *recorder {
	return &recorder{latest: map[string]TaskStateChange{}, notify: make(chan struct{}, 1)}
}

func (r *recorder) Report(c TaskStateChange) {
	r.mu.Lock()
	r.all = append(r.all, c)
	r.latest[c.TaskARN] = c
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) get(arn string) (TaskStateChange, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.latest[arn]
	return c, ok
}

func (r *recorder) history(arn string) []TaskStateChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []TaskStateChange
	for _, c := range r.all {
		if c.TaskARN == arn {
			out = append(out, c)
		}
	}
	return out
}

// waitFor polls (on each report, and at least every 10ms) until the latest
// change for arn satisfies ok, or fails the test at the deadline.
func (r *recorder) waitFor(t *testing.T, arn, what string, ok func(TaskStateChange) bool) TaskStateChange {
	t.Helper()
	deadline := time.NewTimer(waitDeadline)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, found := r.get(arn); found && ok(c) {
			return c
		}
		select {
		case <-r.notify:
		case <-tick.C:
		case <-deadline.C:
			c, _ := r.get(arn)
			t.Fatalf("timed out waiting for %s of %s; latest: %+v", what, arn, c)
		}
	}
}

func (r *recorder) waitStatus(t *testing.T, arn, status string) TaskStateChange {
	t.Helper()
	return r.waitFor(t, arn, "status "+status, func(c TaskStateChange) bool { return c.Status == status })
}

// waitUntil polls cond until it holds or fails the test at the deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtimeYield()
	}
}

// runtimeYield waits briefly between polls without sleeping for a state.
func runtimeYield() { <-time.After(5 * time.Millisecond) }

// journal records runtime calls the tests assert on, in order.
type journal struct {
	mu      sync.Mutex
	events  []string
	creates int
	pulls   int
	stops   map[string]time.Duration
}

func (j *journal) add(ev string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, ev)
}

func (j *journal) snapshot() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

func (j *journal) count(f func(*journal) int) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return f(j)
}

// newRuntime returns a fake runtime with images present, recording starts
// ("start:<container>"), creates, pulls and stop timeouts into a journal.
func newRuntime(images ...string) (*fake.Runtime, *journal) {
	rt := fake.New(images...)
	j := &journal{stops: map[string]time.Duration{}}
	rt.StartFunc = func(ctx context.Context, id string) error {
		spec, err := rt.Spec(id)
		if err == nil {
			j.add("start:" + spec.Labels[LabelContainerName])
		}
		return rt.Default().StartContainer(ctx, id)
	}
	rt.CreateFunc = func(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
		j.mu.Lock()
		j.creates++
		j.mu.Unlock()
		return rt.Default().CreateContainer(ctx, spec)
	}
	rt.PullFunc = func(ctx context.Context, image string) error {
		j.mu.Lock()
		j.pulls++
		j.mu.Unlock()
		return rt.Default().PullImage(ctx, image)
	}
	rt.StopFunc = func(ctx context.Context, id string, timeout time.Duration) error {
		if spec, err := rt.Spec(id); err == nil {
			j.mu.Lock()
			j.stops[spec.Labels[LabelContainerName]] = timeout
			j.mu.Unlock()
		}
		return rt.Default().StopContainer(ctx, id, timeout)
	}
	return rt, j
}

type testEngine struct {
	*Engine
	rec    *recorder
	clock  *clockwork.FakeClock
	cancel context.CancelFunc
}

// startEngine starts an engine on rt with a fake clock at testNow; the
// test's cleanup ends and waits for it.
func startEngine(t *testing.T, rt runtime.Runtime, mutate ...func(*Config)) *testEngine {
	t.Helper()
	rec := newRecorder()
	clock := clockwork.NewFakeClockAt(testNow)
	cfg := Config{
		Runtime:            rt,
		ClusterARN:         testCluster,
		InstanceARN:        testInstance,
		Reporter:           rec,
		Clock:              clock,
		StopTimeout:        testStopTimeout,
		CleanupWait:        testCleanupWait,
		HealthPollInterval: testHealthPoll,
		CallTimeout:        testCallDeadline,
		PullTimeout:        testCallDeadline,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range mutate {
		f(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Start(ctx); err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	te := &testEngine{Engine: e, rec: rec, clock: clock, cancel: cancel}
	t.Cleanup(te.stop)
	return te
}

// advance moves the engine's clock by d once waiters timers or tickers
// are set on it, so a timer the engine is about to set is not skipped.
func (te *testEngine) advance(t *testing.T, waiters int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitDeadline)
	defer cancel()
	if err := te.clock.BlockUntilContext(ctx, waiters); err != nil {
		t.Fatalf("waiting for %d timers on the engine's clock: %v", waiters, err)
	}
	te.clock.Advance(d)
}

// pollHealth lets one health poll interval pass: each task with a health
// check inspects its containers once.
func (te *testEngine) pollHealth() { te.clock.Advance(testHealthPoll) }

// stop ends the engine's context and waits for its goroutines.
func (te *testEngine) stop() {
	te.cancel()
	te.Wait()
}

func taskARN(n int) string {
	return fmt.Sprintf("arn:aws:ecs:us-east-1:000000000000:task/default/%032x", n)
}

// newTask builds a RUNNING task of the given containers.
func newTask(arn string, containers ...ecstypes.ContainerDefinition) Task {
	return Task{
		Arn:           arn,
		DesiredStatus: ecstypes.DesiredStatusRUNNING,
		TaskDefinition: ecstypes.TaskDefinition{
			Family:               aws.String("web"),
			Revision:             aws.Int32(3),
			ContainerDefinitions: containers,
		},
	}
}

// ctr builds a container definition with image "img-<name>".
func ctr(name string, opts ...func(*ecstypes.ContainerDefinition)) ecstypes.ContainerDefinition {
	cd := ecstypes.ContainerDefinition{Name: aws.String(name), Image: aws.String("img-" + name)}
	for _, o := range opts {
		o(&cd)
	}
	return cd
}

func nonEssential(cd *ecstypes.ContainerDefinition) { cd.Essential = aws.Bool(false) }

func dependsOn(name, cond string) func(*ecstypes.ContainerDefinition) {
	return func(cd *ecstypes.ContainerDefinition) {
		cd.DependsOn = append(cd.DependsOn, ecstypes.ContainerDependency{ContainerName: aws.String(name), Condition: aws.String(cond)})
	}
}

func withHealthCheck(cd *ecstypes.ContainerDefinition) {
	cd.HealthCheck = &ecstypes.HealthCheck{Command: []string{"CMD-SHELL", "true"}}
}

func port(container, host int32) func(*ecstypes.ContainerDefinition) {
	return func(cd *ecstypes.ContainerDefinition) {
		pm := ecstypes.PortMapping{ContainerPort: aws.Int32(container)}
		if host != 0 {
			pm.HostPort = aws.Int32(host)
		}
		cd.PortMappings = append(cd.PortMappings, pm)
	}
}

// images lists the images of the given containers, for preloading the fake.
func images(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, "img-"+n)
	}
	return out
}

func container(t *testing.T, c TaskStateChange, name string) ContainerStateChange {
	t.Helper()
	for _, cc := range c.Containers {
		if cc.Name == name {
			return cc
		}
	}
	t.Fatalf("no container %s in %+v", name, c)
	return ContainerStateChange{}
}

func containerStatusIs(name, status string) func(TaskStateChange) bool {
	return func(c TaskStateChange) bool {
		for _, cc := range c.Containers {
			if cc.Name == name {
				return cc.Status == status
			}
		}
		return false
	}
}

func exitCode(cc ContainerStateChange) string {
	if cc.ExitCode == nil {
		return "<nil>"
	}
	return fmt.Sprint(*cc.ExitCode)
}
