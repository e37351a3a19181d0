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

// svcTimeout bounds one wait for a service to reach a state (tasks placed,
// started, stopped, replaced) on a loaded two-core machine.
const svcTimeout = 2 * time.Minute

// The CLI's JSON for services, decoded into what the tests look at.
type (
	cliService struct {
		ServiceArn, ServiceName, ClusterArn, Status    string
		TaskDefinition, LaunchType, SchedulingStrategy string
		DesiredCount, RunningCount, PendingCount       int
		DeploymentConfiguration                        struct{ MaximumPercent, MinimumHealthyPercent int }
		Deployments                                    []cliDeployment
		Events                                         []struct{ Id, Message string }
	}
	cliDeployment struct {
		Id, Status, TaskDefinition, RolloutState, LaunchType string
		DesiredCount, RunningCount, PendingCount             int
	}
	cliServicesResp struct {
		Services []cliService
		Failures []cliFailure
	}
	// svcTask is a task with its group, which cliTask does not decode.
	svcTask struct {
		cliTask
		Group string
	}
)

// svcCLI reads one service of one cluster through the AWS CLI.
type svcCLI struct {
	srv           *server
	cluster, name string
}

// describe is describe-services of the service: exactly one, no failures.
func (f svcCLI) describe(t testing.TB) cliService {
	t.Helper()
	var out cliServicesResp
	cliJSON(t, f.srv, &out, "ecs", "describe-services", "--cluster", f.cluster, "--services", f.name)
	if len(out.Services) != 1 || len(out.Failures) != 0 {
		t.Fatalf("describe-services %s: %s", f.name, jsonString(out))
	}
	return out.Services[0]
}

// tasks is list-tasks --service-name with desired (RUNNING or STOPPED),
// then describe-tasks of what it listed.
func (f svcCLI) tasks(t testing.TB, desired string) []svcTask {
	t.Helper()
	var list struct{ TaskArns []string }
	cliJSON(t, f.srv, &list, "ecs", "list-tasks", "--cluster", f.cluster, "--service-name", f.name, "--desired-status", desired)
	return f.describeTasks(t, list.TaskArns...)
}

func (f svcCLI) describeTasks(t testing.TB, arns ...string) []svcTask {
	t.Helper()
	if len(arns) == 0 {
		return nil
	}
	var out struct {
		Tasks    []svcTask
		Failures []cliFailure
	}
	cliJSON(t, f.srv, &out, append([]string{"ecs", "describe-tasks", "--cluster", f.cluster, "--tasks"}, arns...)...)
	if len(out.Tasks) != len(arns) || len(out.Failures) != 0 {
		t.Fatalf("describe-tasks %v: %s", arns, jsonString(out))
	}
	return out.Tasks
}

// waitStable polls describe-services until the condition of `aws ecs wait
// services-stable` holds (one deployment, runningCount == desiredCount),
// here with want tasks of taskDef and the deployment COMPLETED, and
// list-tasks agrees: want tasks, all RUNNING, all of taskDef. Then it runs
// the CLI's waiter itself, which must answer at its first poll.
func (f svcCLI) waitStable(t testing.TB, want int, taskDef string) (cliService, []svcTask) {
	t.Helper()
	var svc cliService
	var tasks []svcTask
	last := ""
	defer func() {
		if t.Failed() {
			t.Logf("last seen: %s", last)
		}
	}()
	waitFor(t, svcTimeout, fmt.Sprintf("service %s stable with %d RUNNING tasks of %s", f.name, want, taskDef), func() bool {
		svc = f.describe(t)
		last = jsonString(svc)
		if svc.Status != "ACTIVE" || len(svc.Deployments) != 1 || svc.DesiredCount != want || svc.RunningCount != want {
			return false
		}
		d := svc.Deployments[0]
		if d.Status != "PRIMARY" || d.TaskDefinition != taskDef || d.RolloutState != "COMPLETED" {
			return false
		}
		tasks = f.tasks(t, "RUNNING")
		last += "\ntasks: " + jsonString(tasks)
		if len(tasks) != want {
			return false
		}
		for _, task := range tasks {
			if task.LastStatus != "RUNNING" || task.TaskDefinitionArn != taskDef {
				return false
			}
		}
		return true
	})
	awsCLI(t, f.srv, "ecs", "wait", "services-stable", "--cluster", f.cluster, "--services", f.name)
	return svc, tasks
}

