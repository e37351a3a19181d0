package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
)

// More of the service controller, end to end: the deployment circuit
// breaker with rollback, and a container instance set to DRAINING. Both
// drive Berth with the AWS CLI v2 and watch it with the SDK (fast enough
// to sample a rollout, as watchRollout does) and Docker.

// cbDeployment and cbService decode what services_test.go's cliService
// leaves out: the breaker's settings and a deployment's rollout reason.
type (
	cbDeployment struct {
		Id, Status, TaskDefinition, RolloutState, RolloutStateReason string
		DesiredCount, RunningCount, PendingCount, FailedTasks        int
	}
	cbService struct {
		cliService
		DeploymentConfiguration struct {
			MaximumPercent, MinimumHealthyPercent int
			DeploymentCircuitBreaker              *struct{ Enable, Rollback bool }
		}
		Deployments []cbDeployment
	}
)

// registerSleeper registers a one-container revision of family running the
// app image with -sleep and env; it returns the revision's ARN.
func registerSleeper(t *testing.T, srv *server, family string, env map[string]string) string {
	t.Helper()
	return registerApp(t, srv, family, env, false)
}

// registerApp registers a one-container revision of family running the app
// image with env: with -sleep, or with checked serving the app's HTTP port
// under a container health check of its /healthz. It returns the ARN.
func registerApp(t *testing.T, srv *server, family string, env map[string]string, checked bool) string {
	t.Helper()
	var kv []map[string]string
	for k, v := range env {
		kv = append(kv, map[string]string{"name": k, "value": v})
	}
	c := map[string]any{
		"name": "app", "image": appImage, "essential": true, "command": []string{"-sleep"},
		"cpu": 64, "memoryReservation": 32, "environment": kv,
	}
	if checked {
		delete(c, "command")
		c["healthCheck"] = map[string]any{
			"command":  []string{"CMD", "/app", "-probe", "http://127.0.0.1:8080/healthz"},
			"interval": 5, "timeout": 3, "retries": 3,
		}
	}
	path := writeJSON(t, map[string]any{
		"family": family, "networkMode": "bridge", "requiresCompatibilities": []string{"EC2"},
		"containerDefinitions": []map[string]any{c},
	})
	var reg struct {
		TaskDefinition struct{ TaskDefinitionArn string }
	}
	cliJSON(t, srv, &reg, "ecs", "register-task-definition", "--cli-input-json", "file://"+path)
	return reg.TaskDefinition.TaskDefinitionArn
}

// serviceSample is one look at a service through the SDK and Docker.
type serviceSample struct {
	svc types.Service
	// tasks are the service's tasks (desired RUNNING and STOPPED), described;
	// stable says no task was created while they were listed and described,
	// so none RUNNING is missing from them.
	tasks  []types.Task
	stable bool
	// containers are the cluster's running containers in Docker.
	containers []container.Summary
}

// sampleService takes one serviceSample.
func sampleService(t *testing.T, client *ecs.Client, cluster, clusterARN, name string) serviceSample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	var s serviceSample
	ds, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	call("DescribeServices", err)
	if len(ds.Services) != 1 {
		t.Fatalf("DescribeServices %s: %s", name, jsonString(ds))
	}
	s.svc = ds.Services[0]
	list := func() []string {
		var all []string
		for _, desired := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
			p := ecs.NewListTasksPaginator(client, &ecs.ListTasksInput{
				Cluster: aws.String(cluster), ServiceName: aws.String(name), DesiredStatus: desired,
			})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				call("ListTasks", err)
				all = append(all, page.TaskArns...)
			}
		}
		// A task whose desired status turned STOPPED between the two
		// listings is in both: count it once.
		slices.Sort(all)
		return slices.Compact(all)
	}
	before := list()
	for chunk := range slices.Chunk(before, 100) {
		out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk})
		call("DescribeTasks", err)
		s.tasks = append(s.tasks, out.Tasks...)
	}
	after := list()
	s.stable = !slices.ContainsFunc(after, func(arn string) bool { return !slices.Contains(before, arn) })
	for _, c := range containersWithLabel(t, labelCluster, clusterARN) {
		if c.State == container.StateRunning {
			s.containers = append(s.containers, c)
		}
	}
	return s
}

// taskStates is a sample's tasks, one line each, for a failure message.
func (s serviceSample) taskStates() string {
	var lines []string
	for _, task := range s.tasks {
		lines = append(lines, fmt.Sprintf("%s %s/%s %s on %s", aws.ToString(task.TaskArn), aws.ToString(task.LastStatus),
			aws.ToString(task.DesiredStatus), aws.ToString(task.TaskDefinitionArn), aws.ToString(task.ContainerInstanceArn)))
	}
	return strings.Join(lines, "\n       ")
}

