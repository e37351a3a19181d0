package engine

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func TestBuildSpec(t *testing.T) {
	full := ecstypes.ContainerDefinition{
		Name:                   aws.String("web"),
		Image:                  aws.String("nginx:1"),
		EntryPoint:             []string{"/bin/sh", "-c"},
		Command:                []string{"serve"},
		Environment:            []ecstypes.KeyValuePair{{Name: aws.String("B"), Value: aws.String("2")}, {Name: aws.String("A"), Value: aws.String("1")}},
		WorkingDirectory:       aws.String("/srv"),
		User:                   aws.String("nobody"),
		Hostname:               aws.String("web1"),
		DockerLabels:           map[string]string{"team": "core", LabelTaskARN: "spoofed"},
		Cpu:                    aws.Int32(256),
		Memory:                 aws.Int32(512),
		MemoryReservation:      aws.Int32(128),
		Ulimits:                []ecstypes.Ulimit{{Name: aws.String("nofile"), SoftLimit: aws.Int32(1024), HardLimit: aws.Int32(4096)}},
		PortMappings:           []ecstypes.PortMapping{{ContainerPort: aws.Int32(80)}, {ContainerPort: aws.Int32(53), HostPort: aws.Int32(5353), Protocol: aws.String("udp")}},
		HealthCheck:            &ecstypes.HealthCheck{Command: []string{"CMD-SHELL", "curl -f localhost"}, Interval: aws.Int32(10)},
		Privileged:             aws.Bool(true),
		ReadonlyRootFilesystem: aws.Bool(true),
		ExtraHosts:             []ecstypes.HostEntry{{Hostname: aws.String("db"), IpAddress: aws.String("10.0.0.5")}},
		DnsServers:             []string{"1.1.1.1"},
		DnsSearchDomains:       []string{"svc.local"},
		LinuxParameters:        &ecstypes.LinuxParameters{InitProcessEnabled: aws.Bool(true)},
	}
	task := newTask(taskARN(7), full)
	base := specInput{Task: task, Container: full, NetworkMode: "bridge", ClusterARN: testCluster, InstanceARN: testInstance}
	wantName := "ecs-web-3-web-00000000000000000000000000000007"

	tests := []struct {
		name  string
		in    func(specInput) specInput
		check func(t *testing.T, s runtime.ContainerSpec)
	}{
		{"definition mapping", nil, func(t *testing.T, s runtime.ContainerSpec) {
			want := runtime.ContainerSpec{
				Name: wantName, Image: "nginx:1", Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"serve"},
				Env:        []string{"A=1", "AWS_EXECUTION_ENV=AWS_ECS_EC2", "B=2"},
				WorkingDir: "/srv", User: "nobody", Hostname: "web1",
				Labels: map[string]string{
					"team": "core", LabelTaskARN: task.Arn, LabelContainerName: "web", LabelCluster: testCluster,
					LabelFamily: "web", LabelRevision: "3", LabelInstance: testInstance,
				},
				CPUShares: 256, MemoryBytes: 512 << 20, MemoryReservationBytes: 128 << 20,
				Ulimits:      []runtime.Ulimit{{Name: "nofile", Soft: 1024, Hard: 4096}},
				PortMappings: []runtime.PortMapping{{ContainerPort: 80, Protocol: "tcp"}, {ContainerPort: 53, HostPort: 5353, Protocol: "udp"}},
				NetworkMode:  "bridge",
				HealthCheck: &runtime.HealthCheck{Test: []string{"CMD-SHELL", "curl -f localhost"},
					Interval: 10 * time.Second, Timeout: 5 * time.Second, Retries: 3},
				Privileged: true, ReadonlyRootfs: true, ExtraHosts: []string{"db:10.0.0.5"},
				DNSServers: []string{"1.1.1.1"}, DNSSearch: []string{"svc.local"}, Init: true,
			}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("spec =\n%+v\nwant\n%+v", s, want)
			}
		}},
		{"overrides", func(in specInput) specInput {
			in.Override = &ecstypes.ContainerOverride{
				Name: aws.String("web"), Command: []string{"other"}, Cpu: aws.Int32(512), Memory: aws.Int32(1024),
				MemoryReservation: aws.Int32(256),
				Environment:       []ecstypes.KeyValuePair{{Name: aws.String("B"), Value: aws.String("override")}, {Name: aws.String("C"), Value: aws.String("3")}},
			}
			return in
		}, func(t *testing.T, s runtime.ContainerSpec) {
			if !slices.Equal(s.Cmd, []string{"other"}) || s.CPUShares != 512 || s.MemoryBytes != 1024<<20 || s.MemoryReservationBytes != 256<<20 {
				t.Errorf("override not applied: cmd=%v cpu=%d mem=%d res=%d", s.Cmd, s.CPUShares, s.MemoryBytes, s.MemoryReservationBytes)
			}
			if want := []string{"A=1", "AWS_EXECUTION_ENV=AWS_ECS_EC2", "B=override", "C=3"}; !slices.Equal(s.Env, want) {
				t.Errorf("env = %v, want %v", s.Env, want)
			}
		}},
		{"minimum cpu shares", func(in specInput) specInput {
			in.Container.Cpu = nil
			return in
		}, func(t *testing.T, s runtime.ContainerSpec) {
			if s.CPUShares != 2 {
				t.Errorf("CPUShares = %d, want 2", s.CPUShares)
			}
		}},
		{"host mode: host port defaults to container port", func(in specInput) specInput {
			in.NetworkMode = "host"
			return in
		}, func(t *testing.T, s runtime.ContainerSpec) {
			if s.PortMappings[0].HostPort != 80 || s.PortMappings[1].HostPort != 5353 {
				t.Errorf("ports = %+v", s.PortMappings)
			}
		}},
		{"links: alias and name forms", func(in specInput) specInput {
			in.Container.Links = []string{"db:database", "cache"}
			return in
		}, func(t *testing.T, s runtime.ContainerSpec) {
			want := []string{
				"ecs-web-3-db-00000000000000000000000000000007:database",
				"ecs-web-3-cache-00000000000000000000000000000007:cache",
			}
			if !slices.Equal(s.Links, want) {
				t.Errorf("links = %v, want %v", s.Links, want)
			}
		}},
		{"GPUs: NVIDIA_VISIBLE_DEVICES over the definition's, and the nvidia runtime", func(in specInput) specInput {
			in.Container.Environment = append(in.Container.Environment, ecstypes.KeyValuePair{Name: aws.String("NVIDIA_VISIBLE_DEVICES"), Value: aws.String("all")})
			in.Task.GPUs = map[string][]string{"web": {"GPU-b", "GPU-a"}, "other": {"GPU-c"}}
			in.NvidiaRuntime = "nvidia"
			return in
		}, func(t *testing.T, s runtime.ContainerSpec) {
			if want := []string{"A=1", "AWS_EXECUTION_ENV=AWS_ECS_EC2", "B=2", "NVIDIA_VISIBLE_DEVICES=GPU-b,GPU-a"}; !slices.Equal(s.Env, want) {
				t.Errorf("env = %v, want %v", s.Env, want)
			}
			if !slices.Equal(s.GPUIDs, []string{"GPU-b", "GPU-a"}) || s.Runtime != "nvidia" {
				t.Errorf("GPUIDs %v runtime %q, want the container's ids and nvidia", s.GPUIDs, s.Runtime)
			}
		}},
		{"no GPUs: default runtime, no NVIDIA variable", func(in specInput) specInput {
			in.Task.GPUs = map[string][]string{"other": {"GPU-c"}}
			in.NvidiaRuntime = "nvidia"
			return in
		}, func(t *testing.T, s runtime.ContainerSpec) {
			if s.Runtime != "" || s.GPUIDs != nil || slices.ContainsFunc(s.Env, func(kv string) bool { return strings.HasPrefix(kv, "NVIDIA_") }) {
				t.Errorf("runtime %q GPUIDs %v env %v, want none of the GPU settings", s.Runtime, s.GPUIDs, s.Env)
			}
		}},
		{"none mode publishes nothing", func(in specInput) specInput {
			in.NetworkMode = "none"
			return in
		}, func(t *testing.T, s runtime.ContainerSpec) {
			if len(s.PortMappings) != 0 {
				t.Errorf("ports = %+v", s.PortMappings)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			if tt.in != nil {
				in = tt.in(in)
			}
			s, err := buildSpec(in)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestBuildSpecErrors(t *testing.T) {
	for name, cd := range map[string]ecstypes.ContainerDefinition{
		"no image":   {Name: aws.String("x")},
		"bad port":   {Name: aws.String("x"), Image: aws.String("i"), PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(70000)}}},
		"bad link":   {Name: aws.String("x"), Image: aws.String("i"), Links: []string{"db:a:b"}},
		"port range": {Name: aws.String("x"), Image: aws.String("i"), PortMappings: []ecstypes.PortMapping{{ContainerPortRange: aws.String("1-2")}}},
	} {
		if _, err := buildSpec(specInput{Task: newTask(taskARN(1), cd), Container: cd, NetworkMode: "bridge"}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNetworkMode(t *testing.T) {
	for mode, want := range map[string]string{"": "bridge", "bridge": "bridge", "host": "host", "none": "none", "awsvpc": "", "nat": ""} {
		got, err := networkMode(ecstypes.TaskDefinition{NetworkMode: aws.String(mode)})
		if got != want || (want == "") != (err != nil) {
			t.Errorf("networkMode(%q) = %q, %v; want %q", mode, got, err, want)
		}
	}
}
