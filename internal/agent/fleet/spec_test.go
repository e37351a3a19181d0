package fleet

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/agent/config"
	"github.com/berth-dev/berth/internal/agent/runtime/sim"
)

func baseConfig() config.Config {
	return config.Config{
		Cluster: "sim", CPUUnits: 2048, MemoryMiB: 4096, InstanceType: "berth.local",
		InstanceAttributes: map[string]string{"stack": "edge"},
	}
}

func TestInstanceConfig(t *testing.T) {
	spec := Spec{
		InstanceType: "m5.large",
		Memory:       8192,
		Attributes:   map[string]string{"tier": "sim"},
		Groups: []Group{
			{Count: 2, CPU: 4096, InstanceType: "m5.xlarge", Attributes: map[string]string{"gpu": "yes"}},
			{Count: 1, Zones: []string{"edge-1"}},
		},
	}
	tests := []struct {
		i          int
		wantZone   string
		wantType   string
		wantCPU    int64
		wantMemory int64
		wantAttrs  map[string]string
	}{
		{0, "us-east-1a", "m5.xlarge", 4096, 8192, map[string]string{"stack": "edge", "tier": "sim", "gpu": "yes", AttrInstanceName: "sim-0001"}},
		{1, "us-east-1b", "m5.xlarge", 4096, 8192, map[string]string{"stack": "edge", "tier": "sim", "gpu": "yes", AttrInstanceName: "sim-0002"}},
		{2, "edge-1", "m5.large", 2048, 8192, map[string]string{"stack": "edge", "tier": "sim", AttrInstanceName: "sim-0003"}},
		{3, "us-east-1a", "m5.large", 2048, 8192, map[string]string{"stack": "edge", "tier": "sim", AttrInstanceName: "sim-0004"}},
		{5, "us-east-1c", "m5.large", 2048, 8192, map[string]string{"stack": "edge", "tier": "sim", AttrInstanceName: "sim-0006"}},
	}
	base := baseConfig()
	for _, tt := range tests {
		t.Run(Name(tt.i), func(t *testing.T) {
			c := spec.instanceConfig(base, "us-east-1", tt.i)
			if got := c.AvailabilityZone("us-east-1"); got != tt.wantZone {
				t.Errorf("zone %s, want %s", got, tt.wantZone)
			}
			if c.InstanceType != tt.wantType || c.CPUUnits != tt.wantCPU || c.MemoryMiB != tt.wantMemory {
				t.Errorf("type/cpu/memory = %s/%d/%d, want %s/%d/%d", c.InstanceType, c.CPUUnits, c.MemoryMiB, tt.wantType, tt.wantCPU, tt.wantMemory)
			}
			if len(c.InstanceAttributes) != len(tt.wantAttrs) {
				t.Errorf("attributes %v, want %v", c.InstanceAttributes, tt.wantAttrs)
			}
			for k, v := range tt.wantAttrs {
				if c.InstanceAttributes[k] != v {
					t.Errorf("attribute %s = %q, want %q", k, c.InstanceAttributes[k], v)
				}
			}
		})
	}
	if len(base.InstanceAttributes) != 1 {
		t.Errorf("the base config's attributes were modified: %v", base.InstanceAttributes)
	}
}

