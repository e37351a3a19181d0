package ecs

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// instanceLists is the shape of a container instance in every reply.
func instanceLists(prefix string, tags string) map[string]string {
	return map[string]string{
		prefix + "attributes": anyList, prefix + "registeredResources": nonEmpty,
		prefix + "remainingResources": nonEmpty, prefix + "attachments": emptyArr, prefix + "tags": tags,
		prefix + "runningTasksCount": present, prefix + "pendingTasksCount": present,
		prefix + "agentConnected": present, prefix + "ec2InstanceId": present, prefix + "versionInfo": present,
	}
}

func TestInstanceReplyShapes(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	tagged := registerInstance(t, s, "prod", 1024, 1024)
	if _, err := s.TagResource(t.Context(), &ecstypes.TagResourceRequest{ResourceArn: aws.String(tagged), Tags: tagList("rack", "a1")}); err != nil {
		t.Fatal(err)
	}
	plain := registerInstance(t, s, "prod", 1024, 1024)
	describe := func(include ...string) func(*testing.T, *Service) (any, error) {
		return func(t *testing.T, s *Service) (any, error) {
			return s.DescribeContainerInstances(t.Context(), &ecstypes.DescribeContainerInstancesRequest{
				Cluster: aws.String("prod"), ContainerInstances: []string{tagged}, Include: include})
		}
	}
	cases := []shapeCase{
		{"RegisterContainerInstance", func(t *testing.T, s *Service) (any, error) {
			return s.RegisterContainerInstance(t.Context(), &ecstypes.RegisterContainerInstanceRequest{
				Cluster: aws.String("prod"), TotalResources: instanceResources(512, 512),
				Attributes:  []ecstypes.Attribute{{Name: aws.String("ecs.os-type"), Value: aws.String("linux")}},
				VersionInfo: &ecstypes.VersionInfo{AgentVersion: aws.String("1.0.0")},
			})
		}, instanceLists("containerInstance.", emptyArr)},
		{"DescribeContainerInstances", describe(), with(instanceLists("containerInstances.0.", emptyArr), "failures", emptyArr)},
		{"DescribeContainerInstances include TAGS", describe("TAGS"), instanceLists("containerInstances.0.", nonEmpty)},
		{"UpdateContainerInstancesState", func(t *testing.T, s *Service) (any, error) {
			return s.UpdateContainerInstancesState(t.Context(), &ecstypes.UpdateContainerInstancesStateRequest{
				Cluster: aws.String("prod"), ContainerInstances: []string{tagged}, Status: aws.String("DRAINING")})
		}, with(instanceLists("containerInstances.0.", nonEmpty), "failures", emptyArr)},
		{"DeregisterContainerInstance", func(t *testing.T, s *Service) (any, error) {
			return s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
				Cluster: aws.String("prod"), ContainerInstance: aws.String(plain)})
		}, instanceLists("containerInstance.", emptyArr)},
		{"PutAttributes", func(t *testing.T, s *Service) (any, error) {
			return s.PutAttributes(t.Context(), &ecstypes.PutAttributesRequest{Cluster: aws.String("prod"),
				Attributes: []ecstypes.Attribute{{Name: aws.String("stack"), Value: aws.String("prod"), TargetId: aws.String(tagged)}}})
		}, map[string]string{"attributes.0.name": present, "attributes.0.value": present, "attributes.0.targetId": present}},
		{"ListAttributes", func(t *testing.T, s *Service) (any, error) {
			return s.ListAttributes(t.Context(), &ecstypes.ListAttributesRequest{Cluster: aws.String("prod"),
				TargetType: aws.String("container-instance"), AttributeName: aws.String("stack")})
		}, map[string]string{"attributes.0.name": present, "attributes.0.value": present, "attributes.0.targetId": present,
			"attributes.0.targetType": absent, "attributes.1": absent, "nextToken": absent}},
		// ECS answers with the deleted attributes as they were, values included.
		{"DeleteAttributes", func(t *testing.T, s *Service) (any, error) {
			return s.DeleteAttributes(t.Context(), &ecstypes.DeleteAttributesRequest{Cluster: aws.String("prod"),
				Attributes: []ecstypes.Attribute{{Name: aws.String("stack"), TargetId: aws.String(tagged)}}})
		}, map[string]string{"attributes.0.name": present, "attributes.0.value": present, "attributes.0.targetId": present}},
	}
	runShapeCases(t, s, cases)
}

