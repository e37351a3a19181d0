package ecs

import (
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// fargateTaskDef is a valid FARGATE-compatible request the tests bend.
func fargateTaskDef() *ecstypes.RegisterTaskDefinitionRequest {
	return &ecstypes.RegisterTaskDefinitionRequest{
		Family:                  aws.String("fg"),
		RequiresCompatibilities: []string{"FARGATE"},
		NetworkMode:             aws.String("awsvpc"),
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("nginx"),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(80)}},
		}},
	}
}

func TestTaskDefFargateRules(t *testing.T) {
	type req = ecstypes.RegisterTaskDefinitionRequest
	app := func(r *req) *ecstypes.ContainerDefinition { return &r.ContainerDefinitions[0] }
	rejected := []struct {
		name, msg string
		bend      func(r *req)
	}{
		{"bridge", "Fargate only supports network mode \u2018awsvpc\u2019.", func(r *req) { r.NetworkMode = nil }},
		{"host network", "Fargate only supports network mode \u2018awsvpc\u2019.", func(r *req) { r.NetworkMode = aws.String("host") }},
		{"no cpu", "Fargate requires that 'cpu' be defined at the task level.", func(r *req) { r.Cpu = nil }},
		{"no memory", "Fargate requires that 'memory' be defined at the task level.", func(r *req) { r.Memory = nil }},
		{"memory too small for cpu", "No Fargate configuration exists for given values.", func(r *req) { r.Memory = aws.String("256") }},
		{"memory too large for cpu", "No Fargate configuration exists for given values.", func(r *req) { r.Memory = aws.String("4096") }},
		{"memory off the step", "No Fargate configuration exists for given values.", func(r *req) { r.Cpu, r.Memory = aws.String("1024"), aws.String("2500") }},
		{"cpu Fargate lacks", "No Fargate configuration exists for given values.", func(r *req) { r.Cpu = aws.String("300") }},
		{"8 vCPU off its 4 GB step", "No Fargate configuration exists for given values.", func(r *req) { r.Cpu, r.Memory = aws.String("8 vCPU"), aws.String("17 GB") }},
		{"pidMode host", "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'.",
			func(r *req) { r.PidMode = aws.String("host") }},
		{"ipcMode task", "Tasks using the Fargate launch type do not support ipcMode.", func(r *req) { r.IpcMode = aws.String("task") }},
		{"ipcMode none", "Tasks using the Fargate launch type do not support ipcMode.", func(r *req) { r.IpcMode = aws.String("none") }},
		{"placement constraints", "Fargate compatible task definitions do not support constraints.", func(r *req) {
			r.PlacementConstraints = []ecstypes.TaskDefinitionPlacementConstraint{{Type: aws.String("memberOf"), Expression: aws.String("attribute:x == y")}}
		}},
		{"host volume with sourcePath", "Fargate compatible task definitions do not support sourcePath.", func(r *req) {
			r.Volumes = []ecstypes.Volume{{Name: aws.String("v"), Host: &ecstypes.HostVolumeProperties{SourcePath: aws.String("/srv")}}}
		}},
		{"docker volume", "Fargate compatible task definitions do not support dockerVolumeConfiguration.", func(r *req) {
			r.Volumes = []ecstypes.Volume{{Name: aws.String("v"), DockerVolumeConfiguration: &ecstypes.DockerVolumeConfiguration{Driver: aws.String("local")}}}
		}},
		{"docker security options", "Fargate compatible task definitions do not support dockerSecurityOptions.", func(r *req) {
			app(r).DockerSecurityOptions = []string{"no-new-privileges"}
		}},
		{"devices", "Fargate compatible task definitions do not support devices.", func(r *req) {
			app(r).LinuxParameters = &ecstypes.LinuxParameters{Devices: []ecstypes.Device{{HostPath: aws.String("/dev/fuse")}}}
		}},
		{"shared memory size", "Fargate compatible task definitions do not support sharedMemorySize.", func(r *req) {
			app(r).LinuxParameters = &ecstypes.LinuxParameters{SharedMemorySize: aws.Int32(64)}
		}},
		{"EC2 too does not lift the rules", "Tasks using the Fargate launch type do not support ipcMode.", func(r *req) {
			r.RequiresCompatibilities = []string{"EC2", "FARGATE"}
			r.IpcMode = aws.String("host")
		}},
	}
	s := newTestService(t)
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			in := fargateTaskDef()
			tt.bend(in)
			_, err := s.RegisterTaskDefinition(t.Context(), in)
			wantAWSErr(t, err, awserr.CodeClient, tt.msg)
			if e, _ := awserr.As(err); e == nil || e.Message != tt.msg {
				t.Errorf("message = %v, want exactly %q", err, tt.msg)
			}
		})
	}
	if got := taskDefState(t, s); len(got) != 0 {
		t.Fatalf("rejected definitions were stored: %v", got)
	}

	accepted := []struct {
		name      string
		bend      func(r *req)
		cpu, mem  string
		wantCompa []string
	}{
		{"smallest", func(*req) {}, "256", "512", []string{"EC2", "FARGATE"}},
		{"vCPU and GB units", func(r *req) { r.Cpu, r.Memory = aws.String("1 vCPU"), aws.String("2 GB") }, "1024", "2048", []string{"EC2", "FARGATE"}},
		{"largest", func(r *req) { r.Cpu, r.Memory = aws.String("16384"), aws.String("122880") }, "16384", "122880", []string{"EC2", "FARGATE"}},
		{"pidMode task", func(r *req) { r.PidMode = aws.String("task") }, "256", "512", []string{"EC2", "FARGATE"}},
		{"EC2 and FARGATE", func(r *req) { r.RequiresCompatibilities = []string{"EC2", "FARGATE"} }, "256", "512", []string{"EC2", "FARGATE"}},
		// Without FARGATE in requiresCompatibilities the rules only decide compatibilities.
		{"EC2 only, pidMode host", func(r *req) {
			r.RequiresCompatibilities = []string{"EC2"}
			r.PidMode = aws.String("host")
		}, "256", "512", []string{"EC2"}},
		{"no requirement, bridge", func(r *req) {
			r.RequiresCompatibilities, r.NetworkMode = nil, nil
			app(r).PortMappings = nil
		}, "256", "512", []string{"EXTERNAL", "EC2"}},
		{"no requirement, odd size", func(r *req) { r.RequiresCompatibilities, r.Memory = nil, aws.String("300") }, "256", "300", []string{"EC2"}},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			in := fargateTaskDef()
			tt.bend(in)
			out, err := s.RegisterTaskDefinition(t.Context(), in)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			td := out.TaskDefinition
			if aws.ToString(td.Cpu) != tt.cpu || aws.ToString(td.Memory) != tt.mem {
				t.Errorf("stored cpu/memory = %s/%s, want %s/%s (as units and MiB)", aws.ToString(td.Cpu), aws.ToString(td.Memory), tt.cpu, tt.mem)
			}
			if !slices.Equal(td.Compatibilities, tt.wantCompa) {
				t.Errorf("compatibilities = %v, want %v", td.Compatibilities, tt.wantCompa)
			}
		})
	}
}

