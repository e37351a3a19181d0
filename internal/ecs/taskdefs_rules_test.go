package ecs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// twoContainerTaskDef is a valid bridge-mode request the rule tests bend.
func twoContainerTaskDef() *ecstypes.RegisterTaskDefinitionRequest {
	return &ecstypes.RegisterTaskDefinitionRequest{
		Family: aws.String("svc"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{
			{
				Name: aws.String("web"), Image: aws.String("nginx"), Memory: aws.Int32(128),
				PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080)}},
				DependsOn:    []ecstypes.ContainerDependency{{ContainerName: aws.String("db"), Condition: aws.String("START")}},
			},
			{
				Name: aws.String("db"), Image: aws.String("postgres"), MemoryReservation: aws.Int32(256),
				PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(5432)}},
			},
		},
	}
}

// taskDefState is everything the task definition calls can observe.
func taskDefState(t *testing.T, s *Service) []string {
	t.Helper()
	var out []string
	for _, status := range []string{"ACTIVE", "INACTIVE"} {
		l, err := s.ListTaskDefinitions(t.Context(), &ecstypes.ListTaskDefinitionsRequest{Status: aws.String(status)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l.TaskDefinitionArns...)
	}
	f, err := s.ListTaskDefinitionFamilies(t.Context(), &ecstypes.ListTaskDefinitionFamiliesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return append(out, f.Families...)
}

func TestTaskDefRules(t *testing.T) {
	type req = ecstypes.RegisterTaskDefinitionRequest
	web := func(r *req) *ecstypes.ContainerDefinition { return &r.ContainerDefinitions[0] }
	db := func(r *req) *ecstypes.ContainerDefinition { return &r.ContainerDefinitions[1] }
	manyTags := func(n int, prefix string) []ecstypes.Tag {
		tags := make([]ecstypes.Tag, n)
		for i := range tags {
			tags[i] = ecstypes.Tag{Key: aws.String(prefix + strings.Repeat("k", i+1)), Value: aws.String("v")}
		}
		return tags
	}
	const client, invalid = awserr.CodeClient, awserr.CodeInvalidParameter
	rejected := []struct {
		name, code, msg string
		bend            func(r *req)
	}{
		{"family chars", client, "Family contains invalid characters", func(r *req) { r.Family = aws.String("my family") }},
		{"malformed memberOf", invalid, "position", func(r *req) {
			r.PlacementConstraints = []ecstypes.TaskDefinitionPlacementConstraint{{Type: aws.String("memberOf"), Expression: aws.String("attribute:zone in [a, b")}}
		}},
		{"distinctInstance in a task definition", client, "only memberOf", func(r *req) {
			r.PlacementConstraints = []ecstypes.TaskDefinitionPlacementConstraint{{Type: aws.String("distinctInstance")}}
		}},
		{"family length", client, "Family contains invalid characters", func(r *req) { r.Family = aws.String(strings.Repeat("f", 256)) }},
		{"no containers", client, "Container list cannot be empty", func(r *req) { r.ContainerDefinitions = []ecstypes.ContainerDefinition{} }},
		{"11 containers", client, "Too many containers", func(r *req) {
			for i := range 9 {
				c := *db(r)
				c.Name = aws.String("extra" + strings.Repeat("x", i))
				c.PortMappings = nil
				r.ContainerDefinitions = append(r.ContainerDefinitions, c)
			}
		}},
		{"no name", client, "Container.name should not be null or empty", func(r *req) { db(r).Name = nil; web(r).DependsOn = nil }},
		{"name chars", client, "Container name 'd b' contains invalid characters", func(r *req) { db(r).Name = aws.String("d b"); web(r).DependsOn = nil }},
		{"duplicate names", client, "must be unique", func(r *req) { db(r).Name = aws.String("web"); web(r).DependsOn = nil }},
		{"no image", client, "Container.image should not be null or empty", func(r *req) { db(r).Image = aws.String("") }},
		{"no memory", client, "Invalid setting for container 'db'. At least one of 'memory' or 'memoryReservation' must be specified.", func(r *req) { db(r).MemoryReservation = nil }},
		{"memory too small", client, "The minimum is 6 MiB", func(r *req) { web(r).Memory = aws.Int32(4) }},
		{"reservation above memory", client, "'memory' must be greater than or equal to 'memoryReservation'", func(r *req) { web(r).MemoryReservation = aws.Int32(129) }},
		{"no essential container", client, "at least one essential container", func(r *req) {
			web(r).Essential = aws.Bool(false)
			db(r).Essential = aws.Bool(false)
		}},
		{"depends on unknown", client, "container 'cache' is not defined", func(r *req) { web(r).DependsOn[0].ContainerName = aws.String("cache") }},
		{"depends on self", client, "cannot depend on itself", func(r *req) { web(r).DependsOn[0].ContainerName = aws.String("web") }},
		{"dependency cycle", client, "form a cycle", func(r *req) {
			db(r).DependsOn = []ecstypes.ContainerDependency{{ContainerName: aws.String("web"), Condition: aws.String("START")}}
		}},
		{"healthy without health check", client, "requires container 'db' to have a healthCheck", func(r *req) { web(r).DependsOn[0].Condition = aws.String("HEALTHY") }},
		{"container port missing", client, "Invalid 'containerPort'", func(r *req) { db(r).PortMappings[0].ContainerPort = nil }},
		{"container port zero", client, "Invalid 'containerPort'", func(r *req) { db(r).PortMappings[0].ContainerPort = aws.Int32(0) }},
		{"container port too big", client, "Invalid 'containerPort'", func(r *req) { db(r).PortMappings[0].ContainerPort = aws.Int32(65536) }},
		{"host port too big", client, "Invalid 'hostPort'", func(r *req) { db(r).PortMappings[0].HostPort = aws.Int32(70000) }},
		{"bad port range", client, "Invalid 'containerPortRange'", func(r *req) {
			db(r).PortMappings[0] = ecstypes.PortMapping{ContainerPortRange: aws.String("9000-8000")}
		}},
		{"awsvpc host port mismatch", client, "When networkMode=awsvpc, the host ports and container ports in port mappings must match.", func(r *req) {
			r.NetworkMode = aws.String("awsvpc")
		}},
		{"host host port mismatch", client, "When networkMode=host", func(r *req) { r.NetworkMode = aws.String("host") }},
		{"duplicate static host port", client, "host port tcp/8080", func(r *req) { db(r).PortMappings[0].HostPort = aws.Int32(8080) }},
		{"duplicate host port in host mode", client, "host port tcp/80", func(r *req) {
			r.NetworkMode = aws.String("host")
			web(r).PortMappings[0].HostPort = nil
			db(r).PortMappings[0].ContainerPort = aws.Int32(80)
		}},
		{"ports with network mode none", client, "not allowed with network mode 'none'", func(r *req) { r.NetworkMode = aws.String("none") }},
		{"task cpu", client, "Invalid 'cpu' setting for task", func(r *req) { r.Cpu = aws.String("lots") }},
		{"task memory", client, "Invalid 'memory' setting for task", func(r *req) { r.Memory = aws.String("1 TB") }},
		{"fargate bridge", client, "Fargate only supports network mode \u2018awsvpc\u2019.", func(r *req) {
			r.RequiresCompatibilities = []string{"FARGATE"}
			r.Cpu, r.Memory = aws.String("256"), aws.String("512")
		}},
		{"fargate no cpu", client, "Fargate requires that 'cpu' be defined", func(r *req) {
			r.RequiresCompatibilities, r.NetworkMode = []string{"FARGATE"}, aws.String("awsvpc")
			web(r).PortMappings[0].HostPort = nil
			r.Memory = aws.String("512")
		}},
		{"fargate no memory", client, "Fargate requires that 'memory' be defined", func(r *req) {
			r.RequiresCompatibilities, r.NetworkMode = []string{"FARGATE"}, aws.String("awsvpc")
			web(r).PortMappings[0].HostPort = nil
			r.Cpu = aws.String("256")
		}},
		{"51 tags", invalid, "Too many tags", func(r *req) { r.Tags = manyTags(51, "") }},
		{"aws: tag", invalid, "reserved", func(r *req) { r.Tags = []ecstypes.Tag{{Key: aws.String("AWS:owner"), Value: aws.String("x")}} }},
		{"over 64 KiB", client, "exceeds the limit (65536 bytes)", func(r *req) {
			db(r).Environment = []ecstypes.KeyValuePair{{Name: aws.String("BIG"), Value: aws.String(strings.Repeat("x", 64<<10))}}
		}},
	}
	s := newTestService(t)
	mustRegister(t, s, twoContainerTaskDef())
	before := taskDefState(t, s)
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			in := twoContainerTaskDef()
			tt.bend(in)
			_, err := s.RegisterTaskDefinition(t.Context(), in)
			wantAWSErr(t, err, tt.code, tt.msg)
			if after := taskDefState(t, s); !reflect.DeepEqual(after, before) {
				t.Errorf("a rejected request changed the state: %v, was %v", after, before)
			}
		})
	}
	// No revision number was used up by the rejections.
	if rev := aws.ToInt32(mustRegister(t, s, twoContainerTaskDef()).Revision); rev != 2 {
		t.Errorf("revision after rejections = %d, want 2", rev)
	}

	accepted := []struct {
		name string
		bend func(r *req)
	}{
		{"dynamic host ports twice", func(r *req) {
			web(r).PortMappings[0].HostPort = aws.Int32(0)
			db(r).PortMappings[0].ContainerPort = aws.Int32(80)
		}},
		{"same port tcp and udp", func(r *req) {
			db(r).PortMappings[0] = ecstypes.PortMapping{ContainerPort: aws.Int32(53), HostPort: aws.Int32(8080), Protocol: aws.String("udp")}
		}},
		{"memory only at task level", func(r *req) { web(r).Memory, db(r).MemoryReservation, r.Memory = nil, nil, aws.String("2GB") }},
		{"healthy with health check", func(r *req) {
			web(r).DependsOn[0].Condition = aws.String("HEALTHY")
			db(r).HealthCheck = &ecstypes.HealthCheck{Command: []string{"CMD", "pg_isready"}}
		}},
		{"fargate", func(r *req) {
			r.RequiresCompatibilities, r.NetworkMode = []string{"FARGATE"}, aws.String("awsvpc")
			web(r).PortMappings[0].HostPort = aws.Int32(80)
			r.Cpu, r.Memory = aws.String("1 vCPU"), aws.String("2 GB")
		}},
		{"port range", func(r *req) {
			db(r).PortMappings[0] = ecstypes.PortMapping{ContainerPortRange: aws.String("9000-9100")}
		}},
		{"50 tags", func(r *req) { r.Tags = manyTags(50, "") }},
		{"10 containers", func(r *req) {
			for i := range 8 {
				c := *db(r)
				c.Name = aws.String("extra" + strings.Repeat("x", i))
				c.PortMappings = nil
				r.ContainerDefinitions = append(r.ContainerDefinitions, c)
			}
		}},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			in := twoContainerTaskDef()
			tt.bend(in)
			if _, err := s.RegisterTaskDefinition(t.Context(), in); err != nil {
				t.Errorf("rejected: %v", err)
			}
		})
	}
}
