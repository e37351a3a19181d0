package engine

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// minimumCPUShares is the smallest CPU share Docker accepts; the ECS agent
// raises smaller values (including an unset cpu) to it.
const minimumCPUShares = 2

const mib = 1024 * 1024

// Health check defaults, as ECS documents them.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 5 * time.Second
	defaultHealthRetries  = 3
)

// errUnsupportedNetwork marks a task that can never start on this agent.
var errUnsupportedNetwork = errors.New("network mode is not supported")

// networkMode returns the task's Docker network mode, defaulting to bridge
// (the Linux default), or an error naming a mode this agent cannot run.
func networkMode(def ecstypes.TaskDefinition) (string, error) {
	mode := aws.ToString(def.NetworkMode)
	switch mode {
	case "", ecstypes.NetworkModeBridge:
		return ecstypes.NetworkModeBridge, nil
	case ecstypes.NetworkModeHost, ecstypes.NetworkModeNone:
		return mode, nil
	case ecstypes.NetworkModeAwsvpc:
		return "", fmt.Errorf("awsvpc network mode is not supported yet: %w", errUnsupportedNetwork)
	default:
		return "", fmt.Errorf("%s network mode is not supported: %w", mode, errUnsupportedNetwork)
	}
}

// taskID is the last segment of a task ARN (arn:...:task/cluster/id).
func taskID(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// containerName is the engine-level name of one task container. The full
// task ID keeps it unique on the engine, and determinism lets a retried
// create find a container an earlier, timed-out attempt made.
func containerName(def ecstypes.TaskDefinition, taskARN, container string) string {
	name := fmt.Sprintf("ecs-%s-%d-%s-%s", aws.ToString(def.Family), aws.ToInt32(def.Revision), container, taskID(taskARN))
	return sanitizeName(name)
}

// sanitizeName keeps only characters Docker allows in names
// ([a-zA-Z0-9][a-zA-Z0-9_.-]*).
func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '_' || c == '.' || c == '-'))
		if !ok {
			b[i] = '-'
		}
	}
	return string(b)
}

// specInput is everything buildSpec needs beyond the container definition.
type specInput struct {
	Task        Task
	Container   ecstypes.ContainerDefinition
	Override    *ecstypes.ContainerOverride
	NetworkMode string
	ClusterARN  string
	InstanceARN string
	// NvidiaRuntime is the runtime of a container with GPUs.
	NvidiaRuntime string
}

// nvidiaVisibleDevices is the variable the nvidia runtime reads the
// container's GPUs from (comma-separated ids), as the ECS agent sets it.
const nvidiaVisibleDevices = "NVIDIA_VISIBLE_DEVICES"

