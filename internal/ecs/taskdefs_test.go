package ecs

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// wantAWSErr fails unless err is an *awserr.Error with code whose message
// contains msg.
func wantAWSErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	e, ok := awserr.As(err)
	if !ok {
		t.Fatalf("error = %v, want %s", err, code)
	}
	if e.Code != code || !strings.Contains(e.Message, msg) {
		t.Fatalf("error = %s: %s, want %s containing %q", e.Code, e.Message, code, msg)
	}
}

// simpleTaskDef is the smallest valid request for family.
func simpleTaskDef(family string) *ecstypes.RegisterTaskDefinitionRequest {
	return &ecstypes.RegisterTaskDefinitionRequest{
		Family: aws.String(family),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64),
		}},
	}
}

func mustRegister(t *testing.T, s *Service, in *ecstypes.RegisterTaskDefinitionRequest) *ecstypes.TaskDefinition {
	t.Helper()
	out, err := s.RegisterTaskDefinition(t.Context(), in)
	if err != nil {
		t.Fatalf("RegisterTaskDefinition(%s): %v", aws.ToString(in.Family), err)
	}
	return out.TaskDefinition
}

// realisticTaskDef sets a broad sample of the model's fields.
func realisticTaskDef() *ecstypes.RegisterTaskDefinitionRequest {
	return &ecstypes.RegisterTaskDefinitionRequest{
		Family:                  aws.String("shop-web"),
		NetworkMode:             aws.String("awsvpc"),
		Cpu:                     aws.String("0.5 vCPU"),
		Memory:                  aws.String("1 GB"),
		TaskRoleArn:             aws.String("arn:aws:iam::000000000000:role/shop"),
		ExecutionRoleArn:        aws.String("arn:aws:iam::000000000000:role/exec"),
		PidMode:                 aws.String("task"),
		IpcMode:                 aws.String("task"),
		RequiresCompatibilities: []string{"EC2"},
		RuntimePlatform: &ecstypes.RuntimePlatform{
			CpuArchitecture: aws.String("X86_64"), OperatingSystemFamily: aws.String("LINUX"),
		},
		EphemeralStorage: &ecstypes.EphemeralStorage{SizeInGiB: aws.Int32(30)},
		Volumes: []ecstypes.Volume{
			{Name: aws.String("data"), Host: &ecstypes.HostVolumeProperties{SourcePath: aws.String("/srv/data")}},
			{Name: aws.String("scratch"), DockerVolumeConfiguration: &ecstypes.DockerVolumeConfiguration{
				Scope: aws.String("task"), Driver: aws.String("local"), Labels: map[string]string{"tier": "tmp"},
			}},
		},
		PlacementConstraints: []ecstypes.TaskDefinitionPlacementConstraint{
			{Type: aws.String("memberOf"), Expression: aws.String("attribute:ecs.instance-type =~ t3.*")},
		},
		Tags: []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("shop")}},
		ContainerDefinitions: []ecstypes.ContainerDefinition{
			{
				Name:              aws.String("web"),
				Image:             aws.String("nginx:1.27"),
				Cpu:               aws.Int32(256),
				Memory:            aws.Int32(512),
				MemoryReservation: aws.Int32(256),
				Essential:         aws.Bool(true),
				Command:           []string{"nginx", "-g", "daemon off;"},
				EntryPoint:        []string{"/docker-entrypoint.sh"},
				WorkingDirectory:  aws.String("/usr/share/nginx"),
				User:              aws.String("101:101"),
				Environment:       []ecstypes.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("prod")}},
				Secrets:           []ecstypes.Secret{{Name: aws.String("TOKEN"), ValueFrom: aws.String("arn:aws:ssm:us-east-1:000000000000:parameter/token")}},
				PortMappings: []ecstypes.PortMapping{
					{ContainerPort: aws.Int32(80), HostPort: aws.Int32(80), Protocol: aws.String("tcp"), Name: aws.String("http"), AppProtocol: aws.String("http")},
					{ContainerPort: aws.Int32(53), Protocol: aws.String("udp")},
				},
				MountPoints:            []ecstypes.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/data"), ReadOnly: aws.Bool(true)}},
				HealthCheck:            &ecstypes.HealthCheck{Command: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}, Interval: aws.Int32(10), Retries: aws.Int32(3), Timeout: aws.Int32(5), StartPeriod: aws.Int32(15)},
				DockerLabels:           map[string]string{"com.example.app": "shop"},
				Ulimits:                []ecstypes.Ulimit{{Name: aws.String("nofile"), SoftLimit: aws.Int32(1024), HardLimit: aws.Int32(4096)}},
				LogConfiguration:       &ecstypes.LogConfiguration{LogDriver: aws.String("awslogs"), Options: map[string]string{"awslogs-group": "/shop"}},
				LinuxParameters:        &ecstypes.LinuxParameters{InitProcessEnabled: aws.Bool(true), Capabilities: &ecstypes.KernelCapabilities{Add: []string{"NET_ADMIN"}}},
				ReadonlyRootFilesystem: aws.Bool(true),
				StopTimeout:            aws.Int32(30),
				StartTimeout:           aws.Int32(60),
				ExtraHosts:             []ecstypes.HostEntry{{Hostname: aws.String("db.local"), IpAddress: aws.String("10.0.0.5")}},
				SystemControls:         []ecstypes.SystemControl{{Namespace: aws.String("net.core.somaxconn"), Value: aws.String("1024")}},
				DependsOn:              []ecstypes.ContainerDependency{{ContainerName: aws.String("init"), Condition: aws.String("SUCCESS")}},
				DisableNetworking:      aws.Bool(false),
				Interactive:            aws.Bool(false),
				PseudoTerminal:         aws.Bool(false),
				VersionConsistency:     aws.String("enabled"),
			},
			{
				// Left bare on purpose: this one gets ECS's defaults.
				Name:              aws.String("init"),
				Image:             aws.String("busybox"),
				MemoryReservation: aws.Int32(32),
				Essential:         aws.Bool(false),
				Command:           []string{"sh", "-c", "echo ready"},
				PortMappings:      []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}},
			},
		},
	}
}

