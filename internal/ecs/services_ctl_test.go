package ecs

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

// Controller tests write service records as CreateService and
// UpdateService would, drive passes with reconcileServices, and play the
// agent with SubmitTaskStateChange.

// putService writes a new ACTIVE service with one PRIMARY deployment, as
// CreateService does, and returns the deployment id.
func putService(t *testing.T, s *Service, cluster, name, taskDef string, desired, minPct, maxPct int32, edit ...func(*ecstypes.Service)) string {
	t.Helper()
	dep := newDeploymentID()
	now := ecstypes.Time(s.now())
	svc := ecstypes.Service{
		ServiceArn: aws.String(s.arns.service(cluster, name)), ServiceName: aws.String(name),
		ClusterArn: aws.String(s.arns.cluster(cluster)), Status: aws.String("ACTIVE"),
		DesiredCount: aws.Int32(desired), RunningCount: aws.Int32(0), PendingCount: aws.Int32(0),
		TaskDefinition: aws.String(taskDef), LaunchType: aws.String(ecstypes.LaunchTypeEC2),
		SchedulingStrategy: aws.String("REPLICA"), CreatedAt: now,
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(minPct), MaximumPercent: aws.Int32(maxPct)},
		Deployments: []ecstypes.Deployment{{
			Id: aws.String(dep), Status: aws.String(deploymentPrimary), TaskDefinition: aws.String(taskDef),
			DesiredCount: aws.Int32(desired), RunningCount: aws.Int32(0), PendingCount: aws.Int32(0), FailedTasks: aws.Int32(0),
			CreatedAt: now, UpdatedAt: now, LaunchType: aws.String(ecstypes.LaunchTypeEC2), RolloutState: aws.String(rolloutInProgress),
			RolloutStateReason: aws.String("ECS deployment " + dep + " in progress."),
		}},
		Events: []ecstypes.ServiceEvent{},
	}
	for _, e := range edit {
		e(&svc)
	}
	if err := s.st.Update(t.Context(), func(tx *store.Tx) error {
		store.Put(tx, services, serviceID(cluster, name), serviceRecord{Service: svc, Generation: 1})
		return nil
	}); err != nil {
		t.Fatalf("put service %s: %v", name, err)
	}
	return dep
}

// editService changes a service as the API would (its generation moves).
func editService(t *testing.T, s *Service, cluster, name string, edit func(*serviceRecord)) {
	t.Helper()
	if err := s.st.Update(t.Context(), func(tx *store.Tx) error {
		rec, err := store.Get(tx, services, serviceID(cluster, name))
		if err != nil {
			return err
		}
		edit(&rec)
		rec.Generation++
		store.Put(tx, services, serviceID(cluster, name), rec)
		return nil
	}); err != nil {
		t.Fatalf("edit service %s: %v", name, err)
	}
}

// deployService starts a new PRIMARY deployment on taskDef, as
// UpdateService does, and returns its id.
func deployService(t *testing.T, s *Service, cluster, name, taskDef string) string {
	t.Helper()
	dep := newDeploymentID()
	editService(t, s, cluster, name, func(rec *serviceRecord) {
		svc := &rec.Service
		for i := range svc.Deployments {
			svc.Deployments[i].Status = aws.String(deploymentActive)
		}
		now := ecstypes.Time(s.now())
		svc.TaskDefinition = aws.String(taskDef)
		svc.Deployments = append([]ecstypes.Deployment{{
			Id: aws.String(dep), Status: aws.String(deploymentPrimary), TaskDefinition: aws.String(taskDef),
			DesiredCount: svc.DesiredCount, RunningCount: aws.Int32(0), PendingCount: aws.Int32(0), FailedTasks: aws.Int32(0),
			CreatedAt: now, UpdatedAt: now, RolloutState: aws.String(rolloutInProgress),
		}}, svc.Deployments...)
	})
	return dep
}

// getService reads a service record from the store.
func getService(t *testing.T, s *Service, cluster, name string) serviceRecord {
	t.Helper()
	var rec serviceRecord
	if err := s.st.View(t.Context(), func(tx *store.Tx) (err error) {
		rec, err = store.Get(tx, services, serviceID(cluster, name))
		return err
	}); err != nil {
		t.Fatalf("get service %s: %v", name, err)
	}
	return rec
}

