package sim_test

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/agent/runtime/sim"
)

func TestStats(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		ran     time.Duration
		wantCPU time.Duration
		wantMem uint64
	}{
		{"defaults", nil, 100 * time.Second, time.Second, sim.DefaultMemoryMiB << 20},
		{"half a core", []string{"BERTH_SIM_CPU=50", "BERTH_SIM_MEMORY_MIB=64"}, 10 * time.Second, 5 * time.Second, 64 << 20},
		{"several cores", []string{"BERTH_SIM_CPU=250", "BERTH_SIM_MEMORY_MIB=0.5"}, 2 * time.Second, 5 * time.Second, 512 << 10},
		{"idle", []string{"BERTH_SIM_CPU=0"}, time.Hour, 0, sim.DefaultMemoryMiB << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			id := f.start(runtime.ContainerSpec{Env: tt.env})
			f.clock.Advance(tt.ran)
			got, err := f.rt.Stats(f.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want := runtime.ContainerStats{CPUTime: tt.wantCPU, MemoryBytes: tt.wantMem, At: f.clock.Now()}
			if got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
		})
	}
}

// TestStatsRestartedContainer: CPU time counts the current run only, as a
// new cgroup would, and an exited container has none.
func TestStatsRestartedContainer(t *testing.T) {
	f := newFixture(t)
	id := f.start(runtime.ContainerSpec{Env: []string{"BERTH_SIM_CPU=100"}})
	f.clock.Advance(time.Minute)
	if err := f.rt.Exit(id, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.rt.Stats(f.ctx, id); !errors.Is(err, runtime.ErrNotRunning) {
		t.Fatalf("Stats of an exited container: %v, want ErrNotRunning", err)
	}
	if err := f.rt.StartContainer(f.ctx, id); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	if got, err := f.rt.Stats(f.ctx, id); err != nil || got.CPUTime != time.Second {
		t.Fatalf("Stats after a restart = %+v, %v; want 1s of CPU", got, err)
	}
}
