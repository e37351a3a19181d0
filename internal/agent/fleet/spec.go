package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/agent/config"
	"github.com/berth-dev/berth/internal/agent/runtime/sim"
)

// DefaultInstanceType is the ecs.instance-type of simulated instances.
const DefaultInstanceType = "berth.sim"

// AttrInstanceName is the attribute naming a simulated instance (sim-0001),
// so tools and tests can tell the instances of one process apart.
const AttrInstanceName = "berth.sim.instance"

// Spec describes the simulated instances: what the --sim-config file holds
// (JSON), with the command line's flags applied on top.
type Spec struct {
	// Zones are the availability zones, handed out round-robin (instance i
	// gets Zones[i % len]); default <region>a, <region>b, <region>c.
	Zones []string `json:"zones,omitempty"`
	// InstanceType is ecs.instance-type; default DefaultInstanceType.
	InstanceType string `json:"instanceType,omitempty"`
	// CPU (units) and Memory (MiB) each instance offers; default the agent
	// config's (BERTH_CPU_UNITS / BERTH_MEMORY_MIB, else this host's).
	CPU    int64 `json:"cpu,omitempty"`
	Memory int64 `json:"memory,omitempty"`
	// GPUs is how many GPUs each instance offers (ids SimGPUIDs); default
	// the agent config's BERTH_SIM_GPUS.
	GPUs int `json:"gpus,omitempty"`
	// Attributes are added to the agent config's ECS_INSTANCE_ATTRIBUTES.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Groups give instances their own settings: the first Count instances
	// take the first group's, the next Count the second's, and so on;
	// instances beyond all groups take the top-level settings. Unset group
	// fields fall back to the top level.
	Groups []Group `json:"groups,omitempty"`
	// Latency of the simulated engine's calls: "2s" or "1s-3s" (jitter).
	Latency LatencySpec `json:"latency,omitzero"`
	// Failures injected into the simulated engine.
	Failures FailureSpec `json:"failures,omitzero"`
}

