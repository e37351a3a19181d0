package docker

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

func TestToStats(t *testing.T) {
	read := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cpu := container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 1_500_000_000}}
	tests := []struct {
		name   string
		osType string
		mem    container.MemoryStats
		want   runtime.ContainerStats
	}{
		{
			name: "cgroup v1 leaves out inactive file cache", osType: "linux",
			mem:  container.MemoryStats{Usage: 10 << 20, Stats: map[string]uint64{"total_inactive_file": 4 << 20, "inactive_file": 1 << 20}},
			want: runtime.ContainerStats{CPUTime: 1500 * time.Millisecond, MemoryBytes: 6 << 20, At: read},
		},
		{
			name: "cgroup v2 leaves out inactive file cache", osType: "linux",
			mem:  container.MemoryStats{Usage: 10 << 20, Stats: map[string]uint64{"inactive_file": 3 << 20}},
			want: runtime.ContainerStats{CPUTime: 1500 * time.Millisecond, MemoryBytes: 7 << 20, At: read},
		},
		{
			name: "cache larger than usage is ignored", osType: "linux",
			mem:  container.MemoryStats{Usage: 1 << 20, Stats: map[string]uint64{"total_inactive_file": 2 << 20}},
			want: runtime.ContainerStats{CPUTime: 1500 * time.Millisecond, MemoryBytes: 1 << 20, At: read},
		},
		{
			name: "windows counts 100ns units and the private working set", osType: "windows",
			mem:  container.MemoryStats{PrivateWorkingSet: 5 << 20},
			want: runtime.ContainerStats{CPUTime: 150 * time.Second, MemoryBytes: 5 << 20, At: read},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := toStats(container.StatsResponse{Read: read, CPUStats: cpu, MemoryStats: tt.mem}, tt.osType)
			if got != tt.want {
				t.Errorf("toStats = %+v, want %+v", got, tt.want)
			}
		})
	}
}
