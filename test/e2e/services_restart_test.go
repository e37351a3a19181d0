package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// The service controller keeps its state only in etcd, so a server that
// dies in the middle of a rolling deployment, or is stopped, must carry on
// from the records when it is back: the same deployment, no extra tasks,
// nothing left running that Berth does not know of (services_ctl.go).

// labelRevision is the task definition revision label the agent puts on
// every container (internal/agent/engine).
const labelRevision = "com.amazonaws.ecs.task-definition-version"

// TestServiceSurvivesServerRestartMidRollout: a REPLICA service of 4 tasks
// with health-checked containers (so each rolling step waits some seconds
// for HEALTHY) on two real agents rolls out a new revision with
// minimumHealthyPercent 50 and maximumPercent 125 (at least 2 RUNNING, at
// most 5 live: the new deployment has 1, then 3, then 4 tasks). Once it has
// some but not all, the server is killed with SIGKILL (as soon as the first
// new task is there) and started again on the same data dir and port; then
// the same with SIGTERM on a third revision (once some new task is
// RUNNING). Each time:
//   - sampled throughout, through the restart (while the API is down only
//     Docker is seen): at most 5 tasks live and 5 containers running, at
//     least 2 RUNNING, and every answer of DescribeServices has one PRIMARY
//     deployment, the new one, beside at most the old one;
//   - the rollout completes on that same deployment, 4 tasks RUNNING;
//   - the new deployment started exactly 4 tasks (list-tasks --started-by,
//     RUNNING and STOPPED), the old one exactly the 4 it had, all STOPPED by
//     the scheduler;
//   - Docker runs exactly the 4 RUNNING tasks' containers, of the new
//     revision, and nothing else of the cluster.
func TestServiceSurvivesServerRestartMidRollout(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	clusterARN := srv.createCluster(t, cluster)
	agents := []*agent{
		srv.startAgent(t, agentOptions{Name: "node-a", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-a", AZ: region + "a"}),
		srv.startAgent(t, agentOptions{Name: "node-b", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-b", AZ: region + "b"}),
	}
	family := uniqueName(t, "rs")
	revs := []string{
		registerApp(t, srv, family, map[string]string{"APP_NAME": "restart", "APP_REV": "1"}, true),
		registerApp(t, srv, family, map[string]string{"APP_NAME": "restart", "APP_REV": "2"}, true),
		registerApp(t, srv, family, map[string]string{"APP_NAME": "restart", "APP_REV": "3"}, true),
	}
	const (
		desired    = 4
		minHealthy = 2 // ceil(4 * 50%)
		maxLive    = 5 // floor(4 * 125%)
	)

	name := uniqueName(t, "svc")
	f := svcCLI{srv: srv, cluster: cluster, name: name}
	t.Log("== create-service: 4 tasks, minimumHealthyPercent 50, maximumPercent 125")
	awsCLI(t, srv, "ecs", "create-service", "--cluster", cluster, "--service-name", name,
		"--task-definition", revs[0], "--desired-count", fmt.Sprint(desired), "--launch-type", "EC2",
		"--deployment-configuration", "maximumPercent=125,minimumHealthyPercent=50")
	svc, tasks := f.waitStable(t, desired, revs[0])
	oldDep := svc.Deployments[0].Id
	checkServiceTasks(t, name, tasks, oldDep)

	// The watch's client tries once: while the server is down a call fails
	// at once instead of retrying, and the watch goes on with Docker alone
	// (a call that fails while the server is up is one sample less).
	watchClient := ecs.New(srv.ecs().Options(), func(o *ecs.Options) { o.RetryMaxAttempts = 1 })
	client := srv.ecs()
	someRunning := func(tasks []types.Task) bool {
		return slices.ContainsFunc(tasks, func(t types.Task) bool { return aws.ToString(t.LastStatus) == "RUNNING" })
	}
	for i, phase := range []struct {
		sig  syscall.Signal
		rev  string
		when string
		// ready says when, given the new deployment's some but not all tasks.
		ready func([]types.Task) bool
	}{
		{syscall.SIGKILL, revs[1], "its first task", func([]types.Task) bool { return true }},
		{syscall.SIGTERM, revs[2], "a task RUNNING", someRunning},
	} {
		t.Logf("== phase %d: update-service to %s, %v the server mid-rollout", i+1, phase.rev, phase.sig)
		var updated struct{ Service cliService }
		cliJSON(t, srv, &updated, "ecs", "update-service", "--cluster", cluster, "--service", name, "--task-definition", phase.rev)
		dep := ""
		for _, d := range updated.Service.Deployments {
			if d.Status == "PRIMARY" && d.TaskDefinition == phase.rev && d.Id != oldDep {
				dep = d.Id
			}
		}
		if dep == "" || len(updated.Service.Deployments) != 2 {
			t.Fatalf("update-service deployments, want a new PRIMARY on %s and %s ACTIVE: %s", phase.rev, oldDep, jsonString(updated.Service.Deployments))
		}
		began := time.Now()
		stopWatch := watchThroughRestart(t, watchClient, cluster, clusterARN, name, []string{oldDep, dep}, dep, minHealthy, maxLive)

		// Some but not all of the new deployment's tasks: a step started
		// them and the next waits for old ones to stop, or for them to be
		// HEALTHY.
		var midway []types.Task
		waitFor(t, svcTimeout, "deployment "+dep+" to have some but not all of its tasks, "+phase.when, func() bool {
			srv.proc.failIfExited(t)
			midway = tasksStartedBy(t, client, cluster, dep, types.DesiredStatusRunning)
			return len(midway) > 0 && len(midway) < desired && phase.ready(midway)
		})
		var states []string
		for _, task := range midway {
			states = append(states, fmt.Sprintf("%s %s/%s health %s", idFromARN(aws.ToString(task.TaskArn)),
				aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus), task.HealthStatus))
		}
		t.Logf("%v the server %v after update-service; the new deployment's tasks: %s", phase.sig, time.Since(began).Round(time.Millisecond), strings.Join(states, ", "))
		srv.stop(t, phase.sig)
		if phase.sig == syscall.SIGTERM && srv.proc.err != nil {
			t.Errorf("server exit after SIGTERM: %v, want a clean exit", srv.proc.err)
		}
		srv.start(t) // same data dir and port
		for _, a := range agents {
			a.waitConnected(t)
		}
		t.Logf("server back and agents connected %v after update-service", time.Since(began).Round(time.Millisecond))

		svc, tasks = f.waitStable(t, desired, phase.rev)
		w := stopWatch()
		t.Logf("rolled out %v after update-service; %s", time.Since(began).Round(time.Millisecond), w)
		for _, v := range w.violations {
			t.Errorf("during the rollout: %s", v)
		}
		if got := svc.Deployments[0].Id; got != dep {
			t.Errorf("after the restart the rollout completed on deployment %s, want the one update-service made (%s)", got, dep)
		}
		checkServiceTasks(t, name, tasks, dep)
		if n := countEvents(svc, "(deployment "+dep+") deployment completed"); n != 1 {
			t.Errorf("%d events of deployment %s completed, want 1: %s", n, dep, jsonString(svc.Events))
		}

		// Every task each deployment ever started, as list-tasks --started-by
		// has them (STOPPED tasks stay listed for an hour).
		started, stopped := f.startedBy(t, dep)
		if len(started) != desired || len(stopped) != 0 {
			t.Errorf("deployment %s started %d tasks (%d STOPPED), want exactly %d, all RUNNING; the STOPPED ones:\n%s",
				dep, len(started)+len(stopped), len(stopped), desired, describeStops(stopped))
		}
		if got, want := arns(started), arns(tasks); !slices.Equal(got, want) {
			t.Errorf("deployment %s's RUNNING tasks %v, want the service's %v", dep, got, want)
		}
		var oldStopped []svcTask
		waitFor(t, svcTimeout, "the old deployment "+oldDep+"'s tasks STOPPED", func() bool {
			var live []svcTask
			live, oldStopped = f.startedBy(t, oldDep)
			if len(live) > 0 {
				return false
			}
			for _, task := range oldStopped {
				if task.LastStatus != "STOPPED" {
					return false
				}
			}
			return true
		})
		if len(oldStopped) != desired {
			t.Errorf("the old deployment %s started %d tasks, want exactly %d:\n%s", oldDep, len(oldStopped), desired, describeStops(oldStopped))
		}
		for _, task := range oldStopped {
			if task.StopCode != "ServiceSchedulerInitiated" {
				t.Errorf("old task %s: stopCode %q (%s), want ServiceSchedulerInitiated", task.TaskArn, task.StopCode, task.StoppedReason)
			}
		}

		// Docker: the RUNNING tasks' containers, running, and nothing else of
		// the cluster (the agent removes a stopped task's containers after
		// ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION, 1s here).
		want := map[string]string{} // task ARN -> its container's runtime id
		for _, task := range tasks {
			want[task.TaskArn] = task.container(t, "app").RuntimeId
		}
		waitOnlyContainersOf(t, clusterARN, want, phase.rev[strings.LastIndex(phase.rev, ":")+1:])
		if t.Failed() {
			t.Fatalf("phase %d (%v) failed", i+1, phase.sig)
		}
		oldDep = dep
	}
}

// waitOnlyContainersOf polls Docker until the cluster's containers (docker
// ps -a) are exactly want's (task ARN -> runtime id), all running and of
// revision rev.
func waitOnlyContainersOf(t *testing.T, clusterARN string, want map[string]string, rev string) {
	t.Helper()
	last, done := "", false
	defer func() {
		if !done { // waitFor gave up
			t.Logf("Docker's containers of the cluster:\n       %s", last)
		}
	}()
	waitFor(t, svcTimeout, fmt.Sprintf("Docker to hold exactly the service's %d RUNNING tasks' containers", len(want)), func() bool {
		list := containersWithLabel(t, labelCluster, clusterARN)
		var lines []string
		ok := len(list) == len(want)
		for _, c := range list {
			arn := c.Labels[labelTaskARN]
			lines = append(lines, fmt.Sprintf("%s %s task %s rev %s", c.ID[:12], c.State, arn, c.Labels[labelRevision]))
			if id, known := want[arn]; !known || id != c.ID || c.State != container.StateRunning || c.Labels[labelRevision] != rev {
				ok = false
			}
		}
		last = strings.Join(lines, "\n       ")
		return ok
	})
	done = true
}

// startedBy lists the tasks a deployment started (list-tasks --started-by)
// and describes them: those whose desired status is RUNNING, then STOPPED.
func (f svcCLI) startedBy(t testing.TB, deployment string) (running, stopped []svcTask) {
	t.Helper()
	var out [2][]svcTask
	for i, desired := range []string{"RUNNING", "STOPPED"} {
		var list struct{ TaskArns []string }
		cliJSON(t, f.srv, &list, "ecs", "list-tasks", "--cluster", f.cluster, "--started-by", deployment, "--desired-status", desired)
		out[i] = f.describeTasks(t, list.TaskArns...)
	}
	return out[0], out[1]
}

// describeStops is one line per stopped task: how and why it stopped.
func describeStops(tasks []svcTask) string {
	var lines []string
	for _, task := range tasks {
		lines = append(lines, fmt.Sprintf("       %s %s/%s stopCode %q: %s", task.TaskArn, task.LastStatus, task.DesiredStatus, task.StopCode, task.StoppedReason))
	}
	return strings.Join(lines, "\n")
}

// countEvents counts the service's events that contain substr.
func countEvents(svc cliService, substr string) int {
	n := 0
	for _, e := range svc.Events {
		if strings.Contains(e.Message, substr) {
			n++
		}
	}
	return n
}

// tasksStartedBy lists and describes the tasks deployment started with the
// given desired status, through the SDK (a CLI call is too slow to catch a
// rolling step).
func tasksStartedBy(t testing.TB, client *ecs.Client, cluster, deployment string, desired types.DesiredStatus) []types.Task {
	t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	list, err := client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), StartedBy: aws.String(deployment), DesiredStatus: desired})
	if err != nil {
		t.Fatalf("ListTasks --started-by %s: %v", deployment, err)
	}
	if len(list.TaskArns) == 0 {
		return nil
	}
	out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: list.TaskArns})
	if err != nil {
		t.Fatalf("DescribeTasks: %v", err)
	}
	return out.Tasks
}

