package ecs

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// createDaemon creates a DAEMON service of taskDef through the API.
func createDaemon(t *testing.T, s *Service, name, taskDef string, edit ...func(*ecstypes.CreateServiceRequest)) ecstypes.Service {
	t.Helper()
	in := &ecstypes.CreateServiceRequest{
		Cluster: aws.String("prod"), ServiceName: aws.String(name), TaskDefinition: aws.String(taskDef),
		SchedulingStrategy: aws.String("DAEMON"),
	}
	for _, e := range edit {
		e(in)
	}
	out, err := s.CreateService(t.Context(), in)
	if err != nil {
		t.Fatalf("CreateService(%s): %v", name, err)
	}
	return *out.Service
}

// daemonTasksOn is the live tasks of a service by instance ARN.
func daemonTasksOn(t *testing.T, s *Service, name string) map[string][]ecstypes.Task {
	t.Helper()
	out := map[string][]ecstypes.Task{}
	for _, task := range liveTasks(t, s, "prod", "") {
		if aws.ToString(task.Group) == serviceGroup(name) {
			arn := aws.ToString(task.ContainerInstanceArn)
			out[arn] = append(out[arn], task)
		}
	}
	return out
}

// wantOneEach fails unless the service has exactly one live task on each
// of the instances and none elsewhere.
func wantOneEach(t *testing.T, s *Service, name string, instances ...string) map[string][]ecstypes.Task {
	t.Helper()
	on := daemonTasksOn(t, s, name)
	for _, arn := range instances {
		if len(on[arn]) != 1 {
			t.Fatalf("%d tasks on %s, want 1 (all: %d instances)", len(on[arn]), arn, len(on))
		}
	}
	if len(on) != len(instances) {
		t.Fatalf("tasks on %d instances, want %d", len(on), len(instances))
	}
	return on
}

func TestDaemonOneTaskPerInstance(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	a := registerInstance(t, s, "prod", 4096, 8192)
	b := registerInstance(t, s, "prod", 4096, 8192)
	c := registerInstance(t, s, "prod", 4096, 8192)
	td := registerTaskDef(t, s, webTaskDef)
	svc := createDaemon(t, s, "agent", td)
	dep := aws.ToString(svc.Deployments[0].Id)

	pass(t, s)
	on := wantOneEach(t, s, "agent", a, b, c)
	for _, ts := range on {
		if g, by := aws.ToString(ts[0].Group), aws.ToString(ts[0].StartedBy); g != "service:agent" || by != dep {
			t.Fatalf("task group %q startedBy %q", g, by)
		}
	}
	agentCatchUp(t, s, "prod")
	pass(t, s)
	pass(t, s)
	wantOneEach(t, s, "agent", a, b, c)
	rec := getService(t, s, "prod", "agent")
	if d, r := aws.ToInt32(rec.Service.DesiredCount), aws.ToInt32(rec.Service.RunningCount); d != 3 || r != 3 {
		t.Fatalf("desired %d running %d, want 3 and 3", d, r)
	}
	if st := aws.ToString(rec.Service.Deployments[0].RolloutState); st != rolloutCompleted {
		t.Fatalf("rollout state %s", st)
	}
	if ev := eventMessages(rec); ev[0] != "(service agent) has reached a steady state." {
		t.Fatalf("events %q", ev)
	}

	// A fourth instance joins and gets one; the others keep theirs.
	d := registerInstance(t, s, "prod", 4096, 8192)
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	after := wantOneEach(t, s, "agent", a, b, c, d)
	for _, arn := range []string{a, b, c} {
		if aws.ToString(after[arn][0].TaskArn) != aws.ToString(on[arn][0].TaskArn) {
			t.Fatalf("the task on %s was replaced", arn)
		}
	}
	rec = getService(t, s, "prod", "agent")
	if d, r := aws.ToInt32(rec.Service.DesiredCount), aws.ToInt32(rec.Service.RunningCount); d != 4 || r != 4 {
		t.Fatalf("desired %d running %d, want 4 and 4", d, r)
	}

	// A task that stops is replaced on its instance.
	reportTask(t, s, "prod", aws.ToString(after[b][0].TaskArn), "STOPPED", "Essential container in task exited")
	pass(t, s)
	if again := wantOneEach(t, s, "agent", a, b, c, d); aws.ToString(again[b][0].TaskArn) == aws.ToString(after[b][0].TaskArn) {
		t.Fatal("the stopped task was not replaced")
	}

	// A deregistered instance's task goes; the service is deleted without force.
	if _, err := s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(d), Force: aws.Bool(true),
	}); err != nil {
		t.Fatalf("DeregisterContainerInstance: %v", err)
	}
	pass(t, s)
	wantOneEach(t, s, "agent", a, b, c)
	if got := aws.ToInt32(getService(t, s, "prod", "agent").Service.DesiredCount); got != 3 {
		t.Fatalf("desired %d after deregistering, want 3", got)
	}
	if _, err := s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String("agent")}); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	if on := daemonTasksOn(t, s, "agent"); len(on) != 0 {
		t.Fatalf("tasks left on %d instances after delete", len(on))
	}
	if st := aws.ToString(getService(t, s, "prod", "agent").Service.Status); st != "INACTIVE" {
		t.Fatalf("status %s after delete", st)
	}
}

