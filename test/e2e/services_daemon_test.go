package e2e

import (
	"slices"
	"strings"
	"testing"
)

// TestCLIServiceDaemon runs a DAEMON service with the AWS CLI v2 on real
// agents: on three instances it settles with exactly one RUNNING task on
// each, a fourth instance that joins gets one (the first three keep theirs),
// a DAEMON create-service with a desired count is refused, and
// delete-service (no --force) takes it to INACTIVE with every task STOPPED.
func TestCLIServiceDaemon(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	clusterARN := srv.createCluster(t, cluster)
	agentOpts := func(node, az string) agentOptions {
		return agentOptions{Name: node, Cluster: cluster, CPU: 512, MemoryMiB: 512, Zone: "zone-" + az, AZ: region + az}
	}
	var instances []string
	for _, n := range []struct{ node, az string }{{"node-a", "a"}, {"node-b", "b"}, {"node-c", "c"}} {
		instances = append(instances, srv.startAgent(t, agentOpts(n.node, n.az)).instanceARN)
	}

	path := writeJSON(t, map[string]any{
		"family": uniqueName(t, "daemon"), "networkMode": "bridge", "requiresCompatibilities": []string{"EC2"},
		"containerDefinitions": []map[string]any{{
			"name": "app", "image": appImage, "essential": true, "cpu": 32, "memoryReservation": 32,
			"portMappings": []map[string]any{{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}},
			"environment":  []map[string]string{{"name": "APP_NAME", "value": "daemon-e2e"}},
		}},
	})
	var reg struct {
		TaskDefinition struct{ TaskDefinitionArn string }
	}
	cliJSON(t, srv, &reg, "ecs", "register-task-definition", "--cli-input-json", "file://"+path)
	td := reg.TaskDefinition.TaskDefinitionArn

	name := uniqueName(t, "svc")
	f := svcCLI{srv: srv, cluster: cluster, name: name}

	// oneEach checks that tasks are exactly one per instance of want, with
	// the app's port bound to a dynamic host port, and returns them by
	// instance.
	oneEach := func(tasks []svcTask, want []string, deploymentID string) map[string]string {
		t.Helper()
		checkServiceTasks(t, name, tasks, deploymentID)
		byInstance := map[string]string{}
		for _, task := range tasks {
			inst := task.ContainerInstanceArn
			if prev, dup := byInstance[inst]; dup {
				t.Errorf("instance %s runs two tasks of the daemon: %s and %s", inst, prev, task.TaskArn)
			}
			if !slices.Contains(want, inst) {
				t.Errorf("task %s on %q, not one of the cluster's instances %v", task.TaskArn, inst, want)
			}
			byInstance[inst] = task.TaskArn
			port := 0
			for _, b := range task.container(t, "app").NetworkBindings {
				if b.ContainerPort == 8080 {
					port = b.HostPort
				}
			}
			if port == 0 {
				t.Errorf("task %s: no dynamic host port for 8080: %+v", task.TaskArn, task.container(t, "app").NetworkBindings)
			}
		}
		for _, inst := range want {
			if _, ok := byInstance[inst]; !ok {
				t.Errorf("instance %s runs no task of the daemon; tasks by instance: %v", inst, byInstance)
			}
		}
		return byInstance
	}

	// 1. create-service DAEMON with no desired count: one task per instance.
	t.Log("== 1. create-service --scheduling-strategy DAEMON on three instances")
	var created struct{ Service cliService }
	cliJSON(t, srv, &created, "ecs", "create-service", "--cluster", cluster, "--service-name", name,
		"--task-definition", td, "--scheduling-strategy", "DAEMON", "--launch-type", "EC2")
	svc := created.Service
	if svc.ServiceName != name || svc.ClusterArn != clusterARN || svc.Status != "ACTIVE" ||
		svc.SchedulingStrategy != "DAEMON" || svc.TaskDefinition != td || svc.LaunchType != "EC2" {
		t.Errorf("create-service returned %s", jsonString(svc))
	}
	// ECS's defaults for a DAEMON service.
	if c := svc.DeploymentConfiguration; c.MaximumPercent != 100 || c.MinimumHealthyPercent != 0 {
		t.Errorf("deploymentConfiguration %+v, want the DAEMON defaults maximumPercent 100, minimumHealthyPercent 0", c)
	}
	if len(svc.Deployments) != 1 || svc.Deployments[0].Status != "PRIMARY" || !strings.HasPrefix(svc.Deployments[0].Id, "ecs-svc/") {
		t.Fatalf("create-service deployments: %s", jsonString(svc.Deployments))
	}
	dep := svc.Deployments[0].Id

	svc, tasks := f.waitStable(t, 3, td)
	if svc.Deployments[0].Id != dep || svc.PendingCount != 0 {
		t.Errorf("stable service: deployment %s pendingCount %d, want %s and 0", svc.Deployments[0].Id, svc.PendingCount, dep)
	}
	first := oneEach(tasks, instances, dep)

	// 2. A fourth instance joins: it gets one task, the others keep theirs.
	t.Log("== 2. a fourth agent joins")
	instances = append(instances, srv.startAgent(t, agentOpts("node-d", "d")).instanceARN)
	svc, tasks = f.waitStable(t, 4, td)
	if svc.Deployments[0].Id != dep {
		t.Errorf("an instance joining made a new deployment %s (was %s)", svc.Deployments[0].Id, dep)
	}
	second := oneEach(tasks, instances, dep)
	for inst, arn := range first {
		if second[inst] != arn {
			t.Errorf("instance %s: task %s, want the one it ran before the fourth joined (%s)", inst, second[inst], arn)
		}
	}

	// 3. A DAEMON service takes no desired count.
	t.Log("== 3. create-service DAEMON with --desired-count")
	bad := uniqueName(t, "bad")
	if code := cliError(t, srv, "ecs", "create-service", "--cluster", cluster, "--service-name", bad,
		"--task-definition", td, "--scheduling-strategy", "DAEMON", "--desired-count", "2", "--launch-type", "EC2"); code != "InvalidParameterException" {
		t.Errorf("create-service DAEMON with --desired-count: %s, want InvalidParameterException", code)
	}
	var missing cliServicesResp
	cliJSON(t, srv, &missing, "ecs", "describe-services", "--cluster", cluster, "--services", bad)
	if len(missing.Services) != 0 || len(missing.Failures) != 1 || missing.Failures[0].Reason != "MISSING" {
		t.Errorf("describe-services of the refused service: %s, want one failure MISSING", jsonString(missing))
	}

	// 4. delete-service, without --force: INACTIVE, every task STOPPED.
	t.Log("== 4. delete-service (no --force)")
	var deleted struct{ Service cliService }
	cliJSON(t, srv, &deleted, "ecs", "delete-service", "--cluster", cluster, "--service", name)
	if s := deleted.Service.Status; s != "DRAINING" || deleted.Service.ServiceName != name {
		t.Errorf("delete-service returned %s %s, want %s DRAINING", deleted.Service.ServiceName, s, name)
	}
	waitFor(t, svcTimeout, "the deleted daemon INACTIVE", func() bool {
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
	all := arns(tasks)
	last := ""
	defer func() {
		if t.Failed() && last != "" {
			t.Logf("the daemon's tasks, last seen: %s", last)
		}
	}()
	waitFor(t, svcTimeout, "the deleted daemon's tasks STOPPED", func() bool {
		described := f.describeTasks(t, all...)
		last = jsonString(described)
		for _, task := range described {
			if task.LastStatus != "STOPPED" {
				return false
			}
		}
		return true
	})
	for _, task := range f.describeTasks(t, all...) {
		if task.StopCode != "ServiceSchedulerInitiated" || task.DesiredStatus != "STOPPED" {
			t.Errorf("task %s of the deleted daemon: stopCode %q desiredStatus %q, want ServiceSchedulerInitiated and STOPPED",
				task.TaskArn, task.StopCode, task.DesiredStatus)
		}
	}
	var left struct{ TaskArns []string }
	cliJSON(t, srv, &left, "ecs", "list-tasks", "--cluster", cluster)
	if len(left.TaskArns) != 0 {
		t.Errorf("list-tasks after the daemon was deleted: %v, want none", left.TaskArns)
	}
	waitFor(t, svcTimeout, "every container of the cluster removed from Docker", func() bool {
		return len(containersWithLabel(t, labelCluster, clusterARN)) == 0
	})
}
