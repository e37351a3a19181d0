package ecs

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/scheduler"
)

// tinyTaskDef needs 10 CPU units and 10 MiB, so many fit on one instance.
const tinyTaskDef = `{"family":"tiny","containerDefinitions":[{"name":"app","image":"busybox","cpu":10,"memory":10}]}`

// wantNothingRun fails if the cluster has any task or the instance lost resources.
func wantNothingRun(t *testing.T, s *Service, cluster, inst string, cpu, mem int32) {
	t.Helper()
	for _, desired := range []string{"RUNNING", "STOPPED"} {
		if got := listTaskArns(t, s, &ecstypes.ListTasksRequest{Cluster: aws.String(cluster), DesiredStatus: aws.String(desired)}); len(got) != 0 {
			t.Fatalf("tasks were written: %v", got)
		}
	}
	wantRemaining(t, s, cluster, inst, cpu, mem)
}

func TestRunTaskCount(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 1024, 1024)
	td := registerTaskDef(t, s, tinyTaskDef)
	for _, n := range []int32{0, 11, -1} {
		_, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(n)})
		wantAWSErr(t, err, awserr.CodeInvalidParameter, "count")
	}
	wantNothingRun(t, s, "prod", inst, 1024, 1024)

	placed := 0
	for _, n := range []*int32{nil, aws.Int32(1), aws.Int32(5), aws.Int32(10)} {
		out, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: n})
		if err != nil {
			t.Fatal(err)
		}
		want := int(aws.ToInt32(n))
		if n == nil {
			want = 1
		}
		if len(out.Tasks) != want || len(out.Failures) != 0 {
			t.Fatalf("count %d placed %d, failures %v", want, len(out.Tasks), failureReasons(out.Failures))
		}
		placed += want
	}
	wantRemaining(t, s, "prod", inst, 1024-int32(placed)*10, 1024-int32(placed)*10)
}

func TestRunTaskNoInstances(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	td := registerTaskDef(t, s, webTaskDef)
	_, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "No Container Instances were found in your cluster.")
}

func TestRunTaskPlacementFailures(t *testing.T) {
	tests := []struct {
		name     string
		cpu, mem int32
		taskDef  string
		setup    func(t *testing.T, s *Service, inst string)
		want     string
	}{
		{name: "cpu", cpu: 128, mem: 4096, taskDef: webTaskDef, want: scheduler.ReasonCPU},
		{name: "memory", cpu: 4096, mem: 256, taskDef: webTaskDef, want: scheduler.ReasonMemory},
		{name: "reserved port", cpu: 4096, mem: 4096, want: scheduler.ReasonPorts, taskDef: `{"family":"ssh","containerDefinitions":[
			{"name":"app","image":"sshd","memory":64,"portMappings":[{"containerPort":22,"hostPort":22}]}]}`},
		{name: "port in use", cpu: 4096, mem: 4096, taskDef: portTaskDef, want: scheduler.ReasonPorts,
			setup: func(t *testing.T, s *Service, _ string) { runOne(t, s, "prod", "port") }},
		{name: "agent disconnected", cpu: 4096, mem: 4096, taskDef: webTaskDef, want: scheduler.ReasonAgent,
			setup: func(t *testing.T, s *Service, inst string) { disconnectAgent(t, s, inst) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestService(t)
			createCluster(t, s, "prod")
			inst := registerInstance(t, s, "prod", tc.cpu, tc.mem)
			td := registerTaskDef(t, s, tc.taskDef)
			if tc.setup != nil {
				tc.setup(t, s, inst)
			}
			before := describeInstance(t, s, "prod", inst)
			out := runTask(t, s, "prod", td, 2)
			if len(out.Tasks) != 0 {
				t.Fatalf("placed %d tasks, want none", len(out.Tasks))
			}
			// Two unplaced tasks on one instance for one reason: one failure.
			if len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != tc.want || aws.ToString(out.Failures[0].Arn) != inst {
				t.Fatalf("failures = %+v, want one %s for %s", out.Failures, tc.want, inst)
			}
			// Berth's explanation of the decision rides in detail.
			if d := aws.ToString(out.Failures[0].Detail); !strings.HasPrefix(d, "1 instance: 1 ") {
				t.Fatalf("failure detail = %q, want the explanation", d)
			}
			after := describeInstance(t, s, "prod", inst)
			if !slices.Equal(resourceSet(after.RemainingResources, resPorts), resourceSet(before.RemainingResources, resPorts)) ||
				resourceInt(after.RemainingResources, resMemory) != resourceInt(before.RemainingResources, resMemory) {
				t.Fatal("a failed placement changed the instance's remaining resources")
			}
		})
	}
}

