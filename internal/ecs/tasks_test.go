package ecs

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func stopTask(t *testing.T, s *Service, cluster, task, reason string) ecstypes.Task {
	t.Helper()
	in := &ecstypes.StopTaskRequest{Cluster: aws.String(cluster), Task: aws.String(task)}
	if reason != "" {
		in.Reason = aws.String(reason)
	}
	out, err := s.StopTask(t.Context(), in)
	if err != nil {
		t.Fatalf("StopTask(%s): %v", idFromARN(task), err)
	}
	return *out.Task
}

func TestStopTask(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 1024, 1024)
	td := registerTaskDef(t, s, webTaskDef)
	tests := []struct {
		name, reason, wantReason string
	}{
		{"default reason", "", "Task stopped by user"},
		{"given reason", "scaling down", "scaling down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			arn := runOne(t, s, "prod", td)
			got := stopTask(t, s, "prod", arn, tc.reason)
			if aws.ToString(got.DesiredStatus) != "STOPPED" || aws.ToString(got.StopCode) != "UserInitiated" ||
				aws.ToString(got.StoppedReason) != tc.wantReason || got.StoppingAt == nil {
				t.Fatalf("stopped task: desired %s stopCode %s reason %q stoppingAt %v",
					aws.ToString(got.DesiredStatus), aws.ToString(got.StopCode), aws.ToString(got.StoppedReason), got.StoppingAt)
			}
			// The agent has not stopped it yet: it still holds its resources.
			if aws.ToString(got.LastStatus) != "PENDING" {
				t.Fatalf("lastStatus = %s, want PENDING until the agent reports", aws.ToString(got.LastStatus))
			}
			// Stopping again changes nothing.
			again := stopTask(t, s, "prod", idFromARN(arn), "another reason")
			if aws.ToString(again.StoppedReason) != tc.wantReason || aws.ToInt64(again.Version) != aws.ToInt64(got.Version) {
				t.Fatalf("second StopTask changed the task: reason %q version %d -> %d",
					aws.ToString(again.StoppedReason), aws.ToInt64(got.Version), aws.ToInt64(again.Version))
			}
		})
	}
	wantRemaining(t, s, "prod", inst, 1024-2*256, 1024-2*512)

	for _, in := range []*ecstypes.StopTaskRequest{
		{Cluster: aws.String("prod"), Task: aws.String("0123456789abcdef0123456789abcdef")},
		{Cluster: aws.String("prod"), Task: aws.String(s.arns.task("other", "0123456789abcdef0123456789abcdef"))},
		{Cluster: aws.String("prod"), Task: aws.String("")},
		{Cluster: aws.String("prod"), Task: aws.String("x"), Reason: aws.String(strings.Repeat("r", 256))},
	} {
		_, err := s.StopTask(t.Context(), in)
		wantAWSErr(t, err, awserr.CodeInvalidParameter, "")
	}
	_, err := s.StopTask(t.Context(), &ecstypes.StopTaskRequest{Cluster: aws.String("nope"), Task: aws.String("abc")})
	wantAWSErr(t, err, awserr.CodeClusterNotFound, "")
}

// A task whose instance was force-deregistered has no agent left to stop it.
func TestStopTaskOnDeregisteredInstance(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 1024, 1024)
	arn := runOne(t, s, "prod", registerTaskDef(t, s, portTaskDef))
	reportTask(t, s, "prod", arn, "RUNNING", "")
	if _, err := s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(inst), Force: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	got := stopTask(t, s, "prod", arn, "")
	if aws.ToString(got.LastStatus) != "STOPPED" || got.StoppedAt == nil || aws.ToString(got.StopCode) != "UserInitiated" ||
		aws.ToString(got.Containers[0].LastStatus) != "STOPPED" {
		t.Fatalf("task = last %s stoppedAt %v stopCode %s container %s", aws.ToString(got.LastStatus), got.StoppedAt,
			aws.ToString(got.StopCode), aws.ToString(got.Containers[0].LastStatus))
	}
	cpu, mem, ports := remainingOf(describeInstance(t, s, "prod", inst))
	if cpu != 1024 || mem != 1024 || slices.Contains(ports, "8080") {
		t.Fatalf("remaining = cpu %d mem %d ports %v, want everything released", cpu, mem, ports)
	}
}

func TestDescribeTasks(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	createCluster(t, s, "other")
	registerInstance(t, s, "prod", 1024, 1024)
	td := registerTaskDef(t, s, webTaskDef)
	out, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Tags: tagList("k", "v")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	unknown := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name        string
		cluster     string
		refs        []string
		include     []string
		wantTasks   int
		wantMissing []string
		wantTags    bool
	}{
		{name: "by ARN and id", cluster: "prod", refs: []string{arn, idFromARN(arn)}, wantTasks: 2},
		{name: "include tags", cluster: "prod", refs: []string{arn}, include: []string{"TAGS"}, wantTasks: 1, wantTags: true},
		{name: "missing", cluster: "prod", refs: []string{unknown, s.arns.task("prod", unknown), arn}, wantTasks: 1,
			wantMissing: []string{s.arns.task("prod", unknown), s.arns.task("prod", unknown)}},
		{name: "other cluster", cluster: "other", refs: []string{idFromARN(arn)}, wantMissing: []string{s.arns.task("other", idFromARN(arn))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.DescribeTasks(t.Context(), &ecstypes.DescribeTasksRequest{Cluster: aws.String(tc.cluster), Tasks: tc.refs, Include: tc.include})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Tasks) != tc.wantTasks {
				t.Fatalf("described %d tasks, want %d", len(got.Tasks), tc.wantTasks)
			}
			for _, task := range got.Tasks {
				if aws.ToString(task.TaskArn) != arn || (len(task.Tags) > 0) != tc.wantTags {
					t.Fatalf("task %s tags %v", aws.ToString(task.TaskArn), task.Tags)
				}
			}
			var missing []string
			for _, f := range got.Failures {
				if aws.ToString(f.Reason) != "MISSING" {
					t.Fatalf("failure reason %s", aws.ToString(f.Reason))
				}
				missing = append(missing, aws.ToString(f.Arn))
			}
			if !slices.Equal(missing, tc.wantMissing) {
				t.Fatalf("missing %v, want %v", missing, tc.wantMissing)
			}
		})
	}
	_, err = s.DescribeTasks(t.Context(), &ecstypes.DescribeTasksRequest{Cluster: aws.String("nope"), Tasks: []string{arn}})
	wantAWSErr(t, err, awserr.CodeClusterNotFound, "")
}