// jsonSubset fails unless every member of want is in got: recursively for
// objects, element by element for arrays of the same length, exactly for
// scalars. ECS may add members; it may not change or drop one.
func jsonSubset(t *testing.T, path string, want, got any) {
	t.Helper()
	if wa, ok := want.([]any); ok {
		ga, ok := got.([]any)
		if !ok || len(ga) != len(wa) {
			t.Errorf("%s = %v, want %v", path, got, want)
			return
		}
		for i := range wa {
			jsonSubset(t, fmt.Sprintf("%s[%d]", path, i), wa[i], ga[i])
		}
		return
	}
	wm, ok := want.(map[string]any)
	if !ok {
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
		return
	}
	gm, ok := got.(map[string]any)
	if !ok {
		t.Errorf("%s = %v, want an object", path, got)
		return
	}
	for k, v := range wm {
		jsonSubset(t, path+"."+k, v, gm[k])
	}
}

func toJSONMap(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTaskDefRegisterRoundTrip(t *testing.T) {
	s := newTestService(t)
	ctx := api.WithPrincipal(t.Context(), api.Principal{ARN: "arn:aws:iam::000000000000:user/alice"})
	in := realisticTaskDef()
	reg, err := s.RegisterTaskDefinition(ctx, in)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	desc, err := s.DescribeTaskDefinition(t.Context(), &ecstypes.DescribeTaskDefinitionRequest{
		TaskDefinition: aws.String("shop-web"), Include: []string{"TAGS"},
	})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	regJSON, descJSON := toJSONMap(t, reg), toJSONMap(t, desc)
	if !reflect.DeepEqual(regJSON, descJSON) {
		t.Errorf("describe differs from register reply:\n%v\n%v", descJSON, regJSON)
	}

	// Every member the caller set comes back unchanged, but for the task
	// size, which ECS converts to CPU units and MiB.
	want := toJSONMap(t, in)
	jsonSubset(t, "tags", want["tags"], regJSON["tags"])
	delete(want, "tags")
	want["cpu"], want["memory"] = "512", "1024"
	jsonSubset(t, "taskDefinition", want, regJSON["taskDefinition"])

	// What ECS adds.
	td := reg.TaskDefinition
	checks := []struct {
		name      string
		got, want any
	}{
		{"arn", aws.ToString(td.TaskDefinitionArn), "arn:aws:ecs:us-east-1:000000000000:task-definition/shop-web:1"},
		{"revision", aws.ToInt32(td.Revision), int32(1)},
		{"status", aws.ToString(td.Status), "ACTIVE"},
		{"registeredAt", td.RegisteredAt.Time, testNow},
		{"registeredBy", aws.ToString(td.RegisteredBy), "arn:aws:iam::000000000000:user/alice"},
		// awsvpc rules out EXTERNAL; ipcMode, host and Docker volumes rule out FARGATE.
		{"compatibilities", td.Compatibilities, []string{"EC2"}},
		{"init essential", aws.ToBool(td.ContainerDefinitions[1].Essential), false},
		{"init cpu", aws.ToInt32(td.ContainerDefinitions[1].Cpu), int32(0)},
		{"init port", td.ContainerDefinitions[1].PortMappings, []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(8080), Protocol: aws.String("tcp")}}},
		{"web udp hostPort", aws.ToInt32(td.ContainerDefinitions[0].PortMappings[1].HostPort), int32(53)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestTaskDefDefaults(t *testing.T) {
	s := newTestService(t)
	td := mustRegister(t, s, &ecstypes.RegisterTaskDefinitionRequest{
		Family: aws.String("bare"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(80)}},
		}},
	})
	c := td.ContainerDefinitions[0]
	if !aws.ToBool(c.Essential) || c.Cpu == nil || *c.Cpu != 0 {
		t.Errorf("essential/cpu = %v/%v, want true/0", c.Essential, c.Cpu)
	}
	if pm := c.PortMappings[0]; aws.ToString(pm.Protocol) != "tcp" || pm.HostPort != nil {
		t.Errorf("bridge port mapping = %+v, want tcp with dynamic host port", pm)
	}
	if !reflect.DeepEqual(td.Compatibilities, []string{"EXTERNAL", "EC2"}) {
		t.Errorf("compatibilities = %v", td.Compatibilities)
	}
	if got := aws.ToString(td.RegisteredBy); got != "arn:aws:iam::000000000000:root" {
		t.Errorf("registeredBy = %s", got)
	}
	if td.NetworkMode != nil || td.Cpu != nil {
		t.Errorf("unset members were filled in: networkMode %v cpu %v", td.NetworkMode, td.Cpu)
	}
}