// with is a copy of want with one more expectation.
func with(want map[string]string, path, exp string) map[string]string {
	out := maps.Clone(want)
	out[path] = exp
	return out
}

// taskLists is the shape of a task in every reply.
func taskLists(prefix, tags string) map[string]string {
	return map[string]string{
		prefix + "attachments": emptyArr, prefix + "attributes": anyList, prefix + "containers": nonEmpty,
		prefix + "containers.0.networkInterfaces": emptyArr,
		prefix + "overrides.containerOverrides":   nonEmpty, prefix + "overrides.containerOverrides.0.name": present,
		prefix + "overrides.containerOverrides.1.name":     present,
		prefix + "overrides.inferenceAcceleratorOverrides": emptyArr,
		prefix + "tags": tags, prefix + "cpu": present, prefix + "memory": present,
	}
}

func TestTaskReplyShapes(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 4096, 4096)
	bare := registerTaskDef(t, s, `{"family":"pair","containerDefinitions":[
		{"name":"app","image":"nginx","memory":64},{"name":"side","image":"busybox","memory":32}]}`)
	run := func(tags []ecstypes.Tag) (*ecstypes.RunTaskResponse, error) {
		return s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(bare), Tags: tags})
	}
	plain, err := run(nil)
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := run(tagList("team", "web"))
	if err != nil {
		t.Fatal(err)
	}
	plainArn, taggedArn := aws.ToString(plain.Tasks[0].TaskArn), aws.ToString(tagged.Tasks[0].TaskArn)
	describe := func(arn string, include ...string) func(*testing.T, *Service) (any, error) {
		return func(t *testing.T, s *Service) (any, error) {
			return s.DescribeTasks(t.Context(), &ecstypes.DescribeTasksRequest{Cluster: aws.String("prod"), Tasks: []string{arn}, Include: include})
		}
	}
	runShapeCases(t, s, []shapeCase{
		{"RunTask", func(*testing.T, *Service) (any, error) { return plain, nil },
			with(taskLists("tasks.0.", emptyArr), "failures", emptyArr)},
		{"RunTask with tags", func(*testing.T, *Service) (any, error) { return tagged, nil }, taskLists("tasks.0.", nonEmpty)},
		{"RunTask that places nothing", func(t *testing.T, s *Service) (any, error) {
			return s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(bare),
				Overrides: &ecstypes.TaskOverride{Memory: aws.String("999999")}})
		}, map[string]string{"tasks": emptyArr, "failures": nonEmpty}},
		{"StartTask", func(t *testing.T, s *Service) (any, error) {
			return s.StartTask(t.Context(), &ecstypes.StartTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(bare),
				ContainerInstances: []string{inst}})
		}, with(taskLists("tasks.0.", emptyArr), "failures", emptyArr)},
		{"DescribeTasks", describe(taggedArn), with(taskLists("tasks.0.", emptyArr), "failures", emptyArr)},
		{"DescribeTasks include TAGS", describe(taggedArn, "TAGS"), taskLists("tasks.0.", nonEmpty)},
		{"DescribeTasks include TAGS untagged", describe(plainArn, "TAGS"), taskLists("tasks.0.", emptyArr)},
		{"StopTask", func(t *testing.T, s *Service) (any, error) {
			return s.StopTask(t.Context(), &ecstypes.StopTaskRequest{Cluster: aws.String("prod"), Task: aws.String(plainArn)})
		}, taskLists("task.", emptyArr)},
		{"ListTasks", func(t *testing.T, s *Service) (any, error) {
			return s.ListTasks(t.Context(), &ecstypes.ListTasksRequest{Cluster: aws.String("prod")})
		}, map[string]string{"taskArns": nonEmpty, "nextToken": absent}},
		{"SubmitTaskStateChange", func(t *testing.T, s *Service) (any, error) {
			return s.SubmitTaskStateChange(t.Context(), &ecstypes.SubmitTaskStateChangeRequest{Cluster: aws.String("prod"),
				Task: aws.String(taggedArn), Status: aws.String("RUNNING")})
		}, map[string]string{"acknowledgment": present}},
		{"DiscoverPollEndpoint", func(t *testing.T, s *Service) (any, error) {
			return s.DiscoverPollEndpoint(t.Context(), &ecstypes.DiscoverPollEndpointRequest{Cluster: aws.String("prod"), ContainerInstance: aws.String(inst)})
		}, map[string]string{"endpoint": present, "telemetryEndpoint": present}},
	})
	// Overrides name every container, the request's own first, as given.
	ov := &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{Name: aws.String("side"), Command: []string{"true"}}}}
	out, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(bare), Overrides: ov})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask with overrides: %v %+v", err, out)
	}
	got := out.Tasks[0].Overrides.ContainerOverrides
	if len(got) != 2 || aws.ToString(got[0].Name) != "side" || len(got[0].Command) != 1 || aws.ToString(got[1].Name) != "app" || got[1].Command != nil {
		t.Errorf("containerOverrides = %+v, want side (with its command) then app (name only)", got)
	}
	// Without task-level sizes, a task reports what its containers add up to.
	if c, m := aws.ToString(out.Tasks[0].Cpu), aws.ToString(out.Tasks[0].Memory); c != "0" || m != "96" {
		t.Errorf("task cpu/memory = %q/%q, want the containers' sum 0/96", c, m)
	}
}