// pass runs one controller pass, which must succeed.
func pass(t *testing.T, s *Service) {
	t.Helper()
	if err := s.reconcileServices(t.Context()); err != nil {
		t.Fatalf("reconcile services: %v", err)
	}
}

// liveTasks lists the cluster's tasks whose desiredStatus is RUNNING, with
// startedBy dep when dep is not "".
func liveTasks(t *testing.T, s *Service, cluster, dep string) []ecstypes.Task {
	t.Helper()
	in := &ecstypes.ListTasksRequest{Cluster: aws.String(cluster)}
	if dep != "" {
		in.StartedBy = aws.String(dep)
	}
	arns := listTaskArns(t, s, in)
	if len(arns) == 0 {
		return nil
	}
	out, err := s.DescribeTasks(t.Context(), &ecstypes.DescribeTasksRequest{Cluster: aws.String(cluster), Tasks: arns})
	if err != nil {
		t.Fatalf("DescribeTasks: %v", err)
	}
	return out.Tasks
}

// agentCatchUp plays the agents: pending tasks start running, tasks asked
// to stop stop.
func agentCatchUp(t *testing.T, s *Service, cluster string) {
	t.Helper()
	for _, desired := range []string{"RUNNING", "STOPPED"} {
		arns := listTaskArns(t, s, &ecstypes.ListTasksRequest{Cluster: aws.String(cluster), DesiredStatus: aws.String(desired)})
		for _, arn := range arns {
			task := describeTask(t, s, cluster, arn)
			switch {
			case desired == "RUNNING" && aws.ToString(task.LastStatus) == "PENDING":
				reportTask(t, s, cluster, arn, "RUNNING", "")
			case desired == "STOPPED" && aws.ToString(task.LastStatus) != "STOPPED":
				reportTask(t, s, cluster, arn, "STOPPED", "")
			}
		}
	}
}

// eventMessages are a service's event messages, newest first.
func eventMessages(rec serviceRecord) []string {
	var out []string
	for _, e := range rec.Service.Events {
		out = append(out, aws.ToString(e.Message))
	}
	return out
}

func countRunning(tasks []ecstypes.Task) int {
	n := 0
	for _, t := range tasks {
		if aws.ToString(t.LastStatus) == "RUNNING" {
			n++
		}
	}
	return n
}

func newServiceCluster(t *testing.T) (*Service, string) {
	t.Helper()
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 8192)
	return s, registerTaskDef(t, s, webTaskDef)
}

func TestServiceReachesSteadyState(t *testing.T) {
	s, td := newServiceCluster(t)
	dep := putService(t, s, "prod", "web", td, 3, 100, 200)

	pass(t, s)
	tasks := liveTasks(t, s, "prod", dep)
	if len(tasks) != 3 {
		t.Fatalf("after the first pass %d tasks, want 3", len(tasks))
	}
	for _, task := range tasks {
		if aws.ToString(task.Group) != "service:web" || aws.ToString(task.StartedBy) != dep {
			t.Fatalf("task group %q startedBy %q", aws.ToString(task.Group), aws.ToString(task.StartedBy))
		}
	}
	rec := getService(t, s, "prod", "web")
	if got := aws.ToInt32(rec.Service.PendingCount); got != 3 {
		t.Fatalf("pendingCount %d, want 3", got)
	}
	if ev := eventMessages(rec); len(ev) != 1 || !strings.HasPrefix(ev[0], "(service web) has started 3 tasks: (task ") {
		t.Fatalf("events %q", ev)
	}

	agentCatchUp(t, s, "prod")
	pass(t, s)
	rec = getService(t, s, "prod", "web")
	d := rec.Service.Deployments[0]
	if aws.ToInt32(rec.Service.RunningCount) != 3 || aws.ToInt32(rec.Service.PendingCount) != 0 ||
		aws.ToInt32(d.RunningCount) != 3 || aws.ToString(d.RolloutState) != rolloutCompleted ||
		aws.ToString(d.RolloutStateReason) != "ECS deployment "+dep+" completed." {
		t.Fatalf("service running %d pending %d, deployment running %d state %s (%s)",
			aws.ToInt32(rec.Service.RunningCount), aws.ToInt32(rec.Service.PendingCount),
			aws.ToInt32(d.RunningCount), aws.ToString(d.RolloutState), aws.ToString(d.RolloutStateReason))
	}
	ev := eventMessages(rec)
	want := []string{"(service web) has reached a steady state.", "(service web) (deployment " + dep + ") deployment completed."}
	if len(ev) != 3 || !slices.Equal(ev[:2], want) {
		t.Fatalf("events %q, want %q first", ev, want)
	}
	for _, e := range rec.Service.Events {
		if aws.ToString(e.Id) == "" || e.CreatedAt == nil {
			t.Fatalf("event without id or time: %+v", e)
		}
	}

	// A steady service costs no write.
	before, _ := json.Marshal(rec)
	pass(t, s)
	after, _ := json.Marshal(getService(t, s, "prod", "web"))
	if string(before) != string(after) {
		t.Fatalf("a pass over a steady service changed it:\n%s\n%s", before, after)
	}
}