func TestListTasks(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	i1 := registerInstance(t, s, "prod", 4096, 4096)
	i2 := registerInstance(t, s, "prod", 4096, 4096)
	web := registerTaskDef(t, s, webTaskDef)
	port := registerTaskDef(t, s, portTaskDef)
	start := func(td, inst, startedBy string) string {
		t.Helper()
		out, err := s.StartTask(t.Context(), &ecstypes.StartTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td),
			ContainerInstances: []string{inst}, StartedBy: aws.String(startedBy)})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("StartTask: %v %+v", err, out)
		}
		return aws.ToString(out.Tasks[0].TaskArn)
	}
	webA := start(web, i1, "alice")
	webB := start(web, i2, "bob")
	portA := start(port, i2, "alice")
	stopped := start(web, i1, "alice")
	stopTask(t, s, "prod", stopped, "")

	tests := []struct {
		name string
		in   ecstypes.ListTasksRequest
		want []string
	}{
		{"default desired RUNNING", ecstypes.ListTasksRequest{}, []string{webA, webB, portA}},
		{"desired STOPPED", ecstypes.ListTasksRequest{DesiredStatus: aws.String("STOPPED")}, []string{stopped}},
		{"family", ecstypes.ListTasksRequest{Family: aws.String("web")}, []string{webA, webB}},
		{"startedBy", ecstypes.ListTasksRequest{StartedBy: aws.String("alice")}, []string{webA, portA}},
		{"container instance ARN", ecstypes.ListTasksRequest{ContainerInstance: aws.String(i2)}, []string{webB, portA}},
		{"container instance id", ecstypes.ListTasksRequest{ContainerInstance: aws.String(idFromARN(i1))}, []string{webA}},
		{"launch type EC2", ecstypes.ListTasksRequest{LaunchType: aws.String("EC2")}, []string{webA, webB, portA}},
		{"launch type EXTERNAL", ecstypes.ListTasksRequest{LaunchType: aws.String("EXTERNAL")}, nil},
		{"combined", ecstypes.ListTasksRequest{Family: aws.String("web"), StartedBy: aws.String("alice")}, []string{webA}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Cluster = aws.String("prod")
			if got, want := listTaskArns(t, s, &tc.in), sorted(tc.want...); !slices.Equal(sorted(got...), want) {
				t.Fatalf("listed %v, want %v", got, want)
			}
		})
	}

	var paged []string
	var token *string
	for range 4 {
		out, err := s.ListTasks(t.Context(), &ecstypes.ListTasksRequest{Cluster: aws.String("prod"), MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, out.TaskArns...)
		if token = out.NextToken; token == nil {
			break
		}
	}
	if want := sorted(webA, webB, portA); !slices.Equal(paged, want) {
		t.Fatalf("paged %v, want %v", paged, want)
	}

	for _, in := range []*ecstypes.ListTasksRequest{
		{Cluster: aws.String("prod"), ContainerInstance: aws.String("00000000-0000-4000-8000-000000000000")},
		{Cluster: aws.String("prod"), NextToken: aws.String("###")},
	} {
		_, err := s.ListTasks(t.Context(), in)
		wantAWSErr(t, err, awserr.CodeInvalidParameter, "")
	}
	_, err := s.ListTasks(t.Context(), &ecstypes.ListTasksRequest{Cluster: aws.String("nope")})
	wantAWSErr(t, err, awserr.CodeClusterNotFound, "")
}

func TestStopTasksInBatches(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 4096)
	td := registerTaskDef(t, s, tinyTaskDef)
	var stops []taskStop
	for range 6 { // 60 tasks: more than one batch
		out := s.mustRunTask(t, &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(10)})
		for _, task := range out.Tasks {
			stops = append(stops, taskStop{ID: idFromARN(aws.ToString(task.TaskArn)), Reason: "Scaling activity"})
		}
	}
	stops = append(stops, taskStop{ID: "0123456789abcdef0123456789abcdef", Reason: "gone"})
	done, err := s.stopTasks(t.Context(), "prod", stops, ecstypes.TaskStopCodeServiceSchedulerInitiated)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 60 {
		t.Fatalf("stopped %d tasks, want the 60 that exist", len(done))
	}
	for _, id := range []string{done[0], done[59]} {
		task := describeTask(t, s, "prod", id)
		if aws.ToString(task.DesiredStatus) != "STOPPED" || aws.ToString(task.StopCode) != ecstypes.TaskStopCodeServiceSchedulerInitiated ||
			aws.ToString(task.StoppedReason) != "Scaling activity" {
			t.Errorf("task %s: desired %s, stopCode %s, reason %s", id, aws.ToString(task.DesiredStatus), aws.ToString(task.StopCode), aws.ToString(task.StoppedReason))
		}
	}
}
