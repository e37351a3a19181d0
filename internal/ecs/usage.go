package ecs

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/tcs"
)

// What agents measure of their tasks (TCS metrics) is kept per instance,
// averaged over about a minute, for the utilisation of services (the
// input of service auto scaling). It is not the truth of anything: a
// record expires on its own when its agent stops publishing.

// usageInterval is how often a telemetry session writes what it averaged.
const usageInterval = time.Minute

// usageTTL is how long a written average stays readable.
const usageTTL = 5 * time.Minute

// usageWriteTimeout bounds writing a window.
const usageWriteTimeout = 10 * time.Second

// usages holds one usageRecord per container instance, by "<cluster>/<id>".
var usages = store.NewCollection[usageRecord]("ecs/task-usage")

// usageRecord is an instance's tasks' average use over a window.
type usageRecord struct {
	InstanceArn string               `json:"instanceArn"`
	From        time.Time            `json:"from"`
	To          time.Time            `json:"to"`
	Tasks       map[string]TaskUsage `json:"tasks"` // by task ARN
}

// TaskUsage is a task's average use of CPU (in CPU units, 1,024 per core)
// and memory (MiB) over a window of about a minute, summed over its
// containers.
type TaskUsage struct {
	TaskArn   string    `json:"taskArn"`
	Family    string    `json:"family,omitempty"`
	Revision  string    `json:"revision,omitempty"`
	CPUUnits  float64   `json:"cpuUnits"`
	MemoryMiB float64   `json:"memoryMiB"`
	Samples   int       `json:"samples"`
	At        time.Time `json:"at"` // the window's end
}

// usageWindow sums one session's metrics publishes since its last write.
type usageWindow struct {
	from, to time.Time
	written  bool
	tasks    map[string]*usageSum
}

type usageSum struct {
	family, revision string
	cpuPct, memMiB   float64 // sums over publishes of the task's total
	n                int
}

// add folds a publish into the window. CPU arrives in percent of the whole
// instance, memory in MiB, each as a statistic set per container.
func (w *usageWindow) add(now time.Time, m tcs.PublishMetricsRequest) {
	if len(m.TaskMetrics) == 0 {
		return
	}
	if w.tasks == nil {
		w.tasks = map[string]*usageSum{}
	}
	if len(w.tasks) == 0 {
		w.from = now
	}
	w.to = now
	for _, tm := range m.TaskMetrics {
		if tm.TaskArn == "" {
			continue
		}
		sum := w.tasks[tm.TaskArn]
		if sum == nil {
			sum = &usageSum{family: tm.TaskDefinitionFamily, revision: tm.TaskDefinitionVersion}
			w.tasks[tm.TaskArn] = sum
		}
		var cpu, mem float64
		for _, c := range tm.ContainerMetrics {
			if v, ok := c.CPUStatsSet.Average(); ok {
				cpu += v
			}
			if v, ok := c.MemoryStatsSet.Average(); ok {
				mem += v
			}
		}
		sum.cpuPct += cpu
		sum.memMiB += mem
		sum.n++
	}
}

// due says whether the window should be written: the first one at once,
// so a new task's use is visible without waiting, then every interval.
func (w *usageWindow) due(now time.Time) bool {
	return len(w.tasks) > 0 && (!w.written || now.Sub(w.from) >= usageInterval)
}

// flushUsage writes the session's window, if it holds anything, and
// starts a new one.
func (t *tcsSession) flushUsage() {
	w := &t.usage
	if len(w.tasks) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), usageWriteTimeout)
	defer cancel()
	err := t.s.st.Update(ctx, func(tx *store.Tx) error {
		inst, err := store.Get(tx, instances, t.key)
		if err != nil {
			return fmt.Errorf("get instance: %w", err)
		}
		cpuUnits := float64(resourceInt(inst.Instance.RegisteredResources, resCPU))
		rec := usageRecord{InstanceArn: t.instArn, From: w.from, To: w.to, Tasks: make(map[string]TaskUsage, len(w.tasks))}
		for arn, sum := range w.tasks {
			rec.Tasks[arn] = TaskUsage{
				TaskArn: arn, Family: sum.family, Revision: sum.revision,
				CPUUnits:  sum.cpuPct / float64(sum.n) / 100 * cpuUnits,
				MemoryMiB: sum.memMiB / float64(sum.n), Samples: sum.n, At: w.to,
			}
		}
		store.PutExpiring(tx, usages, t.key, rec, usageTTL)
		return nil
	})
	if err != nil {
		t.log.Warn("tcs: record task usage", "err", err)
	}
	w.written = true
	clear(w.tasks)
}

// TaskUsage returns the latest measured use of the cluster's tasks that
// agents published in the last few minutes, by task ARN. It reads one
// record per instance that published: it is for controllers that look
// once a minute (service auto scaling), not for request paths.
func (s *Service) TaskUsage(ctx context.Context, clusterRef string) (map[string]TaskUsage, error) {
	out := map[string]TaskUsage{}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		c, err := s.getActiveCluster(tx, clusterRef)
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		return store.Scan(tx, usages, cname+"/", "", false, func(_ string, rec usageRecord) (bool, error) {
			for arn, u := range rec.Tasks {
				if old, ok := out[arn]; !ok || u.At.After(old.At) {
					out[arn] = u
				}
			}
			return true, nil
		})
	})
	return out, err
}
