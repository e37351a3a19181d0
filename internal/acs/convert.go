package acs

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// DockerAPIVersion is the Docker Engine API version the dockerConfig JSON
// is written for (the oldest the ECS agent speaks).
const DockerAPIVersion = "1.17"

// TaskInput is what the server knows of a task it sends to an agent.
type TaskInput struct {
	Arn, ClusterArn, DesiredStatus string
	Definition                     ecstypes.TaskDefinition
	Overrides                      *ecstypes.TaskOverride
	Zone, Group, LaunchType        string
	AccountID                      string
	// ContainerArns names each container's ARN, by container name.
	ContainerArns map[string]string
}

// NewTask builds the ACS task of a task: the definition with the overrides
// applied (command, environment, cpu and memory per container; cpu and
// memory of the task), every container setting either in a field of its
// own or in dockerConfig, as ECS sends them.
func NewTask(in TaskInput) (Task, error) {
	def := in.Definition
	t := Task{
		Arn: in.Arn, TaskClusterArn: in.ClusterArn, DesiredStatus: in.DesiredStatus,
		Family: aws.ToString(def.Family), Version: strconv.Itoa(int(aws.ToInt32(def.Revision))),
		NetworkMode: aws.ToString(def.NetworkMode), PidMode: aws.ToString(def.PidMode), IpcMode: aws.ToString(def.IpcMode),
		LaunchType: in.LaunchType, Zone: in.Zone, Group: in.Group, TaskDefinitionAccountID: in.AccountID,
		Containers: []Container{}, Volumes: []Volume{},
	}
	ov := in.Overrides
	if ov == nil {
		ov = &ecstypes.TaskOverride{}
	} else if raw, err := json.Marshal(ov); err == nil {
		t.Overrides = string(raw)
	}
	cpu, mem := aws.ToString(def.Cpu), aws.ToString(def.Memory)
	if ov.Cpu != nil {
		cpu = *ov.Cpu
	}
	if ov.Memory != nil {
		mem = *ov.Memory
	}
	if cpu != "" {
		units, err := strconv.ParseFloat(cpu, 64)
		if err != nil {
			return Task{}, fmt.Errorf("task cpu %q: %w", cpu, err)
		}
		t.CPU = units / 1024
	}
	if mem != "" {
		mib, err := strconv.ParseInt(mem, 10, 64)
		if err != nil {
			return Task{}, fmt.Errorf("task memory %q: %w", mem, err)
		}
		t.Memory = mib
	}
	for _, v := range def.Volumes {
		t.Volumes = append(t.Volumes, volume(v))
	}
	for _, cd := range def.ContainerDefinitions {
		c, err := newContainer(cd, containerOverride(ov, aws.ToString(cd.Name)))
		if err != nil {
			return Task{}, fmt.Errorf("container %s: %w", aws.ToString(cd.Name), err)
		}
		c.ContainerArn = in.ContainerArns[c.Name]
		t.Containers = append(t.Containers, c)
	}
	return t, nil
}

func containerOverride(ov *ecstypes.TaskOverride, name string) ecstypes.ContainerOverride {
	for _, co := range ov.ContainerOverrides {
		if aws.ToString(co.Name) == name {
			return co
		}
	}
	return ecstypes.ContainerOverride{}
}

func volume(v ecstypes.Volume) Volume {
	out := Volume{Name: aws.ToString(v.Name), Type: "host"}
	switch {
	case v.DockerVolumeConfiguration != nil:
		d := v.DockerVolumeConfiguration
		out.Type = "docker"
		out.DockerVolumeConfiguration = &DockerVolumeConfiguration{
			Scope: aws.ToString(d.Scope), Autoprovision: aws.ToBool(d.Autoprovision), Driver: aws.ToString(d.Driver),
			DriverOpts: maps.Clone(d.DriverOpts), Labels: maps.Clone(d.Labels),
		}
	case v.Host != nil:
		out.Host = &HostVolume{SourcePath: aws.ToString(v.Host.SourcePath)}
	default:
		out.Host = &HostVolume{}
	}
	return out
}

