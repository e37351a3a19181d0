package acs

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/docker/docker/api/types/container"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// Definition rebuilds, for an agent, the task definition a task runs: every
// setting of its containers from their fields and their dockerConfig, the
// overrides already applied. It is the inverse of NewTask for every setting
// Berth's agent applies.
func (t Task) Definition() (ecstypes.TaskDefinition, error) {
	rev, err := strconv.ParseInt(t.Version, 10, 32)
	if err != nil && t.Version != "" {
		return ecstypes.TaskDefinition{}, fmt.Errorf("task %s: version %q: %w", t.Arn, t.Version, err)
	}
	def := ecstypes.TaskDefinition{
		Family:      aws.String(t.Family),
		Revision:    aws.Int32(int32(rev)),
		NetworkMode: optString(t.NetworkMode),
		PidMode:     optString(t.PidMode),
		IpcMode:     optString(t.IpcMode),
		Volumes:     []ecstypes.Volume{},
	}
	if t.CPU > 0 {
		def.Cpu = aws.String(strconv.Itoa(int(math.Round(t.CPU * 1024))))
	}
	if t.Memory > 0 {
		def.Memory = aws.String(strconv.FormatInt(t.Memory, 10))
	}
	for _, v := range t.Volumes {
		def.Volumes = append(def.Volumes, v.definition())
	}
	for _, c := range t.Containers {
		cd, err := c.definition()
		if err != nil {
			return ecstypes.TaskDefinition{}, fmt.Errorf("task %s: container %s: %w", t.Arn, c.Name, err)
		}
		def.ContainerDefinitions = append(def.ContainerDefinitions, cd)
	}
	return def, nil
}

func (v Volume) definition() ecstypes.Volume {
	out := ecstypes.Volume{Name: aws.String(v.Name)}
	switch {
	case v.DockerVolumeConfiguration != nil:
		d := v.DockerVolumeConfiguration
		out.DockerVolumeConfiguration = &ecstypes.DockerVolumeConfiguration{
			Scope: optString(d.Scope), Driver: optString(d.Driver),
			DriverOpts: maps.Clone(d.DriverOpts), Labels: maps.Clone(d.Labels),
		}
		if d.Autoprovision {
			out.DockerVolumeConfiguration.Autoprovision = aws.Bool(true)
		}
	case v.Host != nil && v.Host.SourcePath != "":
		out.Host = &ecstypes.HostVolumeProperties{SourcePath: aws.String(v.Host.SourcePath)}
	}
	return out
}

func (c Container) definition() (ecstypes.ContainerDefinition, error) {
	cd := ecstypes.ContainerDefinition{
		Name: aws.String(c.Name), Image: aws.String(c.Image),
		Cpu:       aws.Int32(int32(c.CPU)),
		Essential: aws.Bool(c.Essential),
		Command:   orNil(c.Command), EntryPoint: orNil(c.EntryPoint),
		Links:      orNil(c.Links),
		Privileged: c.Privileged,
	}
	if c.Memory > 0 {
		cd.Memory = aws.Int32(int32(c.Memory))
	}
	if c.StartTimeout > 0 {
		cd.StartTimeout = aws.Int32(int32(c.StartTimeout))
	}
	if c.StopTimeout > 0 {
		cd.StopTimeout = aws.Int32(int32(c.StopTimeout))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Environment)) {
		cd.Environment = append(cd.Environment, ecstypes.KeyValuePair{Name: aws.String(k), Value: aws.String(c.Environment[k])})
	}
	for _, pm := range c.PortMappings {
		p := ecstypes.PortMapping{ContainerPort: aws.Int32(int32(pm.ContainerPort)), HostPort: aws.Int32(int32(pm.HostPort))}
		p.Protocol = aws.String(cmpString(pm.Protocol, "tcp"))
		cd.PortMappings = append(cd.PortMappings, p)
	}
	for _, mp := range c.MountPoints {
		cd.MountPoints = append(cd.MountPoints, ecstypes.MountPoint{
			SourceVolume: aws.String(mp.SourceVolume), ContainerPath: aws.String(mp.ContainerPath), ReadOnly: aws.Bool(mp.ReadOnly),
		})
	}
	for _, vf := range c.VolumesFrom {
		cd.VolumesFrom = append(cd.VolumesFrom, ecstypes.VolumeFrom{SourceContainer: aws.String(vf.SourceContainer), ReadOnly: aws.Bool(vf.ReadOnly)})
	}
	for _, d := range c.DependsOn {
		cd.DependsOn = append(cd.DependsOn, ecstypes.ContainerDependency{ContainerName: aws.String(d.ContainerName), Condition: aws.String(d.Condition)})
	}
	for _, s := range c.Secrets {
		cd.Secrets = append(cd.Secrets, ecstypes.Secret{Name: aws.String(s.Name), ValueFrom: aws.String(s.ValueFrom)})
	}
	if lp := c.LinuxParameters; lp != nil {
		cd.LinuxParameters = &ecstypes.LinuxParameters{InitProcessEnabled: lp.InitProcessEnabled}
		if lp.SharedMemorySize != nil {
			cd.LinuxParameters.SharedMemorySize = aws.Int32(int32(*lp.SharedMemorySize))
		}
	}
	if err := c.applyDockerConfig(&cd); err != nil {
		return ecstypes.ContainerDefinition{}, err
	}
	return cd, nil
}

