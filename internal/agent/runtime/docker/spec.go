package docker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/go-connections/nat"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

// createConfig is everything ContainerCreate takes, built from one spec.
type createConfig struct {
	Config     *container.Config
	HostConfig *container.HostConfig
}

// toCreateConfig maps spec onto Docker's container and host configuration.
// It is a pure function so the mapping can be table-tested without an engine.
func toCreateConfig(spec runtime.ContainerSpec) (createConfig, error) {
	mode, err := networkMode(spec.NetworkMode)
	if err != nil {
		return createConfig{}, err
	}
	if err := checkLinks(spec.Links, mode); err != nil {
		return createConfig{}, err
	}
	cfg := &container.Config{
		Image:       spec.Image,
		Entrypoint:  strslice.StrSlice(spec.Entrypoint),
		Cmd:         strslice.StrSlice(spec.Cmd),
		Env:         spec.Env,
		WorkingDir:  spec.WorkingDir,
		User:        spec.User,
		Hostname:    spec.Hostname,
		Labels:      spec.Labels,
		StopSignal:  spec.StopSignal,
		Healthcheck: healthConfig(spec.HealthCheck),
	}
	host := &container.HostConfig{
		// The nvidia runtime hands the container the GPUs its
		// NVIDIA_VISIBLE_DEVICES names, as the ECS agent has Docker do.
		Runtime:        spec.Runtime,
		NetworkMode:    container.NetworkMode(mode),
		Privileged:     spec.Privileged,
		ReadonlyRootfs: spec.ReadonlyRootfs,
		ExtraHosts:     spec.ExtraHosts,
		DNS:            spec.DNSServers,
		DNSSearch:      spec.DNSSearch,
		Links:          spec.Links,
		Resources: container.Resources{
			CPUShares:         spec.CPUShares,
			Memory:            spec.MemoryBytes,
			MemoryReservation: spec.MemoryReservationBytes,
			Ulimits:           ulimits(spec.Ulimits),
		},
	}
	if spec.Init {
		// Only set when asked: nil keeps the daemon's default (which may be on).
		init := true
		host.Init = &init
	}
	// Host and none networking have nothing to publish: Docker would only
	// warn and discard the bindings, so we never send them.
	if mode == "bridge" {
		exposed, bindings, err := portConfig(spec.PortMappings)
		if err != nil {
			return createConfig{}, err
		}
		cfg.ExposedPorts = exposed
		host.PortBindings = bindings
	}
	return createConfig{Config: cfg, HostConfig: host}, nil
}

// networkMode validates the spec's network mode; "" means bridge.
func networkMode(m string) (string, error) {
	switch m {
	case "", "bridge":
		return "bridge", nil
	case "host", "none":
		return m, nil
	default:
		return "", fmt.Errorf("unsupported network mode %q (want bridge, host or none)", m)
	}
}

// checkLinks rejects what the daemon would reject less clearly (host mode
// "conflicts") or accept to no effect (none mode has no network to link).
func checkLinks(links []string, mode string) error {
	if len(links) > 0 && mode != "bridge" {
		return fmt.Errorf("links need bridge networking, not %s", mode)
	}
	for _, l := range links {
		if _, _, err := runtime.ParseLink(l); err != nil {
			return err
		}
	}
	return nil
}

func healthConfig(hc *runtime.HealthCheck) *container.HealthConfig {
	if hc == nil {
		return nil
	}
	return &container.HealthConfig{
		Test:        hc.Test,
		Interval:    hc.Interval,
		Timeout:     hc.Timeout,
		StartPeriod: hc.StartPeriod,
		Retries:     hc.Retries,
	}
}

func ulimits(in []runtime.Ulimit) []*container.Ulimit {
	if len(in) == 0 {
		return nil
	}
	out := make([]*container.Ulimit, 0, len(in))
	for _, u := range in {
		out = append(out, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	return out
}

// portConfig turns mappings into Docker's exposed set and bindings. A host
// port of 0 becomes an empty HostPort, which tells Docker to pick one.
func portConfig(mappings []runtime.PortMapping) (nat.PortSet, nat.PortMap, error) {
	if len(mappings) == 0 {
		return nil, nil, nil
	}
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	for _, m := range mappings {
		proto, err := protocol(m.Protocol)
		if err != nil {
			return nil, nil, err
		}
		if m.ContainerPort == 0 {
			return nil, nil, fmt.Errorf("port mapping: container port 0 is not valid")
		}
		port, err := nat.NewPort(proto, strconv.Itoa(int(m.ContainerPort)))
		if err != nil {
			return nil, nil, fmt.Errorf("port mapping %d/%s: %w", m.ContainerPort, proto, err)
		}
		hostPort := ""
		if m.HostPort != 0 {
			hostPort = strconv.Itoa(int(m.HostPort))
		}
		exposed[port] = struct{}{}
		bindings[port] = append(bindings[port], nat.PortBinding{HostIP: m.HostIP, HostPort: hostPort})
	}
	return exposed, bindings, nil
}

func protocol(p string) (string, error) {
	switch strings.ToLower(p) {
	case "", "tcp":
		return "tcp", nil
	case "udp":
		return "udp", nil
	default:
		return "", fmt.Errorf("unsupported port protocol %q (want tcp or udp)", p)
	}
}
