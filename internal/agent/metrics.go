package agent

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/tcs"
)

// Task metrics, as ECS's agent gathers them: the running containers of
// RUNNING tasks are sampled every few seconds and what was sampled is
// published over TCS every 20 seconds, as statistic sets of CPU (percent of
// the whole instance) and memory (MiB) per container.
const (
	// DefaultMetricsSampleInterval is how often containers are sampled.
	DefaultMetricsSampleInterval = 5 * time.Second
	// DefaultMetricsPublishInterval is how often samples are published.
	DefaultMetricsPublishInterval = 20 * time.Second
	// metricsPerPublish bounds the tasks of one PublishMetricsRequest; a
	// larger set goes out in several, the last marked fin.
	metricsPerPublish = 100
	// statsParallel bounds the stats reads of one sample in flight at once.
	statsParallel = 8
)

// taskSnapshotter is what the collector reads of the task engine: the last
// reported state of each task. *engine.Engine satisfies it.
type taskSnapshotter interface {
	Snapshot() []engine.TaskStateChange
}

var _ taskSnapshotter = (*engine.Engine)(nil)

// statsReader reads a container's resource use; runtime.Runtime satisfies it.
type statsReader interface {
	Stats(ctx context.Context, id string) (runtime.ContainerStats, error)
}

var _ statsReader = (runtime.Runtime)(nil)

// metricsConfig configures a metricsCollector.
type metricsConfig struct {
	Tasks      taskSnapshotter
	Stats      statsReader
	ClusterARN string
	// CPUs is the number of cores CPU percent is relative to: 100 percent
	// is all of them busy. The agent uses the instance's registered CPU
	// units / 1024, which by default is the host's core count (what ECS's
	// agent divides by), and for which the server's conversion of percent
	// back to CPU units (percent x registered CPU) gives the CPU the task
	// used, whatever BERTH_CPU_UNITS says.
	CPUs float64
	// SampleEvery and PublishEvery default to the Default* intervals.
	SampleEvery, PublishEvery time.Duration
	// CallTimeout bounds one stats read (default 30s).
	CallTimeout time.Duration
	// Clock drives the intervals; default the real clock.
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// metricsCollector samples the running containers of the engine's RUNNING
// tasks and, every publish interval, queues what it sampled for the
// telemetry connection, which takes it (ready, take). An instance that
// runs no task queues nothing, so it never causes a TCS dial. The goroutine
// that calls run owns the samples; only the queue is shared.
type metricsCollector struct {
	cfg metricsConfig
	log *slog.Logger

	// Owned by run's goroutine (or a test calling sample and publish).
	readings map[string]runtime.ContainerStats // last reading by runtime ID
	window   map[string]*taskSamples           // samples since the last publish, by task ARN

	mu      sync.Mutex
	pending []tcs.TaskMetric // the latest publish not yet taken
	wake    chan struct{}    // cap 1: pending is non-empty
}

// taskSamples is what one task's containers measured in a window.
type taskSamples struct {
	family     string
	revision   int32
	containers map[string]*containerSamples // by container name
}

// containerSamples is one container's samples in a window.
type containerSamples struct {
	cpu, memory statSet
}

// statSet summarises samples as a CloudWatch statistic set does.
type statSet struct {
	min, max, sum float64
	n             int64
}

func (s *statSet) add(v float64) {
	if s.n == 0 || v < s.min {
		s.min = v
	}
	if s.n == 0 || v > s.max {
		s.max = v
	}
	s.sum += v
	s.n++
}

func (s statSet) wire() *tcs.CWStatsSet {
	return &tcs.CWStatsSet{Min: &s.min, Max: &s.max, SampleCount: &s.n, Sum: &s.sum}
}

func newMetricsCollector(cfg metricsConfig) *metricsCollector {
	cfg.SampleEvery = cmp.Or(cfg.SampleEvery, DefaultMetricsSampleInterval)
	cfg.PublishEvery = cmp.Or(cfg.PublishEvery, DefaultMetricsPublishInterval)
	cfg.CallTimeout = cmp.Or(cfg.CallTimeout, defaultCallTimeout)
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.CPUs <= 0 {
		cfg.CPUs = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &metricsCollector{
		cfg: cfg, log: log,
		readings: map[string]runtime.ContainerStats{}, window: map[string]*taskSamples{},
		wake: make(chan struct{}, 1),
	}
}

// run samples and publishes on the configured intervals until ctx is done.
func (m *metricsCollector) run(ctx context.Context) {
	sample := m.cfg.Clock.NewTicker(m.cfg.SampleEvery)
	defer sample.Stop()
	publish := m.cfg.Clock.NewTicker(m.cfg.PublishEvery)
	defer publish.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sample.Chan():
			m.sample(ctx)
		case <-publish.Chan():
			m.publish()
		}
	}
}

// target is one container to sample.
type target struct {
	task      engine.TaskStateChange
	container string // name
	id        string // runtime ID
}

