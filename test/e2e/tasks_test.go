package e2e

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// oneNode starts a server and one agent on a fresh cluster.
func oneNode(t *testing.T) (*server, string, *agent) {
	t.Helper()
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	srv.createCluster(t, cluster)
	a := srv.startAgent(t, agentOptions{Name: "node-1", Cluster: cluster, CPU: 2048, MemoryMiB: 2048, Zone: "zone-a"})
	return srv, cluster, a
}

// TestEssentialContainerExitStopsTask: when the essential container exits
// with 3, the task stops with ECS's reason and code, and the long-running
// non-essential container next to it is stopped too.
func TestEssentialContainerExitStopsTask(t *testing.T) {
	srv, cluster, _ := oneNode(t)
	def := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(uniqueName(t, "f")),
		ContainerDefinitions: []types.ContainerDefinition{
			exitingWorker("worker", "1s", 3),
			sleeper("log-shipper", false),
		},
	})
	task := runTask(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn})[0]
	arn := aws.ToString(task.TaskArn)

	task = waitTaskStatus(t, srv, cluster, arn, "STOPPED")
	if got := aws.ToString(task.StoppedReason); got != "Essential container in task exited" {
		t.Errorf("stoppedReason = %q", got)
	}
	if task.StopCode != types.TaskStopCodeEssentialContainerExited {
		t.Errorf("stopCode = %q", task.StopCode)
	}
	if task.StartedAt == nil {
		t.Errorf("startedAt unset: the task never ran")
	}
	worker := containerNamed(t, task, "worker")
	if worker.ExitCode == nil || *worker.ExitCode != 3 {
		t.Errorf("worker exit code = %v, want 3", worker.ExitCode)
	}
	shipper := containerNamed(t, task, "log-shipper")
	if aws.ToString(shipper.LastStatus) != "STOPPED" {
		t.Errorf("log-shipper lastStatus = %q, want STOPPED", aws.ToString(shipper.LastStatus))
	}
	if shipper.ExitCode == nil || *shipper.ExitCode != 0 {
		t.Errorf("log-shipper exit code = %v, want 0 (stopped by SIGTERM)", shipper.ExitCode)
	}
	waitContainersGone(t, arn)
}

// TestDependsOnOrdering checks the dependsOn conditions with Docker's own
// timestamps: COMPLETE and SUCCESS dependents start after the dependency
// finished, a HEALTHY dependent after its dependency's first passing check.
func TestDependsOnOrdering(t *testing.T) {
	srv, cluster, _ := oneNode(t)
	after := func(name, dep string, cond types.ContainerCondition) types.ContainerDefinition {
		c := sleeper(name, true)
		c.DependsOn = []types.ContainerDependency{{ContainerName: aws.String(dep), Condition: cond}}
		return c
	}
	def := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(uniqueName(t, "f")),
		ContainerDefinitions: []types.ContainerDefinition{
			{
				Name: aws.String("migrate"), Image: aws.String(busyboxImage), Essential: aws.Bool(false),
				Command: []string{"sh", "-c", "sleep 1; exit 0"}, MemoryReservation: aws.Int32(16),
			},
			{
				Name: aws.String("cache"), Image: aws.String(appImage), Essential: aws.Bool(false),
				Command: []string{"-port", "8080"}, MemoryReservation: aws.Int32(32),
				HealthCheck: &types.HealthCheck{
					Command:  []string{"CMD", "/app", "-probe", "http://127.0.0.1:8080/healthz"},
					Interval: aws.Int32(5), Timeout: aws.Int32(2), Retries: aws.Int32(3),
				},
			},
			after("after-complete", "migrate", types.ContainerConditionComplete),
			after("after-success", "migrate", types.ContainerConditionSuccess),
			after("after-healthy", "cache", types.ContainerConditionHealthy),
		},
	})
	task := runTask(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn})[0]
	arn := aws.ToString(task.TaskArn)
	task = waitTaskStatus(t, srv, cluster, arn, "RUNNING")

	id := func(name string) string {
		c := containerNamed(t, task, name)
		if aws.ToString(c.RuntimeId) == "" {
			t.Fatalf("container %s has no runtimeId in a RUNNING task", name)
		}
		return aws.ToString(c.RuntimeId)
	}
	migrate := inspect(t, id("migrate"))
	if migrate.State.Running || migrate.State.ExitCode != 0 {
		t.Fatalf("migrate: running %v exit %d, want exited 0", migrate.State.Running, migrate.State.ExitCode)
	}
	migrateDone := dockerTime(t, "migrate FinishedAt", migrate.State.FinishedAt)
	for _, name := range []string{"after-complete", "after-success"} {
		c := inspect(t, id(name))
		started := dockerTime(t, name+" StartedAt", c.State.StartedAt)
		if !c.State.Running || !started.After(migrateDone) {
			t.Errorf("%s: running %v, started %s, want after migrate finished at %s", name, c.State.Running, started, migrateDone)
		}
	}

	cache := inspect(t, id("cache"))
	if cache.State.Health == nil {
		t.Fatalf("cache has no Docker health state; the health check was not passed to Docker")
	}
	var firstHealthy time.Time
	for _, r := range cache.State.Health.Log {
		if r.ExitCode == 0 && (firstHealthy.IsZero() || r.End.Before(firstHealthy)) {
			firstHealthy = r.End
		}
	}
	afterHealthy := inspect(t, id("after-healthy"))
	started := dockerTime(t, "after-healthy StartedAt", afterHealthy.State.StartedAt)
	if firstHealthy.IsZero() || !started.After(firstHealthy) {
		t.Errorf("after-healthy started %s, want after cache's first passing health check (%s; log %+v)",
			started, firstHealthy, cache.State.Health.Log)
	}
	// Health comes over TCS, apart from the state change that made the
	// task RUNNING (as on ECS): it may land a moment later.
	waitFor(t, stateTimeout, "cache's healthStatus HEALTHY in DescribeTasks", func() bool {
		return containerNamed(t, describeTask(t, srv, cluster, arn), "cache").HealthStatus == types.HealthStatusHealthy
	})
	stopTask(t, srv, cluster, arn, "done")
	waitTaskStatus(t, srv, cluster, arn, "STOPPED")
	waitContainersGone(t, arn)
}