func TestServiceReplacesStoppedTask(t *testing.T) {
	s, td := newServiceCluster(t)
	dep := putService(t, s, "prod", "web", td, 3, 100, 200)
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)

	gone := aws.ToString(liveTasks(t, s, "prod", dep)[0].TaskArn)
	reportTask(t, s, "prod", gone, "STOPPED", essentialExitReason)
	pass(t, s)
	tasks := liveTasks(t, s, "prod", dep)
	if len(tasks) != 3 || countRunning(tasks) != 2 {
		t.Fatalf("%d tasks (%d running), want 3 (2 running)", len(tasks), countRunning(tasks))
	}
	for _, task := range tasks {
		if aws.ToString(task.TaskArn) == gone {
			t.Fatal("the stopped task still counts")
		}
	}
	rec := getService(t, s, "prod", "web")
	if aws.ToInt32(rec.Service.RunningCount) != 2 || aws.ToInt32(rec.Service.PendingCount) != 1 {
		t.Fatalf("running %d pending %d, want 2 and 1", aws.ToInt32(rec.Service.RunningCount), aws.ToInt32(rec.Service.PendingCount))
	}
	if ev := eventMessages(rec); !strings.HasPrefix(ev[0], "(service web) has started 1 tasks: (task ") {
		t.Fatalf("newest event %q", ev[0])
	}
	agentCatchUp(t, s, "prod")
	pass(t, s)
	if ev := eventMessages(getService(t, s, "prod", "web")); ev[0] != "(service web) has reached a steady state." {
		t.Fatalf("newest event %q, want steady state again", ev[0])
	}
}

func TestServiceScalesIn(t *testing.T) {
	s, td := newServiceCluster(t)
	dep := putService(t, s, "prod", "web", td, 3, 100, 200)
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)

	editService(t, s, "prod", "web", func(rec *serviceRecord) { rec.Service.DesiredCount = aws.Int32(1) })
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", dep)); n != 1 {
		t.Fatalf("%d tasks left, want 1", n)
	}
	stopped := listTaskArns(t, s, &ecstypes.ListTasksRequest{Cluster: aws.String("prod"), DesiredStatus: aws.String("STOPPED")})
	if len(stopped) != 2 {
		t.Fatalf("%d tasks asked to stop, want 2", len(stopped))
	}
	if task := describeTask(t, s, "prod", stopped[0]); aws.ToString(task.StoppedReason) != "Scaling activity initiated by (deployment "+dep+")" ||
		aws.ToString(task.StopCode) != ecstypes.TaskStopCodeServiceSchedulerInitiated {
		t.Fatalf("stoppedReason %q, stopCode %q", aws.ToString(task.StoppedReason), aws.ToString(task.StopCode))
	}
	pass(t, s) // sees the steady state
	rec := getService(t, s, "prod", "web")
	ev := eventMessages(rec)
	if !strings.HasPrefix(ev[0], "(service web) has reached a steady state.") || !strings.HasPrefix(ev[1], "(service web) has stopped 2 running tasks: (task ") {
		t.Fatalf("events %q", ev[:2])
	}
	if aws.ToInt32(rec.Service.RunningCount) != 1 {
		t.Fatalf("runningCount %d, want 1", aws.ToInt32(rec.Service.RunningCount))
	}
}