func TestTaskDefReplyShapes(t *testing.T) {
	s := newTestService(t)
	register := func(js string) func(*testing.T, *Service) (any, error) {
		return func(t *testing.T, s *Service) (any, error) {
			var in ecstypes.RegisterTaskDefinitionRequest
			if err := jsonUnmarshal(js, &in); err != nil {
				t.Fatal(err)
			}
			return s.RegisterTaskDefinition(t.Context(), &in)
		}
	}
	describe := func(include ...string) func(*testing.T, *Service) (any, error) {
		return func(t *testing.T, s *Service) (any, error) {
			return s.DescribeTaskDefinition(t.Context(), &ecstypes.DescribeTaskDefinitionRequest{TaskDefinition: aws.String("tagged"), Include: include})
		}
	}
	defLists := map[string]string{
		"taskDefinition.volumes": emptyArr, "taskDefinition.placementConstraints": emptyArr,
		"taskDefinition.compatibilities": nonEmpty, "taskDefinition.requiresAttributes": emptyArr,
		"taskDefinition.containerDefinitions.0.environment": emptyArr, "taskDefinition.containerDefinitions.0.mountPoints": emptyArr,
		"taskDefinition.containerDefinitions.0.portMappings": emptyArr, "taskDefinition.containerDefinitions.0.volumesFrom": emptyArr,
	}
	runShapeCases(t, s, []shapeCase{
		// As in the AWS CLI's register-task-definition example: no tags member without tags.
		{"RegisterTaskDefinition", register(`{"family":"plain","containerDefinitions":[{"name":"a","image":"busybox","memory":32}]}`),
			with(defLists, "tags", absent)},
		{"RegisterTaskDefinition with tags", register(`{"family":"tagged","tags":[{"key":"k","value":"v"}],
			"containerDefinitions":[{"name":"a","image":"busybox","memory":32}]}`), map[string]string{"tags": nonEmpty}},
		{"DescribeTaskDefinition", describe(), with(defLists, "tags", emptyArr)},
		{"DescribeTaskDefinition include TAGS", describe("TAGS"), map[string]string{"tags": nonEmpty}},
		{"DeregisterTaskDefinition", func(t *testing.T, s *Service) (any, error) {
			return s.DeregisterTaskDefinition(t.Context(), &ecstypes.DeregisterTaskDefinitionRequest{TaskDefinition: aws.String("plain:1")})
		}, map[string]string{"taskDefinition.deregisteredAt": present, "taskDefinition.volumes": emptyArr}},
	})
}

func jsonUnmarshal(js string, v any) error { return json.Unmarshal([]byte(js), v) }