func TestDaemonPlacementConstraints(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	edge := ecstypes.Attribute{Name: aws.String("role"), Value: aws.String("edge")}
	a := registerInstance(t, s, "prod", 4096, 8192, edge)
	b := registerInstance(t, s, "prod", 4096, 8192, edge)
	c := registerInstance(t, s, "prod", 4096, 8192)
	td := registerTaskDef(t, s, webTaskDef)
	createDaemon(t, s, "agent", td, func(r *ecstypes.CreateServiceRequest) {
		r.PlacementConstraints = []ecstypes.PlacementConstraint{{Type: aws.String("memberOf"), Expression: aws.String("attribute:role == edge")}}
	})
	pass(t, s)
	wantOneEach(t, s, "agent", a, b)
	if got := aws.ToInt32(getService(t, s, "prod", "agent").Service.DesiredCount); got != 2 {
		t.Fatalf("desired %d, want 2", got)
	}

	// c becomes eligible, b no longer: c gets one, b's stops.
	put := func(arn, value string) {
		t.Helper()
		if _, err := s.PutAttributes(t.Context(), &ecstypes.PutAttributesRequest{Cluster: aws.String("prod"),
			Attributes: []ecstypes.Attribute{{Name: aws.String("role"), Value: aws.String(value), TargetId: aws.String(arn)}}}); err != nil {
			t.Fatalf("PutAttributes: %v", err)
		}
	}
	put(c, "edge")
	put(b, "core")
	pass(t, s)
	wantOneEach(t, s, "agent", a, c)
}

// A DRAINING instance's daemon task stops only once the other service's
// tasks on it have stopped.
func TestDaemonDrainStopsLast(t *testing.T) {
	s, a, b, _ := drainCluster(t, 2, 50, 200) // service web: one task on a, one on b
	td := registerTaskDef(t, s, webTaskDef)
	createDaemon(t, s, "agent", td)
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	wantOneEach(t, s, "agent", a, b)

	setInstanceState(t, s, a, "DRAINING")
	for i := 0; ; i++ {
		pass(t, s)
		webOn := 0
		for _, task := range liveTasks(t, s, "prod", "") {
			if aws.ToString(task.Group) == "service:web" && aws.ToString(task.ContainerInstanceArn) == a {
				webOn++
			}
		}
		left := false
		for _, task := range describeTasksOn(t, s, a) {
			if aws.ToString(task.Group) == "service:web" && aws.ToString(task.LastStatus) != "STOPPED" {
				left = true
			}
		}
		daemon := daemonTasksOn(t, s, "agent")
		if left && len(daemon[a]) != 1 {
			t.Fatalf("pass %d: the daemon task on a stopped while web's task is still there", i)
		}
		if !left && webOn == 0 && len(daemon[a]) == 0 {
			break
		}
		if i == 10 {
			t.Fatalf("the drain did not finish: web on a %d, daemon on a %d", webOn, len(daemon[a]))
		}
		agentCatchUp(t, s, "prod")
	}
	wantOneEach(t, s, "agent", b)
	if got := aws.ToInt32(getService(t, s, "prod", "agent").Service.DesiredCount); got != 1 {
		t.Fatalf("desired %d, want 1", got)
	}
}

// describeTasksOn is every task the instance has, stopped ones included.
func describeTasksOn(t *testing.T, s *Service, instance string) []ecstypes.Task {
	t.Helper()
	var out []ecstypes.Task
	for _, desired := range []string{"RUNNING", "STOPPED"} {
		arns := listTaskArns(t, s, &ecstypes.ListTasksRequest{Cluster: aws.String("prod"), ContainerInstance: aws.String(instance), DesiredStatus: aws.String(desired)})
		for _, arn := range arns {
			out = append(out, describeTask(t, s, "prod", arn))
		}
	}
	return out
}

