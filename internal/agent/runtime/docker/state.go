package docker

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

// toState maps Docker's inspect response onto the runtime's view. It is
// tolerant of missing sections: the daemon omits some for odd states.
func toState(in container.InspectResponse) runtime.ContainerState {
	var out runtime.ContainerState
	if base := in.ContainerJSONBase; base != nil {
		out.ID = base.ID
		out.Name = strings.TrimPrefix(base.Name, "/")
		out.ImageID = base.Image
		out.CreatedAt = parseTime(base.Created)
		if s := base.State; s != nil {
			out.Status = string(s.Status)
			out.Running = s.Running
			out.ExitCode = s.ExitCode
			out.Error = s.Error
			out.StartedAt = parseTime(s.StartedAt)
			out.FinishedAt = parseTime(s.FinishedAt)
			if s.Health != nil {
				out.Health = string(s.Health.Status)
			}
		}
	}
	if in.Config != nil {
		out.Image = in.Config.Image
		out.Labels = in.Config.Labels
	}
	if in.NetworkSettings != nil {
		out.Ports = toBindings(in.NetworkSettings.Ports)
	}
	return out
}

// parseTime reads Docker's RFC 3339 timestamps; Docker writes the zero
// time ("0001-01-01T00:00:00Z") for events that have not happened, which
// parses to the zero time.Time as callers expect.
func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.IsZero() {
		return time.Time{}
	}
	return t
}

// toBindings flattens Docker's port map, skipping ports that are exposed but
// not published. The order is stable so callers can compare results.
func toBindings(pm nat.PortMap) []runtime.PortBinding {
	var out []runtime.PortBinding
	for port, bindings := range pm {
		cport, err := strconv.ParseUint(port.Port(), 10, 16)
		if err != nil {
			continue // a range; we never create those
		}
		for _, b := range bindings {
			hport, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil {
				continue
			}
			out = append(out, runtime.PortBinding{
				ContainerPort: uint16(cport),
				HostPort:      uint16(hport),
				Protocol:      port.Proto(),
				HostIP:        b.HostIP,
			})
		}
	}
	slices.SortFunc(out, func(a, b runtime.PortBinding) int {
		return cmp.Or(
			cmp.Compare(a.ContainerPort, b.ContainerPort),
			cmp.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.HostIP, b.HostIP),
			cmp.Compare(a.HostPort, b.HostPort),
		)
	})
	return out
}