// checkServiceTasks checks what ECS says of a service's tasks: group
// "service:<name>", startedBy the id of the deployment that started them.
func checkServiceTasks(t testing.TB, name string, tasks []svcTask, deploymentID string) {
	t.Helper()
	for _, task := range tasks {
		if task.Group != "service:"+name || task.StartedBy != deploymentID || !strings.HasPrefix(task.StartedBy, "ecs-svc/") {
			t.Errorf("task %s: group %q startedBy %q, want service:%s and the deployment id %s",
				task.TaskArn, task.Group, task.StartedBy, name, deploymentID)
		}
	}
}

func arns(tasks []svcTask) []string {
	var out []string
	for _, task := range tasks {
		out = append(out, task.TaskArn)
	}
	slices.Sort(out)
	return out
}

// TestCLIService runs a REPLICA service with the AWS CLI v2 on two real
// agents: it reaches a steady state, replaces a task whose container was
// killed behind its back, scales up, rolls out a new revision within
// minimumHealthyPercent and maximumPercent (its two service deployments
// and their revisions read through the SDK), refuses to be deleted while
// scaled up unless forced, then drains to INACTIVE with its containers gone.
// What it checks is what AWS documents for ECS services.
func TestCLIService(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	clusterARN := srv.createCluster(t, cluster)
	agents := []*agent{
		srv.startAgent(t, agentOptions{Name: "node-a", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-a", AZ: region + "a"}),
		srv.startAgent(t, agentOptions{Name: "node-b", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-b", AZ: region + "b"}),
	}
	instances := []string{agents[0].instanceARN, agents[1].instanceARN}

	family := uniqueName(t, "web")
	taskDef := func(env map[string]string) string {
		var kv []map[string]string
		for k, v := range env {
			kv = append(kv, map[string]string{"name": k, "value": v})
		}
		path := writeJSON(t, map[string]any{
			"family": family, "networkMode": "bridge", "requiresCompatibilities": []string{"EC2"},
			"containerDefinitions": []map[string]any{{
				"name": "app", "image": appImage, "essential": true, "cpu": 64, "memoryReservation": 32,
				"portMappings": []map[string]any{{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}},
				"environment":  kv,
			}},
		})
		var reg struct {
			TaskDefinition struct{ TaskDefinitionArn string }
		}
		cliJSON(t, srv, &reg, "ecs", "register-task-definition", "--cli-input-json", "file://"+path)
		return reg.TaskDefinition.TaskDefinitionArn
	}
	td1 := taskDef(map[string]string{"APP_NAME": "svc-e2e"})

	name := uniqueName(t, "svc")
	f := svcCLI{srv: srv, cluster: cluster, name: name}
	serviceARN := fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", region, accountID, cluster, name)
	listServices := func() []string {
		var out struct{ ServiceArns []string }
		cliJSON(t, srv, &out, "ecs", "list-services", "--cluster", cluster)
		return out.ServiceArns
	}

	// 1. create-service --desired-count 2: steady with 2 RUNNING tasks.
	t.Log("== 1. create-service --desired-count 2")
	var created struct{ Service cliService }
	cliJSON(t, srv, &created, "ecs", "create-service", "--cluster", cluster, "--service-name", name,
		"--task-definition", td1, "--desired-count", "2", "--launch-type", "EC2")
	svc := created.Service
	if svc.ServiceArn != serviceARN || svc.ServiceName != name || svc.ClusterArn != clusterARN || svc.Status != "ACTIVE" ||
		svc.DesiredCount != 2 || svc.LaunchType != "EC2" || svc.TaskDefinition != td1 || svc.SchedulingStrategy != "REPLICA" {
		t.Errorf("create-service returned %s", jsonString(svc))
	}
	// ECS's defaults for the rolling update (ECS) deployment controller.
	if c := svc.DeploymentConfiguration; c.MaximumPercent != 200 || c.MinimumHealthyPercent != 100 {
		t.Errorf("deploymentConfiguration %+v, want ECS's defaults maximumPercent 200, minimumHealthyPercent 100", c)
	}
	if len(svc.Deployments) != 1 || svc.Deployments[0].Status != "PRIMARY" || svc.Deployments[0].TaskDefinition != td1 ||
		!strings.HasPrefix(svc.Deployments[0].Id, "ecs-svc/") {
		t.Fatalf("create-service deployments: %s", jsonString(svc.Deployments))
	}
	dep1 := svc.Deployments[0].Id
	if got := listServices(); !slices.Equal(got, []string{serviceARN}) {
		t.Errorf("list-services = %v, want [%s]", got, serviceARN)
	}

	svc, tasks := f.waitStable(t, 2, td1)
	if svc.Deployments[0].Id != dep1 {
		t.Errorf("deployment id %s, want the one create-service returned (%s)", svc.Deployments[0].Id, dep1)
	}
	waitFor(t, svcTimeout, `a service event "has reached a steady state"`, func() bool {
		for _, e := range f.describe(t).Events {
			if strings.Contains(e.Message, "has reached a steady state") {
				return true
			}
		}
		return false
	})
	checkServiceTasks(t, name, tasks, dep1)
	for _, task := range tasks {
		if !slices.Contains(instances, task.ContainerInstanceArn) {
			t.Errorf("task %s on %q, not one of the cluster's instances", task.TaskArn, task.ContainerInstanceArn)
		}
		port := 0
		for _, b := range task.container(t, "app").NetworkBindings {
			if b.ContainerPort == 8080 {
				port = b.HostPort
			}
		}
		if port == 0 {
			t.Fatalf("task %s: no host port for 8080: %+v", task.TaskArn, task.container(t, "app").NetworkBindings)
		}
		if reply := httpGetApp(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); reply.Env["APP_NAME"] != "svc-e2e" {
			t.Errorf("task %s answers with env %v, want the task definition's", task.TaskArn, reply.Env)
		}
	}

	// 2. A container killed behind the service's back: its task stops and
	// the service starts a replacement.
	t.Log("== 2. docker kill one of the service's containers")
	victim := tasks[0]
	survivor := tasks[1].TaskArn
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := dockerCli.ContainerKill(ctx, victim.container(t, "app").RuntimeId, "SIGKILL")
	cancel()
	if err != nil {
		t.Fatalf("docker kill %s: %v", victim.container(t, "app").RuntimeId, err)
	}
	stopped := cliWaitTask(t, srv, cluster, victim.TaskArn, func(t cliTask) bool { return t.LastStatus == "STOPPED" }, "the killed task STOPPED")
	if c := stopped.container(t, "app"); stopped.StopCode != "EssentialContainerExited" || c.ExitCode == nil || *c.ExitCode != 137 {
		t.Errorf("killed task: stopCode %q, exit code %v; want EssentialContainerExited and 137", stopped.StopCode, c.ExitCode)
	}
	svc, tasks = f.waitStable(t, 2, td1)
	if got := arns(tasks); !slices.Contains(got, survivor) || slices.Contains(got, victim.TaskArn) {
		t.Errorf("running tasks %v, want the survivor %s and a replacement for %s", got, survivor, victim.TaskArn)
	}
	if svc.Deployments[0].Id != dep1 {
		t.Errorf("replacing a task changed the deployment: %s, want %s", svc.Deployments[0].Id, dep1)
	}
	checkServiceTasks(t, name, tasks, dep1)
	waitContainersGone(t, victim.TaskArn)

	// 3. Scale up: no new deployment, one more task.
	t.Log("== 3. update-service --desired-count 4")
	var updated struct{ Service cliService }
	cliJSON(t, srv, &updated, "ecs", "update-service", "--cluster", cluster, "--service", name, "--desired-count", "4")
	if updated.Service.DesiredCount != 4 {
		t.Errorf("update-service returned desiredCount %d, want 4", updated.Service.DesiredCount)
	}
	svc, tasks = f.waitStable(t, 4, td1)
	if svc.Deployments[0].Id != dep1 {
		t.Errorf("a change of desiredCount alone made a new deployment %s (was %s)", svc.Deployments[0].Id, dep1)
	}
	checkServiceTasks(t, name, tasks, dep1)
	rev1Tasks := arns(tasks)

	// 4. Roll out revision 2 with maximumPercent 200, minimumHealthyPercent 50:
	// never fewer than ceil(4*0.5) = 2 RUNNING tasks, never more than
	// floor(4*2.0) = 8 RUNNING or PENDING.
	t.Log("== 4. update-service --task-definition rev2, maximumPercent=200,minimumHealthyPercent=50")
	td2 := taskDef(map[string]string{"APP_NAME": "svc-e2e", "APP_REV": "2"})
	if td2 == td1 || !strings.HasSuffix(td2, ":2") {
		t.Fatalf("second registration of %s: %s", family, td2)
	}
	updated = struct{ Service cliService }{}
	cliJSON(t, srv, &updated, "ecs", "update-service", "--cluster", cluster, "--service", name, "--task-definition", td2,
		"--deployment-configuration", "maximumPercent=200,minimumHealthyPercent=50")
	svc = updated.Service
	if c := svc.DeploymentConfiguration; c.MaximumPercent != 200 || c.MinimumHealthyPercent != 50 || svc.TaskDefinition != td2 {
		t.Errorf("update-service returned taskDefinition %s, deploymentConfiguration %+v", svc.TaskDefinition, c)
	}
	var dep2 string
	oldActive := false
	for _, d := range svc.Deployments {
		switch {
		case d.Status == "PRIMARY" && d.TaskDefinition == td2 && d.Id != dep1 && d.RolloutState == "IN_PROGRESS":
			dep2 = d.Id
		case d.Status == "ACTIVE" && d.TaskDefinition == td1 && d.Id == dep1:
			oldActive = true
		}
	}
	if dep2 == "" || !oldActive || len(svc.Deployments) != 2 {
		t.Fatalf("update-service deployments, want a new PRIMARY on rev2 IN_PROGRESS and the old one ACTIVE: %s", jsonString(svc.Deployments))
	}
	samples := watchRollout(t, srv, cluster, clusterARN, name, 4, 2, 8, td2)
	t.Logf("rollout: %s", samples)
	svc, tasks = f.waitStable(t, 4, td2)
	if svc.Deployments[0].Id != dep2 {
		t.Errorf("deployment %s after the rollout, want %s", svc.Deployments[0].Id, dep2)
	}
	checkServiceTasks(t, name, tasks, dep2)
	checkServiceHistory(t, srv, cluster, name, dep1, td1, dep2, td2) // services_history_test.go
	for _, task := range tasks {
		env := inspect(t, task.container(t, "app").RuntimeId).Config.Env
		if !slices.Contains(env, "APP_REV=2") {
			t.Errorf("task %s of rev2: container env %v lacks APP_REV=2", task.TaskArn, env)
		}
	}
	for _, arn := range rev1Tasks {
		cliWaitTask(t, srv, cluster, arn, func(t cliTask) bool { return t.LastStatus == "STOPPED" }, "the rev1 task "+arn+" STOPPED")
		waitContainersGone(t, arn)
	}
	rev2Tasks := arns(tasks)

	// 4b. maximumPercent 100 with minimumHealthyPercent 100 allows no step:
	// a forced new deployment starts and stops nothing and says so in an
	// event; back at 200/50 it completes.
	t.Log("== 4b. update-service --force-new-deployment at maximumPercent=100,minimumHealthyPercent=100")
	cliJSON(t, srv, &updated, "ecs", "update-service", "--cluster", cluster, "--service", name, "--force-new-deployment",
		"--deployment-configuration", "maximumPercent=100,minimumHealthyPercent=100")
	waitFor(t, svcTimeout, "the event that the deployment cannot proceed", func() bool {
		return hasEvent(f.describe(t), "was unable to stop or start tasks during a deployment because of the service deployment configuration")
	})
	live := f.tasks(t, "RUNNING")
	if got := arns(live); len(got) != 4 || slices.ContainsFunc(got, func(arn string) bool { return !slices.Contains(rev2Tasks, arn) }) {
		t.Fatalf("at 100/100 the tasks changed: %s, want the 4 of %s", jsonString(live), dep2)
	}
	cliJSON(t, srv, &updated, "ecs", "update-service", "--cluster", cluster, "--service", name,
		"--deployment-configuration", "maximumPercent=200,minimumHealthyPercent=50")
	svc, tasks = f.waitStable(t, 4, td2)
	if svc.Deployments[0].Id == dep2 {
		t.Errorf("the forced deployment did not replace %s", dep2)
	}
	checkServiceTasks(t, name, tasks, svc.Deployments[0].Id)
	rev2Tasks = arns(tasks)

	// 5. DeleteService: refused while scaled above 0 unless forced; forced,
	// the service drains, its tasks stop and it becomes INACTIVE.
	t.Log("== 5. delete-service")
	if code := cliError(t, srv, "ecs", "delete-service", "--cluster", cluster, "--service", name); code != "InvalidParameterException" {
		t.Errorf("delete-service without --force of a service at desiredCount 4: %s, want InvalidParameterException", code)
	}
	if svc = f.describe(t); svc.Status != "ACTIVE" || svc.DesiredCount != 4 {
		t.Errorf("after a refused delete: status %s desiredCount %d, want ACTIVE and 4", svc.Status, svc.DesiredCount)
	}
	var deleted struct{ Service cliService }
	cliJSON(t, srv, &deleted, "ecs", "delete-service", "--cluster", cluster, "--service", name, "--force")
	if deleted.Service.Status != "DRAINING" || deleted.Service.ServiceArn != serviceARN {
		t.Errorf("delete-service --force returned %s %s, want %s DRAINING", deleted.Service.ServiceArn, deleted.Service.Status, serviceARN)
	}
	// "the service is no longer visible in the console or in the
	// ListServices API operation" (ECS DeleteService).
	if got := listServices(); slices.Contains(got, serviceARN) {
		t.Errorf("list-services after delete-service = %v, still lists %s", got, serviceARN)
	}
	waitFor(t, svcTimeout, "the deleted service INACTIVE", func() bool {
		switch s := f.describe(t).Status; s {
		case "DRAINING":
			return false
		case "INACTIVE":
			return true
		default:
			t.Fatalf("deleted service is %s, want DRAINING then INACTIVE", s)
			return false
		}
	})
	awsCLI(t, srv, "ecs", "wait", "services-inactive", "--cluster", cluster, "--services", name)
	waitFor(t, svcTimeout, "the deleted service's tasks STOPPED", func() bool {
		for _, task := range f.describeTasks(t, rev2Tasks...) {
			if task.LastStatus != "STOPPED" {
				return false
			}
		}
		return true
	})
	var left struct{ TaskArns []string }
	cliJSON(t, srv, &left, "ecs", "list-tasks", "--cluster", cluster)
	if len(left.TaskArns) != 0 {
		t.Errorf("list-tasks after the service was deleted: %v, want none", left.TaskArns)
	}
	waitFor(t, svcTimeout, "every container of the cluster removed from Docker", func() bool {
		return len(containersWithLabel(t, labelCluster, clusterARN)) == 0
	})
	if got := listServices(); len(got) != 0 {
		t.Errorf("list-services after the service went INACTIVE = %v, want none", got)
	}

	// 6. Bad input.
	t.Log("== 6. an unknown service; a malformed placement constraint")
	var missing cliServicesResp
	cliJSON(t, srv, &missing, "ecs", "describe-services", "--cluster", cluster, "--services", "no-such-service")
	if len(missing.Services) != 0 || len(missing.Failures) != 1 || missing.Failures[0].Reason != "MISSING" {
		t.Errorf("describe-services of an unknown service: %s, want one failure MISSING", jsonString(missing))
	}
	bad := uniqueName(t, "bad")
	if code := cliError(t, srv, "ecs", "create-service", "--cluster", cluster, "--service-name", bad, "--task-definition", td2,
		"--desired-count", "1", "--launch-type", "EC2",
		"--placement-constraints", "type=memberOf,expression=attribute:stack == edge and ("); code != "InvalidParameterException" {
		t.Errorf("create-service with a malformed memberOf expression: %s, want InvalidParameterException", code)
	}
	if got := listServices(); len(got) != 0 {
		t.Errorf("list-services after a refused create-service = %v, want none", got)
	}
	cliJSON(t, srv, &missing, "ecs", "describe-services", "--cluster", cluster, "--services", bad)
	if len(missing.Services) != 0 || len(missing.Failures) != 1 || missing.Failures[0].Reason != "MISSING" {
		t.Errorf("describe-services of the refused service: %s, want one failure MISSING", jsonString(missing))
	}
}

// watchRollout samples a service while it rolls out to taskDef until its
// rollout is done (one deployment, on taskDef, COMPLETED, running ==
// desired == want), and fails t the first time a sample has fewer than
// minHealthy RUNNING tasks or more than maxLive RUNNING or PENDING ones.
//
// It samples through the SDK, not the CLI: a CLI call costs half a second,
// too coarse to see a rollout. Each sample is three views:
//   - DescribeServices: runningCount in [minHealthy, maxLive], and
//     runningCount + pendingCount <= maxLive;
//   - the tasks: ListTasks (desired RUNNING, then STOPPED), DescribeTasks of
//     them all, ListTasks again: if the second listing has a task the first
//     lacked, a task was created meanwhile and the sample is thrown away
//     (it could miss a task that is RUNNING); else the tasks RUNNING and
//     not being stopped must be >= minHealthy, and the tasks not STOPPED
//     <= maxLive;
//   - Docker: the cluster's running containers (one per task) in
//     [minHealthy, maxLive].
func watchRollout(t *testing.T, srv *server, cluster, clusterARN, name string, want, minHealthy, maxLive int, taskDef string) string {
	t.Helper()
	client := srv.ecs()
	call := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	listAll := func(ctx context.Context) (running, all []string) {
		for _, desired := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
			p := ecs.NewListTasksPaginator(client, &ecs.ListTasksInput{
				Cluster: aws.String(cluster), ServiceName: aws.String(name), DesiredStatus: desired,
			})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				call("ListTasks", err)
				all = append(all, page.TaskArns...)
				if desired == types.DesiredStatusRunning {
					running = append(running, page.TaskArns...)
				}
			}
		}
		// A task whose desired status turned STOPPED between the two
		// listings is in both: count it once.
		slices.Sort(all)
		return running, slices.Compact(all)
	}
	var nSamples, nValid, fewest, most, mostContainers int
	fewest = 1 << 30
	last := ""
	defer func() {
		if t.Failed() {
			t.Logf("last sample: %s", last)
		}
	}()
	waitFor(t, 2*svcTimeout, "the rollout of "+taskDef, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		nSamples++

		ds, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
		call("DescribeServices", err)
		if len(ds.Services) != 1 {
			t.Fatalf("DescribeServices %s: %s", name, jsonString(ds))
		}
		svc := ds.Services[0]
		last = jsonString(svc)
		if svc.RunningCount < int32(minHealthy) || svc.RunningCount > int32(maxLive) || svc.RunningCount+svc.PendingCount > int32(maxLive) {
			t.Fatalf("service runningCount %d pendingCount %d during the rollout, want runningCount >= %d and running+pending <= %d",
				svc.RunningCount, svc.PendingCount, minHealthy, maxLive)
		}

		_, before := listAll(ctx)
		var described []types.Task
		for chunk := range slices.Chunk(before, 100) {
			out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk})
			call("DescribeTasks", err)
			described = append(described, out.Tasks...)
		}
		_, after := listAll(ctx)
		if !slices.ContainsFunc(after, func(arn string) bool { return !slices.Contains(before, arn) }) {
			nValid++
			healthy, live := 0, 0
			var states []string
			for _, task := range described {
				ls, dst := aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus)
				states = append(states, fmt.Sprintf("%s %s/%s %s", aws.ToString(task.TaskArn), ls, dst, aws.ToString(task.TaskDefinitionArn)))
				if ls == "RUNNING" && dst == "RUNNING" {
					healthy++
				}
				if ls != "STOPPED" {
					live++
				}
			}
			last += "\ntasks: " + strings.Join(states, "\n       ")
			fewest, most = min(fewest, healthy), max(most, live)
			if healthy < minHealthy || live > maxLive {
				t.Fatalf("during the rollout: %d tasks RUNNING (and not being stopped), %d not STOPPED; want >= %d and <= %d",
					healthy, live, minHealthy, maxLive)
			}
		}

		containers := 0
		for _, c := range containersWithLabel(t, labelCluster, clusterARN) {
			if c.State == container.StateRunning {
				containers++
			}
		}
		mostContainers = max(mostContainers, containers)
		if containers < minHealthy || containers > maxLive {
			t.Fatalf("during the rollout: %d containers of the cluster running in Docker, want %d to %d", containers, minHealthy, maxLive)
		}

		if len(svc.Deployments) != 1 {
			return false
		}
		d := svc.Deployments[0]
		return aws.ToString(d.TaskDefinition) == taskDef && d.RolloutState == types.DeploymentRolloutStateCompleted &&
			svc.DesiredCount == int32(want) && svc.RunningCount == int32(want)
	})
	return fmt.Sprintf("%d samples, %d with a stable task list: fewest RUNNING %d, most not STOPPED %d; most running containers %d",
		nSamples, nValid, fewest, most, mostContainers)
}
