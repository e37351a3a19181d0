package ecs

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func TestTaskDefLinks(t *testing.T) {
	twoContainers := func(mode *string, links ...string) *ecstypes.RegisterTaskDefinitionRequest {
		in := simpleTaskDef("linked")
		in.NetworkMode = mode
		in.ContainerDefinitions = append(in.ContainerDefinitions, ecstypes.ContainerDefinition{
			Name: aws.String("client"), Image: aws.String("busybox"), Memory: aws.Int32(16), Links: links,
		})
		return in
	}
	tests := []struct {
		name string
		in   *ecstypes.RegisterTaskDefinitionRequest
		msg  string // "" means accepted
	}{
		{name: "bridge by default", in: twoContainers(nil, "app")},
		{name: "alias form", in: twoContainers(aws.String("bridge"), "app:api")},
		{name: "host mode", in: twoContainers(aws.String("host"), "app"), msg: "Links are not supported for network mode 'host'"},
		{name: "unknown target", in: twoContainers(nil, "db:database"), msg: "Invalid link 'db:database' in container 'client'"},
		{name: "self link", in: twoContainers(nil, "client"), msg: "Invalid link 'client'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newTestService(t)
			_, err := svc.RegisterTaskDefinition(t.Context(), tt.in)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("RegisterTaskDefinition: %v", err)
				}
				return
			}
			wantAWSErr(t, err, "ClientException", tt.msg)
			if _, derr := svc.DescribeTaskDefinition(t.Context(), &ecstypes.DescribeTaskDefinitionRequest{TaskDefinition: aws.String("linked")}); derr == nil {
				t.Fatal("a rejected registration wrote a task definition")
			}
		})
	}
}