func newContainer(cd ecstypes.ContainerDefinition, ov ecstypes.ContainerOverride) (Container, error) {
	c := Container{
		Name: aws.ToString(cd.Name), Image: aws.ToString(cd.Image),
		CPU:       int64(aws.ToInt32(cmpPtr(ov.Cpu, cd.Cpu))),
		Memory:    int64(aws.ToInt32(cmpPtr(ov.Memory, cd.Memory))),
		Essential: cd.Essential == nil || *cd.Essential,
		Command:   nonNil(cd.Command), EntryPoint: nonNil(cd.EntryPoint),
		Environment: map[string]string{}, PortMappings: []PortMapping{}, Links: nonNil(cd.Links),
		MountPoints: []MountPoint{}, VolumesFrom: []VolumeFrom{},
		Privileged:   cd.Privileged,
		StartTimeout: int64(aws.ToInt32(cd.StartTimeout)), StopTimeout: int64(aws.ToInt32(cd.StopTimeout)),
	}
	if len(ov.Command) > 0 {
		c.Command = slices.Clone(ov.Command)
	}
	for _, list := range [][]ecstypes.KeyValuePair{cd.Environment, ov.Environment} {
		for _, kv := range list {
			if k := aws.ToString(kv.Name); k != "" {
				c.Environment[k] = aws.ToString(kv.Value)
			}
		}
	}
	for _, pm := range cd.PortMappings {
		c.PortMappings = append(c.PortMappings, PortMapping{
			ContainerPort: int64(aws.ToInt32(pm.ContainerPort)), HostPort: int64(aws.ToInt32(pm.HostPort)),
			Protocol: aws.ToString(pm.Protocol),
		})
	}
	for _, mp := range cd.MountPoints {
		c.MountPoints = append(c.MountPoints, MountPoint{
			SourceVolume: aws.ToString(mp.SourceVolume), ContainerPath: aws.ToString(mp.ContainerPath), ReadOnly: aws.ToBool(mp.ReadOnly),
		})
	}
	for _, vf := range cd.VolumesFrom {
		c.VolumesFrom = append(c.VolumesFrom, VolumeFrom{SourceContainer: aws.ToString(vf.SourceContainer), ReadOnly: aws.ToBool(vf.ReadOnly)})
	}
	for _, d := range cd.DependsOn {
		c.DependsOn = append(c.DependsOn, Dependency{ContainerName: aws.ToString(d.ContainerName), Condition: aws.ToString(d.Condition)})
	}
	for _, s := range cd.Secrets {
		c.Secrets = append(c.Secrets, secret(s))
	}
	if lp := cd.LinuxParameters; lp != nil && (lp.InitProcessEnabled != nil || lp.SharedMemorySize != nil) {
		c.LinuxParameters = &LinuxParameters{InitProcessEnabled: lp.InitProcessEnabled}
		if lp.SharedMemorySize != nil {
			c.LinuxParameters.SharedMemorySize = aws.Int64(int64(*lp.SharedMemorySize))
		}
	}
	if cd.HealthCheck != nil {
		c.HealthCheckType = "docker"
	}
	dc, err := dockerConfig(cd, ov)
	if err != nil {
		return Container{}, err
	}
	c.DockerConfig = dc
	// The agent reads a container's overrides as {"command": [...]} and
	// refuses any other key; the command is applied already, so this only
	// says what was overridden.
	if ov.Command != nil {
		raw, err := json.Marshal(struct {
			Command []string `json:"command"`
		}{ov.Command})
		if err != nil {
			return Container{}, err
		}
		c.Overrides = string(raw)
	}
	return c, nil
}

// secret names where a secret comes from: a Secrets Manager ARN is asm,
// anything else (a parameter name or ARN) ssm.
func secret(s ecstypes.Secret) Secret {
	from := aws.ToString(s.ValueFrom)
	provider := "ssm"
	if strings.HasPrefix(from, "arn:") && strings.Contains(from, ":secretsmanager:") {
		provider = "asm"
	}
	out := Secret{Name: aws.ToString(s.Name), ValueFrom: from, Type: "ENVIRONMENT_VARIABLE", Provider: provider, Target: "CONTAINER"}
	if parts := strings.Split(from, ":"); strings.HasPrefix(from, "arn:") && len(parts) > 3 {
		out.Region = parts[3]
	}
	return out
}

