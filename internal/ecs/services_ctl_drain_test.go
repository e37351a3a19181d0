package ecs

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func onDraining(t *rolloutTask) { t.Draining = true }

func TestPlanRolloutDraining(t *testing.T) {
	drainingPending := func(t *rolloutTask) { onDraining(t); pending(t) }
	cases := []struct {
		name        string
		in          rolloutInput
		start       int
		stop        []string
		done, stuck bool
	}{
		{name: "min 50 max 200 replaces and stops at once", in: rolloutInput{Desired: 4, MinPercent: 50, MaxPercent: 200,
			Tasks: append(tasksOf("a", 2, true, nil), tasksOf("d", 2, true, onDraining)...)}, start: 2, stop: []string{"d0", "d1"}},
		{name: "min 50 keeps min healthy", in: rolloutInput{Desired: 4, MinPercent: 50, MaxPercent: 200,
			Tasks: append(tasksOf("a", 1, true, nil), tasksOf("d", 3, true, onDraining)...)}, start: 3, stop: []string{"d0", "d1"}},
		{name: "min 100 max 200 starts first", in: rolloutInput{Desired: 4, MinPercent: 100, MaxPercent: 200,
			Tasks: append(tasksOf("a", 2, true, nil), tasksOf("d", 2, true, onDraining)...)}, start: 2},
		{name: "min 100 stops once replacements are healthy", in: rolloutInput{Desired: 4, MinPercent: 100, MaxPercent: 200,
			Tasks: append(tasksOf("a", 4, true, nil), tasksOf("d", 2, true, onDraining)...)}, stop: []string{"d0", "d1"}},
		{name: "min 100 waits for pending replacements", in: rolloutInput{Desired: 4, MinPercent: 100, MaxPercent: 200,
			Tasks: slices.Concat(tasksOf("a", 2, true, nil), tasksOf("r", 2, true, pending), tasksOf("d", 2, true, onDraining))}},
		{name: "min 50 max 100 stops first", in: rolloutInput{Desired: 4, MinPercent: 50, MaxPercent: 100,
			Tasks: append(tasksOf("a", 2, true, nil), tasksOf("d", 2, true, onDraining)...)}, stop: []string{"d0", "d1"}},
		{name: "min 100 max 100 cannot proceed", in: rolloutInput{Desired: 2, MinPercent: 100, MaxPercent: 100,
			Tasks: append(tasksOf("a", 1, true, nil), tasksOf("d", 1, true, onDraining)...)}, stuck: true},
		{name: "pending stops at once and is replaced", in: rolloutInput{Desired: 2, MinPercent: 100, MaxPercent: 100,
			Tasks: append(tasksOf("a", 1, true, nil), tasksOf("d", 1, true, drainingPending)...)}, start: 1, stop: []string{"d0"}},
		{name: "old deployment's draining tasks go first", in: rolloutInput{Desired: 2, MinPercent: 50, MaxPercent: 200,
			Tasks: slices.Concat(tasksOf("o", 1, false, nil), tasksOf("d", 1, false, onDraining), tasksOf("n", 2, true, pending))},
			stop: []string{"d0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := planRollout(c.in)
			if got.Start != c.start || !slices.Equal(got.Stop, c.stop) || got.Done != c.done || got.Blocked != c.stuck {
				t.Fatalf("planRollout = start %d stop %v done %v blocked %v; want start %d stop %v done %v blocked %v",
					got.Start, got.Stop, got.Done, got.Blocked, c.start, c.stop, c.done, c.stuck)
			}
		})
	}
}

// drainCluster is a cluster of two instances and a service of desired
// tasks spread over them (the first placed on a), all RUNNING.
func drainCluster(t *testing.T, desired, minPct, maxPct int32) (s *Service, a, b, dep string) {
	t.Helper()
	s = newTestService(t)
	createCluster(t, s, "prod")
	a = registerInstance(t, s, "prod", 4096, 8192)
	b = registerInstance(t, s, "prod", 4096, 8192)
	td := registerTaskDef(t, s, webTaskDef)
	dep = putService(t, s, "prod", "web", td, desired, minPct, maxPct, func(svc *ecstypes.Service) {
		svc.PlacementStrategy = []ecstypes.PlacementStrategy{{Type: aws.String("spread"), Field: aws.String("instanceId")}}
	})
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	if on := tasksOn(t, s, "", ""); len(on[a]) != int(desired+1)/2 || len(on[b]) != int(desired)/2 {
		t.Fatalf("before the drain %d tasks on a and %d on b", len(on[a]), len(on[b]))
	}
	return s, a, b, dep
}

