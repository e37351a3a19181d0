package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

// Stats reads the container's resource use with the engine's one-shot
// stats (API 1.41+: no second reading to prime the CPU delta, which the
// caller computes from two calls). The engine answers a container that is
// not running with an empty reading (zero read time); that is
// runtime.ErrNotRunning.
func (r *Runtime) Stats(ctx context.Context, id string) (runtime.ContainerStats, error) {
	resp, err := r.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return runtime.ContainerStats{}, wrap("stats of container "+id, err)
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		if ctx.Err() != nil {
			return runtime.ContainerStats{}, fmt.Errorf("stats of container %s: %w", id, ctx.Err())
		}
		return runtime.ContainerStats{}, fmt.Errorf("stats of container %s: decode: %w", id, err)
	}
	if s.Read.IsZero() {
		return runtime.ContainerStats{}, fmt.Errorf("stats of container %s: %w", id, runtime.ErrNotRunning)
	}
	return toStats(s, resp.OSType), nil
}

// toStats maps the engine's reading onto the runtime's. Linux reports CPU
// time in nanoseconds, Windows in 100 ns units.
func toStats(s container.StatsResponse, osType string) runtime.ContainerStats {
	out := runtime.ContainerStats{At: s.Read, CPUTime: time.Duration(s.CPUStats.CPUUsage.TotalUsage)}
	if osType == "windows" {
		out.CPUTime *= 100
		out.MemoryBytes = s.MemoryStats.PrivateWorkingSet
		return out
	}
	out.MemoryBytes = memoryInUse(s.MemoryStats)
	return out
}

// memoryInUse is the cgroup's usage less its inactive page cache, as the
// Docker CLI computes it for `docker stats`: total_inactive_file under
// cgroup v1, inactive_file under v2.
func memoryInUse(m container.MemoryStats) uint64 {
	if v, v1 := m.Stats["total_inactive_file"]; v1 && v < m.Usage {
		return m.Usage - v
	}
	if v := m.Stats["inactive_file"]; v < m.Usage {
		return m.Usage - v
	}
	return m.Usage
}
