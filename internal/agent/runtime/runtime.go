// Package runtime owns the agent's view of a container engine: the small set of
// calls the task engine makes, the value types they exchange, and the shared
// conformance suite (runtimetest) every implementation must pass: Docker
// (docker), the simulated engine (sim) and the unit-test fake built on it
// (fake).
package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped) when a container or image does not exist.
var ErrNotFound = errors.New("not found")

// ErrNotRunning is returned (wrapped) by Stats for a container that exists
// but is not running (created, or exited): it has nothing to measure.
var ErrNotRunning = errors.New("not running")

// PortMapping asks the engine to publish ContainerPort. HostPort 0 means a
// dynamic host port chosen by the engine.
type PortMapping struct {
	ContainerPort uint16
	HostPort      uint16
	Protocol      string // "tcp" (default) or "udp"
	HostIP        string // "" binds all host addresses
}

// PortBinding is a published port as the engine reports it after start.
type PortBinding struct {
	ContainerPort uint16
	HostPort      uint16
	Protocol      string
	HostIP        string
}

// Ulimit is one resource limit for the container's processes.
type Ulimit struct {
	Name string
	Soft int64
	Hard int64
}

// HealthCheck is a container health check in Docker's terms.
// Test follows Docker: ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"].
type HealthCheck struct {
	Test        []string
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

// ContainerSpec is everything needed to create one container.
type ContainerSpec struct {
	Name        string // engine-level container name; must be unique on the engine
	Image       string
	Entrypoint  []string
	Cmd         []string
	Env         []string // KEY=VALUE
	WorkingDir  string
	User        string
	Hostname    string
	Labels      map[string]string
	CPUShares   int64 // 0: engine default
	MemoryBytes int64 // hard limit; 0: none
	// MemoryReservationBytes is the soft limit; 0: none.
	MemoryReservationBytes int64
	Ulimits                []Ulimit
	PortMappings           []PortMapping
	NetworkMode            string // "bridge" (default), "host", "none"
	HealthCheck            *HealthCheck
	Privileged             bool
	ReadonlyRootfs         bool
	ExtraHosts             []string // "host:ip"
	DNSServers             []string
	DNSSearch              []string
	Init                   bool
	StopSignal             string
	// Links are Docker links, "name:alias" or "name", to other containers on
	// the engine; bridge networking only. As with Docker, each named
	// container must exist at create and be running at start.
	Links []string
	// GPUIDs are the host GPUs the container gets (NVIDIA UUIDs); the
	// engine has also put them in Env as NVIDIA_VISIBLE_DEVICES, which is
	// what the nvidia runtime reads.
	GPUIDs []string
	// Runtime is the OCI runtime to run the container with ("": the
	// engine's default), e.g. "nvidia" for a container with GPUs.
	Runtime string
}

// ParseLink splits a link into the linked container's name and the alias
// the linking container sees it by (the name when no alias is given).
func ParseLink(link string) (name, alias string, err error) {
	name, alias, hasAlias := strings.Cut(link, ":")
	if !hasAlias {
		alias = name
	}
	if name == "" || alias == "" || strings.Contains(alias, ":") {
		return "", "", fmt.Errorf("invalid link %q (want name or name:alias)", link)
	}
	return name, alias, nil
}

// ContainerState is what the engine reports about one container.
type ContainerState struct {
	ID         string
	Name       string
	Image      string
	ImageID    string
	Labels     map[string]string
	Status     string // engine status: created, running, paused, restarting, removing, exited, dead
	Running    bool
	ExitCode   int // meaningful once the container has exited
	Error      string
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	Health     string // "", "starting", "healthy", "unhealthy"
	Ports      []PortBinding
}

// ContainerStats is one reading of a running container's resource use, as
// `docker stats` reads it.
type ContainerStats struct {
	// CPUTime is the CPU time the container's processes have used since it
	// started, summed over every core: it only grows while the container
	// runs. The use between two readings is the difference of their
	// CPUTime over the difference of their At.
	CPUTime time.Duration
	// MemoryBytes is the memory in use: the cgroup's usage less its
	// inactive page cache, as `docker stats` shows it.
	MemoryBytes uint64
	// At is when the engine took the reading.
	At time.Time
}

// Runtime is the container engine as the agent uses it. Every call takes a
// context; implementations must honour its deadline.
type Runtime interface {
	// PullImage pulls image from its registry; its errors name the image.
	PullImage(ctx context.Context, image string) error
	// ImagePresent reports whether image is in the local image store.
	ImagePresent(ctx context.Context, image string) (bool, error)
	CreateContainer(ctx context.Context, spec ContainerSpec) (id string, err error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the stop signal, then kills after timeout.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	// RemoveContainer force-removes the container; a missing one is not an error.
	RemoveContainer(ctx context.Context, id string) error
	InspectContainer(ctx context.Context, id string) (ContainerState, error)
	// ListContainers returns all containers (running or not) carrying every
	// given label (value "" matches any value).
	ListContainers(ctx context.Context, labels map[string]string) ([]ContainerState, error)
	// WaitContainer blocks until the container is no longer running and
	// returns its exit code.
	WaitContainer(ctx context.Context, id string) (exitCode int, err error)
	// Stats reads a running container's resource use once. A missing
	// container yields runtime.ErrNotFound, one that is not running
	// runtime.ErrNotRunning (both wrapped).
	Stats(ctx context.Context, id string) (ContainerStats, error)
}
