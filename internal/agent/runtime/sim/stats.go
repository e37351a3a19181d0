package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

// Stats reads what a running container uses: BERTH_SIM_CPU percent of one
// core since it started, by the runtime's clock (so its CPU time grows by
// cpu/100 seconds every second), and BERTH_SIM_MEMORY_MIB of memory. A
// container that is not running fails with runtime.ErrNotRunning.
func (r *Runtime) Stats(ctx context.Context, id string) (runtime.ContainerStats, error) {
	if err := ctx.Err(); err != nil {
		return runtime.ContainerStats{}, fmt.Errorf("sim: stats of container %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup(id)
	if err != nil {
		return runtime.ContainerStats{}, fmt.Errorf("sim: stats of container: %w", err)
	}
	if !c.state.Running {
		return runtime.ContainerStats{}, fmt.Errorf("sim: stats of container %s (status %s): %w", id, c.state.Status, runtime.ErrNotRunning)
	}
	now := r.clock.Now()
	ran := max(now.Sub(c.state.StartedAt), 0)
	return runtime.ContainerStats{
		CPUTime:     time.Duration(float64(ran) * c.knobs.cpuPercent / 100),
		MemoryBytes: uint64(c.knobs.memoryMiB * (1 << 20)),
		At:          now,
	}, nil
}
