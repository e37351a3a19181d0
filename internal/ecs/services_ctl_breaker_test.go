package ecs

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

func TestBreakerThreshold(t *testing.T) {
	for _, c := range []struct{ desired, want int }{
		{0, 3}, {1, 3}, {2, 3}, {5, 3}, {6, 3}, {7, 4}, {10, 5}, {11, 6},
		{399, 200}, {400, 200}, {401, 200}, {10000, 200},
	} {
		if got := breakerThreshold(c.desired); got != c.want {
			t.Errorf("breakerThreshold(%d) = %d, want %d", c.desired, got, c.want)
		}
	}
}

func TestDecideBreaker(t *testing.T) {
	on := breakerInput{Enable: true, RolloutState: rolloutInProgress, Desired: 4, Failed: 3}
	with := func(edit func(*breakerInput)) breakerInput { in := on; edit(&in); return in }
	for _, c := range []struct {
		name string
		in   breakerInput
		want breakerAction
	}{
		{"threshold reached, no rollback", on, breakerFail},
		{"below the threshold", with(func(in *breakerInput) { in.Failed = 2 }), breakerNone},
		{"threshold of 10 desired is 5", with(func(in *breakerInput) { in.Desired, in.Failed = 10, 4 }), breakerNone},
		{"10 desired, 5 failed", with(func(in *breakerInput) { in.Desired, in.Failed = 10, 5 }), breakerFail},
		{"breaker off", with(func(in *breakerInput) { in.Enable = false; in.Failed = 100 }), breakerNone},
		{"rollback", with(func(in *breakerInput) { in.Rollback, in.CanRollBack = true, true }), breakerRollback},
		{"rollback without a COMPLETED deployment", with(func(in *breakerInput) { in.Rollback = true }), breakerFail},
		{"completed deployments stop counting", with(func(in *breakerInput) { in.RolloutState = rolloutCompleted }), breakerNone},
		{"steady state this pass", with(func(in *breakerInput) { in.Done = true }), breakerNone},
		{"FAILED stays stalled", with(func(in *breakerInput) { in.RolloutState, in.Failed = rolloutFailed, 0 }), breakerStall},
		{"FAILED stays stalled with the breaker off since", with(func(in *breakerInput) { in.RolloutState, in.Enable = rolloutFailed, false }), breakerStall},
	} {
		if got := decideBreaker(c.in); got != c.want {
			t.Errorf("%s: decideBreaker(%+v) = %d, want %d", c.name, c.in, got, c.want)
		}
	}
}

func withBreaker(enable, rollback bool) func(*ecstypes.Service) {
	return func(svc *ecstypes.Service) {
		svc.DeploymentConfiguration.DeploymentCircuitBreaker = &ecstypes.DeploymentCircuitBreaker{
			Enable: aws.Bool(enable), Rollback: aws.Bool(rollback),
		}
	}
}