// applyDockerConfig reads dockerConfig back into the definition's fields.
func (c Container) applyDockerConfig(cd *ecstypes.ContainerDefinition) error {
	if raw := aws.ToString(c.DockerConfig.Config); raw != "" {
		var cfg container.Config
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			return fmt.Errorf("dockerConfig.config: %w", err)
		}
		if len(cfg.Labels) > 0 {
			cd.DockerLabels = maps.Clone(cfg.Labels)
		}
		cd.User = optString(cfg.User)
		cd.WorkingDirectory = optString(cfg.WorkingDir)
		cd.Hostname = optString(cfg.Hostname)
		if cfg.Tty {
			cd.PseudoTerminal = aws.Bool(true)
		}
		if cfg.OpenStdin {
			cd.Interactive = aws.Bool(true)
		}
		if cfg.NetworkDisabled {
			cd.DisableNetworking = aws.Bool(true)
		}
		if h := cfg.Healthcheck; h != nil && len(h.Test) > 0 {
			hc := &ecstypes.HealthCheck{Command: slices.Clone(h.Test)}
			for _, x := range []struct {
				d   time.Duration
				dst **int32
			}{{h.Interval, &hc.Interval}, {h.Timeout, &hc.Timeout}, {h.StartPeriod, &hc.StartPeriod}} {
				if x.d > 0 {
					*x.dst = aws.Int32(int32(x.d / time.Second))
				}
			}
			if h.Retries > 0 {
				hc.Retries = aws.Int32(int32(h.Retries))
			}
			cd.HealthCheck = hc
		}
	}
	raw := aws.ToString(c.DockerConfig.HostConfig)
	if raw == "" {
		return nil
	}
	var host container.HostConfig
	if err := json.Unmarshal([]byte(raw), &host); err != nil {
		return fmt.Errorf("dockerConfig.hostConfig: %w", err)
	}
	if host.MemoryReservation > 0 {
		cd.MemoryReservation = aws.Int32(int32(host.MemoryReservation >> 20))
	}
	for _, u := range host.Ulimits {
		if u != nil {
			cd.Ulimits = append(cd.Ulimits, ecstypes.Ulimit{Name: aws.String(u.Name), SoftLimit: aws.Int32(int32(u.Soft)), HardLimit: aws.Int32(int32(u.Hard))})
		}
	}
	cd.DnsServers = slices.Clone(host.DNS)
	cd.DnsSearchDomains = slices.Clone(host.DNSSearch)
	for _, h := range host.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("dockerConfig.hostConfig: extra host %q is not host:ip", h)
		}
		cd.ExtraHosts = append(cd.ExtraHosts, ecstypes.HostEntry{Hostname: aws.String(name), IpAddress: aws.String(ip)})
	}
	if host.ReadonlyRootfs {
		cd.ReadonlyRootFilesystem = aws.Bool(true)
	}
	cd.DockerSecurityOptions = slices.Clone(host.SecurityOpt)
	if host.LogConfig.Type != "" {
		cd.LogConfiguration = &ecstypes.LogConfiguration{LogDriver: aws.String(host.LogConfig.Type), Options: maps.Clone(host.LogConfig.Config)}
	}
	for _, k := range slices.Sorted(maps.Keys(host.Sysctls)) {
		cd.SystemControls = append(cd.SystemControls, ecstypes.SystemControl{Namespace: aws.String(k), Value: aws.String(host.Sysctls[k])})
	}
	if len(host.CapAdd) > 0 || len(host.CapDrop) > 0 || len(host.Tmpfs) > 0 {
		if cd.LinuxParameters == nil {
			cd.LinuxParameters = &ecstypes.LinuxParameters{}
		}
		if len(host.CapAdd) > 0 || len(host.CapDrop) > 0 {
			cd.LinuxParameters.Capabilities = &ecstypes.KernelCapabilities{Add: slices.Clone(host.CapAdd), Drop: slices.Clone(host.CapDrop)}
		}
		paths := slices.Collect(maps.Keys(host.Tmpfs))
		sort.Strings(paths)
		for _, p := range paths {
			cd.LinuxParameters.Tmpfs = append(cd.LinuxParameters.Tmpfs, tmpfs(p, host.Tmpfs[p]))
		}
	}
	return nil
}

// tmpfs reads a Docker tmpfs option string ("size=64m,rw,noexec").
func tmpfs(path, opts string) ecstypes.Tmpfs {
	t := ecstypes.Tmpfs{ContainerPath: aws.String(path)}
	for _, o := range strings.Split(opts, ",") {
		if size, ok := strings.CutPrefix(o, "size="); ok {
			if n, err := strconv.Atoi(strings.TrimSuffix(size, "m")); err == nil {
				t.Size = aws.Int32(int32(n))
			}
			continue
		}
		if o != "" {
			t.MountOptions = append(t.MountOptions, o)
		}
	}
	return t
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func cmpString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// orNil copies a list, keeping an empty one absent as a definition has it.
func orNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}
