package ecs

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func TestTaskStateChangeLifecycle(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 1024, 1024)
	arn := runOne(t, s, "prod", registerTaskDef(t, s, portTaskDef))

	binding := ecstypes.NetworkBinding{BindIP: aws.String("0.0.0.0"), ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080), Protocol: aws.String("tcp")}
	pulled := ecstypes.Time(testNow.Add(-time.Minute))
	if _, err := s.SubmitTaskStateChange(t.Context(), &ecstypes.SubmitTaskStateChangeRequest{
		Cluster: aws.String("prod"), Task: aws.String(arn), Status: aws.String("RUNNING"), PullStartedAt: pulled,
		Containers: []ecstypes.ContainerStateChange{{
			ContainerName: aws.String("app"), Status: aws.String("RUNNING"), RuntimeId: aws.String("c0ffee"),
			NetworkBindings: []ecstypes.NetworkBinding{binding},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	task := describeTask(t, s, "prod", arn)
	c := task.Containers[0]
	if aws.ToString(task.LastStatus) != "RUNNING" || task.StartedAt == nil || !task.StartedAt.Equal(testNow) ||
		aws.ToString(task.Connectivity) != "CONNECTED" || task.ConnectivityAt == nil || task.PullStartedAt == nil {
		t.Fatalf("running task: last %s startedAt %v connectivity %s at %v pullStartedAt %v", aws.ToString(task.LastStatus),
			task.StartedAt, aws.ToString(task.Connectivity), task.ConnectivityAt, task.PullStartedAt)
	}
	if aws.ToString(c.LastStatus) != "RUNNING" || aws.ToString(c.RuntimeId) != "c0ffee" || len(c.NetworkBindings) != 1 ||
		aws.ToInt32(c.NetworkBindings[0].HostPort) != 8080 {
		t.Fatalf("container: last %s runtimeId %s bindings %+v", aws.ToString(c.LastStatus), aws.ToString(c.RuntimeId), c.NetworkBindings)
	}

	// Status never goes backwards.
	reportTask(t, s, "prod", arn, "PENDING", "")
	if got := aws.ToString(describeTask(t, s, "prod", arn).LastStatus); got != "RUNNING" {
		t.Fatalf("after a late PENDING report lastStatus = %s", got)
	}

	stoppedAt := ecstypes.Time(testNow.Add(-time.Second))
	if _, err := s.SubmitTaskStateChange(t.Context(), &ecstypes.SubmitTaskStateChangeRequest{
		Cluster: aws.String("prod"), Task: aws.String(arn), Status: aws.String("STOPPED"), Reason: aws.String(essentialExitReason),
		ExecutionStoppedAt: stoppedAt,
		Containers:         []ecstypes.ContainerStateChange{{ContainerName: aws.String("app"), Status: aws.String("STOPPED"), ExitCode: aws.Int32(1)}},
	}); err != nil {
		t.Fatal(err)
	}
	task = describeTask(t, s, "prod", arn)
	if aws.ToString(task.LastStatus) != "STOPPED" || aws.ToString(task.DesiredStatus) != "STOPPED" || task.StoppedAt == nil ||
		task.ExecutionStoppedAt == nil || !task.ExecutionStoppedAt.Equal(stoppedAt.Time) ||
		aws.ToString(task.StopCode) != "EssentialContainerExited" || aws.ToString(task.StoppedReason) != essentialExitReason {
		t.Fatalf("stopped task: last %s desired %s stoppedAt %v executionStoppedAt %v stopCode %s reason %q",
			aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus), task.StoppedAt, task.ExecutionStoppedAt,
			aws.ToString(task.StopCode), aws.ToString(task.StoppedReason))
	}
	if aws.ToInt32(task.Containers[0].ExitCode) != 1 || aws.ToString(task.Containers[0].LastStatus) != "STOPPED" {
		t.Fatalf("container: %+v", task.Containers[0])
	}
	cpu, mem, ports := remainingOf(describeInstance(t, s, "prod", inst))
	if cpu != 1024 || mem != 1024 || !slices.Equal(ports, reservedPorts) {
		t.Fatalf("remaining after stop = cpu %d mem %d ports %v, want the registered resources", cpu, mem, ports)
	}

	// Reports after STOPPED change nothing.
	before := aws.ToInt64(task.Version)
	reportTask(t, s, "prod", arn, "RUNNING", "late")
	if _, err := s.SubmitContainerStateChange(t.Context(), &ecstypes.SubmitContainerStateChangeRequest{
		Cluster: aws.String("prod"), Task: aws.String(arn), ContainerName: aws.String("app"), RuntimeId: aws.String("other"),
	}); err != nil {
		t.Fatal(err)
	}
	task = describeTask(t, s, "prod", arn)
	if aws.ToString(task.LastStatus) != "STOPPED" || aws.ToString(task.StoppedReason) != essentialExitReason ||
		aws.ToInt64(task.Version) != before || aws.ToString(task.Containers[0].RuntimeId) != "c0ffee" {
		t.Fatalf("a report after STOPPED changed the task: last %s reason %q version %d -> %d runtimeId %s", aws.ToString(task.LastStatus),
			aws.ToString(task.StoppedReason), before, aws.ToInt64(task.Version), aws.ToString(task.Containers[0].RuntimeId))
	}
	wantRemaining(t, s, "prod", inst, 1024, 1024)
}

func TestTaskStateChangeStopCodes(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 4096, 4096)
	td := registerTaskDef(t, s, webTaskDef)
	tests := []struct {
		name       string
		running    bool
		userStop   bool
		reason     string
		wantCode   string
		wantReason string
	}{
		{name: "essential exit", running: true, reason: essentialExitReason, wantCode: "EssentialContainerExited", wantReason: essentialExitReason},
		{name: "never started", reason: "CannotPullContainerError: pull access denied", wantCode: "TaskFailedToStart",
			wantReason: "CannotPullContainerError: pull access denied"},
		{name: "essential exit before running", reason: essentialExitReason, wantCode: "EssentialContainerExited", wantReason: essentialExitReason},
		{name: "stopped by user", running: true, userStop: true, reason: "", wantCode: "UserInitiated", wantReason: "Task stopped by user"},
		{name: "stopped by user before running", userStop: true, reason: "", wantCode: "UserInitiated", wantReason: "Task stopped by user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			arn := runOne(t, s, "prod", td)
			if tc.running {
				reportTask(t, s, "prod", arn, "RUNNING", "")
			}
			if tc.userStop {
				stopTask(t, s, "prod", arn, "")
			}
			reportTask(t, s, "prod", arn, "STOPPED", tc.reason)
			task := describeTask(t, s, "prod", arn)
			if aws.ToString(task.StopCode) != tc.wantCode || aws.ToString(task.StoppedReason) != tc.wantReason {
				t.Fatalf("stopCode %s reason %q, want %s %q", aws.ToString(task.StopCode), aws.ToString(task.StoppedReason), tc.wantCode, tc.wantReason)
			}
			if (task.StartedAt != nil) != tc.running {
				t.Fatalf("startedAt = %v, want set only when the task ran", task.StartedAt)
			}
		})
	}
	wantRemaining(t, s, "prod", inst, 4096, 4096)
}

