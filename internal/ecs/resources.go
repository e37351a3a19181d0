package ecs

import (
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// Resource names ECS uses in registeredResources and remainingResources.
const (
	resCPU      = "CPU"
	resMemory   = "MEMORY"
	resPorts    = "PORTS"
	resPortsUDP = "PORTS_UDP"
)

func resourceInt(rs []ecstypes.Resource, name string) int32 {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return aws.ToInt32(r.IntegerValue)
		}
	}
	return 0
}

func resourceSet(rs []ecstypes.Resource, name string) []string {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return r.StringSetValue
		}
	}
	return nil
}

// remaining computes an instance's remainingResources: what it registered
// minus what its tasks hold (ports: the union of both).
func remaining(registered []ecstypes.Resource, held reservation) []ecstypes.Resource {
	cpu := resourceInt(registered, resCPU) - held.CPU
	mem := resourceInt(registered, resMemory) - held.Memory
	ports := append(slices.Clone(resourceSet(registered, resPorts)), held.Ports...)
	udp := append(slices.Clone(resourceSet(registered, resPortsUDP)), held.PortsUDP...)
	return buildResources(cpu, mem, ports, udp)
}

func buildResources(cpu, mem int32, ports, udp []string) []ecstypes.Resource {
	if ports == nil {
		ports = []string{}
	}
	if udp == nil {
		udp = []string{}
	}
	zeroL, zeroD := int64(0), float64(0)
	intRes := func(name string, v int32) ecstypes.Resource {
		return ecstypes.Resource{Name: aws.String(name), Type: aws.String("INTEGER"), IntegerValue: aws.Int32(v), LongValue: &zeroL, DoubleValue: &zeroD}
	}
	setRes := func(name string, v []string) ecstypes.Resource {
		slices.Sort(v)
		v = slices.Compact(v)
		return ecstypes.Resource{Name: aws.String(name), Type: aws.String("STRINGSET"), StringSetValue: v, IntegerValue: aws.Int32(0), LongValue: &zeroL, DoubleValue: &zeroD}
	}
	return []ecstypes.Resource{intRes(resCPU, cpu), intRes(resMemory, mem), setRes(resPorts, ports), setRes(resPortsUDP, udp)}
}