// A new task definition rolls out instance by instance under min 50 /
// max 100 on three instances: never more than 3 tasks, never fewer than 2
// RUNNING, the old task stopping before the new one starts.
func TestDaemonRollout(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	insts := []string{registerInstance(t, s, "prod", 4096, 8192), registerInstance(t, s, "prod", 4096, 8192), registerInstance(t, s, "prod", 4096, 8192)}
	td1 := registerTaskDef(t, s, webTaskDef)
	svc := createDaemon(t, s, "agent", td1, func(r *ecstypes.CreateServiceRequest) {
		r.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(50)}
	})
	if dc := svc.DeploymentConfiguration; aws.ToInt32(dc.MaximumPercent) != 100 || aws.ToInt32(dc.MinimumHealthyPercent) != 50 {
		t.Fatalf("deployment configuration %+v", dc)
	}
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	wantOneEach(t, s, "agent", insts...)

	td2 := registerTaskDef(t, s, webTaskDef)
	up, err := s.UpdateService(t.Context(), &ecstypes.UpdateServiceRequest{Cluster: aws.String("prod"), Service: aws.String("agent"), TaskDefinition: aws.String(td2)})
	if err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	dep := aws.ToString(up.Service.Deployments[0].Id)
	replaced := 0
	for i := 0; ; i++ {
		pass(t, s)
		live := liveTasks(t, s, "prod", "")
		if len(live) > 3 {
			t.Fatalf("pass %d: %d tasks, more than maximumPercent allows", i, len(live))
		}
		if n := countRunning(live); n < 2 {
			t.Fatalf("pass %d: %d RUNNING, fewer than minimumHealthyPercent allows", i, n)
		}
		stopping := 0
		for _, task := range live {
			if aws.ToString(task.StartedBy) != dep && aws.ToString(task.DesiredStatus) == "STOPPED" {
				stopping++
			}
		}
		newOnes := len(liveTasks(t, s, "prod", dep))
		if newOnes > replaced+1 {
			t.Fatalf("pass %d: %d new tasks at once", i, newOnes-replaced)
		}
		replaced = newOnes
		rec := getService(t, s, "prod", "agent")
		if aws.ToString(rec.Service.Deployments[0].RolloutState) == rolloutCompleted {
			break
		}
		if i == 20 {
			t.Fatalf("the rollout did not finish: %d new tasks", newOnes)
		}
		agentCatchUp(t, s, "prod")
	}
	on := wantOneEach(t, s, "agent", insts...)
	for _, ts := range on {
		if aws.ToString(ts[0].StartedBy) != dep || aws.ToString(ts[0].TaskDefinitionArn) != td2 {
			t.Fatalf("task %s of %s after the rollout", aws.ToString(ts[0].TaskArn), aws.ToString(ts[0].TaskDefinitionArn))
		}
	}
	if rec := getService(t, s, "prod", "agent"); len(rec.Service.Deployments) != 1 {
		t.Fatalf("%d deployments after the rollout", len(rec.Service.Deployments))
	}
}

func TestDaemonPlan(t *testing.T) {
	task := func(id, dep string, healthy bool) daemonTask {
		st := "PENDING"
		if healthy {
			st = "RUNNING"
		}
		return daemonTask{rolloutTask: rolloutTask{ID: id, Healthy: healthy, Pending: !healthy}, deployment: dep, status: st}
	}
	// max 100 / min 0: every old task may stop at once.
	step := planDaemon(daemonInput{Primary: "new", MaxPercent: 100, Instances: []daemonInstance{
		{ID: "a", Eligible: true, Tasks: []daemonTask{task("t1", "old", true)}},
		{ID: "b", Eligible: true, Tasks: []daemonTask{task("t2", "old", true)}},
	}})
	if strings.Join(step.Stop, ",") != "t1,t2" || len(step.Start) != 0 || step.Desired != 2 {
		t.Fatalf("min 0: %+v", step)
	}
	// max 200: the new task starts first, the old stops once it is healthy.
	step = planDaemon(daemonInput{Primary: "new", MinPercent: 100, MaxPercent: 200, Instances: []daemonInstance{
		{ID: "a", Eligible: true, Tasks: []daemonTask{task("t1", "old", true)}},
	}})
	if strings.Join(step.Start, ",") != "a" || len(step.Stop) != 0 {
		t.Fatalf("max 200: %+v", step)
	}
	step = planDaemon(daemonInput{Primary: "new", MinPercent: 100, MaxPercent: 200, Instances: []daemonInstance{
		{ID: "a", Eligible: true, Tasks: []daemonTask{task("t1", "old", true), task("t2", "new", true)}},
	}})
	if strings.Join(step.Stop, ",") != "t1" || len(step.Start) != 0 {
		t.Fatalf("max 200, new healthy: %+v", step)
	}
	// min 100 / max 100: no step is possible.
	step = planDaemon(daemonInput{Primary: "new", MinPercent: 100, MaxPercent: 100, Instances: []daemonInstance{
		{ID: "a", Eligible: true, Tasks: []daemonTask{task("t1", "old", true)}},
	}})
	if !step.Blocked || len(step.Start)+len(step.Stop) != 0 {
		t.Fatalf("min 100 max 100: %+v", step)
	}
	// A draining instance keeps its task while others are there; a
	// duplicate on an eligible instance goes.
	step = planDaemon(daemonInput{Primary: "new", MaxPercent: 100, Instances: []daemonInstance{
		{ID: "a", Draining: true, Others: 1, Tasks: []daemonTask{task("t1", "new", true)}},
		{ID: "b", Eligible: true, Tasks: []daemonTask{task("t2", "new", true), task("t3", "new", false)}},
		{ID: "c", Draining: true, Tasks: []daemonTask{task("t4", "new", true)}},
	}})
	if strings.Join(step.Stop, ",") != "t4,t3" || len(step.Start) != 0 || step.Desired != 1 {
		t.Fatalf("drain and duplicates: %+v", step)
	}
}

