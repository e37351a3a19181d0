package sim

import (
	"cmp"
	"fmt"

	"github.com/berth-dev/berth/internal/agent/runtime"
)

// portKey is one published host port.
type portKey struct {
	proto string
	port  uint16
}

// ports allocates host ports as Docker's allocator does: dynamic ports go
// round the range from after the last one handed out, skipping ports in use;
// ports are in use from a container's start until it exits. Guarded by
// Runtime.mu.
type ports struct {
	rng  PortRange
	next map[string]uint16 // per protocol
	used map[portKey]bool
}

func newPorts(rng PortRange) *ports {
	return &ports{rng: rng.withDefaults(), next: map[string]uint16{}, used: map[portKey]bool{}}
}

// bind publishes spec's port mappings, or none for host and none
// networking. On error nothing stays allocated.
func (p *ports) bind(spec runtime.ContainerSpec) ([]runtime.PortBinding, error) {
	if spec.NetworkMode == "host" || spec.NetworkMode == "none" {
		return nil, nil
	}
	var out []runtime.PortBinding
	for _, m := range spec.PortMappings {
		proto := cmp.Or(m.Protocol, "tcp")
		host := m.HostPort
		if host == 0 {
			var err error
			if host, err = p.dynamic(proto); err != nil {
				p.release(out)
				return nil, err
			}
		} else if p.used[portKey{proto, host}] {
			p.release(out)
			//lint:ignore ST1005 Docker's own wording, so logs read the same on both runtimes
			return nil, fmt.Errorf("Bind for %s:%d failed: port is already allocated", cmp.Or(m.HostIP, "0.0.0.0"), host)
		}
		p.used[portKey{proto, host}] = true
		out = append(out, runtime.PortBinding{
			ContainerPort: m.ContainerPort,
			HostPort:      host,
			Protocol:      proto,
			HostIP:        cmp.Or(m.HostIP, "0.0.0.0"),
		})
	}
	return out, nil
}

// dynamic takes the next free port of the range for proto.
func (p *ports) dynamic(proto string) (uint16, error) {
	size := int(p.rng.Last) - int(p.rng.First) + 1
	start := p.next[proto]
	if start < p.rng.First || start > p.rng.Last {
		start = p.rng.First
	}
	for i := range size {
		port := uint16(int(p.rng.First) + (int(start)-int(p.rng.First)+i)%size)
		if !p.used[portKey{proto, port}] {
			p.next[proto] = port + 1 // may leave the range; wrapped above
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free %s host port in %d-%d", proto, p.rng.First, p.rng.Last)
}

// release frees the host ports of bindings.
func (p *ports) release(bindings []runtime.PortBinding) {
	for _, b := range bindings {
		delete(p.used, portKey{b.Protocol, b.HostPort})
	}
}
