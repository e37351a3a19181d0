package ecs

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// Shared fixtures for the cluster, instance, task and agent tests. They call
// the handlers under test, except for the agent session, which only the ACS
// socket writes.

// reservedPorts are the agent's default reserved TCP ports.
var reservedPorts = []string{"22", "2375", "2376", "51678", "51679"}

// createCluster creates an ACTIVE cluster and returns its ARN.
func createCluster(t testing.TB, s *Service, name string) string {
	t.Helper()
	out, err := s.CreateCluster(t.Context(), &ecstypes.CreateClusterRequest{ClusterName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateCluster(%s): %v", name, err)
	}
	return aws.ToString(out.Cluster.ClusterArn)
}

// instanceResources is what an agent reports as totalResources.
func instanceResources(cpu, mem int32) []ecstypes.Resource {
	return buildResources(cpu, mem, slices.Clone(reservedPorts), nil)
}

// registerInstance registers a container instance with cpu units and MiB of
// memory, marks its agent connected and returns the instance ARN.
func registerInstance(t *testing.T, s *Service, cluster string, cpu, mem int32, attrs ...ecstypes.Attribute) string {
	t.Helper()
	out, err := s.RegisterContainerInstance(t.Context(), &ecstypes.RegisterContainerInstanceRequest{
		Cluster:        aws.String(cluster),
		TotalResources: instanceResources(cpu, mem),
		Attributes:     attrs,
		VersionInfo:    &ecstypes.VersionInfo{AgentVersion: aws.String("1.0.0"), DockerVersion: aws.String("27.0.0")},
	})
	if err != nil {
		t.Fatalf("RegisterContainerInstance(%s): %v", cluster, err)
	}
	arn := aws.ToString(out.ContainerInstance.ContainerInstanceArn)
	connectAgent(t, s, arn)
	return arn
}

// connectAgent records an agent session, as the ACS socket does on connect.
func connectAgent(t *testing.T, s *Service, instanceArn string) {
	t.Helper()
	err := s.st.Update(t.Context(), func(tx *store.Tx) error {
		store.Put(tx, agentSessions, idFromARN(instanceArn), agentSession{InstanceArn: instanceArn})
		return nil
	})
	if err != nil {
		t.Fatalf("connect agent %s: %v", instanceArn, err)
	}
}

// disconnectAgent removes the agent session, as the ACS socket does on close.
func disconnectAgent(t *testing.T, s *Service, instanceArn string) {
	t.Helper()
	err := s.st.Update(t.Context(), func(tx *store.Tx) error {
		store.Delete(tx, agentSessions, idFromARN(instanceArn))
		return nil
	})
	if err != nil {
		t.Fatalf("disconnect agent %s: %v", instanceArn, err)
	}
	// Placement trusts the cached sessions of instances that look
	// connected (an agent that just left is a race ECS has too): wait
	// until the cache has seen this one go.
	if _, err := s.freshModel(t.Context(), sessionsPart); err != nil {
		t.Fatalf("disconnect agent %s: sync the read model: %v", instanceArn, err)
	}
}

// registerTaskDef registers a task definition given as RegisterTaskDefinition
// request JSON and returns its ARN.
func registerTaskDef(t *testing.T, s *Service, js string) string {
	t.Helper()
	var in ecstypes.RegisterTaskDefinitionRequest
	if err := json.Unmarshal([]byte(js), &in); err != nil {
		t.Fatalf("task definition JSON: %v", err)
	}
	out, err := s.RegisterTaskDefinition(t.Context(), &in)
	if err != nil {
		t.Fatalf("RegisterTaskDefinition(%s): %v", aws.ToString(in.Family), err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// webTaskDef is one container reserving 256 CPU units and 512 MiB.
const webTaskDef = `{"family":"web","containerDefinitions":[
	{"name":"app","image":"nginx","cpu":256,"memory":512}]}`

// portTaskDef binds static host port 8080 in bridge mode.
const portTaskDef = `{"family":"port","containerDefinitions":[
	{"name":"app","image":"nginx","cpu":128,"memory":128,
	 "portMappings":[{"containerPort":80,"hostPort":8080}]}]}`

// runTask runs count tasks of taskDef on cluster and fails the test on error.
func runTask(t *testing.T, s *Service, cluster, taskDef string, count int32) *ecstypes.RunTaskResponse {
	t.Helper()
	out, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{
		Cluster: aws.String(cluster), TaskDefinition: aws.String(taskDef), Count: aws.Int32(count),
	})
	if err != nil {
		t.Fatalf("RunTask(%s, %s): %v", cluster, taskDef, err)
	}
	return out
}

// runOne runs a single task that must be placed and returns its ARN.
func runOne(t *testing.T, s *Service, cluster, taskDef string) string {
	t.Helper()
	out := runTask(t, s, cluster, taskDef, 1)
	if len(out.Tasks) != 1 {
		t.Fatalf("RunTask placed %d tasks, failures %v", len(out.Tasks), failureReasons(out.Failures))
	}
	return aws.ToString(out.Tasks[0].TaskArn)
}

// describeInstance describes one container instance that must exist.
func describeInstance(t *testing.T, s *Service, cluster, arn string) ecstypes.ContainerInstance {
	t.Helper()
	out, err := s.DescribeContainerInstances(t.Context(), &ecstypes.DescribeContainerInstancesRequest{
		Cluster: aws.String(cluster), ContainerInstances: []string{arn}, Include: []string{"TAGS"},
	})
	if err != nil {
		t.Fatalf("DescribeContainerInstances(%s): %v", arn, err)
	}
	if len(out.ContainerInstances) != 1 {
		t.Fatalf("DescribeContainerInstances(%s): failures %v", arn, failureReasons(out.Failures))
	}
	return out.ContainerInstances[0]
}

// describeTask describes one task that must exist.
func describeTask(t *testing.T, s *Service, cluster, arn string) ecstypes.Task {
	t.Helper()
	out, err := s.DescribeTasks(t.Context(), &ecstypes.DescribeTasksRequest{
		Cluster: aws.String(cluster), Tasks: []string{arn}, Include: []string{"TAGS"},
	})
	if err != nil {
		t.Fatalf("DescribeTasks(%s): %v", arn, err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("DescribeTasks(%s): failures %v", arn, failureReasons(out.Failures))
	}
	return out.Tasks[0]
}

// remainingOf returns an instance's remaining CPU, memory and TCP ports.
func remainingOf(inst ecstypes.ContainerInstance) (cpu, mem int32, ports []string) {
	rem := inst.RemainingResources
	return resourceInt(rem, resCPU), resourceInt(rem, resMemory), resourceSet(rem, resPorts)
}

// wantRemaining fails unless the instance has cpu and mem left.
func wantRemaining(t *testing.T, s *Service, cluster, arn string, cpu, mem int32) {
	t.Helper()
	gotCPU, gotMem, _ := remainingOf(describeInstance(t, s, cluster, arn))
	if gotCPU != cpu || gotMem != mem {
		t.Fatalf("remaining of %s = cpu %d mem %d, want cpu %d mem %d", idFromARN(arn), gotCPU, gotMem, cpu, mem)
	}
}

// reportTask submits an agent's task state change.
func reportTask(t *testing.T, s *Service, cluster, taskArn, status, reason string) {
	t.Helper()
	_, err := s.SubmitTaskStateChange(t.Context(), &ecstypes.SubmitTaskStateChangeRequest{
		Cluster: aws.String(cluster), Task: aws.String(taskArn), Status: aws.String(status), Reason: aws.String(reason),
	})
	if err != nil {
		t.Fatalf("SubmitTaskStateChange(%s, %s): %v", idFromARN(taskArn), status, err)
	}
}

// failureReasons renders failures as "reason" strings, in order.
func failureReasons(fs []ecstypes.Failure) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, aws.ToString(f.Reason))
	}
	return out
}

// listTaskArns lists a cluster's tasks with the given request's filters.
func listTaskArns(t *testing.T, s *Service, in *ecstypes.ListTasksRequest) []string {
	t.Helper()
	out, err := s.ListTasks(t.Context(), in)
	if err != nil {
		t.Fatalf("ListTasks: %v", err)
	}
	return out.TaskArns
}

// sorted returns a sorted copy, for order-insensitive comparisons.
func sorted(in ...string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}