func TestDaemonAPIValidation(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	td := registerTaskDef(t, s, webTaskDef)
	tests := []struct {
		name string
		edit func(*ecstypes.CreateServiceRequest)
		msg  string
	}{
		{"desired count", func(r *ecstypes.CreateServiceRequest) { r.DesiredCount = aws.Int32(0) },
			"The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again"},
		{"placement strategy", func(r *ecstypes.CreateServiceRequest) {
			r.PlacementStrategy = []ecstypes.PlacementStrategy{{Type: aws.String("random")}}
		}, "The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again"},
	}
	for _, tc := range tests {
		in := &ecstypes.CreateServiceRequest{Cluster: aws.String("prod"), ServiceName: aws.String("agent"),
			TaskDefinition: aws.String(td), SchedulingStrategy: aws.String("DAEMON")}
		tc.edit(in)
		_, err := s.CreateService(t.Context(), in)
		if e, ok := awserr.As(err); !ok || e.Code != awserr.CodeInvalidParameter || e.Message != tc.msg {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	svc := createDaemon(t, s, "agent", td, func(r *ecstypes.CreateServiceRequest) {
		r.PlacementConstraints = []ecstypes.PlacementConstraint{{Type: aws.String("memberOf"), Expression: aws.String("attribute:ecs.os-type == linux")}}
	})
	dc := svc.DeploymentConfiguration
	if aws.ToString(svc.SchedulingStrategy) != "DAEMON" || aws.ToInt32(dc.MaximumPercent) != 100 || aws.ToInt32(dc.MinimumHealthyPercent) != 0 {
		t.Fatalf("service %s max %d min %d", aws.ToString(svc.SchedulingStrategy), aws.ToInt32(dc.MaximumPercent), aws.ToInt32(dc.MinimumHealthyPercent))
	}
	list, err := s.ListServices(t.Context(), &ecstypes.ListServicesRequest{Cluster: aws.String("prod"), SchedulingStrategy: aws.String("DAEMON")})
	if err != nil || len(list.ServiceArns) != 1 {
		t.Fatalf("ListServices DAEMON: %v %v", list, err)
	}
	for name, up := range map[string]*ecstypes.UpdateServiceRequest{
		"desired count":      {DesiredCount: aws.Int32(2)},
		"placement strategy": {PlacementStrategy: []ecstypes.PlacementStrategy{{Type: aws.String("random")}}},
	} {
		up.Cluster, up.Service = aws.String("prod"), aws.String("agent")
		if _, err := s.UpdateService(t.Context(), up); err == nil || !strings.Contains(err.Error(), "daemon scheduling strategy does not support") {
			t.Errorf("UpdateService %s: %v", name, err)
		}
	}
}

// An attribute change can make an instance eligible: it wakes the controller.
func TestServiceInstanceAttributesWakeController(t *testing.T) {
	s, _ := newServiceCluster(t)
	arn := registerInstance(t, s, "prod", 1024, 1024)
	if _, err := s.freshModel(t.Context(), instancesPart); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.svcKick:
	default:
	}
	if _, err := s.PutAttributes(t.Context(), &ecstypes.PutAttributesRequest{Cluster: aws.String("prod"),
		Attributes: []ecstypes.Attribute{{Name: aws.String("role"), Value: aws.String("edge"), TargetId: aws.String(arn)}}}); err != nil {
		t.Fatalf("PutAttributes: %v", err)
	}
	select {
	case <-s.svcKick:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up in 5s after an attribute change")
	}
}