// Group is the settings of Count consecutive instances.
type Group struct {
	Count        int               `json:"count"`
	Zones        []string          `json:"zones,omitempty"`
	InstanceType string            `json:"instanceType,omitempty"`
	CPU          int64             `json:"cpu,omitempty"`
	Memory       int64             `json:"memory,omitempty"`
	GPUs         int               `json:"gpus,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
}

// LatencySpec is sim.Latency as text.
type LatencySpec struct {
	Pull   string `json:"pull,omitempty"`
	Create string `json:"create,omitempty"`
	Start  string `json:"start,omitempty"`
	Stop   string `json:"stop,omitempty"`
}

// FailureSpec is sim.Failures.
type FailureSpec struct {
	Pull       float64  `json:"pull,omitempty"`
	Create     float64  `json:"create,omitempty"`
	Start      float64  `json:"start,omitempty"`
	PullImages []string `json:"pullImages,omitempty"`
}

// LoadSpec reads a --sim-config file; "" is the empty spec.
func LoadSpec(path string) (Spec, error) {
	var s Spec
	if path == "" {
		return s, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read sim config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // a misspelt key must not be silently ignored
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("sim config %s: %w", path, err)
	}
	return s, nil
}

// ApplyLatencyFlag sets latencies from "pull=1s-3s,create=50ms,...".
func (s *Spec) ApplyLatencyFlag(v string) error {
	return eachPair(v, func(k, val string) error {
		if _, err := sim.ParseRange(val); err != nil {
			return err
		}
		switch k {
		case "pull":
			s.Latency.Pull = val
		case "create":
			s.Latency.Create = val
		case "start":
			s.Latency.Start = val
		case "stop":
			s.Latency.Stop = val
		default:
			return fmt.Errorf("unknown call %q (want pull, create, start, stop)", k)
		}
		return nil
	})
}

// ApplyFailureFlag sets failure probabilities from "pull=0.01,start=0.001".
func (s *Spec) ApplyFailureFlag(v string) error {
	return eachPair(v, func(k, val string) error {
		p, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return err
		}
		switch k {
		case "pull":
			s.Failures.Pull = p
		case "create":
			s.Failures.Create = p
		case "start":
			s.Failures.Start = p
		default:
			return fmt.Errorf("unknown call %q (want pull, create, start)", k)
		}
		return nil
	})
}

func eachPair(v string, f func(k, v string) error) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("%q: want call=value", part)
		}
		if err := f(strings.TrimSpace(k), strings.TrimSpace(val)); err != nil {
			return fmt.Errorf("%s: %w", part, err)
		}
	}
	return nil
}

// runtimeOptions is the simulated engine every instance gets.
func (s Spec) runtimeOptions() (sim.Options, error) {
	var o sim.Options
	for _, f := range []struct {
		text string
		into *sim.Range
	}{{s.Latency.Pull, &o.Latency.Pull}, {s.Latency.Create, &o.Latency.Create}, {s.Latency.Start, &o.Latency.Start}, {s.Latency.Stop, &o.Latency.Stop}} {
		r, err := sim.ParseRange(f.text)
		if err != nil {
			return o, fmt.Errorf("latency: %w", err)
		}
		*f.into = r
	}
	o.Failures = sim.Failures{Pull: s.Failures.Pull, Create: s.Failures.Create, Start: s.Failures.Start, PullImages: s.Failures.PullImages}
	if err := o.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

// Validate checks the spec as a whole.
func (s Spec) Validate() error {
	for i, g := range s.Groups {
		if g.Count <= 0 {
			return fmt.Errorf("sim config: group %d: count must be positive", i+1)
		}
	}
	if s.CPU < 0 || s.Memory < 0 {
		return errors.New("sim config: cpu and memory must not be negative")
	}
	for _, n := range append([]int{s.GPUs}, groupGPUs(s.Groups)...) {
		if n < 0 || n > config.MaxSimGPUs {
			return fmt.Errorf("sim config: gpus %d is not from 0 to %d", n, config.MaxSimGPUs)
		}
	}
	_, err := s.runtimeOptions()
	return err
}

// instanceConfig is the agent config of instance i (0-based): base with
// the instance's zone, type, resources and attributes.
func (s Spec) instanceConfig(base config.Config, region string, i int) config.Config {
	g := s.group(i)
	cfg := base
	cfg.InstanceAttributes = maps.Clone(base.InstanceAttributes)
	if cfg.InstanceAttributes == nil {
		cfg.InstanceAttributes = map[string]string{}
	}
	maps.Copy(cfg.InstanceAttributes, s.Attributes)
	maps.Copy(cfg.InstanceAttributes, g.Attributes)
	cfg.InstanceAttributes[AttrInstanceName] = Name(i)

	zones := firstNonEmpty(g.Zones, s.Zones, []string{region + "a", region + "b", region + "c"})
	cfg.AvailabilityZoneRaw = zones[i%len(zones)]
	cfg.InstanceType = firstSet(g.InstanceType, s.InstanceType, DefaultInstanceType)
	cfg.CPUUnits = firstSet(g.CPU, s.CPU, base.CPUUnits)
	cfg.MemoryMiB = firstSet(g.Memory, s.Memory, base.MemoryMiB)
	if n := firstSet(g.GPUs, s.GPUs, base.SimGPUs); n > 0 {
		// Simulated GPUs need no ECS_ENABLE_GPU_SUPPORT=true.
		cfg.GPUSupportEnabled = true
		cfg.GPUIDs = SimGPUIDs(i, n)
	}
	return cfg
}

// SimGPUIDs are the ids of instance i's n simulated GPUs:
// GPU-sim-0001-0, GPU-sim-0001-1, ...
func SimGPUIDs(i, n int) []string {
	ids := make([]string, n)
	for k := range ids {
		ids[k] = fmt.Sprintf("GPU-%s-%d", Name(i), k)
	}
	return ids
}

func groupGPUs(groups []Group) []int {
	out := make([]int, len(groups))
	for i, g := range groups {
		out[i] = g.GPUs
	}
	return out
}

// group returns the group instance i belongs to (zero Group: none).
func (s Spec) group(i int) Group {
	for _, g := range s.Groups {
		if i < g.Count {
			return g
		}
		i -= g.Count
	}
	return Group{}
}

// Name is instance i's name (0-based i): sim-0001, sim-0002, ... It names
// the instance's data directory, so a restart re-registers the same ARNs.
func Name(i int) string { return fmt.Sprintf("sim-%04d", i+1) }

func firstNonEmpty(lists ...[]string) []string {
	for _, l := range lists {
		if len(l) > 0 {
			return l
		}
	}
	return nil
}

func firstSet[T comparable](vals ...T) T {
	var zero T
	for _, v := range vals {
		if v != zero {
			return v
		}
	}
	return zero
}