func TestTaskDefEFSRootDirectory(t *testing.T) {
	s := newTestService(t)
	efs := func(root *string) ecstypes.Volume {
		return ecstypes.Volume{Name: aws.String("shared"), EfsVolumeConfiguration: &ecstypes.EFSVolumeConfiguration{
			FileSystemId: aws.String("fs-12345678"), RootDirectory: root}}
	}
	tests := []struct {
		name string
		vol  ecstypes.Volume
		want *string
	}{
		{"defaulted to /", efs(nil), aws.String("/")},
		{"kept as given", efs(aws.String("/exports/data")), aws.String("/exports/data")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := twoContainerTaskDef()
			in.Volumes = []ecstypes.Volume{tt.vol}
			mustRegister(t, s, in)
			desc, err := s.DescribeTaskDefinition(t.Context(), &ecstypes.DescribeTaskDefinitionRequest{TaskDefinition: in.Family})
			if err != nil {
				t.Fatal(err)
			}
			got := desc.TaskDefinition.Volumes[0].EfsVolumeConfiguration
			if !reflect.DeepEqual(got.RootDirectory, tt.want) || aws.ToString(got.FileSystemId) != "fs-12345678" {
				t.Errorf("efsVolumeConfiguration = %+v, want rootDirectory %q", got, aws.ToString(tt.want))
			}
			if tt.vol.EfsVolumeConfiguration.RootDirectory == nil && in.Volumes[0].EfsVolumeConfiguration.RootDirectory != nil {
				t.Error("the request was modified")
			}
		})
	}
}