func TestServiceRollsNewDeployment(t *testing.T) {
	s, td1 := newServiceCluster(t)
	old := putService(t, s, "prod", "web", td1, 4, 50, 200)
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	td2 := registerTaskDef(t, s, webTaskDef)
	dep := deployService(t, s, "prod", "web", td2)

	check := func(when string) {
		t.Helper()
		live := liveTasks(t, s, "prod", "")
		if len(live) > 8 {
			t.Fatalf("%s: %d tasks, more than maximumPercent allows (8)", when, len(live))
		}
		if n := countRunning(live); n < 2 {
			t.Fatalf("%s: %d running tasks, fewer than minimumHealthyPercent allows (2)", when, n)
		}
	}
	pass(t, s)
	check("first step")
	if n, o := len(liveTasks(t, s, "prod", dep)), len(liveTasks(t, s, "prod", old)); n != 4 || o != 2 {
		t.Fatalf("first step: %d new and %d old tasks, want 4 and 2", n, o)
	}
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("the deployment did not complete in 10 steps")
		}
		agentCatchUp(t, s, "prod")
		check("agents caught up")
		pass(t, s)
		check("step")
		rec := getService(t, s, "prod", "web")
		if len(rec.Service.Deployments) == 1 && aws.ToString(rec.Service.Deployments[0].RolloutState) == rolloutCompleted {
			if id := aws.ToString(rec.Service.Deployments[0].Id); id != dep {
				t.Fatalf("deployment %s left, want %s", id, dep)
			}
			break
		}
	}
	if n, o := len(liveTasks(t, s, "prod", dep)), len(liveTasks(t, s, "prod", old)); n != 4 || o != 0 {
		t.Fatalf("at the end %d new and %d old tasks, want 4 and 0", n, o)
	}
}

// TestServiceRolloutCountsStoppingTasks: a task the controller told to stop
// counts toward maximumPercent until its agent says it stopped, unless its
// agent is gone (it may never say so).
func TestServiceRolloutCountsStoppingTasks(t *testing.T) {
	s, td1 := newServiceCluster(t)
	registerInstance(t, s, "prod", 4096, 8192)
	old := putService(t, s, "prod", "web", td1, 4, 75, 125) // at most 5 tasks, at least 3 RUNNING
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	dep := deployService(t, s, "prod", "web", registerTaskDef(t, s, webTaskDef))

	pass(t, s) // starts 1 new task and stops 1 old one
	if n, o := len(liveTasks(t, s, "prod", dep)), len(liveTasks(t, s, "prod", old)); n != 1 || o != 3 {
		t.Fatalf("first step: %d new and %d old tasks, want 1 and 3", n, o)
	}
	var stopping ecstypes.Task
	for _, arn := range listTaskArns(t, s, &ecstypes.ListTasksRequest{Cluster: aws.String("prod"), StartedBy: aws.String(old), DesiredStatus: aws.String("STOPPED")}) {
		stopping = describeTask(t, s, "prod", arn)
	}
	if aws.ToString(stopping.LastStatus) != "RUNNING" {
		t.Fatalf("the stopped old task is %s, want RUNNING until its agent stops it", aws.ToString(stopping.LastStatus))
	}
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", dep)); n != 1 {
		t.Fatalf("a pass while the old task is stopping: %d new tasks, want 1 (5 tasks are RUNNING or PENDING)", n)
	}

	disconnectAgent(t, s, aws.ToString(stopping.ContainerInstanceArn))
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", dep)); n != 2 {
		t.Fatalf("a pass once the stopping task's agent is gone: %d new tasks, want 2", n)
	}
}

