package agent

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/jonboulle/clockwork"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/agent/runtime/fake"
	"github.com/berth-dev/berth/internal/tcs"
)

// snapshotFunc adapts a function to taskSnapshotter.
type snapshotFunc func() []engine.TaskStateChange

func (f snapshotFunc) Snapshot() []engine.TaskStateChange { return f() }

// metricsFixture is a collector over a fake runtime, both on one fake
// clock, and a task list the test sets: the test samples and publishes by
// hand, so nothing depends on timing.
type metricsFixture struct {
	t     *testing.T
	ctx   context.Context
	clock *clockwork.FakeClock
	rt    *fake.Runtime
	m     *metricsCollector

	mu    sync.Mutex
	tasks []engine.TaskStateChange
}

// newMetricsFixture's instance has cpus cores.
func newMetricsFixture(t *testing.T, cpus float64) *metricsFixture {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	clock := clockwork.NewFakeClock()
	f := &metricsFixture{t: t, ctx: ctx, clock: clock, rt: &fake.Runtime{Images: []string{"busybox:latest"}, Clock: clock}}
	f.m = newMetricsCollector(metricsConfig{
		Tasks: snapshotFunc(f.snapshot), Stats: f.rt, ClusterARN: testClusterARN, CPUs: cpus,
		Clock: clock, Logger: testLogger(t),
	})
	return f
}

func (f *metricsFixture) snapshot() []engine.TaskStateChange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tasks
}

func (f *metricsFixture) setTasks(tasks ...engine.TaskStateChange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks = tasks
}

// start runs a container with env and returns its runtime ID.
func (f *metricsFixture) start(env ...string) string {
	f.t.Helper()
	id, err := f.rt.CreateContainer(f.ctx, runtime.ContainerSpec{Image: "busybox:latest", Env: env})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.rt.StartContainer(f.ctx, id); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// sampleEvery samples n times, d apart on the fake clock.
func (f *metricsFixture) sampleEvery(n int, d time.Duration) {
	for i := range n {
		if i > 0 {
			f.clock.Advance(d)
		}
		f.m.sample(f.ctx)
	}
}

// runningTask is a RUNNING task of family "web" revision 3 whose containers
// run with the given runtime IDs, by name.
func runningTask(arn string, ids map[string]string) engine.TaskStateChange {
	c := engine.TaskStateChange{TaskARN: arn, Status: "RUNNING", Family: "web", Revision: 3}
	for name, id := range ids {
		c.Containers = append(c.Containers, engine.ContainerStateChange{Name: name, RuntimeID: id, Status: "RUNNING"})
	}
	return c
}

// stats is a statistic set as expected; sets are compared to 1e-6.
type stats struct {
	min, max, sum float64
	n             int64
}

func checkSet(t *testing.T, what string, got *tcs.CWStatsSet, want stats) {
	t.Helper()
	if got == nil || got.Min == nil || got.Max == nil || got.Sum == nil || got.SampleCount == nil {
		t.Errorf("%s = %+v, want every field", what, got)
		return
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
	if !near(*got.Min, want.min) || !near(*got.Max, want.max) || !near(*got.Sum, want.sum) || *got.SampleCount != want.n {
		t.Errorf("%s = {min %v max %v sum %v n %d}, want %+v", what, *got.Min, *got.Max, *got.Sum, *got.SampleCount, want)
	}
}

// TestMetricsSamples: CPU is the CPU time between two readings over the
// time between them, in percent of the instance's cores; memory is in MiB;
// only the running containers of RUNNING tasks count.
func TestMetricsSamples(t *testing.T) {
	f := newMetricsFixture(t, 2)
	web := f.start("BERTH_SIM_CPU=50", "BERTH_SIM_MEMORY_MIB=64")
	side := f.start() // the sim's defaults: 1% of a core, 16 MiB
	pending := f.start("BERTH_SIM_CPU=100")
	exited := f.start("BERTH_SIM_CPU=100")
	stopped := runningTask("arn:task/stopping", map[string]string{"x": exited})
	stopped.Containers[0].Status = "STOPPED"
	pendingTask := runningTask("arn:task/pending", map[string]string{"x": pending})
	pendingTask.Status = "PENDING"
	f.setTasks(runningTask("arn:task/1", map[string]string{"web": web, "side": side}), pendingTask, stopped)

	f.sampleEvery(4, 5*time.Second) // 4 memory samples, 3 CPU samples
	if n := f.m.publish(); n != 1 {
		t.Fatalf("published %d tasks, want 1", n)
	}
	recv(t, f.m.ready(), "metrics ready")
	got := f.m.take()
	if len(got) != 1 {
		t.Fatalf("took %+v, want one task", got)
	}
	tm := got[0]
	if tm.TaskArn != "arn:task/1" || tm.ClusterArn != testClusterARN || tm.TaskDefinitionFamily != "web" || tm.TaskDefinitionVersion != "3" {
		t.Errorf("task metric %+v", tm)
	}
	if len(tm.ContainerMetrics) != 2 || tm.ContainerMetrics[0].ContainerName != "side" || tm.ContainerMetrics[1].ContainerName != "web" {
		t.Fatalf("container metrics %+v, want side and web", tm.ContainerMetrics)
	}
	// Half a core of two is 25% of the instance; 1% of a core is 0.5%.
	checkSet(t, "web cpu", tm.ContainerMetrics[1].CPUStatsSet, stats{25, 25, 75, 3})
	checkSet(t, "web memory", tm.ContainerMetrics[1].MemoryStatsSet, stats{64, 64, 256, 4})
	checkSet(t, "side cpu", tm.ContainerMetrics[0].CPUStatsSet, stats{0.5, 0.5, 1.5, 3})
	checkSet(t, "side memory", tm.ContainerMetrics[0].MemoryStatsSet, stats{16, 16, 64, 4})
	if again := f.m.take(); again != nil {
		t.Errorf("second take = %+v, want nothing", again)
	}

	// The next window starts empty; its CPU follows on from the last reading.
	f.clock.Advance(10 * time.Second)
	f.m.sample(f.ctx)
	f.m.publish()
	got = f.m.take()
	if len(got) != 1 || len(got[0].ContainerMetrics) != 2 {
		t.Fatalf("second window %+v", got)
	}
	checkSet(t, "web cpu, second window", got[0].ContainerMetrics[1].CPUStatsSet, stats{25, 25, 25, 1})
}

// TestMetricsQueueNothing: an instance without running tasks, or whose
// containers were read only once, queues nothing, so the telemetry client
// is never woken to dial.
func TestMetricsQueueNothing(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *metricsFixture)
	}{
		{"no tasks", func(f *metricsFixture) { f.sampleEvery(5, 5*time.Second) }},
		{"one reading only", func(f *metricsFixture) {
			f.setTasks(runningTask("arn:task/1", map[string]string{"web": f.start()}))
			f.m.sample(f.ctx)
		}},
		{"container exited since the snapshot", func(f *metricsFixture) {
			id := f.start()
			f.setTasks(runningTask("arn:task/1", map[string]string{"web": id}))
			f.m.sample(f.ctx)
			if err := f.rt.Exit(id, 0); err != nil {
				f.t.Fatal(err)
			}
			f.sampleEvery(3, 5*time.Second)
		}},
		{"stats failing", func(f *metricsFixture) {
			f.rt.StatsFunc = func(context.Context, string) (runtime.ContainerStats, error) {
				return runtime.ContainerStats{}, fmt.Errorf("engine busy")
			}
			f.setTasks(runningTask("arn:task/1", map[string]string{"web": f.start()}))
			f.sampleEvery(3, 5*time.Second)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMetricsFixture(t, 1)
			tt.setup(f)
			if n := f.m.publish(); n != 0 {
				t.Fatalf("published %d tasks, want none", n)
			}
			select {
			case <-f.m.ready():
				t.Fatal("the telemetry client was woken with nothing to publish")
			default:
			}
		})
	}
}