// idFromARN is the last path element of an ARN (a task's id).
func idFromARN(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// restartWatch is what watchThroughRestart saw.
type restartWatch struct {
	samples, apiDown, stable int
	fewestRunning, mostLive  int
	fewestContainers         int
	mostContainers           int
	violations               []string // the first few samples out of bounds
}

func (w restartWatch) String() string {
	return fmt.Sprintf("%d samples (%d while the API was down, %d with a stable task list): fewest RUNNING %d, most not STOPPED %d; running containers %d to %d",
		w.samples, w.apiDown, w.stable, w.fewestRunning, w.mostLive, w.fewestContainers, w.mostContainers)
}

// maxViolations bounds how many out-of-bounds samples a watch keeps.
const maxViolations = 10

// watchThroughRestart samples a service in a goroutine, as watchRollout
// does but through a server restart, until the returned function is called
// (or t ends), which returns what it saw. A sample is Docker's running
// containers of the cluster, in [minHealthy, maxLive] even while the server
// is down, and, when the API answers (an error counts the sample as taken
// while it was down): DescribeServices with one PRIMARY deployment, primary,
// and no deployment but those in deployments, running + pending <= maxLive;
// the service's tasks (listed, described, listed again: a sample in which
// a task appeared is not judged) with at least minHealthy RUNNING and not
// being stopped and at most maxLive not STOPPED. The goroutine never calls
// t: what is out of bounds comes back as violations.
func watchThroughRestart(t *testing.T, client *ecs.Client, cluster, clusterARN, name string, deployments []string, primary string, minHealthy, maxLive int) func() restartWatch {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan restartWatch, 1)
	go func() {
		w := restartWatch{fewestRunning: 1 << 30, fewestContainers: 1 << 30}
		defer func() { done <- w }()
		violate := func(format string, args ...any) {
			if len(w.violations) < maxViolations {
				w.violations = append(w.violations, fmt.Sprintf("sample %d: ", w.samples)+fmt.Sprintf(format, args...))
			}
		}
		for ctx.Err() == nil {
			w.samples++
			if err := sampleThroughRestart(ctx, client, cluster, clusterARN, name, deployments, primary, minHealthy, maxLive, &w, violate); err != nil {
				if ctx.Err() != nil {
					w.samples--
					return
				}
				w.apiDown++
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond): // sampling pace, not a wait for state
			}
		}
	}()
	var w *restartWatch
	stop := func() restartWatch {
		if w == nil {
			cancel()
			got := <-done
			w = &got
		}
		return *w
	}
	t.Cleanup(func() { stop() })
	return stop
}