func TestRunTaskReservesResources(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 1024, 1024, ecstypes.Attribute{Name: aws.String("ecs.availability-zone"), Value: aws.String("us-east-1a")})
	td := registerTaskDef(t, s, portTaskDef)
	out := runTask(t, s, "prod", td, 3)
	// The static port lets only one of three tasks onto the instance.
	if len(out.Tasks) != 1 || !slices.Equal(failureReasons(out.Failures), []string{scheduler.ReasonPorts}) {
		t.Fatalf("placed %d, failures %v; want 1 and [RESOURCE:PORTS]", len(out.Tasks), failureReasons(out.Failures))
	}
	task := out.Tasks[0]
	checks := map[string][2]string{
		"lastStatus":           {aws.ToString(task.LastStatus), "PENDING"},
		"desiredStatus":        {aws.ToString(task.DesiredStatus), "RUNNING"},
		"launchType":           {aws.ToString(task.LaunchType), "EC2"},
		"group":                {aws.ToString(task.Group), "family:port"},
		"containerInstanceArn": {aws.ToString(task.ContainerInstanceArn), inst},
		"taskDefinitionArn":    {aws.ToString(task.TaskDefinitionArn), td},
		"clusterArn":           {aws.ToString(task.ClusterArn), s.arns.cluster("prod")},
		"availabilityZone":     {aws.ToString(task.AvailabilityZone), "us-east-1a"},
		"container":            {aws.ToString(task.Containers[0].Name) + " " + aws.ToString(task.Containers[0].LastStatus), "app PENDING"},
	}
	for field, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", field, c[0], c[1])
		}
	}
	if !strings.HasPrefix(aws.ToString(task.TaskArn), "arn:aws:ecs:us-east-1:000000000000:task/prod/") || task.CreatedAt == nil || !task.CreatedAt.Equal(testNow) {
		t.Errorf("taskArn %s createdAt %v", aws.ToString(task.TaskArn), task.CreatedAt)
	}
	cpu, mem, ports := remainingOf(describeInstance(t, s, "prod", inst))
	if cpu != 1024-128 || mem != 1024-128 || !slices.Equal(ports, sorted(append(slices.Clone(reservedPorts), "8080")...)) {
		t.Fatalf("remaining = cpu %d mem %d ports %v; want 896, 896 and 8080 added", cpu, mem, ports)
	}
}

// placedOn counts the placed tasks per instance ARN.
func placedOn(out *ecstypes.RunTaskResponse) map[string]int {
	m := map[string]int{}
	for _, task := range out.Tasks {
		m[aws.ToString(task.ContainerInstanceArn)]++
	}
	return m
}