// newClockService is a service on store st (a new one when nil) whose clock
// the test moves.
func newClockService(t *testing.T, st *store.Store, clock *movingClock) *Service {
	t.Helper()
	if st == nil {
		st = storetest.New(t)
	}
	s := New(Config{Store: st, Region: testRegion, AccountID: testAccount, AdvertiseURL: "http://127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler), Now: clock.Now, Rand: func(int) int { return 0 }})
	t.Cleanup(s.Close)
	return s
}

// failToStart plays an agent that cannot pull: the deployment's pending
// tasks stop before RUNNING. It returns how many.
func failToStart(t *testing.T, s *Service, cluster, dep string) int {
	t.Helper()
	n := 0
	for _, task := range liveTasks(t, s, cluster, dep) {
		if aws.ToString(task.LastStatus) == "PENDING" {
			reportTask(t, s, cluster, aws.ToString(task.TaskArn), "STOPPED", "CannotPullContainerError: pull access denied")
			n++
		}
	}
	return n
}

// completedService is a service of 2 tasks on a first task definition, at
// steady state, then deployed on a second one; it returns the deployments.
func completedService(t *testing.T, s *Service, edit func(*ecstypes.Service)) (first, second, td1, td2 string) {
	t.Helper()
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 8192)
	td1 = registerTaskDef(t, s, webTaskDef)
	first = putService(t, s, "prod", "web", td1, 2, 100, 200, edit)
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	rec := getService(t, s, "prod", "web")
	if st := aws.ToString(rec.Service.Deployments[0].RolloutState); st != rolloutCompleted {
		t.Fatalf("first deployment %s, want COMPLETED", st)
	}
	if lc := rec.LastCompleted; lc == nil || lc.ID != first || lc.TaskDefinition != td1 {
		t.Fatalf("lastCompleted %+v, want %s on %s", lc, first, td1)
	}
	td2 = registerTaskDef(t, s, webTaskDef)
	second = deployService(t, s, "prod", "web", td2)
	return first, second, td1, td2
}

func deploymentByID(rec serviceRecord, id string) *ecstypes.Deployment {
	for i := range rec.Service.Deployments {
		if aws.ToString(rec.Service.Deployments[i].Id) == id {
			return &rec.Service.Deployments[i]
		}
	}
	return nil
}

// tripOnFailures fails the deployment's tasks pass after pass until it is
// FAILED, and returns the tasks that failed.
func tripOnFailures(t *testing.T, s *Service, dep string) int {
	t.Helper()
	failed := 0
	for range 5 {
		pass(t, s)
		if d := deploymentByID(getService(t, s, "prod", "web"), dep); d != nil && aws.ToString(d.RolloutState) == rolloutFailed {
			return failed
		}
		failed += failToStart(t, s, "prod", dep)
	}
	t.Fatalf("deployment %s not FAILED after %d failed tasks: events %q", dep, failed, eventMessages(getService(t, s, "prod", "web")))
	return 0
}

func TestBreakerRollsBack(t *testing.T) {
	s := newTestService(t)
	first, second, td1, _ := completedService(t, s, withBreaker(true, true))
	if failed := tripOnFailures(t, s, second); failed != 4 {
		t.Fatalf("%d tasks failed before the trip, want 4 (2 a pass, threshold 3)", failed)
	}
	rec := getService(t, s, "prod", "web")
	if len(rec.Service.Deployments) < 2 {
		t.Fatalf("deployments %+v", rec.Service.Deployments)
	}
	back := rec.Service.Deployments[0]
	backID := aws.ToString(back.Id)
	if aws.ToString(back.Status) != deploymentPrimary || backID == first || backID == second ||
		aws.ToString(back.TaskDefinition) != td1 || aws.ToString(back.RolloutState) != rolloutInProgress ||
		aws.ToString(back.RolloutStateReason) != "ECS deployment circuit breaker: rolling back to deploymentId "+first+"." {
		t.Fatalf("rollback deployment %s %s on %s, %s (%s)", backID, aws.ToString(back.Status),
			aws.ToString(back.TaskDefinition), aws.ToString(back.RolloutState), aws.ToString(back.RolloutStateReason))
	}
	failed := deploymentByID(rec, second)
	if aws.ToString(failed.Status) != deploymentActive || aws.ToString(failed.RolloutState) != rolloutFailed ||
		aws.ToString(failed.RolloutStateReason) != breakerFailedReason || aws.ToInt32(failed.FailedTasks) != 4 {
		t.Fatalf("failed deployment %s, %s (%s), failedTasks %d", aws.ToString(failed.Status),
			aws.ToString(failed.RolloutState), aws.ToString(failed.RolloutStateReason), aws.ToInt32(failed.FailedTasks))
	}
	if aws.ToString(rec.Service.TaskDefinition) != td1 {
		t.Fatalf("service taskDefinition %s, want %s", aws.ToString(rec.Service.TaskDefinition), td1)
	}
	ev := eventMessages(rec)
	want := []string{"(service web) rolling back to deployment " + first + ".",
		"(service web) (deployment " + second + ") deployment failed: tasks failed to start."}
	if !slices.Equal(ev[:2], want) {
		t.Fatalf("events %q, want %q first", ev[:2], want)
	}
	if rec.LastCompleted != nil {
		t.Fatalf("lastCompleted %+v while the rollback is in progress, want none", rec.LastCompleted)
	}

	for i := 0; ; i++ {
		if i == 10 {
			t.Fatalf("the rollback did not complete in 10 steps: %+v", getService(t, s, "prod", "web").Service.Deployments)
		}
		pass(t, s)
		agentCatchUp(t, s, "prod")
		rec = getService(t, s, "prod", "web")
		if len(rec.Service.Deployments) == 1 && aws.ToString(rec.Service.Deployments[0].RolloutState) == rolloutCompleted {
			break
		}
	}
	if id := aws.ToString(rec.Service.Deployments[0].Id); id != backID {
		t.Fatalf("deployment %s left, want the rollback %s", id, backID)
	}
	live := liveTasks(t, s, "prod", "")
	if len(live) != 2 || countRunning(live) != 2 {
		t.Fatalf("%d tasks (%d running), want 2 running", len(live), countRunning(live))
	}
	for _, task := range live {
		if aws.ToString(task.TaskDefinitionArn) != td1 || aws.ToString(task.StartedBy) != backID {
			t.Fatalf("task on %s started by %s, want %s by %s", aws.ToString(task.TaskDefinitionArn), aws.ToString(task.StartedBy), td1, backID)
		}
	}
	if lc := getService(t, s, "prod", "web").LastCompleted; lc == nil || lc.ID != backID || lc.TaskDefinition != td1 {
		t.Fatalf("lastCompleted %+v, want the rollback deployment", lc)
	}
}

// Without rollback the deployment stays FAILED and starts nothing more,
// across a controller restart; the old deployment's tasks stay.
func TestBreakerFailsWithoutRollback(t *testing.T) {
	clock := &movingClock{now: testNow}
	s := newClockService(t, nil, clock)
	first, second, _, _ := completedService(t, s, withBreaker(true, false))

	// Two failures, then a restart: the count carries over.
	pass(t, s)
	if n := failToStart(t, s, "prod", second); n != 2 {
		t.Fatalf("%d tasks failed, want 2", n)
	}
	s.Close()
	s2 := newClockService(t, s.st, clock)
	tripOnFailures(t, s2, second)
	rec := getService(t, s2, "prod", "web")
	d := rec.Service.Deployments[0]
	if aws.ToString(d.Id) != second || aws.ToString(d.Status) != deploymentPrimary || aws.ToString(d.RolloutState) != rolloutFailed ||
		aws.ToString(d.RolloutStateReason) != breakerFailedReason {
		t.Fatalf("deployment %s %s %s (%s), want %s PRIMARY FAILED", aws.ToString(d.Id), aws.ToString(d.Status),
			aws.ToString(d.RolloutState), aws.ToString(d.RolloutStateReason), second)
	}
	if ev := eventMessages(rec); ev[0] != "(service web) (deployment "+second+") deployment failed: tasks failed to start." {
		t.Fatalf("newest event %q", ev[0])
	}

	for _, c := range []*Service{s2, newClockService(t, s.st, clock)} {
		clock.Advance(time.Hour) // past any retry delay
		pass(t, c)
		pass(t, c)
		if n := len(liveTasks(t, c, "prod", second)); n != 0 {
			t.Fatalf("%d tasks of the FAILED deployment, want none", n)
		}
		if n := countRunning(liveTasks(t, c, "prod", first)); n != 2 {
			t.Fatalf("%d tasks of the old deployment running, want 2", n)
		}
		if st := aws.ToString(deploymentByID(getService(t, c, "prod", "web"), second).RolloutState); st != rolloutFailed {
			t.Fatalf("rollout %s, want FAILED", st)
		}
	}
}

// With the breaker off, failures only slow the retries down.
func TestBreakerOffKeepsRetrying(t *testing.T) {
	clock := &movingClock{now: testNow}
	s := newClockService(t, nil, clock)
	_, second, _, _ := completedService(t, s, withBreaker(false, false))
	failed := 0
	for range 4 {
		clock.Advance(time.Hour) // past the growing retry delay
		pass(t, s)
		n := failToStart(t, s, "prod", second)
		if n == 0 {
			t.Fatalf("no task started after %d failures", failed)
		}
		failed += n
	}
	clock.Advance(time.Second)
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", second)); n != 0 {
		t.Fatalf("%d tasks started right after %d failures, want the retry delay", n, failed)
	}
	rec := getService(t, s, "prod", "web")
	d := deploymentByID(rec, second)
	if st := aws.ToString(d.RolloutState); st != rolloutInProgress || aws.ToInt32(d.FailedTasks) != int32(failed) {
		t.Fatalf("rollout %s with %d failed tasks, want IN_PROGRESS with %d", st, aws.ToInt32(d.FailedTasks), failed)
	}
	clock.Advance(startRetryMax)
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", second)); n == 0 {
		t.Fatal("no task started after the retry delay")
	}
}