func TestTaskStateChangeErrors(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 1024, 1024)
	arn := runOne(t, s, "prod", registerTaskDef(t, s, webTaskDef))
	unknown := s.arns.task("prod", "0123456789abcdef0123456789abcdef")
	_, err := s.SubmitTaskStateChange(t.Context(), &ecstypes.SubmitTaskStateChangeRequest{Cluster: aws.String("prod"), Task: aws.String(unknown), Status: aws.String("RUNNING")})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "task was not found")
	_, err = s.SubmitTaskStateChange(t.Context(), &ecstypes.SubmitTaskStateChangeRequest{Cluster: aws.String("prod"), Task: aws.String(arn), Status: aws.String("EXPLODED")})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "EXPLODED")
	for _, in := range []*ecstypes.SubmitContainerStateChangeRequest{
		{Cluster: aws.String("prod"), Task: aws.String(unknown), ContainerName: aws.String("app")},
		{Cluster: aws.String("prod"), Task: aws.String(arn), ContainerName: aws.String("sidecar")},
		{Cluster: aws.String("prod"), Task: aws.String(arn)},
	} {
		_, err := s.SubmitContainerStateChange(t.Context(), in)
		wantAWSErr(t, err, awserr.CodeInvalidParameter, "")
	}
	if got := aws.ToString(describeTask(t, s, "prod", arn).LastStatus); got != "PENDING" {
		t.Fatalf("rejected reports changed lastStatus to %s", got)
	}
}