// tasksOn groups the cluster's live tasks (desiredStatus RUNNING) by
// instance ARN, those with lastStatus status only when status is not "".
func tasksOn(t *testing.T, s *Service, dep, status string) map[string][]ecstypes.Task {
	t.Helper()
	out := map[string][]ecstypes.Task{}
	for _, task := range liveTasks(t, s, "prod", dep) {
		if status == "" || aws.ToString(task.LastStatus) == status {
			arn := aws.ToString(task.ContainerInstanceArn)
			out[arn] = append(out[arn], task)
		}
	}
	return out
}

func setInstanceState(t *testing.T, s *Service, arn, status string) {
	t.Helper()
	out, err := s.UpdateContainerInstancesState(t.Context(), &ecstypes.UpdateContainerInstancesStateRequest{
		Cluster: aws.String("prod"), ContainerInstances: []string{arn}, Status: aws.String(status),
	})
	if err != nil || len(out.Failures) > 0 {
		t.Fatalf("UpdateContainerInstancesState(%s): %v %v", status, err, out)
	}
}

// Drain one of two instances under min 50 / max 200: its tasks move to
// the other, never fewer than 2 RUNNING nor more than 8 tasks; a task
// RunTask started there is left alone, and the instance stays DRAINING.
func TestServiceDrainMovesTasks(t *testing.T) {
	s, a, b, dep := drainCluster(t, 4, 50, 200)
	standalone, err := s.StartTask(t.Context(), &ecstypes.StartTaskRequest{
		Cluster: aws.String("prod"), TaskDefinition: aws.String(registerTaskDef(t, s, webTaskDef)), ContainerInstances: []string{b},
	})
	if err != nil || len(standalone.Tasks) != 1 {
		t.Fatalf("StartTask: %v", err)
	}
	own := aws.ToString(standalone.Tasks[0].TaskArn)
	agentCatchUp(t, s, "prod")
	drained := tasksOn(t, s, dep, "")[b]

	check := func(when string) {
		t.Helper()
		live := liveTasks(t, s, "prod", dep)
		if len(live) > 8 {
			t.Fatalf("%s: %d tasks, more than maximumPercent allows (8)", when, len(live))
		}
		if n := countRunning(live); n < 2 {
			t.Fatalf("%s: %d running tasks, fewer than minimumHealthyPercent allows (2)", when, n)
		}
	}
	setInstanceState(t, s, b, "DRAINING")
	pass(t, s)
	check("first step")
	if on := tasksOn(t, s, dep, ""); len(on[a]) != 4 || len(on[b]) != 0 {
		t.Fatalf("first step: %d tasks on a and %d on b, want 4 and 0", len(on[a]), len(on[b]))
	}
	for _, task := range drained {
		got := describeTask(t, s, "prod", aws.ToString(task.TaskArn))
		if aws.ToString(got.DesiredStatus) != "STOPPED" || aws.ToString(got.StopCode) != ecstypes.TaskStopCodeServiceSchedulerInitiated ||
			aws.ToString(got.StoppedReason) != "Service web: container instance is in DRAINING state" {
			t.Fatalf("drained task: desired %s stopCode %s reason %q", aws.ToString(got.DesiredStatus),
				aws.ToString(got.StopCode), aws.ToString(got.StoppedReason))
		}
	}
	ev := eventMessages(getService(t, s, "prod", "web"))
	if !strings.HasPrefix(ev[0], "(service web) has stopped 2 running tasks: (task ") || !strings.HasPrefix(ev[1], "(service web) has started 2 tasks: (task ") {
		t.Fatalf("events %q", ev[:2])
	}
	agentCatchUp(t, s, "prod")
	check("agents caught up")
	pass(t, s)
	rec := getService(t, s, "prod", "web")
	if ev := eventMessages(rec); ev[0] != "(service web) has reached a steady state." {
		t.Fatalf("newest event %q, want steady state", ev[0])
	}
	if on := tasksOn(t, s, dep, "RUNNING"); len(on[a]) != 4 || len(on[b]) != 0 || aws.ToInt32(rec.Service.RunningCount) != 4 {
		t.Fatalf("at the end %d RUNNING on a, %d on b, runningCount %d; want 4, 0, 4", len(on[a]), len(on[b]), aws.ToInt32(rec.Service.RunningCount))
	}
	if got := describeTask(t, s, "prod", own); aws.ToString(got.DesiredStatus) != "RUNNING" || aws.ToString(got.LastStatus) != "RUNNING" {
		t.Fatalf("the StartTask task on the draining instance: desired %s last %s, want it left RUNNING",
			aws.ToString(got.DesiredStatus), aws.ToString(got.LastStatus))
	}
	pass(t, s)
	if st := aws.ToString(describeInstance(t, s, "prod", b).Status); st != "DRAINING" {
		t.Fatalf("instance status %s once drained, want DRAINING", st)
	}
	if n := len(liveTasks(t, s, "prod", dep)); n != 4 {
		t.Fatalf("%d tasks after another pass, want 4", n)
	}
}

