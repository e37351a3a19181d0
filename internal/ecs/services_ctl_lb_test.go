package ecs

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/lbtarget"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

// fakeLB is Elastic Load Balancing as the service controller sees it:
// groups, and targets whose health the test sets.
type fakeLB struct {
	mu      sync.Mutex
	groups  map[string]lbtarget.Group
	targets map[string]map[string]*fakeTarget // group -> key -> target
}

type fakeTarget struct {
	status lbtarget.Status
	owner  string
}

func newFakeLB(groups ...lbtarget.Group) *fakeLB {
	f := &fakeLB{groups: map[string]lbtarget.Group{}, targets: map[string]map[string]*fakeTarget{}}
	for _, g := range groups {
		f.groups[g.ARN] = g
		f.targets[g.ARN] = map[string]*fakeTarget{}
	}
	return f
}

func (f *fakeLB) TargetGroup(_ context.Context, _, arn string) (lbtarget.Group, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[arn]
	if !ok {
		return lbtarget.Group{}, lbtarget.ErrTargetGroupNotFound
	}
	return g, nil
}

func (f *fakeLB) RegisterTargets(_ context.Context, _, group, owner string, ts []lbtarget.Target) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range ts {
		f.targets[group][t.Key()] = &fakeTarget{owner: owner, status: lbtarget.Status{Target: t, State: lbtarget.StateInitial}}
	}
	return nil
}

func (f *fakeLB) DeregisterTargets(_ context.Context, _, group string, ts []lbtarget.Target) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range ts {
		if ft, ok := f.targets[group][t.Key()]; ok {
			ft.status.State = lbtarget.StateDraining
		}
	}
	return nil
}

func (f *fakeLB) OwnedTargets(_ context.Context, _, group, owner string) ([]lbtarget.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []lbtarget.Status
	for _, ft := range f.targets[group] {
		if ft.owner == owner {
			out = append(out, ft.status)
		}
	}
	return out, nil
}

// set sets every target's state in the group that is in state from.
func (f *fakeLB) set(group, from, to string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ft := range f.targets[group] {
		if ft.status.State == from {
			ft.status.State = to
		}
	}
}

// drop removes the group's draining targets, as a finished drain does.
func (f *fakeLB) drop(group string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, ft := range f.targets[group] {
		if ft.status.State == lbtarget.StateDraining {
			delete(f.targets[group], k)
		}
	}
}

// snapshot is the group's targets as "key state address", sorted.
func (f *fakeLB) snapshot(group string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k, ft := range f.targets[group] {
		out = append(out, k+" "+ft.status.State+" "+ft.status.Address)
	}
	slices.Sort(out)
	return out
}

const testTG = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef"

// dynTaskDef maps container port 80 to a dynamic host port.
const dynTaskDef = `{"family":"dyn","containerDefinitions":[
	{"name":"app","image":"nginx","cpu":128,"memory":128,"portMappings":[{"containerPort":80,"hostPort":0}]}]}`

func newLBService(t *testing.T, lb LoadBalancing) *Service {
	t.Helper()
	return New(Config{
		Store: storetest.New(t), Region: testRegion, AccountID: testAccount, AdvertiseURL: "http://127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return testNow }, Rand: func(int) int { return 0 },
		LoadBalancing: lb,
	})
}

// reportRunningOn reports a task RUNNING with its container's port 80
// bound to hostPort, as an agent does.
func reportRunningOn(t *testing.T, s *Service, cluster, taskArn string, hostPort int32) {
	t.Helper()
	_, err := s.SubmitTaskStateChange(t.Context(), &ecstypes.SubmitTaskStateChangeRequest{
		Cluster: aws.String(cluster), Task: aws.String(taskArn), Status: aws.String("RUNNING"),
		Containers: []ecstypes.ContainerStateChange{{ContainerName: aws.String("app"), Status: aws.String("RUNNING"),
			NetworkBindings: []ecstypes.NetworkBinding{{BindIP: aws.String("0.0.0.0"), ContainerPort: aws.Int32(80), HostPort: aws.Int32(hostPort), Protocol: aws.String("tcp")}}}},
	})
	if err != nil {
		t.Fatalf("SubmitTaskStateChange(%s RUNNING): %v", idFromARN(taskArn), err)
	}
}

func taskRecordOf(t *testing.T, s *Service, cluster, arn string) taskRecord {
	t.Helper()
	var rec taskRecord
	if err := s.st.View(t.Context(), func(tx *store.Tx) (err error) {
		rec, err = store.Get(tx, tasks, cluster+"/"+idFromARN(arn))
		return err
	}); err != nil {
		t.Fatalf("get task: %v", err)
	}
	return rec
}