// buildSpec maps one container definition, with its RunTask override, onto
// the runtime's container spec.
func buildSpec(in specInput) (runtime.ContainerSpec, error) {
	cd := in.Container
	ov := in.Override
	if ov == nil {
		ov = &ecstypes.ContainerOverride{}
	}
	name := aws.ToString(cd.Name)
	spec := runtime.ContainerSpec{
		Name:           containerName(in.Task.TaskDefinition, in.Task.Arn, name),
		Image:          aws.ToString(cd.Image),
		Entrypoint:     slices.Clone(cd.EntryPoint),
		Cmd:            slices.Clone(cd.Command),
		Env:            environment(cd.Environment, ov.Environment),
		WorkingDir:     aws.ToString(cd.WorkingDirectory),
		User:           aws.ToString(cd.User),
		Hostname:       aws.ToString(cd.Hostname),
		Labels:         labels(in, name),
		NetworkMode:    in.NetworkMode,
		Privileged:     aws.ToBool(cd.Privileged),
		ReadonlyRootfs: aws.ToBool(cd.ReadonlyRootFilesystem),
		DNSServers:     slices.Clone(cd.DnsServers),
		DNSSearch:      slices.Clone(cd.DnsSearchDomains),
	}
	if spec.Image == "" {
		return runtime.ContainerSpec{}, fmt.Errorf("container %s: no image", name)
	}
	if len(ov.Command) > 0 {
		spec.Cmd = slices.Clone(ov.Command)
	}
	cpu := int64(aws.ToInt32(cmp.Or(ov.Cpu, cd.Cpu)))
	spec.CPUShares = max(cpu, minimumCPUShares)
	spec.MemoryBytes = int64(aws.ToInt32(cmp.Or(ov.Memory, cd.Memory))) * mib
	spec.MemoryReservationBytes = int64(aws.ToInt32(cmp.Or(ov.MemoryReservation, cd.MemoryReservation))) * mib
	if lp := cd.LinuxParameters; lp != nil {
		spec.Init = aws.ToBool(lp.InitProcessEnabled)
	}
	for _, u := range cd.Ulimits {
		spec.Ulimits = append(spec.Ulimits, runtime.Ulimit{
			Name: aws.ToString(u.Name), Soft: int64(aws.ToInt32(u.SoftLimit)), Hard: int64(aws.ToInt32(u.HardLimit)),
		})
	}
	for _, h := range cd.ExtraHosts {
		spec.ExtraHosts = append(spec.ExtraHosts, aws.ToString(h.Hostname)+":"+aws.ToString(h.IpAddress))
	}
	if in.NetworkMode != ecstypes.NetworkModeNone {
		ports, err := portMappings(cd.PortMappings, in.NetworkMode)
		if err != nil {
			return runtime.ContainerSpec{}, fmt.Errorf("container %s: %w", name, err)
		}
		spec.PortMappings = ports
	}
	links, err := dockerLinks(in.Task, cd)
	if err != nil {
		return runtime.ContainerSpec{}, fmt.Errorf("container %s: %w", name, err)
	}
	spec.Links = links
	spec.HealthCheck = healthCheck(cd.HealthCheck)
	if gpus := in.Task.GPUs[name]; len(gpus) > 0 {
		// As the ECS agent does: the ids in NVIDIA_VISIBLE_DEVICES (over
		// any the definition set) and the nvidia runtime, which reads them.
		spec.GPUIDs = slices.Clone(gpus)
		spec.Env = setEnv(spec.Env, nvidiaVisibleDevices, strings.Join(gpus, ","))
		spec.Runtime = in.NvidiaRuntime
	}
	return spec, nil
}