// Under min 100 / max 200 the replacements start first; the draining tasks
// stop once the replacements run.
func TestServiceDrainStartsReplacementsFirst(t *testing.T) {
	s, a, b, dep := drainCluster(t, 4, 100, 200)
	setInstanceState(t, s, b, "DRAINING")
	pass(t, s)
	on := tasksOn(t, s, dep, "")
	if len(on[a]) != 4 || len(on[b]) != 2 || len(tasksOn(t, s, dep, "RUNNING")[b]) != 2 {
		t.Fatalf("first step: %d tasks on a and %d on b, want 4 and 2 (still RUNNING)", len(on[a]), len(on[b]))
	}
	pass(t, s) // replacements still PENDING: nothing stops
	if n := len(tasksOn(t, s, dep, "")[b]); n != 2 {
		t.Fatalf("%d tasks on b while the replacements are pending, want 2", n)
	}
	agentCatchUp(t, s, "prod")
	pass(t, s)
	if on := tasksOn(t, s, dep, ""); len(on[a]) != 4 || len(on[b]) != 0 {
		t.Fatalf("second step: %d tasks on a and %d on b, want 4 and 0", len(on[a]), len(on[b]))
	}
	agentCatchUp(t, s, "prod")
	pass(t, s)
	if ev := eventMessages(getService(t, s, "prod", "web")); ev[0] != "(service web) has reached a steady state." {
		t.Fatalf("newest event %q, want steady state", ev[0])
	}
}

// Under min 100 / max 100 nothing can move: an event says so, once.
func TestServiceDrainCannotProceed(t *testing.T) {
	s, a, b, dep := drainCluster(t, 2, 100, 100)
	setInstanceState(t, s, b, "DRAINING")
	for range 2 {
		pass(t, s)
	}
	const stuck = "(service web) was unable to stop or start tasks during a deployment because of the service deployment configuration. " +
		"Update the minimumHealthyPercent or maximumPercent value and try again."
	ev := eventMessages(getService(t, s, "prod", "web"))
	if ev[0] != stuck || ev[1] == stuck {
		t.Fatalf("events %q, want the stuck event once", ev[:2])
	}
	if on := tasksOn(t, s, dep, "RUNNING"); len(on[a]) != 1 || len(on[b]) != 1 {
		t.Fatalf("%d tasks on a and %d on b, want both left", len(on[a]), len(on[b]))
	}
	// More room lets it move: the draining task goes, then its replacement starts.
	editService(t, s, "prod", "web", func(rec *serviceRecord) {
		rec.Service.DeploymentConfiguration.MaximumPercent = aws.Int32(200)
	})
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	if on := tasksOn(t, s, dep, ""); len(on[a]) != 2 || len(on[b]) != 0 {
		t.Fatalf("with max 200: %d tasks on a and %d on b, want 2 and 0", len(on[a]), len(on[b]))
	}
}

// A service's PENDING task on a draining instance stops at once, and its
// replacement starts elsewhere in the same pass.
func TestServiceDrainStopsPendingAtOnce(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	a := registerInstance(t, s, "prod", 4096, 8192)
	b := registerInstance(t, s, "prod", 4096, 8192)
	dep := putService(t, s, "prod", "web", registerTaskDef(t, s, webTaskDef), 2, 100, 100, func(svc *ecstypes.Service) {
		svc.PlacementStrategy = []ecstypes.PlacementStrategy{{Type: aws.String("spread"), Field: aws.String("instanceId")}}
	})
	pass(t, s)
	onB := tasksOn(t, s, dep, "PENDING")[b]
	if len(onB) != 1 {
		t.Fatalf("%d pending tasks on b, want 1", len(onB))
	}
	setInstanceState(t, s, b, "DRAINING")
	pass(t, s)
	if got := describeTask(t, s, "prod", aws.ToString(onB[0].TaskArn)); aws.ToString(got.DesiredStatus) != "STOPPED" {
		t.Fatalf("pending task on the draining instance: desired %s, want STOPPED", aws.ToString(got.DesiredStatus))
	}
	if on := tasksOn(t, s, dep, ""); len(on[a]) != 2 || len(on[b]) != 0 {
		t.Fatalf("%d tasks on a and %d on b, want 2 and 0", len(on[a]), len(on[b]))
	}
}

// An instance's status change wakes the service controller.
func TestServiceInstanceStatusWakesController(t *testing.T) {
	s, _ := newServiceCluster(t)
	arn := registerInstance(t, s, "prod", 1024, 1024)
	if _, err := s.freshModel(t.Context(), instancesPart); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.svcKick:
	default:
	}
	setInstanceState(t, s, arn, "DRAINING")
	select {
	case <-s.svcKick:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up in 5s after an instance went DRAINING")
	}
}