// A deployment whose last tasks a pass told to stop stays in deployments[]
// until they have stopped, so that maximumPercent still counts them: at
// 0/100 the new deployment's task starts only once the old one is STOPPED.
func TestServiceKeepsStoppingDeployment(t *testing.T) {
	s, td1 := newServiceCluster(t)
	old := putService(t, s, "prod", "web", td1, 1, 0, 100)
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	dep := deployService(t, s, "prod", "web", registerTaskDef(t, s, webTaskDef))

	pass(t, s) // stops the old task: nothing may start while it runs
	ids := func() []string {
		var out []string
		for _, d := range getService(t, s, "prod", "web").Service.Deployments {
			out = append(out, aws.ToString(d.Id))
		}
		return out
	}
	for range 2 {
		if n, o := len(liveTasks(t, s, "prod", dep)), len(liveTasks(t, s, "prod", old)); n != 0 || o != 0 {
			t.Fatalf("while the old task stops: %d new and %d old live tasks, want none", n, o)
		}
		if got := ids(); !slices.Contains(got, old) {
			t.Fatalf("deployments %v while the old one's task is stopping, want it kept", got)
		}
		pass(t, s)
	}
	agentCatchUp(t, s, "prod") // the old task STOPPED
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", dep)); n != 1 {
		t.Fatalf("once the old task stopped: %d new tasks, want 1", n)
	}
	if got := ids(); slices.Contains(got, old) {
		t.Fatalf("deployments %v once the old one's task stopped, want it gone", got)
	}
}

func TestServiceDeploymentCannotProceed(t *testing.T) {
	s, td1 := newServiceCluster(t)
	putService(t, s, "prod", "web", td1, 2, 100, 100)
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	deployService(t, s, "prod", "web", registerTaskDef(t, s, webTaskDef))

	const stuck = "(service web) was unable to stop or start tasks during a deployment because of the service deployment configuration. " +
		"Update the minimumHealthyPercent or maximumPercent value and try again."
	for range 2 {
		pass(t, s)
	}
	rec := getService(t, s, "prod", "web")
	ev := eventMessages(rec)
	if ev[0] != stuck || ev[1] == stuck {
		t.Fatalf("events %q, want the stuck event once", ev[:2])
	}
	if n := len(liveTasks(t, s, "prod", "")); n != 2 {
		t.Fatalf("%d tasks, want the 2 old ones", n)
	}
}

func TestServicePlacementFailureEvent(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	td := registerTaskDef(t, s, webTaskDef)
	putService(t, s, "prod", "web", td, 2, 100, 200)
	for range 2 {
		pass(t, s)
	}
	ev := eventMessages(getService(t, s, "prod", "web"))
	want := "(service web) was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster."
	if len(ev) != 1 || ev[0] != want {
		t.Fatalf("events %q, want %q once", ev, want)
	}

	// Too little room: Berth's explanation is the reason.
	registerInstance(t, s, "prod", 256, 512)
	pass(t, s)
	ev = eventMessages(getService(t, s, "prod", "web"))
	if !strings.HasPrefix(ev[0], "(service web) was unable to place a task because no container instance met all of its requirements. Reason: ") ||
		!strings.HasPrefix(ev[1], "(service web) has started 1 tasks:") {
		t.Fatalf("events %q", ev)
	}
}

func TestServiceDeleteDrains(t *testing.T) {
	s, td := newServiceCluster(t)
	putService(t, s, "prod", "web", td, 2, 100, 200)
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)

	editService(t, s, "prod", "web", func(rec *serviceRecord) {
		rec.Deleted = true
		rec.Service.Status = aws.String("DRAINING")
		rec.Service.DesiredCount = aws.Int32(0)
	})
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", "")); n != 0 {
		t.Fatalf("%d tasks left after a pass, want 0", n)
	}
	if st := aws.ToString(getService(t, s, "prod", "web").Service.Status); st != "DRAINING" {
		t.Fatalf("status %s while its tasks stop, want DRAINING", st)
	}
	agentCatchUp(t, s, "prod")
	pass(t, s)
	rec := getService(t, s, "prod", "web")
	if st := aws.ToString(rec.Service.Status); st != "INACTIVE" || aws.ToInt32(rec.Service.DesiredCount) != 0 {
		t.Fatalf("status %s desired %d, want INACTIVE and 0", st, aws.ToInt32(rec.Service.DesiredCount))
	}
}

