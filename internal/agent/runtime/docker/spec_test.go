package docker

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"

	"github.com/berth-dev/berth/internal/agent/runtime"

	"github.com/berth-dev/berth/internal/dockerprogress"
)

func TestToCreateConfig(t *testing.T) {
	yes := true
	tests := []struct {
		name    string
		spec    runtime.ContainerSpec
		check   func(t *testing.T, cc createConfig)
		wantErr string
	}{
		{
			// As the ECS agent passes GPUs on an EC2 instance: the ids in
			// NVIDIA_VISIBLE_DEVICES and the nvidia runtime, no device requests.
			name: "GPUs through the nvidia runtime",
			spec: runtime.ContainerSpec{
				Image: "cuda", Env: []string{"NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b"},
				GPUIDs: []string{"GPU-a", "GPU-b"}, Runtime: "nvidia",
			},
			check: func(t *testing.T, cc createConfig) {
				if cc.HostConfig.Runtime != "nvidia" {
					t.Errorf("HostConfig.Runtime = %q, want nvidia", cc.HostConfig.Runtime)
				}
				if !reflect.DeepEqual(cc.Config.Env, []string{"NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b"}) {
					t.Errorf("env = %v", cc.Config.Env)
				}
				if len(cc.HostConfig.DeviceRequests) != 0 || len(cc.HostConfig.Devices) != 0 {
					t.Errorf("device requests %v devices %v, want none", cc.HostConfig.DeviceRequests, cc.HostConfig.Devices)
				}
			},
		},
		{
			name: "no GPUs: the daemon's default runtime",
			spec: runtime.ContainerSpec{Image: "img"},
			check: func(t *testing.T, cc createConfig) {
				if cc.HostConfig.Runtime != "" {
					t.Errorf("HostConfig.Runtime = %q, want the default", cc.HostConfig.Runtime)
				}
			},
		},
		{
			name: "process settings",
			spec: runtime.ContainerSpec{
				Image: "img", Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo hi"},
				Env: []string{"A=1"}, WorkingDir: "/w", User: "65534", Hostname: "h",
				Labels: map[string]string{"k": "v"}, StopSignal: "SIGINT",
			},
			check: func(t *testing.T, cc createConfig) {
				c := cc.Config
				if c.Image != "img" || c.WorkingDir != "/w" || c.User != "65534" || c.Hostname != "h" || c.StopSignal != "SIGINT" {
					t.Errorf("config = %+v", c)
				}
				if !reflect.DeepEqual([]string(c.Entrypoint), []string{"/bin/sh", "-c"}) || !reflect.DeepEqual([]string(c.Cmd), []string{"echo hi"}) {
					t.Errorf("entrypoint/cmd = %v/%v", c.Entrypoint, c.Cmd)
				}
				if !reflect.DeepEqual(c.Env, []string{"A=1"}) || c.Labels["k"] != "v" {
					t.Errorf("env/labels = %v/%v", c.Env, c.Labels)
				}
				if c.Healthcheck != nil || cc.HostConfig.Init != nil || cc.HostConfig.NetworkMode != "bridge" {
					t.Errorf("defaults: healthcheck=%v init=%v network=%q", c.Healthcheck, cc.HostConfig.Init, cc.HostConfig.NetworkMode)
				}
			},
		},
		{
			name: "resources and host settings",
			spec: runtime.ContainerSpec{
				CPUShares: 512, MemoryBytes: 64 << 20, MemoryReservationBytes: 32 << 20,
				Ulimits:    []runtime.Ulimit{{Name: "nofile", Soft: 1024, Hard: 4096}},
				Privileged: true, ReadonlyRootfs: true, Init: true,
				ExtraHosts: []string{"db:10.0.0.1"}, DNSServers: []string{"1.1.1.1"}, DNSSearch: []string{"corp"},
			},
			check: func(t *testing.T, cc createConfig) {
				h := cc.HostConfig
				want := container.Resources{CPUShares: 512, Memory: 64 << 20, MemoryReservation: 32 << 20,
					Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 4096}}}
				if !reflect.DeepEqual(h.Resources, want) {
					t.Errorf("resources = %+v, want %+v", h.Resources, want)
				}
				if !h.Privileged || !h.ReadonlyRootfs || h.Init == nil || *h.Init != yes {
					t.Errorf("privileged/readonly/init = %v/%v/%v", h.Privileged, h.ReadonlyRootfs, h.Init)
				}
				if !reflect.DeepEqual(h.ExtraHosts, []string{"db:10.0.0.1"}) || !reflect.DeepEqual(h.DNS, []string{"1.1.1.1"}) || !reflect.DeepEqual(h.DNSSearch, []string{"corp"}) {
					t.Errorf("hosts/dns/search = %v/%v/%v", h.ExtraHosts, h.DNS, h.DNSSearch)
				}
			},
		},
		{
			name: "ports in bridge mode",
			spec: runtime.ContainerSpec{PortMappings: []runtime.PortMapping{
				{ContainerPort: 80},
				{ContainerPort: 53, HostPort: 5353, Protocol: "UDP", HostIP: "127.0.0.1"},
			}},
			check: func(t *testing.T, cc createConfig) {
				wantExposed := nat.PortSet{"80/tcp": {}, "53/udp": {}}
				wantBindings := nat.PortMap{
					"80/tcp": {{HostIP: "", HostPort: ""}},
					"53/udp": {{HostIP: "127.0.0.1", HostPort: "5353"}},
				}
				if !reflect.DeepEqual(cc.Config.ExposedPorts, wantExposed) || !reflect.DeepEqual(cc.HostConfig.PortBindings, wantBindings) {
					t.Errorf("exposed/bindings = %v/%v", cc.Config.ExposedPorts, cc.HostConfig.PortBindings)
				}
			},
		},
		{
			name: "host mode publishes nothing",
			spec: runtime.ContainerSpec{NetworkMode: "host", PortMappings: []runtime.PortMapping{{ContainerPort: 80}}},
			check: func(t *testing.T, cc createConfig) {
				if cc.HostConfig.NetworkMode != "host" || cc.Config.ExposedPorts != nil || cc.HostConfig.PortBindings != nil {
					t.Errorf("network=%q exposed=%v bindings=%v", cc.HostConfig.NetworkMode, cc.Config.ExposedPorts, cc.HostConfig.PortBindings)
				}
			},
		},
		{
			name: "health check",
			spec: runtime.ContainerSpec{HealthCheck: &runtime.HealthCheck{
				Test: []string{"CMD-SHELL", "true"}, Interval: time.Second, Timeout: 2 * time.Second, StartPeriod: 3 * time.Second, Retries: 4,
			}},
			check: func(t *testing.T, cc createConfig) {
				want := &container.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Interval: time.Second, Timeout: 2 * time.Second, StartPeriod: 3 * time.Second, Retries: 4}
				if !reflect.DeepEqual(cc.Config.Healthcheck, want) {
					t.Errorf("healthcheck = %+v, want %+v", cc.Config.Healthcheck, want)
				}
			},
		},
		{
			name: "links",
			spec: runtime.ContainerSpec{Links: []string{"ecs-web-1-db-x:db", "ecs-web-1-cache-x"}},
			check: func(t *testing.T, cc createConfig) {
				if want := []string{"ecs-web-1-db-x:db", "ecs-web-1-cache-x"}; !reflect.DeepEqual(cc.HostConfig.Links, want) {
					t.Errorf("links = %v, want %v", cc.HostConfig.Links, want)
				}
			},
		},
		{name: "links in host mode", spec: runtime.ContainerSpec{NetworkMode: "host", Links: []string{"db"}}, wantErr: "links need bridge networking"},
		{name: "links in none mode", spec: runtime.ContainerSpec{NetworkMode: "none", Links: []string{"db"}}, wantErr: "links need bridge networking"},
		{name: "bad link", spec: runtime.ContainerSpec{Links: []string{"db:a:b"}}, wantErr: "invalid link"},
		{name: "bad network mode", spec: runtime.ContainerSpec{NetworkMode: "awsvpc"}, wantErr: "unsupported network mode"},
		{name: "bad protocol", spec: runtime.ContainerSpec{PortMappings: []runtime.PortMapping{{ContainerPort: 1, Protocol: "sctp"}}}, wantErr: "unsupported port protocol"},
		{name: "port zero", spec: runtime.ContainerSpec{PortMappings: []runtime.PortMapping{{}}}, wantErr: "container port 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, err := toCreateConfig(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cc)
		})
	}
}