// sample reads the stats of every running container of the RUNNING tasks
// and adds a memory sample and, from the second reading of a container on,
// a CPU sample: the CPU time used between the two readings over the time
// between them, as a percent of the instance's CPUs.
func (m *metricsCollector) sample(ctx context.Context) {
	var targets []target
	for _, t := range m.cfg.Tasks.Snapshot() {
		if t.Status != "RUNNING" {
			continue
		}
		for _, c := range t.Containers {
			if c.Status == "RUNNING" && c.RuntimeID != "" {
				targets = append(targets, target{task: t, container: c.Name, id: c.RuntimeID})
			}
		}
	}
	live := make(map[string]bool, len(targets))
	for _, tg := range targets {
		live[tg.id] = true
	}
	// Readings of containers that stopped (or left their task) go, so a
	// runtime ID is never compared across runs.
	maps.DeleteFunc(m.readings, func(id string, _ runtime.ContainerStats) bool { return !live[id] })
	if len(targets) == 0 {
		return
	}
	stats, errs := m.read(ctx, targets)
	for i, tg := range targets {
		if err := errs[i]; err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, runtime.ErrNotRunning) || errors.Is(err, runtime.ErrNotFound) {
				// It stopped since the snapshot; the engine reports that.
				delete(m.readings, tg.id)
				continue
			}
			m.log.Warn("metrics: cannot read container stats", "task", tg.task.TaskARN, "container", tg.container, "err", err)
			continue
		}
		m.add(tg, stats[i])
	}
}

// read reads the targets' stats, a few at a time.
func (m *metricsCollector) read(ctx context.Context, targets []target) ([]runtime.ContainerStats, []error) {
	stats := make([]runtime.ContainerStats, len(targets))
	errs := make([]error, len(targets))
	slots := make(chan struct{}, statsParallel)
	var wg sync.WaitGroup
	for i, tg := range targets {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			callCtx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
			defer cancel()
			stats[i], errs[i] = m.cfg.Stats.Stats(callCtx, tg.id)
		})
	}
	wg.Wait()
	return stats, errs
}

// add records one reading of a target.
func (m *metricsCollector) add(tg target, s runtime.ContainerStats) {
	ts := m.window[tg.task.TaskARN]
	if ts == nil {
		ts = &taskSamples{containers: map[string]*containerSamples{}}
		m.window[tg.task.TaskARN] = ts
	}
	ts.family, ts.revision = tg.task.Family, tg.task.Revision
	cs := ts.containers[tg.container]
	if cs == nil {
		cs = &containerSamples{}
		ts.containers[tg.container] = cs
	}
	cs.memory.add(float64(s.MemoryBytes) / (1 << 20))
	prev, ok := m.readings[tg.id]
	m.readings[tg.id] = s
	if !ok || !s.At.After(prev.At) || s.CPUTime < prev.CPUTime {
		return // a first reading, or one that cannot follow the last
	}
	elapsed := s.At.Sub(prev.At)
	cs.cpu.add(float64(s.CPUTime-prev.CPUTime) / float64(elapsed) / m.cfg.CPUs * 100)
}

// publish queues the window's samples for the telemetry connection, in
// place of any publish it has not taken yet, and starts a new window. A
// container without a CPU sample yet (sampled once) waits for the next
// publish, as with ECS's agent; a window without any queues nothing. It
// reports how many tasks it queued.
func (m *metricsCollector) publish() int {
	var out []tcs.TaskMetric
	for _, arn := range slices.Sorted(maps.Keys(m.window)) {
		ts := m.window[arn]
		tm := tcs.TaskMetric{
			TaskArn: arn, ClusterArn: m.cfg.ClusterARN,
			TaskDefinitionFamily: ts.family, TaskDefinitionVersion: strconv.Itoa(int(ts.revision)),
		}
		for _, name := range slices.Sorted(maps.Keys(ts.containers)) {
			cs := ts.containers[name]
			if cs.cpu.n == 0 {
				continue
			}
			tm.ContainerMetrics = append(tm.ContainerMetrics, tcs.ContainerMetric{
				ContainerName: name, CPUStatsSet: cs.cpu.wire(), MemoryStatsSet: cs.memory.wire(),
			})
		}
		if len(tm.ContainerMetrics) > 0 {
			out = append(out, tm)
		}
	}
	clear(m.window)
	if len(out) == 0 {
		return 0
	}
	m.mu.Lock()
	m.pending = out // the server wants the latest, not a backlog
	m.mu.Unlock()
	notify(m.wake)
	return len(out)
}

// ready is signalled when metrics wait to be published; a nil collector
// (metrics disabled) never signals.
func (m *metricsCollector) ready() <-chan struct{} {
	if m == nil {
		return nil
	}
	return m.wake
}

// take removes and returns the metrics waiting to be published.
func (m *metricsCollector) take() []tcs.TaskMetric {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.pending
	m.pending = nil
	return out
}

// requeue puts back the metrics of a publish that failed, unless a newer
// publish was queued meanwhile.
func (m *metricsCollector) requeue(tms []tcs.TaskMetric) {
	m.mu.Lock()
	if m.pending == nil {
		m.pending = tms
	}
	m.mu.Unlock()
	notify(m.wake)
}

// renotify signals ready again when metrics wait: the signal that made the
// telemetry client dial was consumed before it connected.
func (m *metricsCollector) renotify() {
	if m == nil {
		return
	}
	m.mu.Lock()
	waiting := len(m.pending) > 0
	m.mu.Unlock()
	if waiting {
		notify(m.wake)
	}
}