// dockerConfig writes the settings without a Container field of their own
// as the Docker Engine API's create config and host config, with only the
// fields that are set.
func dockerConfig(cd ecstypes.ContainerDefinition, ov ecstypes.ContainerOverride) (DockerConfig, error) {
	config := map[string]any{}
	set := func(m map[string]any, k string, v *string) {
		if aws.ToString(v) != "" {
			m[k] = *v
		}
	}
	if len(cd.DockerLabels) > 0 {
		config["Labels"] = cd.DockerLabels
	}
	set(config, "User", cd.User)
	set(config, "WorkingDir", cd.WorkingDirectory)
	set(config, "Hostname", cd.Hostname)
	if aws.ToBool(cd.PseudoTerminal) {
		config["Tty"] = true
	}
	if aws.ToBool(cd.Interactive) {
		config["OpenStdin"] = true
	}
	if aws.ToBool(cd.DisableNetworking) {
		config["NetworkDisabled"] = true
	}
	if hc := cd.HealthCheck; hc != nil {
		h := map[string]any{"Test": hc.Command}
		for k, secs := range map[string]*int32{"Interval": hc.Interval, "Timeout": hc.Timeout, "StartPeriod": hc.StartPeriod} {
			if secs != nil {
				h[k] = (time.Duration(*secs) * time.Second).Nanoseconds()
			}
		}
		if hc.Retries != nil {
			h["Retries"] = *hc.Retries
		}
		config["Healthcheck"] = h
	}

	host := map[string]any{}
	if res := aws.ToInt32(cmpPtr(ov.MemoryReservation, cd.MemoryReservation)); res > 0 {
		host["MemoryReservation"] = int64(res) << 20
	}
	if len(cd.Ulimits) > 0 {
		var us []map[string]any
		for _, u := range cd.Ulimits {
			us = append(us, map[string]any{"Name": aws.ToString(u.Name), "Soft": aws.ToInt32(u.SoftLimit), "Hard": aws.ToInt32(u.HardLimit)})
		}
		host["Ulimits"] = us
	}
	if len(cd.DnsServers) > 0 {
		host["Dns"] = cd.DnsServers
	}
	if len(cd.DnsSearchDomains) > 0 {
		host["DnsSearch"] = cd.DnsSearchDomains
	}
	if len(cd.ExtraHosts) > 0 {
		var hs []string
		for _, h := range cd.ExtraHosts {
			hs = append(hs, aws.ToString(h.Hostname)+":"+aws.ToString(h.IpAddress))
		}
		host["ExtraHosts"] = hs
	}
	if aws.ToBool(cd.ReadonlyRootFilesystem) {
		host["ReadonlyRootfs"] = true
	}
	if len(cd.DockerSecurityOptions) > 0 {
		host["SecurityOpt"] = cd.DockerSecurityOptions
	}
	if lc := cd.LogConfiguration; lc != nil && aws.ToString(lc.LogDriver) != "" {
		host["LogConfig"] = map[string]any{"Type": *lc.LogDriver, "Config": nonNilMap(lc.Options)}
	}
	if len(cd.SystemControls) > 0 {
		sysctls := map[string]string{}
		for _, s := range cd.SystemControls {
			sysctls[aws.ToString(s.Namespace)] = aws.ToString(s.Value)
		}
		host["Sysctls"] = sysctls
	}
	if lp := cd.LinuxParameters; lp != nil {
		if caps := lp.Capabilities; caps != nil {
			if len(caps.Add) > 0 {
				host["CapAdd"] = caps.Add
			}
			if len(caps.Drop) > 0 {
				host["CapDrop"] = caps.Drop
			}
		}
		if len(lp.Tmpfs) > 0 {
			tmpfs := map[string]string{}
			for _, t := range lp.Tmpfs {
				opts := append([]string{fmt.Sprintf("size=%dm", aws.ToInt32(t.Size))}, t.MountOptions...)
				tmpfs[aws.ToString(t.ContainerPath)] = strings.Join(opts, ",")
			}
			host["Tmpfs"] = tmpfs
		}
	}
	out := DockerConfig{Version: aws.String(DockerAPIVersion)}
	for _, x := range []struct {
		m   map[string]any
		dst **string
	}{{config, &out.Config}, {host, &out.HostConfig}} {
		if len(x.m) == 0 {
			continue
		}
		raw, err := json.Marshal(x.m)
		if err != nil {
			return DockerConfig{}, fmt.Errorf("encode docker config: %w", err)
		}
		*x.dst = aws.String(string(raw))
	}
	return out, nil
}

func cmpPtr[T comparable](override, def *T) *T {
	if override != nil {
		return override
	}
	return def
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return slices.Clone(s)
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