// TestTCSPublishesMetrics: queued metrics make the client dial and go out
// in signed PublishMetricsRequests of at most metricsPerPublish tasks, fin
// on the last.
func TestTCSPublishesMetrics(t *testing.T) {
	f := newMetricsFixture(t, 4)
	h := startTCS(t, func(c *tcsClient) { c.metrics = f.m })

	f.sampleEvery(3, 5*time.Second)
	f.m.publish() // idle: nothing wakes the client
	if len(f.m.wake) != 0 || h.server.tcsAttemptCount() != 0 {
		t.Fatal("an idle collector woke the telemetry client")
	}

	n := metricsPerPublish + 5
	tasks := make([]engine.TaskStateChange, n)
	for i := range tasks {
		tasks[i] = runningTask(fmt.Sprintf("arn:task/%03d", i), map[string]string{"app": f.start("BERTH_SIM_CPU=200", "BERTH_SIM_MEMORY_MIB=100")})
	}
	f.setTasks(tasks...)
	f.sampleEvery(2, 5*time.Second)
	f.m.publish()

	tc := recv(t, h.server.tcsConns, "TCS connection")
	seen := 0
	for seen < n {
		got := recv(t, tc.metrics, "metrics")
		md := got.Metadata
		if md == nil || md.Cluster != testClusterARN || md.ContainerInstance != testInstanceARN || md.MessageID == "" {
			t.Fatalf("metadata %+v", md)
		}
		if got.Timestamp == nil || got.Timestamp.IsZero() {
			t.Errorf("timestamp = %v", got.Timestamp)
		}
		for i, tm := range got.TaskMetrics {
			if want := fmt.Sprintf("arn:task/%03d", seen+i); tm.TaskArn != want || len(tm.ContainerMetrics) != 1 {
				t.Fatalf("task metric %d: %+v, want %s with one container", seen+i, tm, want)
			}
			// Two cores of four: 50% of the instance.
			checkSet(t, "cpu", tm.ContainerMetrics[0].CPUStatsSet, stats{50, 50, 50, 1})
			checkSet(t, "memory", tm.ContainerMetrics[0].MemoryStatsSet, stats{100, 100, 200, 2})
		}
		seen += len(got.TaskMetrics)
		if len(got.TaskMetrics) > metricsPerPublish || md.Fin != (seen == n) {
			t.Fatalf("publish of %d tasks, fin %v, after %d of %d", len(got.TaskMetrics), md.Fin, seen, n)
		}
	}
}