// TestTaskDefCopiesEveryField guards the JSON-copy in newTaskDef: a member
// added to the request must exist on the definition too.
func TestTaskDefCopiesEveryField(t *testing.T) {
	have := map[string]bool{}
	tdType := reflect.TypeFor[ecstypes.TaskDefinition]()
	for i := range tdType.NumField() {
		have[tdType.Field(i).Tag.Get("json")] = true
	}
	reqType := reflect.TypeFor[ecstypes.RegisterTaskDefinitionRequest]()
	for i := range reqType.NumField() {
		tag := reqType.Field(i).Tag.Get("json")
		if !have[tag] && !strings.HasPrefix(tag, "tags,") {
			t.Errorf("request member %s has no counterpart in TaskDefinition", tag)
		}
	}
}

func TestTaskDefRevisions(t *testing.T) {
	s := newTestService(t)
	for want := int32(1); want <= 3; want++ {
		if got := aws.ToInt32(mustRegister(t, s, simpleTaskDef("web")).Revision); got != want {
			t.Fatalf("revision = %d, want %d", got, want)
		}
	}
	dereg, err := s.DeregisterTaskDefinition(t.Context(), &ecstypes.DeregisterTaskDefinitionRequest{TaskDefinition: aws.String("web:3")})
	if err != nil {
		t.Fatalf("deregister: %v", err)
	}
	if td := dereg.TaskDefinition; aws.ToString(td.Status) != "INACTIVE" || td.DeregisteredAt == nil || !td.DeregisteredAt.Equal(testNow) {
		t.Errorf("deregistered = status %v at %v", aws.ToString(td.Status), td.DeregisteredAt)
	}
	// The newest revision is gone but its number is never handed out again.
	if got := aws.ToInt32(mustRegister(t, s, simpleTaskDef("web")).Revision); got != 4 {
		t.Errorf("revision after deregistering 3 = %d, want 4", got)
	}
	if got := aws.ToInt32(mustRegister(t, s, simpleTaskDef("other")).Revision); got != 1 {
		t.Errorf("first revision of another family = %d, want 1", got)
	}

	for _, tc := range []struct {
		ref, code, msg string
	}{
		{"web", awserr.CodeClient, "Invalid revision number"},
		{"web:9", awserr.CodeClient, msgTaskDefMissing},
		{"nope:1", awserr.CodeClient, msgTaskDefMissing},
		{"web:x", awserr.CodeClient, "Invalid revision number"},
		{"arn:aws:ecs:us-east-1:000000000000:task-definition/web", awserr.CodeClient, "Invalid revision number"},
	} {
		_, err := s.DeregisterTaskDefinition(t.Context(), &ecstypes.DeregisterTaskDefinitionRequest{TaskDefinition: aws.String(tc.ref)})
		wantAWSErr(t, err, tc.code, tc.msg)
	}
	// Deregistering again by ARN is harmless and keeps the first timestamp.
	again, err := s.DeregisterTaskDefinition(t.Context(), &ecstypes.DeregisterTaskDefinitionRequest{
		TaskDefinition: aws.String("arn:aws:ecs:us-east-1:000000000000:task-definition/web:3"),
	})
	if err != nil || aws.ToString(again.TaskDefinition.Status) != "INACTIVE" {
		t.Errorf("second deregister = %v, %v", again, err)
	}
}