func TestRunTaskStrategiesAndConstraints(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	small := registerInstance(t, s, "prod", 4096, 3072)
	big := registerInstance(t, s, "prod", 4096, 8192)
	td := registerTaskDef(t, s, webTaskDef)
	distinct := []ecstypes.PlacementConstraint{{Type: aws.String("distinctInstance")}}

	run := func(group string, count int32, strat []ecstypes.PlacementStrategy, cons []ecstypes.PlacementConstraint) *ecstypes.RunTaskResponse {
		t.Helper()
		out, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td),
			Count: aws.Int32(count), Group: aws.String(group), PlacementStrategy: strat, PlacementConstraints: cons})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// binpack memory fills the instance with the least memory left first.
	out := run("packed", 2, []ecstypes.PlacementStrategy{{Type: aws.String("binpack"), Field: aws.String("memory")}}, nil)
	if got := placedOn(out); got[small] != 2 {
		t.Fatalf("binpack placed %v, want both on the small instance %s", got, small)
	}
	// spread over instanceId balances the group's tasks.
	out = run("spread", 4, []ecstypes.PlacementStrategy{{Type: aws.String("spread"), Field: aws.String("instanceId")}}, nil)
	if got := placedOn(out); got[small] != 2 || got[big] != 2 {
		t.Fatalf("spread placed %v, want 2 and 2", got)
	}
	// distinctInstance: one task of the group per instance, the rest are failures.
	out = run("distinct", 3, nil, distinct)
	if got := placedOn(out); len(out.Tasks) != 2 || got[small] != 1 || got[big] != 1 {
		t.Fatalf("distinctInstance placed %v, want one per instance", got)
	}
	for _, f := range out.Failures {
		if aws.ToString(f.Reason) != scheduler.ReasonDistinct {
			t.Fatalf("failure %s, want %s", aws.ToString(f.Reason), scheduler.ReasonDistinct)
		}
	}
	if len(out.Failures) == 0 {
		t.Fatal("distinctInstance: the third task is not reported as a failure")
	}
}

func TestRunTaskDistinctInstanceOneInstance(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 4096, 4096)
	out, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"),
		TaskDefinition: aws.String(registerTaskDef(t, s, webTaskDef)), Count: aws.Int32(3),
		PlacementConstraints: []ecstypes.PlacementConstraint{{Type: aws.String("distinctInstance")}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 1 || !slices.Equal(failureReasons(out.Failures), []string{scheduler.ReasonDistinct}) ||
		aws.ToString(out.Failures[0].Arn) != inst {
		t.Fatalf("placed %d, failures %+v; want 1 and one distinctInstance failure", len(out.Tasks), out.Failures)
	}
}

func TestRunTaskOverrides(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 1024, 1024)
	td := registerTaskDef(t, s, webTaskDef)
	_, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td),
		Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{Name: aws.String("sidecar")}}}})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "sidecar")
	wantNothingRun(t, s, "prod", inst, 1024, 1024)

	ov := &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{
		Name: aws.String("app"), Memory: aws.Int32(300), Cpu: aws.Int32(100), Command: []string{"sleep", "1"},
	}}}
	out, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Overrides: ov})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask with overrides: %v %+v", err, out)
	}
	wantRemaining(t, s, "prod", inst, 1024-100, 1024-300)
	got := out.Tasks[0].Overrides
	if got == nil || len(got.ContainerOverrides) != 1 || !slices.Equal(got.ContainerOverrides[0].Command, []string{"sleep", "1"}) {
		t.Fatalf("task overrides = %+v", got)
	}
	// A memory override larger than the instance fails on memory.
	ov.ContainerOverrides[0].Memory = aws.Int32(2048)
	big, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Overrides: ov})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(failureReasons(big.Failures), []string{scheduler.ReasonMemory}) {
		t.Fatalf("failures = %v, want [RESOURCE:MEMORY]", failureReasons(big.Failures))
	}
}

