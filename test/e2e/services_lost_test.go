package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// A paused agent stops answering heartbeats: the server closes its socket
// after three missed ones, and once the server's --lost-agent-grace has
// passed, the service's task there is stopped and replaced on the other
// instance while its container still runs. When the agent resumes, it
// receives the stop and stops the stale container: exactly desiredCount
// tasks run, and Docker runs exactly their containers.
func TestCLIServiceLostAgent(t *testing.T) {
	srv := startServer(t, serverOptions{Args: []string{"--lost-agent-grace", "5s"}})
	cluster := uniqueName(t, "c")
	clusterARN := srv.createCluster(t, cluster)
	nodeA := srv.startAgent(t, agentOptions{Name: "node-a", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-a", AZ: region + "a"})
	nodeB := srv.startAgent(t, agentOptions{Name: "node-b", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-b", AZ: region + "b"})
	td := registerSleeper(t, srv, uniqueName(t, "lost"), map[string]string{"APP_NAME": "lost"})

	name := uniqueName(t, "svc")
	f := svcCLI{srv: srv, cluster: cluster, name: name}
	t.Log("== 1. create-service: 2 tasks spread over instanceId")
	awsCLI(t, srv, "ecs", "create-service", "--cluster", cluster, "--service-name", name,
		"--task-definition", td, "--desired-count", "2", "--launch-type", "EC2",
		"--placement-strategy", "type=spread,field=instanceId",
		"--deployment-configuration", "maximumPercent=200,minimumHealthyPercent=50")
	_, tasks := f.waitStable(t, 2, td)
	var onB svcTask
	for _, task := range tasks {
		if task.ContainerInstanceArn == nodeB.instanceARN {
			onB = task
		}
	}
	if onB.TaskArn == "" {
		t.Fatalf("spread over instanceId: no task on node-b: %s", jsonString(tasks))
	}
	staleContainer := onB.container(t, "app").RuntimeId

	t.Log("== 2. pause node-b's agent (SIGSTOP): its task is replaced on node-a; its container keeps running")
	if err := nodeB.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("pause node-b: %v", err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := nodeB.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Errorf("resume node-b: %v", err)
			}
		}
	}
	defer resume()
	// Three missed heartbeats (45 s), the grace (5 s), a replacement start.
	waitFor(t, 3*time.Minute, "node-b's task replaced on node-a", func() bool {
		stale := cliDescribeTask(t, srv, cluster, onB.TaskArn)
		if stale.DesiredStatus != "STOPPED" {
			return false
		}
		if stale.LastStatus != "RUNNING" || !strings.Contains(stale.StoppedReason, "agent has been disconnected for more than 5s") ||
			stale.StopCode != "ServiceSchedulerInitiated" {
			t.Fatalf("the lost task: last %s desired %s code %s reason %q; want RUNNING (its agent is away), STOPPED, ServiceSchedulerInitiated, the lost agent",
				stale.LastStatus, stale.DesiredStatus, stale.StopCode, stale.StoppedReason)
		}
		live := f.tasks(t, "RUNNING")
		running := 0
		for _, task := range live {
			if task.ContainerInstanceArn != nodeA.instanceARN {
				t.Fatalf("a live task of the service on %s while node-b is lost: %s", task.ContainerInstanceArn, jsonString(live))
			}
			if task.LastStatus == "RUNNING" {
				running++
			}
		}
		return len(live) == 2 && running == 2
	})
	if !containerRunning(t, clusterARN, staleContainer) {
		t.Fatalf("the lost task's container %s stopped while its agent was paused", staleContainer)
	}
	svc := f.describe(t)
	if !hasEvent(svc, "has stopped 1 running tasks:", onB.TaskArn[strings.LastIndex(onB.TaskArn, "/")+1:]) {
		t.Fatalf("no event for the lost task: %s", jsonString(svc.Events))
	}

	t.Log("== 3. resume node-b (SIGCONT): it reconnects and stops the stale container; exactly 2 tasks run")
	resume()
	nodeB.waitConnected(t)
	cliWaitTask(t, srv, cluster, onB.TaskArn, func(task cliTask) bool { return task.LastStatus == "STOPPED" }, "the stale task STOPPED")
	waitFor(t, svcTimeout, "the stale container stopped and the service at 2", func() bool {
		if containerRunning(t, clusterARN, staleContainer) {
			return false
		}
		svc := f.describe(t)
		return svc.RunningCount == 2 && svc.PendingCount == 0 && len(f.tasks(t, "RUNNING")) == 2
	})
	var live []string
	for _, task := range f.tasks(t, "RUNNING") {
		if task.LastStatus != "RUNNING" || task.ContainerInstanceArn != nodeA.instanceARN {
			t.Fatalf("after node-b is back: task %s %s on %s, want RUNNING on node-a", task.TaskArn, task.LastStatus, task.ContainerInstanceArn)
		}
		live = append(live, task.TaskArn)
	}
	running := 0
	for _, c := range containersWithLabel(t, labelCluster, clusterARN) {
		if c.State == container.StateRunning {
			running++
			if task := c.Labels[labelTaskARN]; !strings.Contains(strings.Join(live, " "), task) {
				t.Fatalf("Docker runs container %s of task %s, which is not one of the service's live tasks %v", c.ID, task, live)
			}
		}
	}
	if running != 2 {
		t.Fatalf("Docker runs %d containers of the cluster, want the 2 of the live tasks", running)
	}
}

// containerRunning reports whether Docker runs container id of the cluster.
func containerRunning(t *testing.T, clusterARN, id string) bool {
	t.Helper()
	for _, c := range containersWithLabel(t, labelCluster, clusterARN) {
		if c.ID == id || strings.HasPrefix(c.ID, id) {
			return c.State == container.StateRunning
		}
	}
	return false
}
