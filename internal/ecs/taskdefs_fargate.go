package ecs

import (
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// fargateSizes are the task sizes Fargate (Linux) offers: for each CPU
// value, the memory values (MiB) from min to max in steps.
var fargateSizes = map[int32]struct{ min, max, step int32 }{
	256:   {512, 2048, 512}, // 512 MiB, 1 GB, 2 GB
	512:   {1024, 4096, 1024},
	1024:  {2048, 8192, 1024},
	2048:  {4096, 16384, 1024},
	4096:  {8192, 30720, 1024},
	8192:  {16384, 61440, 4096},
	16384: {32768, 122880, 8192},
}

// fargateSize reports whether task-level cpu and memory ("1 vCPU", "2 GB"
// or plain units) are a size Fargate offers.
func fargateSize(cpu, memory string) bool {
	c, err := parseTaskCPU(cpu)
	if err != nil {
		return false
	}
	m, err := parseTaskMemory(memory)
	if err != nil {
		return false
	}
	r, ok := fargateSizes[c]
	return ok && m >= r.min && m <= r.max && (m-r.min)%r.step == 0
}

// checkFargate applies the rules ECS enforces when a definition is
// registered with FARGATE among its requiresCompatibilities (even next to
// EC2), in ECS's words. The same rules decide whether a definition
// registered without it still lists FARGATE in its compatibilities.
func checkFargate(in *ecstypes.RegisterTaskDefinitionRequest) error {
	switch {
	case networkModeOf(in.NetworkMode) != ecstypes.NetworkModeAwsvpc:
		return awserr.Client("Fargate only supports network mode \u2018awsvpc\u2019.")
	case in.Cpu == nil:
		return awserr.Client("Fargate requires that 'cpu' be defined at the task level.")
	case in.Memory == nil:
		return awserr.Client("Fargate requires that 'memory' be defined at the task level.")
	case !fargateSize(*in.Cpu, *in.Memory):
		return awserr.Client("No Fargate configuration exists for given values.")
	case aws.ToString(in.PidMode) == ecstypes.PidModeHost:
		return awserr.Client("Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'.")
	case in.IpcMode != nil:
		return awserr.Client("Tasks using the Fargate launch type do not support ipcMode.")
	case len(in.PlacementConstraints) > 0:
		return fargateUnsupported("constraints")
	}
	for _, v := range in.Volumes {
		switch {
		case v.Host != nil && v.Host.SourcePath != nil:
			return fargateUnsupported("sourcePath")
		case v.DockerVolumeConfiguration != nil:
			return fargateUnsupported("dockerVolumeConfiguration")
		}
	}
	if usesGPUs(in.ContainerDefinitions) {
		return fargateUnsupported("GPU resources")
	}
	for _, c := range in.ContainerDefinitions {
		if len(c.DockerSecurityOptions) > 0 {
			return fargateUnsupported("dockerSecurityOptions")
		}
		if lp := c.LinuxParameters; lp != nil {
			switch {
			case len(lp.Devices) > 0:
				return fargateUnsupported("devices")
			case lp.SharedMemorySize != nil:
				return fargateUnsupported("sharedMemorySize")
			}
		}
	}
	return nil
}

func fargateUnsupported(what string) error {
	return awserr.Client("Fargate compatible task definitions do not support %s.", what)
}

// compatibilities are the launch types a registered definition can run
// with, as ECS lists them: EXTERNAL (ECS Anywhere) has no awsvpc, and
// FARGATE needs a definition that passes the Fargate rules.
func compatibilities(in *ecstypes.RegisterTaskDefinitionRequest) []string {
	out := []string{ecstypes.CompatibilityEXTERNAL, ecstypes.CompatibilityEC2}
	if networkModeOf(in.NetworkMode) == ecstypes.NetworkModeAwsvpc {
		out = []string{ecstypes.CompatibilityEC2}
	}
	if checkFargate(in) == nil {
		out = append(out, ecstypes.CompatibilityFARGATE)
	}
	return out
}

// requiresFargate reports whether the caller asked ECS to validate the
// definition against FARGATE.
func requiresFargate(in *ecstypes.RegisterTaskDefinitionRequest) bool {
	return slices.Contains(in.RequiresCompatibilities, ecstypes.CompatibilityFARGATE)
}