func TestRunTaskRejected(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 1024, 1024)
	web := registerTaskDef(t, s, webTaskDef)
	vpc := registerTaskDef(t, s, `{"family":"vpc","networkMode":"awsvpc","containerDefinitions":[{"name":"app","image":"nginx","memory":128}]}`)
	old := registerTaskDef(t, s, `{"family":"old","containerDefinitions":[{"name":"app","image":"nginx","memory":128}]}`)
	if _, err := s.DeregisterTaskDefinition(t.Context(), &ecstypes.DeregisterTaskDefinitionRequest{TaskDefinition: aws.String(old)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   ecstypes.RunTaskRequest
		code string
	}{
		{"awsvpc", ecstypes.RunTaskRequest{TaskDefinition: aws.String(vpc)}, awserr.CodeUnsupportedFeature},
		{"FARGATE", ecstypes.RunTaskRequest{LaunchType: aws.String("FARGATE")}, awserr.CodeUnsupportedFeature},
		{"capacity provider", ecstypes.RunTaskRequest{CapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("cp")}}}, awserr.CodeUnsupportedFeature},
		{"malformed memberOf", ecstypes.RunTaskRequest{PlacementConstraints: []ecstypes.PlacementConstraint{
			{Type: aws.String("memberOf"), Expression: aws.String("attribute:ecs.instance-type =~")}}}, awserr.CodeInvalidParameter},
		{"memberOf without expression", ecstypes.RunTaskRequest{PlacementConstraints: []ecstypes.PlacementConstraint{
			{Type: aws.String("memberOf")}}}, awserr.CodeInvalidParameter},
		{"distinctInstance with expression", ecstypes.RunTaskRequest{PlacementConstraints: []ecstypes.PlacementConstraint{
			{Type: aws.String("distinctInstance"), Expression: aws.String("runningTasksCount == 0")}}}, awserr.CodeInvalidParameter},
		{"11 constraints", ecstypes.RunTaskRequest{PlacementConstraints: slices.Repeat([]ecstypes.PlacementConstraint{
			{Type: aws.String("memberOf"), Expression: aws.String("runningTasksCount >= 0")}}, 11)}, awserr.CodeInvalidParameter},
		{"inactive task definition", ecstypes.RunTaskRequest{TaskDefinition: aws.String(old)}, awserr.CodeClient},
		{"inactive family", ecstypes.RunTaskRequest{TaskDefinition: aws.String("old")}, awserr.CodeClient},
		{"unknown task definition", ecstypes.RunTaskRequest{TaskDefinition: aws.String("nope:1")}, awserr.CodeClient},
		{"network configuration", ecstypes.RunTaskRequest{NetworkConfiguration: &ecstypes.NetworkConfiguration{}}, awserr.CodeInvalidParameter},
		{"bad strategy", ecstypes.RunTaskRequest{PlacementStrategy: []ecstypes.PlacementStrategy{{Type: aws.String("binpack"), Field: aws.String("disk")}}}, awserr.CodeInvalidParameter},
		{"aws: tag", ecstypes.RunTaskRequest{Tags: tagList("aws:x", "y")}, awserr.CodeInvalidParameter},
		{"unknown cluster", ecstypes.RunTaskRequest{Cluster: aws.String("nope")}, awserr.CodeClusterNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in.Cluster == nil {
				tc.in.Cluster = aws.String("prod")
			}
			if tc.in.TaskDefinition == nil {
				tc.in.TaskDefinition = aws.String(web)
			}
			_, err := s.RunTask(t.Context(), &tc.in)
			wantAWSErr(t, err, tc.code, "")
		})
	}
	wantNothingRun(t, s, "prod", inst, 1024, 1024)
}

