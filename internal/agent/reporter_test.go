package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecssdk "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func newTestReporter(t *testing.T, api submitter) *reporter {
	return newReporter(reporterConfig{
		Cluster: "arn:aws:ecs:us-east-1:000000000000:cluster/default", API: api, Logger: testLogger(t),
		RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond,
	})
}

func startReporter(t *testing.T, r *reporter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func change(task, status string) engine.TaskStateChange {
	return engine.TaskStateChange{TaskARN: task, Status: status}
}

func TestReporterCoalescesAndKeepsOrder(t *testing.T) {
	sub := newRecordingSubmitter()
	r := newTestReporter(t, sub.api())
	// Queued before the sender starts: a is updated twice, b once, c once.
	r.Report(change("a", "PENDING"))
	r.Report(change("b", "PENDING"))
	r.Report(change("a", "RUNNING"))
	r.Report(change("c", "RUNNING"))
	r.Report(change("a", "STOPPED"))
	startReporter(t, r)

	want := []submission{{task: "a", status: "STOPPED"}, {task: "b", status: "PENDING"}, {task: "c", status: "RUNNING"}}
	for _, w := range want {
		if got := recv(t, sub.ch, "submission"); got != w {
			t.Fatalf("got %+v, want %+v", got, w)
		}
	}
	// Reports after a send are sent again.
	r.Report(change("b", "RUNNING"))
	if got := recv(t, sub.ch, "submission"); got != (submission{task: "b", status: "RUNNING"}) {
		t.Fatalf("got %+v", got)
	}
}

func TestReporterRetriesUntilSuccess(t *testing.T) {
	sub := newRecordingSubmitter()
	var r *reporter
	sub.fail = func(n int, s submission) error {
		switch n {
		case 0:
			return errors.New("connection refused")
		case 1:
			// A newer state arrives while the old one is failing: the retry
			// must carry the newer one, not the stale one.
			r.Report(change("a", "STOPPED"))
			return &ecssdk.ServerException{Message: aws.String("busy")}
		}
		return nil
	}
	r = newTestReporter(t, sub.api())
	r.Report(change("a", "RUNNING"))
	r.Report(change("b", "RUNNING"))
	startReporter(t, r)

	want := []submission{
		{task: "a", status: "RUNNING"}, // fails
		{task: "a", status: "RUNNING"}, // fails; newer state queued
		{task: "b", status: "RUNNING"}, // a's newer state went to the back of the line
		{task: "a", status: "STOPPED"},
	}
	for i, w := range want {
		if got := recv(t, sub.ch, "submission"); got != w {
			t.Fatalf("call %d: got %+v, want %+v", i, got, w)
		}
	}
}

func TestReporterDropsRejected(t *testing.T) {
	sub := newRecordingSubmitter()
	sub.fail = func(n int, s submission) error {
		switch s.task {
		case "gone":
			return &ecssdk.InvalidParameterException{Message: aws.String("unknown task")}
		case "gone2":
			return &ecssdk.ClientException{Message: aws.String("unknown task")}
		}
		return nil
	}
	r := newTestReporter(t, sub.api())
	r.Report(change("gone", "RUNNING"))
	r.Report(change("gone2", "RUNNING"))
	r.Report(change("ok", "RUNNING"))
	startReporter(t, r)
	for _, w := range []string{"gone", "gone2", "ok"} {
		if got := recv(t, sub.ch, "submission"); got.task != w {
			t.Fatalf("got %+v, want task %s", got, w)
		}
	}
	r.Report(change("ok", "STOPPED"))
	if got := recv(t, sub.ch, "submission"); got != (submission{task: "ok", status: "STOPPED"}) {
		t.Fatalf("got %+v (a rejected report was retried?)", got)
	}
}

// TestReporterHealth: the reporter feeds every change it reports, and
// every resynced one, to its health tracker.
func TestReporterHealth(t *testing.T) {
	r := newTestReporter(t, newRecordingSubmitter().api())
	r.Report(healthChange("t1", map[string]string{"web": "UNKNOWN"}))
	r.Resync([]engine.TaskStateChange{healthChange("t2", map[string]string{"db": "HEALTHY"})})
	got := r.health.take()
	if len(got) != 2 || got[0].TaskArn != "t1" || got[1].TaskArn != "t2" || got[1].ClusterArn != "arn:aws:ecs:us-east-1:000000000000:cluster/default" {
		t.Fatalf("health = %+v", got)
	}
}

func TestSubmitInput(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exit := 137
	c := engine.TaskStateChange{
		TaskARN: "arn:task", Status: "STOPPED", Reason: "Essential container in task exited", StopCode: "EssentialContainerExited",
		PullStartedAt: &now, PullStoppedAt: &now, ExecutionStoppedAt: &now, StartedAt: &now,
		Containers: []engine.ContainerStateChange{{
			Name: "web", RuntimeID: "abc", ImageDigest: "sha256:1", Status: "STOPPED", ExitCode: &exit,
			NetworkBindings: []ecstypes.NetworkBinding{{
				BindIP: aws.String("0.0.0.0"), ContainerPort: aws.Int32(80), HostPort: aws.Int32(32768), Protocol: aws.String("tcp"),
			}},
		}, {Name: "side", Status: "RUNNING"}},
	}
	in := submitInput("arn:cluster", c)
	if aws.ToString(in.Cluster) != "arn:cluster" || aws.ToString(in.Task) != "arn:task" || aws.ToString(in.Status) != "STOPPED" ||
		aws.ToString(in.Reason) != c.Reason || in.PullStartedAt != &now || in.ExecutionStoppedAt != &now {
		t.Fatalf("task fields: %+v", in)
	}
	if len(in.Containers) != 2 {
		t.Fatalf("containers: %+v", in.Containers)
	}
	web := in.Containers[0]
	if aws.ToString(web.ContainerName) != "web" || aws.ToString(web.RuntimeId) != "abc" || aws.ToString(web.ImageDigest) != "sha256:1" ||
		aws.ToInt32(web.ExitCode) != 137 || len(web.NetworkBindings) != 1 {
		t.Fatalf("web: %+v", web)
	}
	nb := web.NetworkBindings[0]
	if aws.ToString(nb.BindIP) != "0.0.0.0" || aws.ToInt32(nb.ContainerPort) != 80 || aws.ToInt32(nb.HostPort) != 32768 || nb.Protocol != ecssdk.TransportProtocolTcp {
		t.Fatalf("binding: %+v", nb)
	}
	side := in.Containers[1]
	if side.ExitCode != nil || side.RuntimeId != nil || side.Reason != nil {
		t.Fatalf("empty fields must be omitted: %+v", side)
	}
}

func TestWireReason(t *testing.T) {
	tests := []struct{ stopCode, reason, want string }{
		{"", "Task stopped by user", "Task stopped by user"},
		{engine.StopCodeEssentialContainerExited, engine.ReasonEssentialExited, engine.ReasonEssentialExited},
		{engine.StopCodeTaskFailedToStart, "CannotPullContainerError: no such image", "CannotPullContainerError: no such image"},
		{engine.StopCodeTaskFailedToStart, "CannotStartContainerError: port in use", "CannotStartContainerError: port in use"},
		{engine.StopCodeTaskFailedToStart, "awsvpc network mode is not supported yet", "TaskFailedToStart: awsvpc network mode is not supported yet"},
	}
	for _, tt := range tests {
		c := engine.TaskStateChange{StopCode: tt.stopCode, Reason: tt.reason}
		if got := aws.ToString(submitInput("c", c).Reason); got != tt.want {
			t.Errorf("reason(%q, %q) = %q, want %q", tt.stopCode, tt.reason, got, tt.want)
		}
	}
}
