package agent

import (
	"context"
	"errors"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecssdk "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/agent/config"
)

func testConfig() config.Config {
	return config.Config{
		Cluster:                 "prod",
		InstanceAttributes:      map[string]string{"stack": "blue"},
		ReservedMemoryMiB:       256,
		ReservedPorts:           config.DefaultReservedPorts(),
		ReservedPortsUDP:        []uint16{53},
		ContainerStopTimeout:    30 * time.Second,
		ImagePullBehavior:       config.PullDefault,
		AvailableLoggingDrivers: []string{"json-file", "none"},
		ContainerInstanceTags:   map[string]string{"team": "infra"},
		CPUUnits:                4096,
		MemoryMiB:               8192,
		InstanceType:            "berth.local",
	}
}

func TestRegisterInput(t *testing.T) {
	in := registerInput(registration{cfg: testConfig(), region: "eu-west-1", instanceARN: "arn:ci", dockerVersion: "28.5.2"})
	if aws.ToString(in.Cluster) != "prod" || aws.ToString(in.ContainerInstanceArn) != "arn:ci" {
		t.Fatalf("cluster/arn: %+v", in)
	}
	res := map[string]ecssdk.Resource{}
	for _, r := range in.TotalResources {
		res[aws.ToString(r.Name)] = r
	}
	if r := res["CPU"]; aws.ToString(r.Type) != "INTEGER" || r.IntegerValue != 4096 {
		t.Errorf("CPU %+v", r)
	}
	if r := res["MEMORY"]; aws.ToString(r.Type) != "INTEGER" || r.IntegerValue != 8192-256 {
		t.Errorf("MEMORY %+v", r)
	}
	if r := res["PORTS"]; aws.ToString(r.Type) != "STRINGSET" || !slices.Equal(r.StringSetValue, []string{"22", "2375", "2376", "51678", "51679"}) {
		t.Errorf("PORTS %+v", r)
	}
	if r := res["PORTS_UDP"]; aws.ToString(r.Type) != "STRINGSET" || !slices.Equal(r.StringSetValue, []string{"53"}) {
		t.Errorf("PORTS_UDP %+v", r)
	}

	attrs := map[string]*string{}
	for _, a := range in.Attributes {
		attrs[aws.ToString(a.Name)] = a.Value
	}
	for name, want := range map[string]string{
		"stack":                 "blue",
		"ecs.availability-zone": "eu-west-1a",
		"ecs.instance-type":     "berth.local",
		"ecs.os-type":           "linux",
		"ecs.cpu-architecture":  cpuArchitecture(goruntime.GOARCH),
	} {
		if v, ok := attrs[name]; !ok || aws.ToString(v) != want {
			t.Errorf("attribute %s = %v, want %q", name, aws.ToString(v), want)
		}
	}
	for _, name := range []string{
		"com.amazonaws.ecs.capability.docker-remote-api.1.17",
		"com.amazonaws.ecs.capability.docker-remote-api.1.41",
		"com.amazonaws.ecs.capability.logging-driver.json-file",
		"com.amazonaws.ecs.capability.logging-driver.none",
		"ecs.capability.container-health-check",
	} {
		if v, ok := attrs[name]; !ok || v != nil {
			t.Errorf("capability %s: present %v value %v", name, ok, v)
		}
	}
	if _, ok := attrs["ecs.capability.task-eni"]; ok {
		t.Error("awsvpc is not supported; task-eni must not be registered")
	}

	vi := in.VersionInfo
	if !strings.HasPrefix(aws.ToString(vi.AgentVersion), "berth-") || aws.ToString(vi.DockerVersion) != "DockerVersion: 28.5.2" {
		t.Errorf("version info %+v", vi)
	}
	if len(in.Tags) != 1 || aws.ToString(in.Tags[0].Key) != "team" || aws.ToString(in.Tags[0].Value) != "infra" {
		t.Errorf("tags %+v", in.Tags)
	}

	fresh := registerInput(registration{cfg: testConfig(), region: "eu-west-1"})
	if fresh.ContainerInstanceArn != nil || fresh.VersionInfo.DockerVersion != nil {
		t.Errorf("fresh registration: %+v", fresh)
	}
}

func TestCPUArchitecture(t *testing.T) {
	for in, want := range map[string]string{"amd64": "x86_64", "arm64": "arm64", "riscv64": "riscv64"} {
		if got := cpuArchitecture(in); got != want {
			t.Errorf("cpuArchitecture(%s) = %s", in, got)
		}
	}
}

func TestClusterARN(t *testing.T) {
	tests := []struct{ cluster, instance, want string }{
		{"prod", "arn:aws:ecs:us-east-1:123:container-instance/prod/abc", "arn:aws:ecs:us-east-1:123:cluster/prod"},
		{"arn:aws:ecs:us-east-1:123:cluster/x", "arn:aws:ecs:us-east-1:123:container-instance/x/abc", "arn:aws:ecs:us-east-1:123:cluster/x"},
		{"prod", "weird", "prod"},
	}
	for _, tt := range tests {
		if got := clusterARN(tt.cluster, tt.instance); got != tt.want {
			t.Errorf("clusterARN(%q, %q) = %q", tt.cluster, tt.instance, got)
		}
	}
}