// TestServiceLoadBalancerTargets follows a service behind a target group
// through registration, health-gated steady state, a scale-in that drains
// before it stops, and the replacement of a task its group calls unhealthy.
func TestServiceLoadBalancerTargets(t *testing.T) {
	lb := newFakeLB(lbtarget.Group{ARN: testTG, TargetType: "instance", Protocol: "HTTP", Port: 80,
		LoadBalancerARNs: []string{"arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0123456789abcdef"}, DeregistrationDelaySeconds: 30})
	s := newLBService(t, lb)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 4096, 8192)
	if err := s.st.Update(t.Context(), func(tx *store.Tx) error {
		store.Put(tx, agentSessions, idFromARN(inst), agentSession{InstanceArn: inst, Address: "10.0.0.7"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ec2ID := aws.ToString(describeInstance(t, s, "prod", inst).Ec2InstanceId)
	td := registerTaskDef(t, s, dynTaskDef)
	dep := putService(t, s, "prod", "web", td, 2, 50, 200, func(svc *ecstypes.Service) {
		svc.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(testTG), ContainerName: aws.String("app"), ContainerPort: aws.Int32(80)}}
	})

	pass(t, s)
	started := liveTasks(t, s, "prod", dep)
	if len(started) != 2 {
		t.Fatalf("%d tasks started, want 2", len(started))
	}
	for i, task := range started {
		reportRunningOn(t, s, "prod", aws.ToString(task.TaskArn), 32768+int32(i))
	}
	pass(t, s)
	want := []string{ec2ID + ":32768 initial 10.0.0.7", ec2ID + ":32769 initial 10.0.0.7"}
	if got := lb.snapshot(testTG); !slices.Equal(got, want) {
		t.Fatalf("targets %q, want %q", got, want)
	}
	rec := getService(t, s, "prod", "web")
	if st := aws.ToString(rec.Service.Deployments[0].RolloutState); st != rolloutInProgress {
		t.Fatalf("rollout %s before the targets are healthy, want %s", st, rolloutInProgress)
	}
	if ev := eventMessages(rec); !slices.Contains(ev, "(service web) registered 2 targets in (target-group "+testTG+")") {
		t.Fatalf("events %q", ev)
	}

	lb.set(testTG, lbtarget.StateInitial, lbtarget.StateHealthy)
	pass(t, s)
	if st := aws.ToString(getService(t, s, "prod", "web").Service.Deployments[0].RolloutState); st != rolloutCompleted {
		t.Fatalf("rollout %s with healthy targets, want %s", st, rolloutCompleted)
	}

	// Scale in: the task goes Deactivating, its target drains, and only
	// once the drain is over is its agent told to stop it.
	editService(t, s, "prod", "web", func(rec *serviceRecord) { rec.Service.DesiredCount = aws.Int32(1) })
	pass(t, s)
	var stopping ecstypes.Task
	for _, task := range started {
		if d := describeTask(t, s, "prod", aws.ToString(task.TaskArn)); aws.ToString(d.DesiredStatus) == "STOPPED" {
			stopping = d
		}
	}
	if aws.ToString(stopping.LastStatus) != "DEACTIVATING" {
		t.Fatalf("the stopped task is %s, want DEACTIVATING", aws.ToString(stopping.LastStatus))
	}
	rec2 := taskRecordOf(t, s, "prod", aws.ToString(stopping.TaskArn))
	if !rec2.Deactivating || agentDesired(aws.ToString(rec2.Task.DesiredStatus), rec2.Deactivating) != "RUNNING" {
		t.Fatalf("a deactivating task must still run on its agent: %+v", rec2.Deactivating)
	}
	pass(t, s) // deregisters the stopping task's target
	draining := 0
	for _, s := range lb.snapshot(testTG) {
		if strings.Contains(s, " draining ") {
			draining++
		}
	}
	if draining != 1 {
		t.Fatalf("targets %q, want one draining", lb.snapshot(testTG))
	}
	pass(t, s)
	if !taskRecordOf(t, s, "prod", aws.ToString(stopping.TaskArn)).Deactivating {
		t.Fatal("the task was let go while its target still drains")
	}
	lb.drop(testTG)
	pass(t, s)
	if rec := taskRecordOf(t, s, "prod", aws.ToString(stopping.TaskArn)); rec.Deactivating {
		t.Fatal("the task is still held after its target drained")
	}
	reportTask(t, s, "prod", aws.ToString(stopping.TaskArn), "STOPPED", "")

	// The group calls the last task unhealthy: it is replaced, and stops
	// with ECS's reason: the replacement starts first, then it stops.
	lb.set(testTG, lbtarget.StateHealthy, lbtarget.StateUnhealthy)
	pass(t, s)
	if n := len(liveTasks(t, s, "prod", dep)); n != 2 {
		t.Fatalf("%d live tasks after the first pass, want 2 (the unhealthy one and its replacement)", n)
	}
	pass(t, s)
	var failed ecstypes.Task
	for _, task := range started {
		if d := describeTask(t, s, "prod", aws.ToString(task.TaskArn)); d.StoppedReason != nil && aws.ToString(d.TaskArn) != aws.ToString(stopping.TaskArn) {
			failed = d
		}
	}
	if got, want := aws.ToString(failed.StoppedReason), "Task failed ELB health checks in (target-group "+testTG+")"; got != want {
		t.Fatalf("stoppedReason %q, want %q", got, want)
	}
	if n := len(liveTasks(t, s, "prod", dep)); n != 1 {
		t.Fatalf("%d live tasks after the replacement, want 1 (the replacement)", n)
	}
}

// TestCreateServiceChecksTargetGroups: CreateService refuses a target
// group ELB does not have, one without a load balancer, and one whose
// target type does not fit the network mode; nothing is written.
func TestCreateServiceChecksTargetGroups(t *testing.T) {
	const lone = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/lone/0123456789abcdee"
	const ipTG = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/ip/0123456789abcded"
	lbs := []string{"arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0123456789abcdef"}
	lb := newFakeLB(lbtarget.Group{ARN: lone, TargetType: "instance"}, lbtarget.Group{ARN: ipTG, TargetType: "ip", LoadBalancerARNs: lbs})
	s := newLBService(t, lb)
	createCluster(t, s, "prod")
	registerTaskDef(t, s, dynTaskDef)
	tests := []struct{ tg, msg string }{
		{testTG, "Unable to find the target group " + testTG + "."},
		{lone, "The target group with targetGroupArn " + lone + " does not have an associated load balancer."},
		{ipTG, "The provided target group " + ipTG + " has target type ip, which is incompatible with the bridge network mode specified in the task definition."},
	}
	for _, tc := range tests {
		_, err := s.CreateService(t.Context(), &ecstypes.CreateServiceRequest{
			Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String("dyn"), DesiredCount: aws.Int32(1),
			LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tc.tg), ContainerName: aws.String("app"), ContainerPort: aws.Int32(80)}},
		})
		e, _ := awserr.Normalize(err)
		if err == nil || e.Code != awserr.CodeInvalidParameter || e.Message != tc.msg {
			t.Errorf("CreateService with %s: %v, want %s", tc.tg, err, tc.msg)
		}
	}
	out, err := s.ListServices(t.Context(), &ecstypes.ListServicesRequest{Cluster: aws.String("prod")})
	if err != nil || len(out.ServiceArns) != 0 {
		t.Fatalf("ListServices after refusals: %v %v", out, err)
	}
}

