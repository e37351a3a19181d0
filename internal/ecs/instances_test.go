package ecs

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/scheduler"
)

func TestInstanceRegister(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	out, err := s.RegisterContainerInstance(t.Context(), &ecstypes.RegisterContainerInstanceRequest{
		Cluster:        aws.String("prod"),
		TotalResources: instanceResources(2048, 3904),
		Attributes: []ecstypes.Attribute{
			{Name: aws.String("ecs.os-type"), Value: aws.String("linux")},
			{Name: aws.String("ecs.capability.privileged-container")},
		},
		VersionInfo: &ecstypes.VersionInfo{AgentVersion: aws.String("1.2.3"), DockerVersion: aws.String("27.1")},
		Tags:        tagList("team", "core"),
	})
	if err != nil {
		t.Fatal(err)
	}
	inst := out.ContainerInstance
	arn := aws.ToString(inst.ContainerInstanceArn)
	if !strings.HasPrefix(arn, "arn:aws:ecs:us-east-1:000000000000:container-instance/prod/") || len(idFromARN(arn)) != 36 {
		t.Fatalf("ARN = %s, want container-instance/prod/<uuid>", arn)
	}
	if aws.ToString(inst.Status) != "ACTIVE" || !strings.HasPrefix(aws.ToString(inst.Ec2InstanceId), "i-") {
		t.Fatalf("status %s ec2InstanceId %s", aws.ToString(inst.Status), aws.ToString(inst.Ec2InstanceId))
	}

	d := describeInstance(t, s, "prod", arn)
	for _, rs := range [][]ecstypes.Resource{d.RegisteredResources, d.RemainingResources} {
		if resourceInt(rs, resCPU) != 2048 || resourceInt(rs, resMemory) != 3904 || !slices.Equal(resourceSet(rs, resPorts), reservedPorts) {
			t.Fatalf("resources = %+v, want cpu 2048 mem 3904 ports %v", rs, reservedPorts)
		}
	}
	if len(d.Attributes) != 2 || aws.ToString(d.Attributes[0].Value) != "linux" {
		t.Fatalf("attributes = %+v", d.Attributes)
	}
	if v := d.VersionInfo; v == nil || aws.ToString(v.AgentVersion) != "1.2.3" || aws.ToString(v.DockerVersion) != "27.1" {
		t.Fatalf("versionInfo = %+v", v)
	}
	if tagMap(d.Tags)["team"] != "core" {
		t.Fatalf("tags = %+v", d.Tags)
	}
	if aws.ToBool(d.AgentConnected) {
		t.Fatal("agentConnected = true before the agent connected")
	}
	connectAgent(t, s, arn)
	if !aws.ToBool(describeInstance(t, s, "prod", arn).AgentConnected) {
		t.Fatal("agentConnected = false with an agent session")
	}
	disconnectAgent(t, s, arn)
	if aws.ToBool(describeInstance(t, s, "prod", arn).AgentConnected) {
		t.Fatal("agentConnected = true after the agent session ended")
	}
}

func TestInstanceRegisterErrors(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	createCluster(t, s, "other")
	foreign := registerInstance(t, s, "other", 1024, 1024)
	tests := []struct {
		name string
		in   ecstypes.RegisterContainerInstanceRequest
		code string
	}{
		{"unknown cluster", ecstypes.RegisterContainerInstanceRequest{Cluster: aws.String("nope")}, awserr.CodeClusterNotFound},
		{"negative cpu", ecstypes.RegisterContainerInstanceRequest{TotalResources: instanceResources(-1, 10)}, awserr.CodeInvalidParameter},
		{"bad attribute", ecstypes.RegisterContainerInstanceRequest{Attributes: []ecstypes.Attribute{{Name: aws.String("bad name!")}}}, awserr.CodeInvalidParameter},
		{"aws: tag", ecstypes.RegisterContainerInstanceRequest{Tags: tagList("aws:x", "y")}, awserr.CodeInvalidParameter},
		{"ARN of another cluster", ecstypes.RegisterContainerInstanceRequest{ContainerInstanceArn: aws.String(foreign)}, awserr.CodeInvalidParameter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in.Cluster == nil {
				tc.in.Cluster = aws.String("prod")
			}
			_, err := s.RegisterContainerInstance(t.Context(), &tc.in)
			wantAWSErr(t, err, tc.code, "")
		})
	}
	list, err := s.ListContainerInstances(t.Context(), &ecstypes.ListContainerInstancesRequest{Cluster: aws.String("prod")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ContainerInstanceArns) != 0 {
		t.Fatalf("rejected registrations left instances %v", list.ContainerInstanceArns)
	}
}