func TestToState(t *testing.T) {
	in := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: "abc", Name: "/web", Image: "sha256:1", Created: "2024-05-01T10:00:00.5Z",
			State: &container.State{
				Status: "exited", ExitCode: 3, Error: "boom",
				StartedAt: "2024-05-01T10:00:01Z", FinishedAt: "0001-01-01T00:00:00Z",
				Health: &container.Health{Status: "unhealthy"},
			},
		},
		Config: &container.Config{Image: "busybox", Labels: map[string]string{"a": "b"}},
		NetworkSettings: &container.NetworkSettings{NetworkSettingsBase: container.NetworkSettingsBase{Ports: nat.PortMap{
			"80/tcp":   {{HostIP: "::", HostPort: "32768"}, {HostIP: "0.0.0.0", HostPort: "32768"}},
			"53/udp":   {{HostIP: "0.0.0.0", HostPort: "32769"}},
			"9000/tcp": nil, // exposed, not published
		}}},
	}
	got := toState(in)
	want := runtime.ContainerState{
		ID: "abc", Name: "web", Image: "busybox", ImageID: "sha256:1", Labels: map[string]string{"a": "b"},
		Status: "exited", ExitCode: 3, Error: "boom",
		CreatedAt: time.Date(2024, 5, 1, 10, 0, 0, 5e8, time.UTC),
		StartedAt: time.Date(2024, 5, 1, 10, 0, 1, 0, time.UTC),
		Health:    "unhealthy",
		Ports: []runtime.PortBinding{
			{ContainerPort: 53, HostPort: 32769, Protocol: "udp", HostIP: "0.0.0.0"},
			{ContainerPort: 80, HostPort: 32768, Protocol: "tcp", HostIP: "0.0.0.0"},
			{ContainerPort: 80, HostPort: 32768, Protocol: "tcp", HostIP: "::"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("toState =\n%+v\nwant\n%+v", got, want)
	}
	if empty := toState(container.InspectResponse{}); !reflect.DeepEqual(empty, runtime.ContainerState{}) {
		t.Fatalf("toState(empty) = %+v", empty)
	}
}

func TestDrainProgress(t *testing.T) {
	tests := []struct {
		name, stream, wantErr string
	}{
		{"ok", `{"status":"Pulling"}` + "\n" + `{"status":"Done"}`, ""},
		{"error detail", `{"status":"Pulling"}{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}`, "manifest unknown"},
		{"legacy error", `{"error":"denied"}`, "denied"},
		{"garbage", `{"status":`, "read progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := dockerprogress.Drain(strings.NewReader(tt.stream))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