// TestDeletedServiceWaitsForDrains: a deleted service behind a load
// balancer stays DRAINING while its tasks' targets drain, and goes INACTIVE
// once they have and the tasks stopped.
func TestDeletedServiceWaitsForDrains(t *testing.T) {
	lb := newFakeLB(lbtarget.Group{ARN: testTG, TargetType: "instance", LoadBalancerARNs: []string{"arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0123456789abcdef"}})
	s := newLBService(t, lb)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 4096, 8192)
	connectAgent(t, s, inst)
	td := registerTaskDef(t, s, dynTaskDef)
	dep := putService(t, s, "prod", "web", td, 1, 100, 200, func(svc *ecstypes.Service) {
		svc.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(testTG), ContainerName: aws.String("app"), ContainerPort: aws.Int32(80)}}
	})
	pass(t, s)
	task := liveTasks(t, s, "prod", dep)[0]
	reportRunningOn(t, s, "prod", aws.ToString(task.TaskArn), 32768)
	pass(t, s)
	lb.set(testTG, lbtarget.StateInitial, lbtarget.StateHealthy)
	if _, err := s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"), Force: aws.Bool(true)}); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	pass(t, s) // stops the task: Deactivating
	pass(t, s) // deregisters its target
	pass(t, s)
	if st := aws.ToString(getService(t, s, "prod", "web").Service.Status); st != "DRAINING" {
		t.Fatalf("service %s while its task's target drains, want DRAINING", st)
	}
	lb.drop(testTG)
	pass(t, s)
	if taskRecordOf(t, s, "prod", aws.ToString(task.TaskArn)).Deactivating {
		t.Fatal("the task is still held after its target drained")
	}
	reportTask(t, s, "prod", aws.ToString(task.TaskArn), "STOPPED", "")
	pass(t, s)
	if st := aws.ToString(getService(t, s, "prod", "web").Service.Status); st != "INACTIVE" {
		t.Fatalf("service %s once its task stopped, want INACTIVE", st)
	}
}

