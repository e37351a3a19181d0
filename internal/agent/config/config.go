// Package config owns the agent's configuration: the /etc/ecs/ecs.config file
// format (KEY=VALUE lines, as the ECS agent reads it), the ECS defaults for
// every key Berth understands, Berth's own BERTH_* keys, and the rule that a
// process environment variable of the same name wins over the file.
package config

import (
	"fmt"
	"runtime"
	"time"
)

// DefaultPath is where the ECS agent, and so Berth's agent, looks for its file.
const DefaultPath = "/etc/ecs/ecs.config"

// Image pull behaviours (ECS_IMAGE_PULL_BEHAVIOR).
const (
	PullDefault      = "default"
	PullAlways       = "always"
	PullOnce         = "once"
	PullPreferCached = "prefer-cached"
)

// Defaults, as the ECS agent documents them.
const (
	DefaultCluster              = "default"
	DefaultContainerStopTimeout = 30 * time.Second
	DefaultTaskCleanupWait      = 3 * time.Hour
	DefaultDataDir              = "/var/lib/ecs/data"
	DefaultInstanceType         = "berth.local"
	// DefaultNvidiaRuntime is the Docker runtime GPU containers run with,
	// as the ECS agent's ECS_NVIDIA_RUNTIME default.
	DefaultNvidiaRuntime = "nvidia"
	// MaxSimGPUs bounds BERTH_SIM_GPUS.
	MaxSimGPUs = 64
)

// DefaultReservedPorts are the TCP ports the ECS agent keeps for itself and
// for Docker (ssh, the Docker API, the agent's introspection endpoints).
func DefaultReservedPorts() []uint16 { return []uint16{22, 2375, 2376, 51678, 51679} }

// DefaultLoggingDrivers is the ECS agent's Linux default for
// ECS_AVAILABLE_LOGGING_DRIVERS.
func DefaultLoggingDrivers() []string { return []string{"json-file", "none"} }

// Config is the agent's effective configuration.
type Config struct {
	// Cluster is ECS_CLUSTER: a cluster name or ARN.
	Cluster string
	// InstanceAttributes is ECS_INSTANCE_ATTRIBUTES: custom attributes
	// registered with the instance, next to the built-in ecs.* ones.
	InstanceAttributes map[string]string
	// ReservedMemoryMiB is ECS_RESERVED_MEMORY: MiB kept out of the memory
	// registered for tasks.
	ReservedMemoryMiB int64
	// ReservedPorts and ReservedPortsUDP are ECS_RESERVED_PORTS(_UDP): host
	// ports never handed to tasks.
	ReservedPorts    []uint16
	ReservedPortsUDP []uint16
	// ContainerStopTimeout is ECS_CONTAINER_STOP_TIMEOUT: time between the
	// stop signal and the kill.
	ContainerStopTimeout time.Duration
	// ImagePullBehavior is ECS_IMAGE_PULL_BEHAVIOR (Pull* constants).
	ImagePullBehavior string
	// TaskCleanupWait is ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION: how long a
	// stopped task's containers are kept before removal.
	TaskCleanupWait time.Duration
	// DataDir is ECS_DATADIR: where the agent keeps its state.
	DataDir string
	// AvailableLoggingDrivers is ECS_AVAILABLE_LOGGING_DRIVERS.
	AvailableLoggingDrivers []string
	// ContainerInstanceTags is ECS_CONTAINER_INSTANCE_TAGS: tags applied to the
	// container instance at registration.
	ContainerInstanceTags map[string]string
	// DisableMetrics is ECS_DISABLE_METRICS: when true the agent publishes
	// no task metrics (CPU and memory use) over the telemetry connection.
	DisableMetrics bool
	// GPUSupportEnabled is ECS_ENABLE_GPU_SUPPORT: the agent registers the
	// host's GPUs (GPUIDs, else the ones it finds) and runs containers
	// that were given some with NvidiaRuntime.
	GPUSupportEnabled bool
	// NvidiaRuntime is ECS_NVIDIA_RUNTIME: the Docker runtime of containers
	// with GPUs (default DefaultNvidiaRuntime).
	NvidiaRuntime string

	// CPUUnits is BERTH_CPU_UNITS; default: cores x 1024.
	CPUUnits int64
	// MemoryMiB is BERTH_MEMORY_MIB; default: the host's MemTotal.
	MemoryMiB int64
	// AvailabilityZoneRaw is BERTH_AVAILABILITY_ZONE as given ("" if unset);
	// use AvailabilityZone to resolve the default.
	AvailabilityZoneRaw string
	// InstanceType is BERTH_INSTANCE_TYPE.
	InstanceType string
	// GPUIDs is BERTH_GPU_IDS: the host's GPU ids, comma-separated, for
	// hosts where the agent should not look for them itself (it needs
	// ECS_ENABLE_GPU_SUPPORT=true). The agent fills it when it finds GPUs.
	GPUIDs []string
	// SimGPUs is BERTH_SIM_GPUS: how many GPUs each instance of `berth
	// agent --runtime sim` offers (ids GPU-sim-<instance>-<n>).
	SimGPUs int

	// Unknown holds every key of the file Berth does not understand (most
	// often other ECS_* settings), for the caller to log. Not an error:
	// an ecs.config written for the ECS agent must load.
	Unknown map[string]string
}