// sampleThroughRestart takes one of watchThroughRestart's samples. It
// returns an error when the API did not answer (the server is down, or not
// ready yet), after Docker's part of the sample.
func sampleThroughRestart(ctx context.Context, client *ecs.Client, cluster, clusterARN, name string, deployments []string, primary string,
	minHealthy, maxLive int, w *restartWatch, violate func(string, ...any)) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := dockerCli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labelCluster+"="+clusterARN))})
	if err != nil {
		return fmt.Errorf("docker ps: %w", err)
	}
	running := 0
	for _, c := range list {
		if c.State == container.StateRunning {
			running++
		}
	}
	w.fewestContainers, w.mostContainers = min(w.fewestContainers, running), max(w.mostContainers, running)
	if running < minHealthy || running > maxLive {
		violate("%d containers of the cluster running in Docker, want %d to %d", running, minHealthy, maxLive)
	}

	ds, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	if err != nil {
		return err
	}
	if len(ds.Services) != 1 {
		violate("DescribeServices %s: %s", name, jsonString(ds))
		return nil
	}
	svc := ds.Services[0]
	primaries := 0
	for _, d := range svc.Deployments {
		id := aws.ToString(d.Id)
		if !slices.Contains(deployments, id) {
			violate("deployment %s (%s), want only %v: %s", id, aws.ToString(d.Status), deployments, jsonString(svc.Deployments))
		}
		if aws.ToString(d.Status) == "PRIMARY" {
			primaries++
			if id != primary {
				violate("PRIMARY deployment %s, want %s", id, primary)
			}
		}
	}
	if primaries != 1 {
		violate("%d PRIMARY deployments, want 1 (%s): %s", primaries, primary, jsonString(svc.Deployments))
	}
	if svc.RunningCount+svc.PendingCount > int32(maxLive) {
		violate("service runningCount %d + pendingCount %d > %d", svc.RunningCount, svc.PendingCount, maxLive)
	}

	listAll := func() ([]string, error) {
		var all []string
		for _, desired := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
			p := ecs.NewListTasksPaginator(client, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String(name), DesiredStatus: desired})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return nil, err
				}
				all = append(all, page.TaskArns...)
			}
		}
		// A task whose desired status turned STOPPED between the two
		// listings is in both: count it once.
		slices.Sort(all)
		return slices.Compact(all), nil
	}
	before, err := listAll()
	if err != nil {
		return err
	}
	var described []types.Task
	for chunk := range slices.Chunk(before, 100) {
		out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk})
		if err != nil {
			return err
		}
		described = append(described, out.Tasks...)
	}
	after, err := listAll()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(after, func(arn string) bool { return !slices.Contains(before, arn) }) {
		return nil // a task appeared meanwhile: one RUNNING could be missing
	}
	w.stable++
	healthy, live := 0, 0
	var states []string
	for _, task := range described {
		ls, ds := aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus)
		states = append(states, fmt.Sprintf("%s %s/%s by %s", idFromARN(aws.ToString(task.TaskArn)), ls, ds, aws.ToString(task.StartedBy)))
		if ls == "RUNNING" && ds == "RUNNING" {
			healthy++
		}
		if ls != "STOPPED" {
			live++
		}
	}
	w.fewestRunning, w.mostLive = min(w.fewestRunning, healthy), max(w.mostLive, live)
	if healthy < minHealthy || live > maxLive {
		violate("%d tasks RUNNING (and not being stopped), %d not STOPPED; want >= %d and <= %d: %s",
			healthy, live, minHealthy, maxLive, strings.Join(states, ", "))
	}
	return nil
}
