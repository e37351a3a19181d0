package acs

import (
	"fmt"
	"slices"
)

// Task is one task as ACS sends it: the task definition with the RunTask
// or StartTask overrides already applied, in ECS's agent-facing shape.
type Task struct {
	Arn            string `json:"arn"`
	TaskClusterArn string `json:"taskClusterArn,omitempty"`
	DesiredStatus  string `json:"desiredStatus"`
	Family         string `json:"family"`
	// Version is the task definition's revision, as a string.
	Version     string      `json:"version"`
	Containers  []Container `json:"containers"`
	Volumes     []Volume    `json:"volumes"`
	NetworkMode string      `json:"networkMode,omitempty"`
	// CPU is the task-level CPU in vCPUs (1024 units = 1.0); 0 when the
	// definition has none. Memory is the task-level memory in MiB.
	CPU        float64 `json:"cpu,omitempty"`
	Memory     int64   `json:"memory,omitempty"`
	PidMode    string  `json:"pidMode,omitempty"`
	IpcMode    string  `json:"ipcMode,omitempty"`
	LaunchType string  `json:"launchType,omitempty"`
	// Zone is the availability zone of the instance.
	Zone                    string `json:"zone,omitempty"`
	Group                   string `json:"group,omitempty"`
	ServiceName             string `json:"serviceName,omitempty"`
	TaskDefinitionAccountID string `json:"taskDefinitionAccountId,omitempty"`
	// Overrides is the overrides JSON as the API received it (informational:
	// they are already applied to the containers).
	Overrides string `json:"overrides,omitempty"`
	// Associations attach devices to containers: one of type gpu per GPU
	// the task holds, named by the GPU's id.
	Associations []Association `json:"associations,omitempty"`
}

// Association types and content encodings, as ACS has them.
const (
	AssociationTypeGPU = "gpu"
	EncodingIdentity   = "identity"
	EncodingBase64     = "base64"
)

// Association attaches a device to containers of the task. For a GPU, Name
// is the GPU's id and Containers names the one container that gets it.
type Association struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Containers []string       `json:"containers"`
	Content    *EncodedString `json:"content,omitempty"`
}

// EncodedString is an association's description; the ECS agent passes it
// through without reading it.
type EncodedString struct {
	Encoding string `json:"encoding"`
	Value    string `json:"value"`
}

// GPUs returns, by container name, the GPU ids the task's gpu
// associations give each container, in the order they come. As the ECS
// agent does, it refuses an association that does not name exactly one
// container of the task: a GPU is never shared.
func (t Task) GPUs() (map[string][]string, error) {
	var out map[string][]string
	for _, a := range t.Associations {
		if a.Type != AssociationTypeGPU {
			continue
		}
		if len(a.Containers) != 1 {
			return nil, fmt.Errorf("gpu association %s names %d containers, want exactly 1", a.Name, len(a.Containers))
		}
		name := a.Containers[0]
		if !slices.ContainsFunc(t.Containers, func(c Container) bool { return c.Name == name }) {
			return nil, fmt.Errorf("gpu association %s names container %s, which is not in the task", a.Name, name)
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[name] = append(out[name], a.Name)
	}
	return out, nil
}

// Container is one container of a Task. CPU is in CPU units and Memory
// (the hard limit) in MiB; the soft limit and every setting without a field
// of its own travel in DockerConfig, as Docker API JSON.
type Container struct {
	Name         string            `json:"name"`
	ContainerArn string            `json:"containerArn,omitempty"`
	Image        string            `json:"image"`
	CPU          int64             `json:"cpu"`
	Memory       int64             `json:"memory,omitempty"`
	Essential    bool              `json:"essential"`
	Command      []string          `json:"command"`
	EntryPoint   []string          `json:"entryPoint"`
	Environment  map[string]string `json:"environment"`
	PortMappings []PortMapping     `json:"portMappings"`
	Links        []string          `json:"links"`
	MountPoints  []MountPoint      `json:"mountPoints"`
	VolumesFrom  []VolumeFrom      `json:"volumesFrom"`
	DependsOn    []Dependency      `json:"dependsOn,omitempty"`
	Secrets      []Secret          `json:"secrets,omitempty"`
	Privileged   *bool             `json:"privileged,omitempty"`
	// StartTimeout and StopTimeout are in seconds; 0 means the agent's default.
	StartTimeout int64 `json:"startTimeout,omitempty"`
	StopTimeout  int64 `json:"stopTimeout,omitempty"`
	// HealthCheckType is "docker" when DockerConfig.Config has a Healthcheck.
	HealthCheckType string           `json:"healthCheckType,omitempty"`
	LinuxParameters *LinuxParameters `json:"linuxParameters,omitempty"`
	DockerConfig    DockerConfig     `json:"dockerConfig"`
	Overrides       string           `json:"overrides,omitempty"`
}

// DockerConfig carries Docker Engine API JSON: Config and HostConfig are
// the container create request's config and host config (only the fields
// set), Version the Docker API version they are written for.
type DockerConfig struct {
	Config     *string `json:"config,omitempty"`
	HostConfig *string `json:"hostConfig,omitempty"`
	Version    *string `json:"version,omitempty"`
}

// PortMapping publishes a container port; HostPort 0 asks for a dynamic one.
type PortMapping struct {
	ContainerPort int64  `json:"containerPort"`
	HostPort      int64  `json:"hostPort"`
	Protocol      string `json:"protocol,omitempty"` // tcp (default) or udp
}

// MountPoint mounts a task volume into the container.
type MountPoint struct {
	SourceVolume  string `json:"sourceVolume"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly"`
}

// VolumeFrom mounts every volume of another container.
type VolumeFrom struct {
	SourceContainer string `json:"sourceContainer"`
	ReadOnly        bool   `json:"readOnly"`
}

// Volume is a task volume: a host path ("host"), or a Docker volume
// ("docker").
type Volume struct {
	Name                      string                     `json:"name"`
	Type                      string                     `json:"type,omitempty"`
	Host                      *HostVolume                `json:"host,omitempty"`
	DockerVolumeConfiguration *DockerVolumeConfiguration `json:"dockerVolumeConfiguration,omitempty"`
}

// HostVolume is a bind mount of a host path ("" = an empty directory the
// agent makes).
type HostVolume struct {
	SourcePath string `json:"sourcePath,omitempty"`
}

// DockerVolumeConfiguration configures a Docker volume.
type DockerVolumeConfiguration struct {
	Scope         string            `json:"scope,omitempty"`
	Autoprovision bool              `json:"autoprovision,omitempty"`
	Driver        string            `json:"driver,omitempty"`
	DriverOpts    map[string]string `json:"driverOpts,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
}

// Dependency orders containers: this one starts once ContainerName meets
// Condition (START, COMPLETE, SUCCESS, HEALTHY).
type Dependency struct {
	ContainerName string `json:"containerName"`
	Condition     string `json:"condition"`
}

// Secret injects a secret from SSM or Secrets Manager.
type Secret struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
	Type      string `json:"type,omitempty"`     // ENVIRONMENT_VARIABLE
	Provider  string `json:"provider,omitempty"` // ssm or asm
	Region    string `json:"region,omitempty"`
	Target    string `json:"target,omitempty"` // CONTAINER or LOG_DRIVER
}

// LinuxParameters are the Linux settings with fields of their own.
type LinuxParameters struct {
	InitProcessEnabled *bool  `json:"initProcessEnabled,omitempty"`
	SharedMemorySize   *int64 `json:"sharedMemorySize,omitempty"`
}