// A new controller (a restart, a new leader) on the same store picks up
// where the last one was: no extra tasks.
func TestServiceControllerRestart(t *testing.T) {
	s, td := newServiceCluster(t)
	dep := putService(t, s, "prod", "web", td, 3, 100, 200)
	pass(t, s)
	s.Close()

	s2 := New(Config{Store: s.st, Region: testRegion, AccountID: testAccount, AdvertiseURL: "http://127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return testNow }, Rand: func(int) int { return 0 }})
	t.Cleanup(s2.Close)
	pass(t, s2)
	if n := len(liveTasks(t, s2, "prod", dep)); n != 3 {
		t.Fatalf("after a restart %d tasks, want 3", n)
	}

	// The running loop takes the service to its steady state.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s2.RunServiceController(ctx)
	}()
	defer func() { cancel(); <-done }()
	agentCatchUp(t, s2, "prod")
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := getService(t, s2, "prod", "web")
		if ev := eventMessages(rec); len(ev) > 0 && ev[0] == "(service web) has reached a steady state." {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no steady state in 10s: events %q", eventMessages(rec))
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
	if n := len(liveTasks(t, s2, "prod", dep)); n != 3 {
		t.Fatalf("at steady state %d tasks, want 3", n)
	}
}

// hcTaskDef has an essential container with a health check.
const hcTaskDef = `{"family":"hc","containerDefinitions":[
	{"name":"app","image":"nginx","cpu":256,"memory":512,
	 "healthCheck":{"command":["CMD-SHELL","true"]}}]}`

func setHealth(t *testing.T, s *Service, cluster, taskArn, status string) {
	t.Helper()
	if err := s.ApplyHealth(t.Context(), cluster, TaskHealth{TaskArn: taskArn, Containers: []ContainerHealth{{Name: "app", Status: status}}}); err != nil {
		t.Fatalf("ApplyHealth(%s, %s): %v", idFromARN(taskArn), status, err)
	}
}

func TestServiceWaitsForHealthAndReplacesUnhealthy(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 8192)
	td := registerTaskDef(t, s, hcTaskDef)
	dep := putService(t, s, "prod", "web", td, 2, 100, 200)
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	rec := getService(t, s, "prod", "web")
	if st := aws.ToString(rec.Service.Deployments[0].RolloutState); st != rolloutInProgress {
		t.Fatalf("rollout %s before the health checks pass, want IN_PROGRESS", st)
	}
	tasks := liveTasks(t, s, "prod", dep)
	for _, task := range tasks {
		setHealth(t, s, "prod", aws.ToString(task.TaskArn), "HEALTHY")
	}
	pass(t, s)
	if st := aws.ToString(getService(t, s, "prod", "web").Service.Deployments[0].RolloutState); st != rolloutCompleted {
		t.Fatalf("rollout %s once healthy, want COMPLETED", st)
	}

	// Within the grace period an unhealthy task is left alone.
	sick := aws.ToString(tasks[0].TaskArn)
	editService(t, s, "prod", "web", func(rec *serviceRecord) { rec.Service.HealthCheckGracePeriodSeconds = aws.Int32(60) })
	setHealth(t, s, "prod", sick, "UNHEALTHY")
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", dep)); n != 2 {
		t.Fatalf("%d tasks within the grace period, want 2", n)
	}
	// After it, the replacement starts first, then the unhealthy task stops.
	editService(t, s, "prod", "web", func(rec *serviceRecord) { rec.Service.HealthCheckGracePeriodSeconds = nil })
	pass(t, s)
	live := liveTasks(t, s, "prod", dep)
	if len(live) != 3 {
		t.Fatalf("%d tasks, want 3 (the replacement started before the unhealthy one stops)", len(live))
	}
	agentCatchUp(t, s, "prod")
	for _, task := range live {
		if arn := aws.ToString(task.TaskArn); arn != sick {
			setHealth(t, s, "prod", arn, "HEALTHY")
		}
	}
	pass(t, s)
	live = liveTasks(t, s, "prod", dep)
	if len(live) != 2 || slices.ContainsFunc(live, func(task ecstypes.Task) bool { return aws.ToString(task.TaskArn) == sick }) {
		t.Fatalf("%d tasks, want 2 without the unhealthy one", len(live))
	}
}