// TestAgentPublishesMetrics runs the whole agent on the fake runtime (real
// clock, short intervals): a task's scripted use reaches TCS. The values
// do not depend on timing: the simulated CPU time grows with the same
// clock that stamps the readings.
func TestAgentPublishesMetrics(t *testing.T) {
	cp := newControlPlane(t, true, func(*ecs.RegisterContainerInstanceInput) (string, error) { return arnA, nil })
	cfg := testConfig() // 4096 CPU units: 4 cores
	a, err := newAgent(Options{
		Endpoint: "http://127.0.0.1:1", Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Config:      cfg, Runtime: fake.New("busybox:latest"), DataDir: t.TempDir(), Logger: testLogger(t),
		HeartbeatInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.api = cp.api()
	a.metricsSample, a.metricsPublish = 10*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.runUntilDone(ctx) }()
	defer func() {
		cancel()
		if err := recv(t, errc, "Run to return"); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	sc := recv(t, cp.acs.conns, "ACS connection")
	task := acs.Task{
		Arn: "arn:aws:ecs:us-east-1:000000000000:task/prod/m1", DesiredStatus: "RUNNING", Family: "web", Version: "7",
		Containers: []acs.Container{{
			Name: "web", Image: "busybox:latest", Essential: true, Memory: 128,
			Environment: map[string]string{"BERTH_SIM_CPU": "150", "BERTH_SIM_MEMORY_MIB": "48"},
		}},
	}
	sc.payload(t, "m1", 1, task)
	sc.expectAck(t, "m1")
	waitSubmission(t, cp.accepted, task.Arn, "RUNNING")

	tc := recv(t, cp.acs.tcsConns, "TCS connection")
	got := recv(t, tc.metrics, "metrics")
	if md := got.Metadata; md == nil || md.ContainerInstance != arnA || !md.Fin {
		t.Fatalf("metadata %+v", md)
	}
	if len(got.TaskMetrics) != 1 || len(got.TaskMetrics[0].ContainerMetrics) != 1 {
		t.Fatalf("task metrics %+v, want the one task's one container", got.TaskMetrics)
	}
	tm := got.TaskMetrics[0]
	if tm.TaskArn != task.Arn || tm.TaskDefinitionFamily != "web" || tm.TaskDefinitionVersion != "7" || tm.ContainerMetrics[0].ContainerName != "web" {
		t.Errorf("task metric %+v", tm)
	}
	// 1.5 cores of 4 is 37.5% of the instance, whatever the sample count
	// (give or take the simulated CPU time's rounding to nanoseconds).
	cm := tm.ContainerMetrics[0]
	cpu, ok := cm.CPUStatsSet.Average()
	near := func(v float64) bool { return math.Abs(v-37.5) < 1e-3 }
	if !ok || !near(cpu) || !near(*cm.CPUStatsSet.Min) || !near(*cm.CPUStatsSet.Max) {
		t.Errorf("cpu %+v (average %v), want 37.5", cm.CPUStatsSet, cpu)
	}
	if mem, ok := cm.MemoryStatsSet.Average(); !ok || mem != 48 {
		t.Errorf("memory average %v, want 48", mem)
	}
}

// TestMetricsDisabled: ECS_DISABLE_METRICS leaves the agent without a
// collector, and a client without one is never woken by metrics.
func TestMetricsDisabled(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		t.Run(fmt.Sprint("disabled=", disabled), func(t *testing.T) {
			cfg := testConfig()
			cfg.DisableMetrics = disabled
			a, err := newAgent(Options{
				Endpoint: "http://127.0.0.1:1", Region: "us-east-1",
				Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
				Config:      cfg, Runtime: fake.New(), DataDir: t.TempDir(), Logger: testLogger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			m := a.newMetrics(&identity{clusterARN: testClusterARN})
			if (m == nil) != disabled {
				t.Fatalf("collector %v with DisableMetrics %v", m, disabled)
			}
			if disabled && m.ready() != nil {
				t.Fatal("a disabled collector can wake the telemetry client")
			}
			if !disabled && m.cfg.CPUs != 4 {
				t.Errorf("CPUs = %v, want the registered 4096 units / 1024", m.cfg.CPUs)
			}
		})
	}
}