// environment merges override variables over the definition's and adds
// the ECS execution environment if absent; sorted for determinism.
func environment(def, override []ecstypes.KeyValuePair) []string {
	env := map[string]string{}
	for _, list := range [][]ecstypes.KeyValuePair{def, override} {
		for _, kv := range list {
			if k := aws.ToString(kv.Name); k != "" {
				env[k] = aws.ToString(kv.Value)
			}
		}
	}
	if _, ok := env["AWS_EXECUTION_ENV"]; !ok {
		env["AWS_EXECUTION_ENV"] = "AWS_ECS_EC2"
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// setEnv sets key in a sorted KEY=VALUE list, replacing any value it had.
func setEnv(env []string, key, value string) []string {
	out := slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
	out = append(out, key+"="+value)
	slices.Sort(out)
	return out
}

// labels are the container definition's docker labels plus the engine's
// ownership labels, which a task definition cannot override.
func labels(in specInput, container string) map[string]string {
	l := maps.Clone(in.Container.DockerLabels)
	if l == nil {
		l = map[string]string{}
	}
	def := in.Task.TaskDefinition
	l[LabelTaskARN] = in.Task.Arn
	l[LabelContainerName] = container
	l[LabelCluster] = in.ClusterARN
	l[LabelFamily] = aws.ToString(def.Family)
	l[LabelRevision] = strconv.Itoa(int(aws.ToInt32(def.Revision)))
	l[LabelInstance] = in.InstanceARN
	return l
}

// portMappings converts ECS port mappings. In host mode the host port is the
// container port unless given; in bridge mode 0 asks for a dynamic port.
func portMappings(pms []ecstypes.PortMapping, mode string) ([]runtime.PortMapping, error) {
	var out []runtime.PortMapping
	for _, pm := range pms {
		if pm.ContainerPortRange != nil {
			return nil, fmt.Errorf("port mapping: containerPortRange %s is not supported", aws.ToString(pm.ContainerPortRange))
		}
		cport, hport := aws.ToInt32(pm.ContainerPort), aws.ToInt32(pm.HostPort)
		if cport <= 0 || cport > 65535 || hport < 0 || hport > 65535 {
			return nil, fmt.Errorf("port mapping %d:%d out of range", hport, cport)
		}
		if mode == ecstypes.NetworkModeHost && hport == 0 {
			hport = cport
		}
		out = append(out, runtime.PortMapping{
			ContainerPort: uint16(cport),
			HostPort:      uint16(hport),
			Protocol:      cmp.Or(aws.ToString(pm.Protocol), "tcp"),
		})
	}
	return out, nil
}

// healthCheck converts an ECS health check, filling in ECS's defaults.
func healthCheck(hc *ecstypes.HealthCheck) *runtime.HealthCheck {
	if hc == nil || len(hc.Command) == 0 {
		return nil
	}
	seconds := func(v *int32, def time.Duration) time.Duration {
		if v == nil || *v <= 0 {
			return def
		}
		return time.Duration(*v) * time.Second
	}
	retries := defaultHealthRetries
	if hc.Retries != nil && *hc.Retries > 0 {
		retries = int(*hc.Retries)
	}
	return &runtime.HealthCheck{
		Test:        slices.Clone(hc.Command),
		Interval:    seconds(hc.Interval, defaultHealthInterval),
		Timeout:     seconds(hc.Timeout, defaultHealthTimeout),
		StartPeriod: seconds(hc.StartPeriod, 0),
		Retries:     retries,
	}
}

// bindings are a running container's network bindings as ECS reports them:
// what Docker published in bridge mode, the declared ports in host mode.
// IPv6 bindings are left out, as the ECS agent does by default
// (ECS_EXCLUDE_IPV6_PORTBINDING): Docker 20.10 may publish a dynamic port
// on a different host port for "::" than for 0.0.0.0, and a client taking
// that one would reach another container over IPv4.
func bindings(mode string, declared []runtime.PortMapping, st runtime.ContainerState) []ecstypes.NetworkBinding {
	var out []ecstypes.NetworkBinding
	switch mode {
	case ecstypes.NetworkModeHost:
		for _, pm := range declared {
			out = append(out, networkBinding("0.0.0.0", pm.ContainerPort, pm.HostPort, pm.Protocol))
		}
	case ecstypes.NetworkModeBridge:
		for _, pb := range st.Ports {
			if strings.Contains(pb.HostIP, ":") {
				continue
			}
			out = append(out, networkBinding(cmp.Or(pb.HostIP, "0.0.0.0"), pb.ContainerPort, pb.HostPort, pb.Protocol))
		}
	}
	return out
}

func networkBinding(ip string, cport, hport uint16, proto string) ecstypes.NetworkBinding {
	return ecstypes.NetworkBinding{
		BindIP:        aws.String(ip),
		ContainerPort: aws.Int32(int32(cport)),
		HostPort:      aws.Int32(int32(hport)),
		Protocol:      aws.String(cmp.Or(proto, "tcp")),
	}
}

// containerOverride finds the override for the named container.
func containerOverride(o *ecstypes.TaskOverride, name string) *ecstypes.ContainerOverride {
	if o == nil {
		return nil
	}
	for i := range o.ContainerOverrides {
		if aws.ToString(o.ContainerOverrides[i].Name) == name {
			return &o.ContainerOverrides[i]
		}
	}
	return nil
}