func TestRunTaskTags(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 4096)
	td := registerTaskDef(t, s, `{"family":"tagged","tags":[{"key":"team","value":"core"}],
		"containerDefinitions":[{"name":"app","image":"nginx","memory":64}]}`)
	tests := []struct {
		propagate string
		want      map[string]string
	}{
		{"", map[string]string{"run": "1"}},
		{"NONE", map[string]string{"run": "1"}},
		{"TASK_DEFINITION", map[string]string{"run": "1", "team": "core"}},
	}
	for _, tc := range tests {
		t.Run(tc.propagate, func(t *testing.T) {
			in := &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td),
				Tags: tagList("run", "1"), StartedBy: aws.String("me")}
			if tc.propagate != "" {
				in.PropagateTags = aws.String(tc.propagate)
			}
			out, err := s.RunTask(t.Context(), in)
			if err != nil || len(out.Tasks) != 1 {
				t.Fatalf("RunTask: %v %+v", err, out)
			}
			task := describeTask(t, s, "prod", aws.ToString(out.Tasks[0].TaskArn))
			if got := tagMap(task.Tags); !mapsEqual(got, tc.want) || aws.ToString(task.StartedBy) != "me" {
				t.Fatalf("tags = %v startedBy %s, want %v", got, aws.ToString(task.StartedBy), tc.want)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestStartTask(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	roomy := registerInstance(t, s, "prod", 2048, 2048)
	tight := registerInstance(t, s, "prod", 128, 2048)
	offline := registerInstance(t, s, "prod", 2048, 2048)
	disconnectAgent(t, s, offline)
	td := registerTaskDef(t, s, webTaskDef)
	unknown := s.arns.instance("prod", "00000000-0000-4000-8000-000000000000")
	out, err := s.StartTask(t.Context(), &ecstypes.StartTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td),
		ContainerInstances: []string{idFromARN(roomy), tight, offline, unknown, roomy}})
	if err != nil {
		t.Fatal(err)
	}
	if got := placedOn(&ecstypes.RunTaskResponse{Tasks: out.Tasks}); len(out.Tasks) != 2 || got[roomy] != 2 {
		t.Fatalf("StartTask placed %v, want 2 on %s", got, roomy)
	}
	wantFail := map[string]string{tight: scheduler.ReasonCPU, offline: scheduler.ReasonAgent, unknown: "MISSING"}
	if len(out.Failures) != len(wantFail) {
		t.Fatalf("failures = %+v, want %v", out.Failures, wantFail)
	}
	for _, f := range out.Failures {
		if want := wantFail[aws.ToString(f.Arn)]; aws.ToString(f.Reason) != want {
			t.Errorf("failure for %s = %s, want %s", aws.ToString(f.Arn), aws.ToString(f.Reason), want)
		}
	}
	wantRemaining(t, s, "prod", roomy, 2048-512, 2048-1024)

	for _, in := range []*ecstypes.StartTaskRequest{
		{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)},
		{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), ContainerInstances: slices.Repeat([]string{roomy}, 11)},
	} {
		_, err := s.StartTask(t.Context(), in)
		wantAWSErr(t, err, awserr.CodeInvalidParameter, "")
	}
}

// Two RunTask calls race for an instance with room for exactly one task:
// the optimistic commit lets one win; the other re-plans and fails.
// Two RunTask calls race for the one slot an instance has: on one server
// (which lets placements take turns) and on two servers sharing the etcd
// (whose placements meet at the instance record's revision, each planned
// on its own read model).
func TestRunTaskConcurrentOneFits(t *testing.T) {
	for _, servers := range []int{1, 2} {
		t.Run(fmt.Sprintf("servers=%d", servers), func(t *testing.T) { testConcurrentOneFits(t, servers) })
	}
}

func testConcurrentOneFits(t *testing.T, servers int) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 256, 512)
	td := registerTaskDef(t, s, webTaskDef)
	other := s
	if servers == 2 {
		cfg := s.cfg
		other = New(cfg) // same store, its own read model and placement locks
		t.Cleanup(other.Close)
		// Both read models hold the instance before the race.
		for _, svc := range []*Service{s, other} {
			if _, err := svc.freshModel(t.Context(), instancesPart|sessionsPart); err != nil {
				t.Fatal(err)
			}
		}
	}

	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make([]*ecstypes.RunTaskResponse, 2)
	errs := make([]error, 2)
	for i, svc := range []*Service{s, other} {
		wg.Go(func() {
			<-start
			results[i], errs[i] = svc.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})
		})
	}
	close(start)
	wg.Wait()
	placed, failed := 0, 0
	for i, out := range results {
		if errs[i] != nil {
			t.Fatalf("RunTask %d: %v", i, errs[i])
		}
		placed += len(out.Tasks)
		for _, f := range out.Failures {
			if !strings.HasPrefix(aws.ToString(f.Reason), "RESOURCE:") {
				t.Errorf("failure reason %s, want RESOURCE:*", aws.ToString(f.Reason))
			}
			failed++
		}
	}
	if placed != 1 || failed != 1 {
		t.Fatalf("placed %d and failed %d, want exactly one of each", placed, failed)
	}
	wantRemaining(t, s, "prod", inst, 0, 0)
	if got := listTaskArns(t, s, &ecstypes.ListTasksRequest{Cluster: aws.String("prod")}); len(got) != 1 {
		t.Fatalf("cluster has %d tasks, want 1", len(got))
	}
}