// Stage 2: tasks that reach RUNNING and then exit count too. With rollback
// asked but no COMPLETED deployment to go back to, the deployment fails.
func TestBreakerCountsTasksFailingAfterRunning(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 8192)
	dep := putService(t, s, "prod", "web", registerTaskDef(t, s, webTaskDef), 2, 100, 200, withBreaker(true, true))
	crashed := 0
	for i := 0; ; i++ {
		if i == 5 {
			t.Fatalf("not FAILED after %d crashed tasks", crashed)
		}
		pass(t, s)
		rec := getService(t, s, "prod", "web")
		if aws.ToString(rec.Service.Deployments[0].RolloutState) == rolloutFailed {
			break
		}
		if crashed > 0 && (rec.Breaker == nil || rec.Breaker.Deployment != dep || int(rec.Breaker.FailedRunning) != crashed) {
			t.Fatalf("breaker record %+v, want %d failures of %s", rec.Breaker, crashed, dep)
		}
		agentCatchUp(t, s, "prod")
		for _, task := range liveTasks(t, s, "prod", dep) {
			reportTask(t, s, "prod", aws.ToString(task.TaskArn), "STOPPED", essentialExitReason)
			crashed++
		}
	}
	if crashed != 4 {
		t.Fatalf("%d crashed tasks before the trip, want 4", crashed)
	}
	rec := getService(t, s, "prod", "web")
	if len(rec.Service.Deployments) != 1 || aws.ToString(rec.Service.Deployments[0].Status) != deploymentPrimary ||
		aws.ToInt32(rec.Service.Deployments[0].FailedTasks) != 0 || rec.Breaker != nil {
		t.Fatalf("deployments %+v breaker %+v, want the one FAILED PRIMARY", rec.Service.Deployments, rec.Breaker)
	}
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", dep)); n != 0 {
		t.Fatalf("%d tasks started after the trip, want none", n)
	}
}