func TestRegister(t *testing.T) {
	ok := func(arn string) (*ecs.RegisterContainerInstanceOutput, error) {
		return &ecs.RegisterContainerInstanceOutput{ContainerInstance: &ecssdk.ContainerInstance{ContainerInstanceArn: aws.String(arn)}}, nil
	}
	notFound := func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
		return nil, &ecssdk.ClusterNotFoundException{Message: aws.String("Cluster not found.")}
	}
	tests := []struct {
		name      string
		cluster   string // default "prod"
		persisted string
		replies   []func(in *ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error)
		// creates answers CreateCluster; nil means the test expects no call.
		creates     []error
		wantARN     string
		wantErr     string
		wantCalls   int
		wantCreates int
	}{
		{
			name: "retries transient errors",
			replies: []func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error){
				func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
					return nil, errors.New("connection refused")
				},
				func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
					return nil, &ecssdk.ServerException{}
				},
				func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
					return ok("arn:new")
				},
			},
			wantARN: "arn:new", wantCalls: 3,
		},
		{
			name:      "re-registers the persisted instance",
			persisted: "arn:old",
			replies: []func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error){
				func(in *ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
					return ok(aws.ToString(in.ContainerInstanceArn))
				},
			},
			wantARN: "arn:old", wantCalls: 1,
		},
		{
			name:      "stale persisted instance falls back to a new one",
			persisted: "arn:old",
			replies: []func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error){
				func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
					return nil, &ecssdk.InvalidParameterException{}
				},
				func(in *ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
					if in.ContainerInstanceArn != nil {
						return nil, errors.New("still sending the stale arn")
					}
					return ok("arn:new")
				},
			},
			wantARN: "arn:new", wantCalls: 2,
		},
		{
			name: "invalid registration is final",
			replies: []func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error){
				func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
					return nil, &ecssdk.ClusterNotFoundException{}
				},
			},
			wantErr: "cluster prod does not exist", wantCalls: 1,
		},
		{
			name:    "missing default cluster is created once",
			cluster: config.DefaultCluster,
			replies: []func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error){
				notFound,
				func(in *ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
					if aws.ToString(in.Cluster) != "default" {
						return nil, errors.New("wrong cluster")
					}
					return ok("arn:new")
				},
			},
			creates: []error{nil},
			wantARN: "arn:new", wantCalls: 2, wantCreates: 1,
		},
		{
			name:    "default cluster creation retried while the server fails",
			cluster: config.DefaultCluster,
			replies: []func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error){
				notFound, notFound,
				func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
					return ok("arn:new")
				},
			},
			creates: []error{&ecssdk.ServerException{}, nil},
			wantARN: "arn:new", wantCalls: 3, wantCreates: 2,
		},
		{
			name:    "default cluster still missing after creating it is final",
			cluster: config.DefaultCluster,
			replies: []func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error){notFound},
			creates: []error{nil},
			wantErr: "cluster default does not exist", wantCalls: 2, wantCreates: 1,
		},
		{
			name:    "default cluster creation refused is final",
			cluster: config.DefaultCluster,
			replies: []func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error){notFound},
			creates: []error{&ecssdk.ClientException{Message: aws.String("no")}},
			wantErr: "create cluster default", wantCalls: 1, wantCreates: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, creates := 0, 0
			cfg := testConfig()
			if tt.cluster != "" {
				cfg.Cluster = tt.cluster
			}
			a := &Agent{
				api: &fakeAPI{
					register: func(in *ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
						calls++
						return tt.replies[min(calls, len(tt.replies))-1](in)
					},
					create: func(in *ecs.CreateClusterInput) (*ecs.CreateClusterOutput, error) {
						creates++
						if creates > len(tt.creates) {
							t.Fatalf("unexpected CreateCluster %d", creates)
						}
						if aws.ToString(in.ClusterName) != "default" {
							t.Errorf("CreateCluster %q, want default", aws.ToString(in.ClusterName))
						}
						if err := tt.creates[creates-1]; err != nil {
							return nil, err
						}
						return &ecs.CreateClusterOutput{Cluster: &ecssdk.Cluster{ClusterName: in.ClusterName}}, nil
					},
				},
				log:         testLogger(t),
				retry:       backoff{min: time.Millisecond, max: 2 * time.Millisecond},
				callTimeout: time.Second,
			}
			arn, err := a.register(context.Background(), registration{cfg: cfg, region: "us-east-1", instanceARN: tt.persisted})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
			} else if err != nil || arn != tt.wantARN {
				t.Fatalf("register = %q, %v; want %q", arn, err, tt.wantARN)
			}
			if calls != tt.wantCalls || creates != tt.wantCreates {
				t.Errorf("%d register and %d create calls, want %d and %d", calls, creates, tt.wantCalls, tt.wantCreates)
			}
		})
	}
}

func TestRegisterStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{
		api: &fakeAPI{register: func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
			cancel()
			return nil, errors.New("connection refused")
		}},
		log: testLogger(t), retry: backoff{min: time.Hour, max: time.Hour}, callTimeout: time.Second,
	}
	if _, err := a.register(ctx, registration{cfg: testConfig()}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
