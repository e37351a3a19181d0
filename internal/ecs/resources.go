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
	// resGPU holds the ids of an instance's GPUs: in registeredResources
	// all of them, in remainingResources those no task holds. An instance
	// without GPUs has no GPU resource.
	resGPU = "GPU"
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
	v, _ := resourceSetOK(rs, name)
	return v
}

// resourceSetOK is resourceSet, and whether the resource is there at all.
func resourceSetOK(rs []ecstypes.Resource, name string) ([]string, bool) {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return r.StringSetValue, true
		}
	}
	return nil, false
}

// remaining computes an instance's remainingResources: what it registered
// minus what its tasks hold. Ports are the union of both (the ports in
// use, as ECS reports them); GPUs the registered ids no task holds.
func remaining(registered []ecstypes.Resource, held reservation) []ecstypes.Resource {
	cpu := resourceInt(registered, resCPU) - held.CPU
	mem := resourceInt(registered, resMemory) - held.Memory
	ports := append(slices.Clone(resourceSet(registered, resPorts)), held.Ports...)
	udp := append(slices.Clone(resourceSet(registered, resPortsUDP)), held.PortsUDP...)
	out := buildResources(cpu, mem, ports, udp)
	if gpus, ok := resourceSetOK(registered, resGPU); ok {
		free := slices.DeleteFunc(slices.Clone(gpus), func(id string) bool { return slices.Contains(held.GPUs, id) })
		out = append(out, setResource(resGPU, free))
	}
	return out
}

// registeredGPUs are the GPU ids an agent declares: the ECS agent sends
// them as platformDevices of type GPU; a GPU resource in totalResources
// (STRINGSET) is taken too. Sorted, without duplicates or empty ids.
func registeredGPUs(in *ecstypes.RegisterContainerInstanceRequest) []string {
	var ids []string
	for _, d := range in.PlatformDevices {
		if aws.ToString(d.Type) == ecstypes.PlatformDeviceTypeGPU {
			ids = append(ids, aws.ToString(d.Id))
		}
	}
	ids = append(ids, resourceSet(in.TotalResources, resGPU)...)
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == "" })
	slices.Sort(ids)
	return slices.Compact(ids)
}

func buildResources(cpu, mem int32, ports, udp []string) []ecstypes.Resource {
	if ports == nil {
		ports = []string{}
	}
	if udp == nil {
		udp = []string{}
	}
	intRes := func(name string, v int32) ecstypes.Resource {
		return ecstypes.Resource{Name: aws.String(name), Type: aws.String("INTEGER"), IntegerValue: aws.Int32(v), LongValue: aws.Int64(0), DoubleValue: aws.Float64(0)}
	}
	return []ecstypes.Resource{intRes(resCPU, cpu), intRes(resMemory, mem), setResource(resPorts, ports), setResource(resPortsUDP, udp)}
}

// setResource is a STRINGSET resource of v, sorted and without duplicates
// (v is sorted in place).
func setResource(name string, v []string) ecstypes.Resource {
	if v == nil {
		v = []string{}
	}
	slices.Sort(v)
	v = slices.Compact(v)
	return ecstypes.Resource{Name: aws.String(name), Type: aws.String("STRINGSET"), StringSetValue: v, IntegerValue: aws.Int32(0), LongValue: aws.Int64(0), DoubleValue: aws.Float64(0)}
}