// movingClock is a clock a test advances.
type movingClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *movingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *movingClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestServiceBacksOffTasksThatFailToStart(t *testing.T) {
	clock := &movingClock{now: testNow}
	s := New(Config{Store: storetest.New(t), Region: testRegion, AccountID: testAccount, AdvertiseURL: "http://127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler), Now: clock.Now, Rand: func(int) int { return 0 }})
	t.Cleanup(s.Close)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 8192)
	dep := putService(t, s, "prod", "web", registerTaskDef(t, s, webTaskDef), 1, 100, 200)
	for i := range startRetryAfter {
		pass(t, s)
		live := liveTasks(t, s, "prod", dep)
		if len(live) != 1 {
			t.Fatalf("attempt %d: %d tasks, want 1", i, len(live))
		}
		reportTask(t, s, "prod", aws.ToString(live[0].TaskArn), "STOPPED", "CannotPullContainerError: pull access denied")
		clock.Advance(time.Second)
	}
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", dep)); n != 0 {
		t.Fatalf("%d tasks started right after %d failures, want none", n, startRetryAfter)
	}
	rec := getService(t, s, "prod", "web")
	if ev := eventMessages(rec); ev[0] != "(service web) is unable to consistently start tasks successfully." {
		t.Fatalf("newest event %q", ev[0])
	}
	if n := aws.ToInt32(rec.Service.Deployments[0].FailedTasks); n != int32(startRetryAfter) {
		t.Fatalf("failedTasks %d, want %d", n, startRetryAfter)
	}
	clock.Advance(startRetryBase)
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", dep)); n != 1 {
		t.Fatalf("%d tasks after the retry delay, want 1", n)
	}
}

// RunControllers runs each known region's service controller.
func TestRunControllersRunsServiceControllers(t *testing.T) {
	r := NewRegions(RegionsConfig{Template: Config{
		Store: storetest.NewWith(t, storetest.Options{Namespace: "/berth"}), Region: "us-east-1", AccountID: testAccount,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return testNow }, Rand: func(int) int { return 0 },
	}})
	t.Cleanup(r.Close)
	s, err := r.Get(t.Context(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 8192)
	dep := putService(t, s, "prod", "web", registerTaskDef(t, s, webTaskDef), 2, 100, 200)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.RunControllers(ctx, time.Hour)
	}()
	defer func() { cancel(); <-done }()
	waitLive := func(s *Service, dep string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(liveTasks(t, s, "prod", dep)) != 2 {
			if time.Now().After(deadline) {
				t.Fatal("the service's tasks did not start in 10s")
			}
			select {
			case <-time.After(20 * time.Millisecond):
			case <-t.Context().Done():
				t.Fatal(t.Context().Err())
			}
		}
	}
	waitLive(s, dep)

	// A region first used while the controllers run gets its service
	// controller at once, not at the next hourly tick.
	s2, err := r.Get(t.Context(), "ap-south-1")
	if err != nil {
		t.Fatal(err)
	}
	createCluster(t, s2, "prod")
	registerInstance(t, s2, "prod", 4096, 8192)
	waitLive(s2, putService(t, s2, "prod", "web", registerTaskDef(t, s2, webTaskDef), 2, 100, 200))
}

// A service's tasks carry the service's tags when propagateTags is SERVICE.
func TestServicePropagatesItsTags(t *testing.T) {
	s, td := newServiceCluster(t)
	dep := putService(t, s, "prod", "web", td, 1, 100, 200, func(svc *ecstypes.Service) {
		svc.PropagateTags = aws.String(ecstypes.PropagateTagsSERVICE)
		svc.Tags = []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("web")}}
	})
	pass(t, s)
	live := liveTasks(t, s, "prod", dep)
	if len(live) != 1 {
		t.Fatalf("%d tasks, want 1", len(live))
	}
	task := describeTask(t, s, "prod", aws.ToString(live[0].TaskArn))
	if len(task.Tags) != 1 || aws.ToString(task.Tags[0].Key) != "team" || aws.ToString(task.Tags[0].Value) != "web" {
		t.Fatalf("task tags %+v, want the service's team=web", task.Tags)
	}
}