// TestExampleBatchJob runs examples/batch-job.json: the one-shot container
// finishes with 0 and the task stops as ECS reports a finished job.
func TestExampleBatchJob(t *testing.T) {
	srv, cluster, _ := oneNode(t)
	def := registerTaskDef(t, srv, sdkInput(t, substitute(t, loadExample(t, "batch-job.json"))))
	task := runTask(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn})[0]
	arn := aws.ToString(task.TaskArn)
	task = waitTaskStatus(t, srv, cluster, arn, "STOPPED")
	export := containerNamed(t, task, "export")
	if export.ExitCode == nil || *export.ExitCode != 0 {
		t.Errorf("export exit code = %v, want 0", export.ExitCode)
	}
	if task.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToString(task.StoppedReason) != "Essential container in task exited" {
		t.Errorf("stopCode %q stoppedReason %q", task.StopCode, aws.ToString(task.StoppedReason))
	}
	if task.StartedAt == nil || task.StoppedAt == nil || task.ExecutionStoppedAt == nil {
		t.Errorf("startedAt %v stoppedAt %v executionStoppedAt %v: want all set", task.StartedAt, task.StoppedAt, task.ExecutionStoppedAt)
	}
	waitContainersGone(t, arn)
}

// TestExampleHostNetwork runs examples/host-network.json on a free port (the
// file says 80): in host mode the container listens on the host directly and
// the binding ECS reports is the declared port.
func TestExampleHostNetwork(t *testing.T) {
	srv, cluster, _ := oneNode(t)
	port := freePort(t)
	def := substitute(t, loadExample(t, "host-network.json"))
	c := containerDefs(t, def)[0]
	c["portMappings"] = []any{map[string]any{"containerPort": port, "hostPort": port, "protocol": "tcp"}}
	c["command"] = []string{"-port", strconv.Itoa(port)}
	c["healthCheck"].(map[string]any)["command"] = []string{"CMD", "/app", "-probe", fmt.Sprintf("http://127.0.0.1:%d/healthz", port)}
	reg := registerTaskDef(t, srv, sdkInput(t, def))

	task := runTask(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: reg.TaskDefinitionArn})[0]
	arn := aws.ToString(task.TaskArn)
	task = waitTaskStatus(t, srv, cluster, arn, "RUNNING")
	nginx := containerNamed(t, task, "nginx")
	if got := hostPort(t, nginx, int32(port)); got != int32(port) {
		t.Errorf("host port = %d, want %d", got, port)
	}
	if mode := inspect(t, aws.ToString(nginx.RuntimeId)).HostConfig.NetworkMode; mode != "host" {
		t.Errorf("docker network mode = %q, want host", mode)
	}
	httpGetApp(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	stopTask(t, srv, cluster, arn, "done")
	waitTaskStatus(t, srv, cluster, arn, "STOPPED")
	waitContainersGone(t, arn)
}

// freePort returns a TCP port free on the host right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
