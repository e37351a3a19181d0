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
		{name: "too many colons", in: twoContainers(nil, "app:a:b"), msg: "use 'name' or 'name:alias'"},
		{name: "empty alias", in: twoContainers(nil, "app:"), msg: "use 'name' or 'name:alias'"},
		{name: "alias with a dot", in: twoContainers(nil, "app:my.alias"), msg: "use 'name' or 'name:alias'"},
		{name: "cycle through links", in: func() *ecstypes.RegisterTaskDefinitionRequest {
			in := twoContainers(nil, "app")
			in.ContainerDefinitions[0].Links = []string{"client"}
			return in
		}(), msg: "form a cycle"},
		{name: "cycle through a link and dependsOn", in: func() *ecstypes.RegisterTaskDefinitionRequest {
			in := twoContainers(nil, "app")
			in.ContainerDefinitions[0].DependsOn = []ecstypes.ContainerDependency{{ContainerName: aws.String("client"), Condition: aws.String("START")}}
			return in
		}(), msg: "form a cycle"},
		{name: "link to a container it waits to exit", in: func() *ecstypes.RegisterTaskDefinitionRequest {
			in := twoContainers(nil, "app")
			in.ContainerDefinitions[1].DependsOn = []ecstypes.ContainerDependency{{ContainerName: aws.String("app"), Condition: aws.String("COMPLETE")}}
			return in
		}(), msg: "a linked container must be running"},
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