func TestInstanceReregister(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	arn := registerInstance(t, s, "prod", 1024, 2048)
	td := registerTaskDef(t, s, webTaskDef)
	runOne(t, s, "prod", td)
	gone := runOne(t, s, "prod", td)
	reportTask(t, s, "prod", gone, "STOPPED", "")

	// The agent restarts on a bigger host and presents its ARN again.
	out, err := s.RegisterContainerInstance(t.Context(), &ecstypes.RegisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstanceArn: aws.String(arn), TotalResources: instanceResources(4096, 8192),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.ContainerInstance.ContainerInstanceArn); got != arn {
		t.Fatalf("re-registered ARN = %s, want %s", got, arn)
	}
	// Only the task still holding resources counts against the new totals.
	wantRemaining(t, s, "prod", arn, 4096-256, 8192-512)

	// An agent restart does not undo an operator's drain.
	if _, err := s.UpdateContainerInstancesState(t.Context(), &ecstypes.UpdateContainerInstancesStateRequest{
		Cluster: aws.String("prod"), ContainerInstances: []string{arn}, Status: aws.String("DRAINING"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterContainerInstance(t.Context(), &ecstypes.RegisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstanceArn: aws.String(arn), TotalResources: instanceResources(4096, 8192),
	}); err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(describeInstance(t, s, "prod", arn).Status); got != "DRAINING" {
		t.Fatalf("status after re-registering a draining instance = %s, want DRAINING", got)
	}

	if _, err := s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(arn), Force: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	again, err := s.RegisterContainerInstance(t.Context(), &ecstypes.RegisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstanceArn: aws.String(arn), TotalResources: instanceResources(1024, 1024),
	})
	if err != nil {
		t.Fatal(err)
	}
	fresh := aws.ToString(again.ContainerInstance.ContainerInstanceArn)
	if fresh == arn {
		t.Fatal("re-registering a deregistered instance reused its ARN")
	}
	wantRemaining(t, s, "prod", fresh, 1024, 1024)
}

func TestInstanceDescribe(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	arn := registerInstance(t, s, "prod", 2048, 4096)
	td := registerTaskDef(t, s, webTaskDef)
	running := runOne(t, s, "prod", td)
	reportTask(t, s, "prod", running, "RUNNING", "")
	runOne(t, s, "prod", td)
	stopped := runOne(t, s, "prod", td)
	reportTask(t, s, "prod", stopped, "STOPPED", "")

	unknownID := "00000000-0000-4000-8000-000000000000"
	out, err := s.DescribeContainerInstances(t.Context(), &ecstypes.DescribeContainerInstancesRequest{
		Cluster: aws.String("prod"), ContainerInstances: []string{arn, unknownID, s.arns.instance("prod", "gone"), idFromARN(arn)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ContainerInstances) != 2 {
		t.Fatalf("described %d instances, want 2 (by ARN and by id)", len(out.ContainerInstances))
	}
	inst := out.ContainerInstances[0]
	if aws.ToInt32(inst.RunningTasksCount) != 1 || aws.ToInt32(inst.PendingTasksCount) != 1 {
		t.Fatalf("running %d pending %d, want 1 and 1", aws.ToInt32(inst.RunningTasksCount), aws.ToInt32(inst.PendingTasksCount))
	}
	if inst.Tags == nil || len(inst.Tags) != 0 {
		t.Fatalf("tags without include TAGS: %#v, want [] (present and empty)", inst.Tags)
	}
	wantMissing := []string{s.arns.instance("prod", unknownID), s.arns.instance("prod", "gone")}
	var missing []string
	for _, f := range out.Failures {
		if aws.ToString(f.Reason) != "MISSING" {
			t.Fatalf("failure %s: %s, want MISSING", aws.ToString(f.Arn), aws.ToString(f.Reason))
		}
		missing = append(missing, aws.ToString(f.Arn))
	}
	if !slices.Equal(missing, wantMissing) {
		t.Fatalf("missing = %v, want %v", missing, wantMissing)
	}
	_, err = s.DescribeContainerInstances(t.Context(), &ecstypes.DescribeContainerInstancesRequest{
		Cluster: aws.String("nope"), ContainerInstances: []string{arn},
	})
	wantAWSErr(t, err, awserr.CodeClusterNotFound, "")
}

func TestInstanceListAndState(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	var arns []string
	for range 4 {
		arns = append(arns, registerInstance(t, s, "prod", 1024, 1024))
	}
	active, draining, inactive := arns[:2], arns[2:3], arns[3:]
	upd, err := s.UpdateContainerInstancesState(t.Context(), &ecstypes.UpdateContainerInstancesStateRequest{
		Cluster: aws.String("prod"), ContainerInstances: []string{draining[0], "unknown"}, Status: aws.String("DRAINING"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(upd.ContainerInstances) != 1 || aws.ToString(upd.ContainerInstances[0].Status) != "DRAINING" ||
		!slices.Equal(failureReasons(upd.Failures), []string{"MISSING"}) {
		t.Fatalf("update = %+v failures %v", upd.ContainerInstances, failureReasons(upd.Failures))
	}
	if _, err := s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(inactive[0]),
	}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		status *string
		want   []string
	}{
		{nil, sorted(append(slices.Clone(active), draining...)...)},
		{aws.String("ACTIVE"), sorted(active...)},
		{aws.String("DRAINING"), draining},
		{aws.String("INACTIVE"), inactive},
	}
	for _, tc := range tests {
		t.Run(aws.ToString(tc.status), func(t *testing.T) {
			var got []string
			var token *string
			for {
				out, err := s.ListContainerInstances(t.Context(), &ecstypes.ListContainerInstancesRequest{
					Cluster: aws.String("prod"), Status: tc.status, MaxResults: aws.Int32(1), NextToken: token,
				})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, out.ContainerInstanceArns...)
				if token = out.NextToken; token == nil {
					break
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("listed %v, want %v", got, tc.want)
			}
		})
	}

	_, err = s.UpdateContainerInstancesState(t.Context(), &ecstypes.UpdateContainerInstancesStateRequest{
		Cluster: aws.String("prod"), ContainerInstances: active, Status: aws.String("INACTIVE"),
	})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "")
	_, err = s.ListContainerInstances(t.Context(), &ecstypes.ListContainerInstancesRequest{Cluster: aws.String("prod"), NextToken: aws.String("%%%")})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "")
}

// A DRAINING instance takes no new tasks until it is ACTIVE again.
func TestInstanceDrainingGetsNoTasks(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	arn := registerInstance(t, s, "prod", 1024, 1024)
	td := registerTaskDef(t, s, webTaskDef)
	setState := func(status string) {
		t.Helper()
		if _, err := s.UpdateContainerInstancesState(t.Context(), &ecstypes.UpdateContainerInstancesStateRequest{
			Cluster: aws.String("prod"), ContainerInstances: []string{idFromARN(arn)}, Status: aws.String(status),
		}); err != nil {
			t.Fatal(err)
		}
	}
	setState("DRAINING")
	out := runTask(t, s, "prod", td, 1)
	if len(out.Tasks) != 0 || !slices.Equal(failureReasons(out.Failures), []string{scheduler.ReasonInactive}) ||
		aws.ToString(out.Failures[0].Arn) != arn {
		t.Fatalf("RunTask on a draining instance placed %d, failures %+v", len(out.Tasks), out.Failures)
	}
	setState("ACTIVE")
	runOne(t, s, "prod", td)
}

func TestInstanceDeregister(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	busy := registerInstance(t, s, "prod", 1024, 1024)
	idle := registerInstance(t, s, "prod", 1024, 1024)
	if _, err := s.StartTask(t.Context(), &ecstypes.StartTaskRequest{
		Cluster: aws.String("prod"), TaskDefinition: aws.String(registerTaskDef(t, s, webTaskDef)), ContainerInstances: []string{busy},
	}); err != nil {
		t.Fatal(err)
	}
	dereg := func(ref string, force bool) (*ecstypes.DeregisterContainerInstanceResponse, error) {
		return s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
			Cluster: aws.String("prod"), ContainerInstance: aws.String(ref), Force: aws.Bool(force),
		})
	}
	_, err := dereg(busy, false)
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "tasks running")
	_, err = dereg("no-such-instance", false)
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "not registered")

	for _, ref := range []string{idFromARN(idle), busy} {
		out, err := dereg(ref, ref == busy)
		if err != nil {
			t.Fatalf("deregister %s: %v", ref, err)
		}
		if aws.ToString(out.ContainerInstance.Status) != "INACTIVE" {
			t.Fatalf("status = %s, want INACTIVE", aws.ToString(out.ContainerInstance.Status))
		}
	}
	// The agent may still be connected; a deregistered instance is never reported connected.
	if d := describeInstance(t, s, "prod", busy); aws.ToString(d.Status) != "INACTIVE" || aws.ToBool(d.AgentConnected) {
		t.Fatalf("after deregister: status %s agentConnected %v", aws.ToString(d.Status), aws.ToBool(d.AgentConnected))
	}
	_, err = dereg(idle, false)
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "not registered")
	_, err = s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String("web")})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "No Container Instances were found in your cluster.")
}
