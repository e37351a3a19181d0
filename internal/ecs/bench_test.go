package ecs

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// BenchmarkRunTask places one task at a time on clusters of 100 and 5,000
// connected instances (each with ECS's 48 or so agent attributes), through
// the handler, the read model and etcd: the ratio between the two is what a
// placement pays for the size of the cluster.
func BenchmarkRunTask(b *testing.B) {
	for _, n := range []int{100, 5000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			s := newTestService(b)
			createCluster(b, s, "prod")
			attrs := []ecstypes.Attribute{{Name: aws.String("ecs.availability-zone"), Value: aws.String("us-east-1a")}}
			for i := range 40 {
				attrs = append(attrs, ecstypes.Attribute{Name: aws.String(fmt.Sprintf("com.amazonaws.ecs.capability.attr-%d", i))})
			}
			var sessions []string
			for range n {
				out, err := s.RegisterContainerInstance(b.Context(), &ecstypes.RegisterContainerInstanceRequest{
					Cluster: aws.String("prod"), TotalResources: instanceResources(1<<20, 1<<20), Attributes: attrs,
				})
				if err != nil {
					b.Fatal(err)
				}
				sessions = append(sessions, aws.ToString(out.ContainerInstance.ContainerInstanceArn))
			}
			if err := s.st.Update(b.Context(), func(tx *store.Tx) error {
				for _, arn := range sessions {
					store.Put(tx, agentSessions, idFromARN(arn), agentSession{InstanceArn: arn})
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			var in ecstypes.RegisterTaskDefinitionRequest
			in.Family = aws.String("web")
			in.ContainerDefinitions = []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("nginx"), Cpu: aws.Int32(1), Memory: aws.Int32(6)}}
			def, err := s.RegisterTaskDefinition(b.Context(), &in)
			if err != nil {
				b.Fatal(err)
			}
			req := &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: def.TaskDefinition.TaskDefinitionArn}
			if _, err := s.RunTask(b.Context(), req); err != nil { // warm the read model
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				out, err := s.RunTask(b.Context(), req)
				if err != nil || len(out.Tasks) != 1 {
					b.Fatalf("RunTask: %v %+v", err, out)
				}
			}
		})
	}
}