// AvailabilityZone is BERTH_AVAILABILITY_ZONE, or "<region>a" when unset.
func (c Config) AvailabilityZone(region string) string {
	if c.AvailabilityZoneRaw != "" {
		return c.AvailabilityZoneRaw
	}
	if region == "" {
		return ""
	}
	return region + "a"
}

// RegisteredMemoryMiB is the memory offered to tasks: MemoryMiB less
// ReservedMemoryMiB (Load guarantees it is positive).
func (c Config) RegisteredMemoryMiB() int64 { return c.MemoryMiB - c.ReservedMemoryMiB }

// defaults returns a Config with every ECS default but the host-dependent
// ones (CPU and memory), which Load fills only when they are not configured.
func defaults() Config {
	return Config{
		Cluster:                 DefaultCluster,
		InstanceAttributes:      map[string]string{},
		ReservedPorts:           DefaultReservedPorts(),
		ReservedPortsUDP:        []uint16{},
		ContainerStopTimeout:    DefaultContainerStopTimeout,
		ImagePullBehavior:       PullDefault,
		TaskCleanupWait:         DefaultTaskCleanupWait,
		DataDir:                 DefaultDataDir,
		AvailableLoggingDrivers: DefaultLoggingDrivers(),
		ContainerInstanceTags:   map[string]string{},
		InstanceType:            DefaultInstanceType,
		NvidiaRuntime:           DefaultNvidiaRuntime,
		Unknown:                 map[string]string{},
	}
}

// host is what Load needs to know about the machine; tests replace it.
type host struct {
	numCPU      func() int
	memTotalMiB func() (int64, error)
}

var realHost = host{numCPU: runtime.NumCPU, memTotalMiB: memTotalFromProc}

// validate checks what no single key can: settings that need each other.
func (c *Config) validate() error {
	if len(c.GPUIDs) > 0 && !c.GPUSupportEnabled {
		return fmt.Errorf("BERTH_GPU_IDS is set but GPU support is off: set ECS_ENABLE_GPU_SUPPORT=true too")
	}
	return nil
}

// fillHost fills the host-dependent defaults left unset.
func (c *Config) fillHost(h host) error {
	if c.CPUUnits == 0 {
		c.CPUUnits = int64(h.numCPU()) * 1024
	}
	if c.MemoryMiB == 0 {
		mib, err := h.memTotalMiB()
		if err != nil {
			return fmt.Errorf("BERTH_MEMORY_MIB is not set and the host's memory is unknown: %w", err)
		}
		c.MemoryMiB = mib
	}
	if c.ReservedMemoryMiB >= c.MemoryMiB {
		return fmt.Errorf("ECS_RESERVED_MEMORY %d MiB leaves no memory for tasks (instance has %d MiB)", c.ReservedMemoryMiB, c.MemoryMiB)
	}
	return nil
}