func TestTaskDefDescribe(t *testing.T) {
	s := newTestService(t)
	in := simpleTaskDef("api")
	in.Tags = []ecstypes.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}
	for range 3 {
		mustRegister(t, s, in)
	}
	if _, err := s.DeregisterTaskDefinition(t.Context(), &ecstypes.DeregisterTaskDefinitionRequest{TaskDefinition: aws.String("api:3")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref      string
		include  []string
		wantRev  int32
		wantTags bool
		wantErr  string
	}{
		{ref: "api", wantRev: 2}, // newest ACTIVE, not 3
		{ref: "api:1", wantRev: 1},
		{ref: "api:3", wantRev: 3}, // INACTIVE is still describable by revision
		{ref: "arn:aws:ecs:us-east-1:000000000000:task-definition/api:2", wantRev: 2, include: []string{"TAGS"}, wantTags: true},
		{ref: "api:4", wantErr: msgTaskDefMissing},
		{ref: "nope", wantErr: msgTaskDefMissing},
		{ref: "arn:aws:ecs:us-east-1:111111111111:task-definition/api:1", wantErr: msgTaskDefMissing},
		{ref: "arn:aws:ecs:us-east-1:000000000000:cluster/api", wantErr: msgTaskDefMissing},
		{ref: "api:0", wantErr: "Invalid revision number"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			out, err := s.DescribeTaskDefinition(t.Context(), &ecstypes.DescribeTaskDefinitionRequest{TaskDefinition: aws.String(tt.ref), Include: tt.include})
			if tt.wantErr != "" {
				wantAWSErr(t, err, awserr.CodeClient, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToInt32(out.TaskDefinition.Revision); got != tt.wantRev {
				t.Errorf("revision = %d, want %d", got, tt.wantRev)
			}
			if (len(out.Tags) > 0) != tt.wantTags {
				t.Errorf("tags = %v, want tags: %v", out.Tags, tt.wantTags)
			}
		})
	}
}

func TestTaskDefParseCPUAndMemory(t *testing.T) {
	cpu := []struct {
		in   string
		want int32
	}{
		{"256", 256}, {"1024", 1024}, {"1 vCPU", 1024}, {"0.25 vcpu", 256}, {"2vCPU", 2048},
		{" 512 ", 512}, {"", 0}, {"lots", 0}, {"0", 0}, {"-1", 0}, {"1.5", 0}, {"0x10", 0}, {"1e3", 0}, {"99999999999", 0},
	}
	for _, tt := range cpu {
		got, err := parseTaskCPU(tt.in)
		if (err == nil) != (tt.want != 0) || got != tt.want {
			t.Errorf("parseTaskCPU(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	mem := []struct {
		in   string
		want int32
	}{
		{"512", 512}, {"1 GB", 1024}, {"2GB", 2048}, {"0.5 GB", 512}, {"1 gb", 1024}, {"512 MiB", 512},
		{"1 TB", 0}, {"GB", 0}, {"", 0}, {"1.5", 0}, {"3000000 GB", 0},
	}
	for _, tt := range mem {
		got, err := parseTaskMemory(tt.in)
		if (err == nil) != (tt.want != 0) || got != tt.want {
			t.Errorf("parseTaskMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}
