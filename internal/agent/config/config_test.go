package config

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testHost = host{
	numCPU:      func() int { return 4 },
	memTotalMiB: func() (int64, error) { return 8192, nil },
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ecs.config")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := load(filepath.Join(t.TempDir(), "missing.config"), envOf(nil), nil, testHost)
	if err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.CPUUnits = 4096
	want.MemoryMiB = 8192
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
	if got := cfg.AvailabilityZone("us-east-1"); got != "us-east-1a" {
		t.Errorf("AvailabilityZone = %q", got)
	}
	if got := cfg.RegisteredMemoryMiB(); got != 8192 {
		t.Errorf("RegisteredMemoryMiB = %d", got)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{
			name: "file format",
			file: "\uFEFF# comment\n\n  ECS_CLUSTER=prod  \nexport ECS_RESERVED_MEMORY=\"256\"\nECS_IMAGE_PULL_BEHAVIOR='prefer-cached'\n   # indented comment\nECS_DATADIR=/var/lib/x=y\n",
			check: func(t *testing.T, c Config) {
				if c.Cluster != "prod" || c.ReservedMemoryMiB != 256 || c.ImagePullBehavior != PullPreferCached || c.DataDir != "/var/lib/x=y" {
					t.Errorf("got %+v", c)
				}
				if c.RegisteredMemoryMiB() != 8192-256 {
					t.Errorf("RegisteredMemoryMiB = %d", c.RegisteredMemoryMiB())
				}
			},
		},
		{
			name: "environment wins over file",
			file: "ECS_CLUSTER=fromfile\nECS_CONTAINER_STOP_TIMEOUT=10s\n",
			env:  map[string]string{"ECS_CLUSTER": "fromenv", "ECS_CONTAINER_STOP_TIMEOUT": ""},
			check: func(t *testing.T, c Config) {
				if c.Cluster != "fromenv" {
					t.Errorf("Cluster = %q", c.Cluster)
				}
				// An empty variable counts as unset.
				if c.ContainerStopTimeout != 10*time.Second {
					t.Errorf("ContainerStopTimeout = %v", c.ContainerStopTimeout)
				}
			},
		},
		{
			name: "empty value keeps default; later line wins",
			file: "ECS_CLUSTER=\nECS_INSTANCE_TYPE=x\nBERTH_INSTANCE_TYPE=a\nBERTH_INSTANCE_TYPE=b\n",
			check: func(t *testing.T, c Config) {
				if c.Cluster != DefaultCluster || c.InstanceType != "b" {
					t.Errorf("got cluster %q type %q", c.Cluster, c.InstanceType)
				}
			},
		},
		{
			name: "unknown keys kept",
			file: "ECS_ENABLE_TASK_IAM_ROLE=true\nECS_LOGLEVEL=debug\n",
			check: func(t *testing.T, c Config) {
				want := map[string]string{"ECS_ENABLE_TASK_IAM_ROLE": "true", "ECS_LOGLEVEL": "debug"}
				if !reflect.DeepEqual(c.Unknown, want) {
					t.Errorf("Unknown = %v", c.Unknown)
				}
			},
		},
		{
			name: "json values",
			file: `ECS_INSTANCE_ATTRIBUTES={"stack": "prod", "gpu.kind": "none", "owner": "team a@x:1"}
ECS_RESERVED_PORTS=[22, 80, 80]
ECS_RESERVED_PORTS_UDP=[53]
ECS_AVAILABLE_LOGGING_DRIVERS=["json-file","awslogs"]
ECS_CONTAINER_INSTANCE_TAGS={"team":"infra","empty":""}
`,
			check: func(t *testing.T, c Config) {
				if !reflect.DeepEqual(c.InstanceAttributes, map[string]string{"stack": "prod", "gpu.kind": "none", "owner": "team a@x:1"}) {
					t.Errorf("InstanceAttributes = %v", c.InstanceAttributes)
				}
				if !reflect.DeepEqual(c.ReservedPorts, []uint16{22, 80}) || !reflect.DeepEqual(c.ReservedPortsUDP, []uint16{53}) {
					t.Errorf("ports = %v %v", c.ReservedPorts, c.ReservedPortsUDP)
				}
				if !reflect.DeepEqual(c.AvailableLoggingDrivers, []string{"json-file", "awslogs"}) {
					t.Errorf("drivers = %v", c.AvailableLoggingDrivers)
				}
				if !reflect.DeepEqual(c.ContainerInstanceTags, map[string]string{"team": "infra", "empty": ""}) {
					t.Errorf("tags = %v", c.ContainerInstanceTags)
				}
			},
		},
		{
			name: "durations and berth keys",
			env: map[string]string{
				"ECS_CONTAINER_STOP_TIMEOUT":            "2m",
				"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "0s",
				"BERTH_CPU_UNITS":                       "512",
				"BERTH_MEMORY_MIB":                      "1024",
				"BERTH_AVAILABILITY_ZONE":               "rack-7",
				"BERTH_INSTANCE_TYPE":                   "m5.large",
				"ECS_DISABLE_METRICS":                   "true",
			},
			check: func(t *testing.T, c Config) {
				if !c.DisableMetrics {
					t.Error("ECS_DISABLE_METRICS=true did not disable metrics")
				}
				if c.ContainerStopTimeout != 2*time.Minute || c.TaskCleanupWait != 0 {
					t.Errorf("durations %v %v", c.ContainerStopTimeout, c.TaskCleanupWait)
				}
				if c.CPUUnits != 512 || c.MemoryMiB != 1024 || c.InstanceType != "m5.large" {
					t.Errorf("got %+v", c)
				}
				if c.AvailabilityZone("us-east-1") != "rack-7" || c.AvailabilityZoneRaw != "rack-7" {
					t.Errorf("AvailabilityZone = %q", c.AvailabilityZone("us-east-1"))
				}
			},
		},
		{
			name: "GPUs off by default",
			check: func(t *testing.T, c Config) {
				if c.GPUSupportEnabled || c.GPUIDs != nil || c.SimGPUs != 0 || c.NvidiaRuntime != "nvidia" {
					t.Errorf("GPU settings %v %v %d %q, want off, none, 0, nvidia", c.GPUSupportEnabled, c.GPUIDs, c.SimGPUs, c.NvidiaRuntime)
				}
			},
		},
		{
			name: "GPU keys",
			file: "ECS_ENABLE_GPU_SUPPORT=true\nECS_NVIDIA_RUNTIME=nvidia-experimental\nBERTH_GPU_IDS=GPU-aaa, GPU-bbb ,GPU-ccc\n",
			env:  map[string]string{"BERTH_SIM_GPUS": "2"},
			check: func(t *testing.T, c Config) {
				if !c.GPUSupportEnabled || c.NvidiaRuntime != "nvidia-experimental" || c.SimGPUs != 2 {
					t.Errorf("got enabled %v runtime %q sim %d", c.GPUSupportEnabled, c.NvidiaRuntime, c.SimGPUs)
				}
				if !reflect.DeepEqual(c.GPUIDs, []string{"GPU-aaa", "GPU-bbb", "GPU-ccc"}) {
					t.Errorf("GPUIDs = %q", c.GPUIDs)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(writeFile(t, tt.file), envOf(tt.env), nil, testHost)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"no equals", "ECS_CLUSTER=a\nbogus line\n", nil, []string{"line 2", "KEY=VALUE"}},
		{"bad key", "1ECS=x\n", nil, []string{"line 1", "invalid key"}},
		{"bad memory", "\nECS_RESERVED_MEMORY=lots\n", nil, []string{"ECS_RESERVED_MEMORY", "line 2", "lots"}},
		{"memory from env", "", map[string]string{"ECS_RESERVED_MEMORY": "-1"}, []string{"ECS_RESERVED_MEMORY", "environment"}},
		{"reserved exceeds total", "ECS_RESERVED_MEMORY=8192\n", nil, []string{"ECS_RESERVED_MEMORY", "no memory"}},
		{"bad ports json", "ECS_RESERVED_PORTS=22,80\n", nil, []string{"ECS_RESERVED_PORTS", "JSON list"}},
		{"port range", "ECS_RESERVED_PORTS_UDP=[70000]\n", nil, []string{"ECS_RESERVED_PORTS_UDP", "70000"}},
		{"bad duration", "ECS_CONTAINER_STOP_TIMEOUT=30\n", nil, []string{"ECS_CONTAINER_STOP_TIMEOUT", "duration"}},
		{"zero stop timeout", "ECS_CONTAINER_STOP_TIMEOUT=0s\n", nil, []string{"ECS_CONTAINER_STOP_TIMEOUT", "positive"}},
		{"negative cleanup", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=-1m\n", nil, []string{"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "negative"}},
		{"pull behavior", "ECS_IMAGE_PULL_BEHAVIOR=never\n", nil, []string{"ECS_IMAGE_PULL_BEHAVIOR", "never"}},
		{"attributes not json", "ECS_INSTANCE_ATTRIBUTES=a=b\n", nil, []string{"ECS_INSTANCE_ATTRIBUTES", "JSON object"}},
		{"attribute name chars", `ECS_INSTANCE_ATTRIBUTES={"a b":"x"}`, nil, []string{"ECS_INSTANCE_ATTRIBUTES", `"a b"`}},
		{"attribute name long", `ECS_INSTANCE_ATTRIBUTES={"` + strings.Repeat("a", 129) + `":"x"}`, nil, []string{"1-128"}},
		{"attribute empty value", `ECS_INSTANCE_ATTRIBUTES={"a":""}`, nil, []string{"value"}},
		{"attribute value space", `ECS_INSTANCE_ATTRIBUTES={"a":" x"}`, nil, []string{"space"}},
		{"attribute reserved", `ECS_INSTANCE_ATTRIBUTES={"ecs.os-type":"windows"}`, nil, []string{"reserved"}},
		{"tag aws prefix", `ECS_CONTAINER_INSTANCE_TAGS={"aws:x":"1"}`, nil, []string{"ECS_CONTAINER_INSTANCE_TAGS", "aws:"}},
		{"drivers", `ECS_AVAILABLE_LOGGING_DRIVERS=json-file`, nil, []string{"ECS_AVAILABLE_LOGGING_DRIVERS"}},
		{"cpu units", "BERTH_CPU_UNITS=0\n", nil, []string{"BERTH_CPU_UNITS"}},
		{"memory mib", "BERTH_MEMORY_MIB=0\n", nil, []string{"BERTH_MEMORY_MIB", "positive"}},
		{"disable metrics", "ECS_DISABLE_METRICS=yes\n", nil, []string{"ECS_DISABLE_METRICS", "true nor false"}},
		{"gpu support", "ECS_ENABLE_GPU_SUPPORT=on\n", nil, []string{"ECS_ENABLE_GPU_SUPPORT", "true nor false"}},
		{"gpu ids without support", "BERTH_GPU_IDS=GPU-a\n", nil, []string{"BERTH_GPU_IDS", "ECS_ENABLE_GPU_SUPPORT=true"}},
		{"gpu ids empty item", "ECS_ENABLE_GPU_SUPPORT=true\nBERTH_GPU_IDS=GPU-a,,GPU-b\n", nil, []string{"BERTH_GPU_IDS", "empty GPU id"}},
		{"gpu ids twice", "ECS_ENABLE_GPU_SUPPORT=true\nBERTH_GPU_IDS=GPU-a,GPU-a\n", nil, []string{"BERTH_GPU_IDS", "twice"}},
		{"gpu id with space", "ECS_ENABLE_GPU_SUPPORT=true\nBERTH_GPU_IDS=GPU a\n", nil, []string{"BERTH_GPU_IDS", "space"}},
		{"sim gpus", "", map[string]string{"BERTH_SIM_GPUS": "-1"}, []string{"BERTH_SIM_GPUS", "0 to 64"}},
		{"sim gpus too many", "BERTH_SIM_GPUS=65\n", nil, []string{"BERTH_SIM_GPUS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(writeFile(t, tt.file), envOf(tt.env), nil, testHost)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadHostMemoryUnknown(t *testing.T) {
	h := testHost
	h.memTotalMiB = func() (int64, error) { return 0, errors.New("no /proc") }
	if _, err := load("", nil, nil, h); err == nil || !strings.Contains(err.Error(), "BERTH_MEMORY_MIB") {
		t.Fatalf("err = %v", err)
	}
	cfg, err := load("", envOf(map[string]string{"BERTH_MEMORY_MIB": "2048"}), nil, h)
	if err != nil || cfg.MemoryMiB != 2048 {
		t.Fatalf("cfg.MemoryMiB = %d, err = %v", cfg.MemoryMiB, err)
	}
}

func TestLoadUnreadable(t *testing.T) {
	if _, err := load(t.TempDir(), nil, nil, testHost); err == nil { // a directory
		t.Fatal("no error reading a directory")
	}
}

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"MemTotal:       16314424 kB\nMemFree: 1 kB\n", 15932, false},
		{"MemFree: 1 kB\n", 0, true},
		{"MemTotal: lots kB\n", 0, true},
	}
	for _, tt := range tests {
		got, err := parseMemTotal(bufio.NewScanner(strings.NewReader(tt.in)))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseMemTotal(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func TestLoadRealHost(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		t.Skip("no /proc/meminfo")
	}
	cfg, err := Load("", envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MemoryMiB <= 0 || cfg.CPUUnits <= 0 {
		t.Fatalf("host resources %d MiB %d units", cfg.MemoryMiB, cfg.CPUUnits)
	}
}

func TestLoadWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want time.Duration
	}{
		{name: "caller default applies when unset", want: time.Minute},
		{name: "file wins over caller default", file: "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=5s\n", want: 5 * time.Second},
		{name: "environment wins over caller default", env: map[string]string{"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "7s"}, want: 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(writeFile(t, tt.file), envOf(tt.env), map[string]string{"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "1m"}, testHost)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TaskCleanupWait != tt.want {
				t.Fatalf("TaskCleanupWait = %v, want %v", cfg.TaskCleanupWait, tt.want)
			}
		})
	}
}