// deploymentWatch is what watchDeployment saw of a deployment: its
// distinct "status rolloutState reason" in order, each seen times[i] times
// in a row, in n of calls answers.
type deploymentWatch struct {
	states   []string
	times    []int
	n, calls int
	err      error
}

// watchDeployment calls DescribeServices in a loop until t ends or the
// returned function is called, which returns what it saw of deployment id.
func watchDeployment(t *testing.T, client *ecs.Client, cluster, name, id string) func() deploymentWatch {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan deploymentWatch, 1)
	go func() {
		var w deploymentWatch
		defer func() { done <- w }()
		for ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond) // polling pace, well within the ~100 ms to catch
			cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
			out, err := client.DescribeServices(cctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
			ccancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				w.err = err
				return
			}
			w.calls++
			for _, svc := range out.Services {
				for _, d := range svc.Deployments {
					if aws.ToString(d.Id) != id {
						continue
					}
					w.n++
					st := fmt.Sprintf("%s %s %s", aws.ToString(d.Status), d.RolloutState, aws.ToString(d.RolloutStateReason))
					if len(w.states) == 0 || w.states[len(w.states)-1] != st {
						w.states = append(w.states, st)
						w.times = append(w.times, 0)
					}
					w.times[len(w.times)-1]++
				}
			}
		}
	}()
	var w *deploymentWatch
	stop := func() deploymentWatch {
		if w == nil {
			cancel()
			got := <-done
			w = &got
			if got.err != nil {
				t.Errorf("DescribeServices: %v", got.err)
			}
		}
		return *w
	}
	t.Cleanup(func() { stop() })
	return stop
}

func hasEvent(svc cliService, substrings ...string) bool {
	for _, e := range svc.Events {
		if !slices.ContainsFunc(substrings, func(s string) bool { return !strings.Contains(e.Message, s) }) {
			return true
		}
	}
	return false
}