func TestContainerStateChange(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 1024, 1024)
	arn := runOne(t, s, "prod", registerTaskDef(t, s, portTaskDef))
	submit := func(status string, exit *int32) {
		t.Helper()
		if _, err := s.SubmitContainerStateChange(t.Context(), &ecstypes.SubmitContainerStateChangeRequest{
			Cluster: aws.String("prod"), Task: aws.String(idFromARN(arn)), ContainerName: aws.String("app"), Status: aws.String(status),
			RuntimeId: aws.String("rt-1"), ExitCode: exit,
			NetworkBindings: []ecstypes.NetworkBinding{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080)}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	submit("RUNNING", nil)
	submit("PENDING", nil) // late: ignored
	c := describeTask(t, s, "prod", arn).Containers[0]
	if aws.ToString(c.LastStatus) != "RUNNING" || aws.ToString(c.RuntimeId) != "rt-1" || len(c.NetworkBindings) != 1 {
		t.Fatalf("container: last %s runtimeId %s bindings %+v", aws.ToString(c.LastStatus), aws.ToString(c.RuntimeId), c.NetworkBindings)
	}
	submit("STOPPED", aws.Int32(137))
	c = describeTask(t, s, "prod", arn).Containers[0]
	if aws.ToString(c.LastStatus) != "STOPPED" || aws.ToInt32(c.ExitCode) != 137 {
		t.Fatalf("container: last %s exitCode %d", aws.ToString(c.LastStatus), aws.ToInt32(c.ExitCode))
	}
}

// healthTaskDef: a and b are essential with health checks, c is a
// non-essential with a check, d is essential without one.
const healthTaskDef = `{"family":"health","containerDefinitions":[
	{"name":"a","image":"x","memory":32,"healthCheck":{"command":["CMD","true"]}},
	{"name":"b","image":"x","memory":32,"healthCheck":{"command":["CMD","true"]}},
	{"name":"c","image":"x","memory":32,"essential":false,"healthCheck":{"command":["CMD","true"]}},
	{"name":"d","image":"x","memory":32}]}`

// ApplyHealth records each container's reported health and derives the
// task's as ECS documents it: HEALTHY when every essential container with
// a health check passes it, UNHEALTHY when one of them fails it, UNKNOWN
// otherwise (still evaluating, or checks only on non-essential containers,
// or none at all). Reports are partial: a container not named keeps its
// health.
func TestApplyHealth(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 4096, 4096)
	td := registerTaskDef(t, s, healthTaskDef)
	type report map[string]string // container -> health
	tests := []struct {
		name  string
		steps []report
		want  string            // the task's health after the last step
		cont  map[string]string // containers' health after the last step
	}{
		{"no report yet", []report{{}}, "UNKNOWN", map[string]string{}},
		{"all essential checked healthy", []report{{"a": "HEALTHY", "b": "HEALTHY"}}, "HEALTHY",
			map[string]string{"a": "HEALTHY", "b": "HEALTHY"}},
		{"one essential still unknown", []report{{"a": "HEALTHY", "b": "UNKNOWN"}}, "UNKNOWN",
			map[string]string{"a": "HEALTHY", "b": "UNKNOWN"}},
		{"one essential not reported", []report{{"a": "HEALTHY"}}, "UNKNOWN", map[string]string{"a": "HEALTHY"}},
		{"one essential unhealthy", []report{{"a": "HEALTHY", "b": "UNHEALTHY"}}, "UNHEALTHY",
			map[string]string{"a": "HEALTHY", "b": "UNHEALTHY"}},
		{"unhealthy wins over unknown", []report{{"a": "UNHEALTHY"}}, "UNHEALTHY", map[string]string{"a": "UNHEALTHY"}},
		{"a non-essential container does not count", []report{{"a": "HEALTHY", "b": "HEALTHY", "c": "UNHEALTHY"}}, "HEALTHY",
			map[string]string{"a": "HEALTHY", "b": "HEALTHY", "c": "UNHEALTHY"}},
		{"partial reports keep the others", []report{{"a": "HEALTHY", "b": "HEALTHY"}, {"b": "UNHEALTHY"}}, "UNHEALTHY",
			map[string]string{"a": "HEALTHY", "b": "UNHEALTHY"}},
		{"recovers", []report{{"a": "HEALTHY", "b": "UNHEALTHY"}, {"b": "HEALTHY"}}, "HEALTHY",
			map[string]string{"a": "HEALTHY", "b": "HEALTHY"}},
		{"unknown container names are ignored", []report{{"a": "HEALTHY", "b": "HEALTHY", "nope": "UNHEALTHY"}}, "HEALTHY",
			map[string]string{"a": "HEALTHY", "b": "HEALTHY"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			arn := runOne(t, s, "prod", td)
			for _, step := range tc.steps {
				h := TaskHealth{TaskArn: arn, InstanceArn: inst}
				for name, status := range step {
					h.Containers = append(h.Containers, ContainerHealth{Name: name, Status: status})
				}
				if err := s.ApplyHealth(t.Context(), "prod", h); err != nil {
					t.Fatal(err)
				}
			}
			task := describeTask(t, s, "prod", arn)
			if got := aws.ToString(task.HealthStatus); got != tc.want {
				t.Fatalf("task health = %s, want %s", got, tc.want)
			}
			for _, c := range task.Containers {
				name := aws.ToString(c.Name)
				if got, want := aws.ToString(c.HealthStatus), tc.cont[name]; got != want && !(want == "" && got == "UNKNOWN") {
					t.Errorf("container %s health = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestApplyHealthWithoutChecks(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 4096, 4096)
	other := registerInstance(t, s, "prod", 4096, 4096)
	tests := []struct {
		name, def string
	}{
		{"no health check at all", webTaskDef},
		{"checks only on a non-essential container", `{"family":"sidecar","containerDefinitions":[
			{"name":"app","image":"x","memory":32},
			{"name":"side","image":"x","memory":32,"essential":false,"healthCheck":{"command":["CMD","true"]}}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			arn := runOne(t, s, "prod", registerTaskDef(t, s, tc.def))
			h := TaskHealth{TaskArn: arn}
			for _, c := range describeTask(t, s, "prod", arn).Containers {
				h.Containers = append(h.Containers, ContainerHealth{Name: aws.ToString(c.Name), Status: "HEALTHY"})
			}
			if err := s.ApplyHealth(t.Context(), "prod", h); err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(describeTask(t, s, "prod", arn).HealthStatus); got != "UNKNOWN" {
				t.Fatalf("task health %s, want UNKNOWN", got)
			}
		})
	}

	// Health is refused for an unknown task, and for a task of another
	// instance than the one reporting.
	err := s.ApplyHealth(t.Context(), "prod", TaskHealth{TaskArn: s.arns.task("prod", "0123456789abcdef0123456789abcdef")})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "")
	arn := runOne(t, s, "prod", registerTaskDef(t, s, healthTaskDef))
	placed := aws.ToString(describeTask(t, s, "prod", arn).ContainerInstanceArn)
	reporter := inst
	if placed == inst {
		reporter = other
	}
	err = s.ApplyHealth(t.Context(), "prod", TaskHealth{TaskArn: arn, InstanceArn: reporter,
		Containers: []ContainerHealth{{Name: "a", Status: "UNHEALTHY"}}})
	wantAWSErr(t, err, awserr.CodeClient, "is not on container instance")
	if got := aws.ToString(describeTask(t, s, "prod", arn).Containers[0].HealthStatus); got == "UNHEALTHY" {
		t.Fatal("a refused report changed the container's health")
	}
}

func TestDiscoverPollEndpoint(t *testing.T) {
	s := newTestService(t)
	out, err := s.DiscoverPollEndpoint(t.Context(), &ecstypes.DiscoverPollEndpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The agent appends /ws to both.
	if aws.ToString(out.Endpoint) != "http://127.0.0.1:0" || aws.ToString(out.TelemetryEndpoint) != "http://127.0.0.1:0"+TelemetryPrefix {
		t.Fatalf("endpoints = %s %s", aws.ToString(out.Endpoint), aws.ToString(out.TelemetryEndpoint))
	}
}