func TestRunTaskUnknownTaskDefinition(t *testing.T) {
	svc := newTestService(t)
	createCluster(t, svc, "default")
	_, err := svc.RunTask(t.Context(), &ecstypes.RunTaskRequest{TaskDefinition: aws.String("nope")})
	wantAWSErr(t, err, "ClientException", "TaskDefinition not found.")
}

// RunTask by family name used to read every revision tracked, so on an etcd
// with the default --max-txn-ops (128) it failed once a family passed ~125
// revisions. Its transaction now stays small however long the family is
// (CI runs this against such an etcd).
func TestRunTaskFamilyWithManyRevisions(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 4096)
	var newest string
	for range 150 {
		newest = registerTaskDef(t, s, webTaskDef)
	}
	// The newest is deregistered: the family means the one before it.
	if _, err := s.DeregisterTaskDefinition(t.Context(), &ecstypes.DeregisterTaskDefinitionRequest{TaskDefinition: aws.String(newest)}); err != nil {
		t.Fatal(err)
	}
	arn := runOne(t, s, "prod", "web")
	if got, want := aws.ToString(describeTask(t, s, "prod", arn).TaskDefinitionArn), s.arns.taskDef("web", 149); got != want {
		t.Fatalf("task definition %s, want %s", got, want)
	}
}

// memberOf constraints of the task definition and of the request apply
// together, and see what the same RunTask placed before.
func TestRunTaskMemberOf(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	attr := func(name, value string) ecstypes.Attribute {
		return ecstypes.Attribute{Name: aws.String(name), Value: aws.String(value)}
	}
	var edge []string
	for _, zone := range []string{"a", "b", "c"} {
		edge = append(edge, registerInstance(t, s, "prod", 4096, 4096, attr("stack", "edge"), attr("zone", zone)))
	}
	core := registerInstance(t, s, "prod", 4096, 4096, attr("stack", "core"), attr("zone", "a"))
	td := registerTaskDef(t, s, `{"family":"edge","placementConstraints":[{"type":"memberOf","expression":"attribute:stack == edge"}],
		"containerDefinitions":[{"name":"app","image":"nginx","cpu":64,"memory":64}]}`)

	// One task per instance: the decision's own placements count.
	out := s.mustRunTask(t, &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(4),
		PlacementConstraints: []ecstypes.PlacementConstraint{{Type: aws.String("memberOf"), Expression: aws.String("runningTasksCount == 0")}}})
	got := map[string]int{}
	for _, task := range out.Tasks {
		got[aws.ToString(task.ContainerInstanceArn)]++
	}
	if len(out.Tasks) != 3 || got[core] != 0 || got[edge[0]] != 1 || got[edge[1]] != 1 || got[edge[2]] != 1 {
		t.Fatalf("placement %v, want one task on each edge instance and none on core", got)
	}
	// The fourth fits nowhere: every instance explained.
	if len(out.Failures) != 4 {
		t.Fatalf("failures = %+v, want one per instance", out.Failures)
	}
	for _, f := range out.Failures {
		if aws.ToString(f.Reason) != scheduler.ReasonMemberOf || !strings.Contains(aws.ToString(f.Detail), "failed memberOf(") {
			t.Errorf("failure %s: %s / %s", aws.ToString(f.Arn), aws.ToString(f.Reason), aws.ToString(f.Detail))
		}
	}

	// task:group: next to the group's tasks, in one zone only.
	out = s.mustRunTask(t, &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Group: aws.String("cache"),
		PlacementConstraints: []ecstypes.PlacementConstraint{{Type: aws.String("memberOf"), Expression: aws.String("task:group == family:edge and attribute:zone in [b, c]")}}})
	if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].ContainerInstanceArn) == edge[0] {
		t.Fatalf("task:group placement = %+v / %+v, want one task on edge b or c", out.Tasks, out.Failures)
	}
}

func (s *Service) mustRunTask(t *testing.T, in *ecstypes.RunTaskRequest) *ecstypes.RunTaskResponse {
	t.Helper()
	out, err := s.RunTask(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