// TestServiceLeavesRetiredTargetGroup: when a service's loadBalancers
// name another group, its targets leave the old group (draining) and the
// record forgets the old group once it holds none of them.
func TestServiceLeavesRetiredTargetGroup(t *testing.T) {
	const tg2 = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web2/0123456789abcde0"
	lbs := []string{"arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0123456789abcdef"}
	lb := newFakeLB(lbtarget.Group{ARN: testTG, TargetType: "instance", LoadBalancerARNs: lbs},
		lbtarget.Group{ARN: tg2, TargetType: "instance", LoadBalancerARNs: lbs})
	s := newLBService(t, lb)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 4096, 8192)
	connectAgent(t, s, inst)
	td := registerTaskDef(t, s, dynTaskDef)
	dep := putService(t, s, "prod", "web", td, 1, 100, 200, func(svc *ecstypes.Service) {
		svc.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(testTG), ContainerName: aws.String("app"), ContainerPort: aws.Int32(80)}}
	})
	pass(t, s)
	reportRunningOn(t, s, "prod", aws.ToString(liveTasks(t, s, "prod", dep)[0].TaskArn), 32768)
	pass(t, s)
	lb.set(testTG, lbtarget.StateInitial, lbtarget.StateHealthy)
	pass(t, s)
	if got := getService(t, s, "prod", "web").TargetGroups; !slices.Equal(got, []string{testTG}) {
		t.Fatalf("record's target groups %q", got)
	}

	editService(t, s, "prod", "web", func(rec *serviceRecord) {
		rec.Service.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tg2), ContainerName: aws.String("app"), ContainerPort: aws.Int32(80)}}
	})
	pass(t, s)
	if got := lb.snapshot(testTG); len(got) != 1 || !strings.Contains(got[0], " draining ") {
		t.Fatalf("the old group's targets %q, want the one draining", got)
	}
	if got := lb.snapshot(tg2); len(got) != 1 || !strings.Contains(got[0], " initial ") {
		t.Fatalf("the new group's targets %q, want the task registered", got)
	}
	if got := getService(t, s, "prod", "web").TargetGroups; !slices.Equal(got, sorted(testTG, tg2)) {
		t.Fatalf("record's target groups %q while the old one drains", got)
	}
	lb.drop(testTG)
	pass(t, s)
	if got := getService(t, s, "prod", "web").TargetGroups; !slices.Equal(got, []string{tg2}) {
		t.Fatalf("record's target groups %q once the old one is empty, want only %s", got, tg2)
	}
}

// TestDeletedTargetGroupDoesNotHoldTasks: a service whose target group was
// deleted still stops its tasks (nothing drains in a group that is gone).
func TestDeletedTargetGroupDoesNotHoldTasks(t *testing.T) {
	lb := newFakeLB(lbtarget.Group{ARN: testTG, TargetType: "instance", LoadBalancerARNs: []string{"arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0123456789abcdef"}})
	s := newLBService(t, lb)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 4096, 8192)
	connectAgent(t, s, inst)
	dep := putService(t, s, "prod", "web", registerTaskDef(t, s, dynTaskDef), 1, 100, 200, func(svc *ecstypes.Service) {
		svc.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(testTG), ContainerName: aws.String("app"), ContainerPort: aws.Int32(80)}}
	})
	pass(t, s)
	task := liveTasks(t, s, "prod", dep)[0]
	reportRunningOn(t, s, "prod", aws.ToString(task.TaskArn), 32768)
	pass(t, s)
	lb.mu.Lock()
	delete(lb.groups, testTG)
	delete(lb.targets, testTG)
	lb.mu.Unlock()
	if _, err := s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"), Force: aws.Bool(true)}); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	pass(t, s) // stops the task: Deactivating
	pass(t, s) // nothing drains in a deleted group: let go
	if taskRecordOf(t, s, "prod", aws.ToString(task.TaskArn)).Deactivating {
		t.Fatal("a task is held for a target group that no longer exists")
	}
}