func TestSimGPUs(t *testing.T) {
	base := baseConfig()
	base.SimGPUs = 2 // BERTH_SIM_GPUS
	spec := Spec{Groups: []Group{{Count: 1, GPUs: 3}}}
	for _, tt := range []struct {
		i    int
		want []string
	}{
		{0, []string{"GPU-sim-0001-0", "GPU-sim-0001-1", "GPU-sim-0001-2"}},
		{1, []string{"GPU-sim-0002-0", "GPU-sim-0002-1"}},
	} {
		c := spec.instanceConfig(base, "us-east-1", tt.i)
		if !c.GPUSupportEnabled || !slices.Equal(c.GPUIDs, tt.want) {
			t.Errorf("instance %d: GPU support %v ids %v, want on and %v", tt.i, c.GPUSupportEnabled, c.GPUIDs, tt.want)
		}
	}
	if c := (Spec{}).instanceConfig(baseConfig(), "us-east-1", 0); c.GPUSupportEnabled || c.GPUIDs != nil {
		t.Errorf("without BERTH_SIM_GPUS: GPU support %v ids %v", c.GPUSupportEnabled, c.GPUIDs)
	}
	members, err := plan(Config{Instances: 2, Agent: agent.Options{Config: base, DataDir: t.TempDir(), Region: "us-east-1"}, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if !slices.Equal(m.runtime.GPUs, m.config.GPUIDs) || len(m.runtime.GPUs) == 0 {
			t.Errorf("%s: the simulated host has GPUs %v, its agent registers %v", m.name, m.runtime.GPUs, m.config.GPUIDs)
		}
	}
	if err := (Spec{GPUs: -1}).Validate(); err == nil {
		t.Error("gpus -1 accepted")
	}
}

func TestDefaultsFromBaseConfig(t *testing.T) {
	c := Spec{}.instanceConfig(baseConfig(), "eu-west-1", 4)
	if c.CPUUnits != 2048 || c.MemoryMiB != 4096 || c.InstanceType != DefaultInstanceType || c.AvailabilityZone("eu-west-1") != "eu-west-1b" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestLoadSpec(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"zones": ["z1", "z2"], "cpu": 1024, "latency": {"pull": "1s-2s"},
		"failures": {"start": 0.5, "pullImages": ["*/broken:*"]}, "groups": [{"count": 3, "memory": 512}]}`)
	s, err := LoadSpec(good)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.runtimeOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.Latency.Pull != (sim.Range{Min: time.Second, Max: 2 * time.Second}) || o.Failures.Start != 0.5 || o.Failures.PullImages[0] != "*/broken:*" {
		t.Errorf("runtime options %+v", o)
	}
	if s.CPU != 1024 || len(s.Groups) != 1 || s.Groups[0].Memory != 512 {
		t.Errorf("spec %+v", s)
	}

	for name, body := range map[string]string{
		"typo.json":     `{"zone": ["z1"]}`,
		"latency.json":  `{"latency": {"pull": "fast"}}`,
		"failure.json":  `{"failures": {"pull": 2}}`,
		"group.json":    `{"groups": [{"count": 0}]}`,
		"notjson.json":  `ECS_CLUSTER=x`,
		"pattern.json":  `{"failures": {"pullImages": ["["]}}`,
		"negative.json": `{"cpu": -1}`,
	} {
		s, err := LoadSpec(write(name, body))
		if err == nil {
			err = s.Validate()
		}
		if err == nil {
			t.Errorf("%s: loaded and validated %s", name, body)
		}
	}
	if _, err := LoadSpec(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing sim config loaded")
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		apply   func(s *Spec) error
		check   func(s Spec) bool
		wantErr string
	}{
		{"latency", func(s *Spec) error { return s.ApplyLatencyFlag("pull=1s-3s, start=100ms") },
			func(s Spec) bool {
				return s.Latency.Pull == "1s-3s" && s.Latency.Start == "100ms" && s.Latency.Create == ""
			}, ""},
		{"latency bad duration", func(s *Spec) error { return s.ApplyLatencyFlag("pull=soon") }, nil, "pull=soon"},
		{"latency unknown call", func(s *Spec) error { return s.ApplyLatencyFlag("run=1s") }, nil, "unknown call"},
		{"failures", func(s *Spec) error { return s.ApplyFailureFlag("pull=0.25,create=1") },
			func(s Spec) bool { return s.Failures.Pull == 0.25 && s.Failures.Create == 1 }, ""},
		{"failures not a number", func(s *Spec) error { return s.ApplyFailureFlag("start=often") }, nil, "start=often"},
		{"missing =", func(s *Spec) error { return s.ApplyFailureFlag("start") }, nil, "want call=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Spec
			err := tt.apply(&s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(s) {
				t.Fatalf("spec %+v, err %v", s, err)
			}
		})
	}
}