// TestCLIServiceCircuitBreakerRollsBack: a service with the deployment
// circuit breaker and rollback on, stable on a good revision, is updated to
// a revision whose essential container exits at once. As ECS documents it,
// the new deployment goes FAILED ("ECS deployment circuit breaker") after
// clamp(ceil(2/2), 3, 200) = 3 failed tasks and starts no more, a rollback
// deployment of the good revision becomes PRIMARY and the service ends
// stable on the good revision, saying so in its events; with
// minimumHealthyPercent 100 the good revision's RUNNING tasks never drop
// below 2 on the way.
func TestCLIServiceCircuitBreakerRollsBack(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	clusterARN := srv.createCluster(t, cluster)
	srv.startAgent(t, agentOptions{Name: "node-a", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-a", AZ: region + "a"})
	srv.startAgent(t, agentOptions{Name: "node-b", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-b", AZ: region + "b"})

	family := uniqueName(t, "cb")
	// Both revisions have a container health check, so a task is healthy
	// once HEALTHY, as ECS counts it: without one a task counts healthy as
	// soon as it is RUNNING, and the scheduler may rightly stop a good task
	// for a bad one in the moment between the bad one's start and its exit,
	// which minimumHealthyPercent 100 does not forbid.
	good := registerApp(t, srv, family, map[string]string{"APP_NAME": "good"}, true)
	// Exits with 3 a millisecond after it starts.
	bad := registerApp(t, srv, family, map[string]string{"APP_NAME": "bad", "EXIT_AFTER": "1ms", "EXIT_CODE": "3"}, true)
	if !strings.HasSuffix(good, ":1") || !strings.HasSuffix(bad, ":2") {
		t.Fatalf("revisions %s and %s, want :1 and :2", good, bad)
	}

	name := uniqueName(t, "svc")
	f := svcCLI{srv: srv, cluster: cluster, name: name}

	t.Log("== 1. create-service with the circuit breaker and rollback on, on the good revision")
	var created struct{ Service cbService }
	cliJSON(t, srv, &created, "ecs", "create-service", "--cluster", cluster, "--service-name", name,
		"--task-definition", good, "--desired-count", "2", "--launch-type", "EC2",
		"--deployment-configuration", "deploymentCircuitBreaker={enable=true,rollback=true},maximumPercent=200,minimumHealthyPercent=100")
	dc := created.Service.DeploymentConfiguration
	if cb := dc.DeploymentCircuitBreaker; cb == nil || !cb.Enable || !cb.Rollback || dc.MaximumPercent != 200 || dc.MinimumHealthyPercent != 100 {
		t.Errorf("create-service returned deploymentConfiguration %s", jsonString(dc))
	}
	svc, tasks := f.waitStable(t, 2, good)
	dep1 := svc.Deployments[0].Id
	checkServiceTasks(t, name, tasks, dep1)

	t.Log("== 2. update-service to the revision that exits at once")
	var updated struct{ Service cbService }
	cliJSON(t, srv, &updated, "ecs", "update-service", "--cluster", cluster, "--service", name, "--task-definition", bad)
	var dep2 string
	for _, d := range updated.Service.Deployments {
		if d.Status == "PRIMARY" && d.TaskDefinition == bad && d.RolloutState == "IN_PROGRESS" && d.Id != dep1 {
			dep2 = d.Id
		}
	}
	if dep2 == "" || len(updated.Service.Deployments) != 2 {
		t.Fatalf("update-service deployments, want a new PRIMARY on %s IN_PROGRESS and %s ACTIVE: %s", bad, dep1, jsonString(updated.Service.Deployments))
	}

	// Sample until the service is back at a steady state on a deployment of
	// the good revision other than dep1 (the rollback's). Each sample: the
	// good revision's RUNNING tasks (service counts, tasks, containers) are
	// at least 2, and no more than 4 tasks are live (maximumPercent 200).
	client := srv.ecs()
	goodRev := good[strings.LastIndex(good, ":")+1:]
	var rollbackID, rollbackReason string
	// The FAILED deployment leaves deployments[] as soon as a pass finds it
	// drained, which with tasks that exit at once is the pass after the
	// one that failed it (some 100 ms): a goroutine watches DescribeServices
	// alone, as fast as it answers, to see it.
	failed := watchDeployment(t, client, cluster, name, dep2)
	var nSamples, nStable, fewestGood int
	fewestGood = 1 << 30
	last := ""
	defer func() {
		if t.Failed() {
			t.Logf("last sample: %s", last)
		}
	}()
	waitFor(t, 4*time.Minute, "the failed deployment rolled back and the service stable on "+good, func() bool {
		s := sampleService(t, client, cluster, clusterARN, name)
		nSamples++
		last = jsonString(s.svc) + "\ntasks: " + s.taskStates()
		goodRunning := int32(0)
		for _, d := range s.svc.Deployments {
			id := aws.ToString(d.Id)
			if aws.ToString(d.TaskDefinition) == good {
				goodRunning += d.RunningCount
			}
			if id != dep1 && id != dep2 && aws.ToString(d.Status) == "PRIMARY" && rollbackID == "" {
				// Its reason while IN_PROGRESS; COMPLETED, it says so instead.
				rollbackID, rollbackReason = id, aws.ToString(d.RolloutStateReason)
			}
		}
		if goodRunning < 2 {
			t.Fatalf("the deployments of %s count %d RUNNING tasks, want >= 2 (minimumHealthyPercent 100): %s", good, goodRunning, jsonString(s.svc.Deployments))
		}
		if s.svc.RunningCount+s.svc.PendingCount > 4 {
			t.Fatalf("service runningCount %d + pendingCount %d > 4 (maximumPercent 200)", s.svc.RunningCount, s.svc.PendingCount)
		}
		if s.stable {
			nStable++
			healthy, live := 0, 0
			for _, task := range s.tasks {
				if aws.ToString(task.TaskDefinitionArn) == good && aws.ToString(task.LastStatus) == "RUNNING" &&
					aws.ToString(task.DesiredStatus) == "RUNNING" && task.HealthStatus == types.HealthStatusHealthy {
					healthy++
				}
				if aws.ToString(task.LastStatus) != "STOPPED" {
					live++
				}
			}
			fewestGood = min(fewestGood, healthy)
			if healthy < 2 || live > 4 {
				t.Fatalf("%d tasks of %s RUNNING and HEALTHY (and not being stopped), %d tasks not STOPPED; want >= 2 and <= 4:\n       %s",
					healthy, good, live, s.taskStates())
			}
		}
		goodContainers := 0
		for _, c := range s.containers {
			if c.Labels["com.amazonaws.ecs.task-definition-version"] == goodRev {
				goodContainers++
			}
		}
		if goodContainers < 2 || len(s.containers) > 4 {
			t.Fatalf("Docker runs %d containers of the cluster, %d of revision %s; want <= 4 and >= 2", len(s.containers), goodContainers, goodRev)
		}
		if len(s.svc.Deployments) != 1 {
			return false
		}
		d := s.svc.Deployments[0]
		return aws.ToString(d.Id) != dep1 && aws.ToString(d.Id) != dep2 && aws.ToString(d.TaskDefinition) == good &&
			d.RolloutState == types.DeploymentRolloutStateCompleted && s.svc.RunningCount == 2 && s.svc.DesiredCount == 2
	})
	t.Logf("%d samples, %d with a stable task list, fewest RUNNING HEALTHY tasks of the good revision %d", nSamples, nStable, fewestGood)

	t.Log("== 3. the outcome, through the CLI")
	seen := failed()
	var states []string
	for i, st := range seen.states {
		states = append(states, fmt.Sprintf("%s (x%d)", st, seen.times[i]))
	}
	t.Logf("deployment %s seen in %d of %d DescribeServices: %s", dep2, seen.n, seen.calls, strings.Join(states, " -> "))
	// The FAILED state shows in deployments[] only until the next pass
	// drops the drained deployment (a few hundred ms), which a loaded
	// machine's polls can miss: what proves the trip is the events and the
	// rollback deployment's reason below; seeing it here is logged.
	if !slices.ContainsFunc(seen.states, func(s string) bool {
		return strings.Contains(s, " FAILED ") && strings.Contains(s, "circuit breaker")
	}) {
		t.Logf("deployment %s was not caught with rolloutState FAILED in deployments[] (it is dropped once drained)", dep2)
	}
	if rollbackID == "" || !strings.Contains(rollbackReason, "circuit breaker") || !strings.Contains(rollbackReason, dep1) {
		t.Errorf("rollback deployment %s: rolloutStateReason %q, want the circuit breaker rolling back to %s", rollbackID, rollbackReason, dep1)
	}
	svc, tasks = f.waitStable(t, 2, good)
	if svc.TaskDefinition != good || svc.Deployments[0].Id != rollbackID {
		t.Errorf("service on %s, deployment %s; want %s and the rollback deployment %s", svc.TaskDefinition, svc.Deployments[0].Id, good, rollbackID)
	}
	checkServiceTasks(t, name, tasks, rollbackID)
	for _, want := range [][]string{
		{"(deployment " + dep2 + ")", "deployment failed"},
		{"rolling back to deployment " + dep1},
		{"(deployment " + rollbackID + ") deployment completed"},
	} {
		if !hasEvent(svc, want...) {
			t.Errorf("no service event with %q in: %s", want, jsonString(svc.Events))
		}
	}
	// The bad revision's tasks: all STOPPED, at least the threshold's 3 by
	// their essential container's exit 3, and no more started once FAILED
	// than the one that may be in flight (2 may be live beside the good 2),
	// which the rollback drains if it has not exited yet.
	var badList struct{ TaskArns []string }
	cliJSON(t, srv, &badList, "ecs", "list-tasks", "--cluster", cluster, "--started-by", dep2, "--desired-status", "STOPPED")
	badTasks := f.describeTasks(t, badList.TaskArns...)
	exited := 0
	for _, task := range badTasks {
		c := task.container(t, "app")
		code := "none"
		if c.ExitCode != nil {
			code = fmt.Sprint(*c.ExitCode)
		}
		switch {
		case task.LastStatus != "STOPPED" || task.TaskDefinitionArn != bad:
			t.Errorf("bad task %s: %s on %s, want STOPPED on %s", task.TaskArn, task.LastStatus, task.TaskDefinitionArn, bad)
		case (task.StopCode == "EssentialContainerExited" || task.StopCode == "TaskFailedToStart") && code == "3":
			exited++
		case task.StopCode != "ServiceSchedulerInitiated":
			t.Errorf("bad task %s: stopCode %q, exit code %s; want its container's exit 3, or the scheduler's stop", task.TaskArn, task.StopCode, code)
		}
	}
	if n := len(badTasks); exited < 3 || n > 4 {
		t.Errorf("deployment %s started %d tasks, %d stopped by their exit 3; want at least 3 exited and at most 4 started", dep2, n, exited)
	}
}

// TestCLIServiceDrainingInstance: a service of 2 spread over two instances;
// one instance set to DRAINING. As ECS documents it, the service's task
// there is replaced on the other instance within the deployment
// configuration (minimumHealthyPercent 50: at least 1 RUNNING; maximumPercent
// 200: at most 4 live), and the service ends with 2 RUNNING tasks on the
// ACTIVE instance; a task not started by a service stays RUNNING on the
// draining instance, which stays DRAINING.
func TestCLIServiceDrainingInstance(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	clusterARN := srv.createCluster(t, cluster)
	nodeA := srv.startAgent(t, agentOptions{Name: "node-a", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-a", AZ: region + "a"})
	nodeB := srv.startAgent(t, agentOptions{Name: "node-b", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-b", AZ: region + "b"})
	td := registerSleeper(t, srv, uniqueName(t, "drain"), map[string]string{"APP_NAME": "drain"})

	name := uniqueName(t, "svc")
	f := svcCLI{srv: srv, cluster: cluster, name: name}

	t.Log("== 1. create-service: 2 tasks spread over instanceId, minimumHealthyPercent 50, maximumPercent 200")
	awsCLI(t, srv, "ecs", "create-service", "--cluster", cluster, "--service-name", name,
		"--task-definition", td, "--desired-count", "2", "--launch-type", "EC2",
		"--placement-strategy", "type=spread,field=instanceId",
		"--deployment-configuration", "maximumPercent=200,minimumHealthyPercent=50")
	svc, tasks := f.waitStable(t, 2, td)
	dep := svc.Deployments[0].Id
	var onA []string
	for _, task := range tasks {
		if task.ContainerInstanceArn == nodeA.instanceARN {
			onA = append(onA, task.TaskArn)
		}
	}
	if len(onA) != 1 {
		t.Fatalf("spread over instanceId: %d of 2 tasks on node-a, want 1: %s", len(onA), jsonString(tasks))
	}

	t.Log("== 2. run-task: a task of no service on node-a")
	var run cliTasksResp
	cliJSON(t, srv, &run, "ecs", "run-task", "--cluster", cluster, "--task-definition", td, "--started-by", "e2e-standalone",
		"--placement-constraints", "type=memberOf,expression=attribute:e2e.node == node-a")
	if len(run.Tasks) != 1 || len(run.Failures) != 0 || run.Tasks[0].ContainerInstanceArn != nodeA.instanceARN {
		t.Fatalf("run-task on node-a: %s", jsonString(run))
	}
	standalone := run.Tasks[0].TaskArn
	sa := cliWaitTask(t, srv, cluster, standalone, func(t cliTask) bool { return t.LastStatus == "RUNNING" }, "the standalone task RUNNING")
	saContainer := sa.container(t, "app").RuntimeId

	t.Log("== 3. update-container-instances-state --status DRAINING on node-a")
	var drained struct {
		ContainerInstances []struct{ ContainerInstanceArn, Status string }
		Failures           []cliFailure
	}
	cliJSON(t, srv, &drained, "ecs", "update-container-instances-state", "--cluster", cluster,
		"--container-instances", nodeA.instanceARN, "--status", "DRAINING")
	if len(drained.ContainerInstances) != 1 || len(drained.Failures) != 0 || drained.ContainerInstances[0].Status != "DRAINING" {
		t.Fatalf("update-container-instances-state: %s", jsonString(drained))
	}

	// Sample until the service's live tasks are 2 RUNNING on node-b and none
	// on node-a is left unstopped; each sample within the deployment
	// configuration, and the standalone task RUNNING throughout.
	client := srv.ecs()
	var nSamples, nStable, fewest, most int
	fewest = 1 << 30
	last := ""
	defer func() {
		if t.Failed() {
			t.Logf("last sample: %s", last)
		}
	}()
	waitFor(t, 4*time.Minute, "the service's tasks moved off node-a", func() bool {
		s := sampleService(t, client, cluster, clusterARN, name)
		nSamples++
		last = jsonString(s.svc) + "\ntasks: " + s.taskStates()
		if s.svc.RunningCount < 1 || s.svc.RunningCount+s.svc.PendingCount > 4 {
			t.Fatalf("service runningCount %d pendingCount %d while draining, want runningCount >= 1 and running+pending <= 4",
				s.svc.RunningCount, s.svc.PendingCount)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{standalone}})
		cancel()
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("DescribeTasks %s: %v %s", standalone, err, jsonString(out))
		}
		if st := out.Tasks[0]; aws.ToString(st.LastStatus) != "RUNNING" || aws.ToString(st.DesiredStatus) != "RUNNING" {
			t.Fatalf("the standalone task on the draining instance is %s/%s (%s), want RUNNING",
				aws.ToString(st.LastStatus), aws.ToString(st.DesiredStatus), aws.ToString(st.StoppedReason))
		}
		// Docker runs the standalone task's container and the service's.
		if !slices.ContainsFunc(s.containers, func(c container.Summary) bool { return c.ID == saContainer }) {
			t.Fatalf("the standalone task's container %s is not running", saContainer)
		}
		if n := len(s.containers) - 1; n < 1 || n > 4 {
			t.Fatalf("Docker runs %d containers of the service, want 1 to 4", n)
		}
		if !s.stable {
			return false
		}
		nStable++
		healthy, live, runningB, liveA := 0, 0, 0, 0
		for _, task := range s.tasks {
			ls, ds := aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus)
			if ls == "RUNNING" && ds == "RUNNING" {
				healthy++
				if aws.ToString(task.ContainerInstanceArn) == nodeB.instanceARN {
					runningB++
				}
			}
			if ls != "STOPPED" {
				live++
				if aws.ToString(task.ContainerInstanceArn) == nodeA.instanceARN {
					liveA++
				}
			}
		}
		fewest, most = min(fewest, healthy), max(most, live)
		if healthy < 1 || live > 4 {
			t.Fatalf("while draining: %d tasks RUNNING (and not being stopped), %d not STOPPED; want >= 1 and <= 4:\n       %s",
				healthy, live, s.taskStates())
		}
		return runningB == 2 && live == 2 && liveA == 0
	})
	t.Logf("%d samples, %d with a stable task list: fewest RUNNING %d, most not STOPPED %d", nSamples, nStable, fewest, most)

	t.Log("== 4. the outcome, through the CLI")
	svc, tasks = f.waitStable(t, 2, td)
	if svc.Deployments[0].Id != dep {
		t.Errorf("draining changed the deployment: %s, want %s", svc.Deployments[0].Id, dep)
	}
	checkServiceTasks(t, name, tasks, dep)
	for _, task := range tasks {
		if task.ContainerInstanceArn != nodeB.instanceARN {
			t.Errorf("service task %s on %s, want node-b %s", task.TaskArn, task.ContainerInstanceArn, nodeB.instanceARN)
		}
	}
	moved := cliDescribeTask(t, srv, cluster, onA[0])
	if moved.LastStatus != "STOPPED" || moved.StopCode != "ServiceSchedulerInitiated" || !strings.Contains(moved.StoppedReason, "DRAINING") {
		t.Errorf("the service task that was on node-a: %s, stopCode %q, stoppedReason %q; want STOPPED by the scheduler for DRAINING",
			moved.LastStatus, moved.StopCode, moved.StoppedReason)
	}
	waitContainersGone(t, onA[0])
	sa = cliDescribeTask(t, srv, cluster, standalone)
	if sa.LastStatus != "RUNNING" || sa.DesiredStatus != "RUNNING" || sa.ContainerInstanceArn != nodeA.instanceARN {
		t.Errorf("the standalone task: %s/%s on %s, want RUNNING on the draining node-a", sa.LastStatus, sa.DesiredStatus, sa.ContainerInstanceArn)
	}
	if !inspect(t, saContainer).State.Running {
		t.Errorf("the standalone task's container %s is not running in Docker", saContainer)
	}
	waitFor(t, svcTimeout, "node-a DRAINING with the standalone task its only one", func() bool {
		var out struct {
			ContainerInstances []struct {
				Status                               string
				RunningTasksCount, PendingTasksCount int
			}
		}
		cliJSON(t, srv, &out, "ecs", "describe-container-instances", "--cluster", cluster, "--container-instances", nodeA.instanceARN)
		last = jsonString(out)
		if len(out.ContainerInstances) != 1 || out.ContainerInstances[0].Status != "DRAINING" {
			t.Fatalf("describe-container-instances node-a: %s, want it DRAINING", last)
		}
		ci := out.ContainerInstances[0]
		return ci.RunningTasksCount == 1 && ci.PendingTasksCount == 0
	})
	var list struct{ TaskArns []string }
	cliJSON(t, srv, &list, "ecs", "list-tasks", "--cluster", cluster, "--container-instance", nodeA.instanceARN)
	if !slices.Equal(list.TaskArns, []string{standalone}) {
		t.Errorf("list-tasks --container-instance node-a = %v, want only the standalone task %s", list.TaskArns, standalone)
	}
	if !hasEvent(svc, "has stopped 1 running tasks", "(task "+onA[0][strings.LastIndex(onA[0], "/")+1:]+")") {
		t.Errorf("no event of the service stopping the task on node-a: %s", jsonString(svc.Events))
	}
}
