package e2e

import (
	"fmt"
	"slices"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestTwoAgentsOneCluster runs two agent processes on one Docker engine in
// one cluster: each registers what its config declares, spread placement
// splits tasks evenly, each agent owns only its containers, and tasks that
// fit nowhere get ECS's RESOURCE failures naming every instance.
func TestTwoAgentsOneCluster(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	srv.createCluster(t, cluster)
	staticPort := freePort(t)
	agents := []*agent{
		srv.startAgent(t, agentOptions{Name: "node-a", Cluster: cluster, CPU: 1536, MemoryMiB: 1024, Zone: "zone-a"}),
		// node-b keeps staticPort for itself, so only node-a can take it.
		srv.startAgent(t, agentOptions{Name: "node-b", Cluster: cluster, CPU: 2560, MemoryMiB: 1536, Zone: "zone-b", ReservedPorts: []int{staticPort}}),
	}

	t.Run("instances", func(t *testing.T) {
		insts := describeInstances(t, srv, cluster)
		if len(insts) != 2 {
			t.Fatalf("%d container instances, want 2: %s", len(insts), jsonString(insts))
		}
		for _, a := range agents {
			i := slices.IndexFunc(insts, func(in types.ContainerInstance) bool { return aws.ToString(in.ContainerInstanceArn) == a.instanceARN })
			if i < 0 {
				t.Fatalf("no instance %s", a.instanceARN)
			}
			in := insts[i]
			if aws.ToString(in.Status) != "ACTIVE" || !in.AgentConnected {
				t.Errorf("%s: status %q agentConnected %v", a.opts.Name, aws.ToString(in.Status), in.AgentConnected)
			}
			if cpu := resource(in.RegisteredResources, "CPU").IntegerValue; cpu != int32(a.opts.CPU) {
				t.Errorf("%s: registered CPU %d, want %d", a.opts.Name, cpu, a.opts.CPU)
			}
			if mem := resource(in.RegisteredResources, "MEMORY").IntegerValue; mem != int32(a.opts.MemoryMiB) {
				t.Errorf("%s: registered MEMORY %d, want %d", a.opts.Name, mem, a.opts.MemoryMiB)
			}
			if got := attribute(in.Attributes, "e2e.zone"); got != a.opts.Zone {
				t.Errorf("%s: attribute e2e.zone = %q, want %q", a.opts.Name, got, a.opts.Zone)
			}
			if ports := resource(in.RegisteredResources, "PORTS").StringSetValue; slices.Contains(ports, fmt.Sprint(staticPort)) != (a.opts.Name == "node-b") {
				t.Errorf("%s: reserved PORTS %v (static port %d reserved on node-b only)", a.opts.Name, ports, staticPort)
			}
		}
	})

	sleepDef := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String(uniqueName(t, "sleep")),
		ContainerDefinitions: []types.ContainerDefinition{sleeper("main", true)},
	})

	t.Run("spread instanceId places 2 and 2", func(t *testing.T) {
		tasks := runTask(t, srv, &ecs.RunTaskInput{
			Cluster: aws.String(cluster), TaskDefinition: sleepDef.TaskDefinitionArn, Count: aws.Int32(4),
			PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}},
		})
		perInstance := map[string][]string{}
		for _, task := range tasks {
			arn := aws.ToString(task.TaskArn)
			perInstance[aws.ToString(task.ContainerInstanceArn)] = append(perInstance[aws.ToString(task.ContainerInstanceArn)], arn)
			waitTaskStatus(t, srv, cluster, arn, "RUNNING")
		}
		for _, a := range agents {
			want := perInstance[a.instanceARN]
			if len(want) != 2 {
				t.Errorf("%s got %d tasks, want 2 (placement %v)", a.opts.Name, len(want), perInstance)
			}
			// What Docker holds under this agent's label is exactly its tasks.
			var got []string
			for _, c := range containersWithLabel(t, labelInstance, a.instanceARN) {
				if c.State != "running" {
					t.Errorf("%s: container %s is %s", a.opts.Name, c.ID, c.State)
				}
				got = append(got, c.Labels[labelTaskARN])
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: containers labelled with its instance belong to tasks %v, want %v", a.opts.Name, got, want)
			}
		}
		// Each sleeper reserves 64 CPU units and 32 MiB.
		for _, in := range describeInstances(t, srv, cluster) {
			name := attribute(in.Attributes, "e2e.node")
			reg, rem := in.RegisteredResources, in.RemainingResources
			if got, want := resource(rem, "CPU").IntegerValue, resource(reg, "CPU").IntegerValue-2*64; got != want {
				t.Errorf("%s: remaining CPU %d, want %d", name, got, want)
			}
			if got, want := resource(rem, "MEMORY").IntegerValue, resource(reg, "MEMORY").IntegerValue-2*32; got != want {
				t.Errorf("%s: remaining MEMORY %d, want %d", name, got, want)
			}
			if in.RunningTasksCount != 2 || in.PendingTasksCount != 0 {
				t.Errorf("%s: runningTasksCount %d pendingTasksCount %d, want 2 and 0", name, in.RunningTasksCount, in.PendingTasksCount)
			}
		}
		for _, task := range tasks {
			for _, c := range containersWithLabel(t, labelTaskARN, aws.ToString(task.TaskArn)) {
				if c.Labels[labelInstance] != aws.ToString(task.ContainerInstanceArn) {
					t.Errorf("container %s of task %s carries instance %s, want %s", c.ID, aws.ToString(task.TaskArn),
						c.Labels[labelInstance], aws.ToString(task.ContainerInstanceArn))
				}
			}
		}
	})

	t.Run("memory fits nowhere", func(t *testing.T) {
		big := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(uniqueName(t, "big")),
			ContainerDefinitions: []types.ContainerDefinition{{
				Name: aws.String("main"), Image: aws.String(appImage), Memory: aws.Int32(4096), Command: []string{"-sleep"},
			}},
		})
		out := runTaskOutput(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: big.TaskDefinitionArn})
		assertFailures(t, out, agents, "RESOURCE:MEMORY")
	})

	t.Run("static host port taken everywhere", func(t *testing.T) {
		def := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(uniqueName(t, "static")),
			ContainerDefinitions: []types.ContainerDefinition{{
				Name: aws.String("web"), Image: aws.String(appImage), MemoryReservation: aws.Int32(32),
				PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(int32(staticPort))}},
			}},
		})
		first := runTask(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn})[0]
		if got := aws.ToString(first.ContainerInstanceArn); got != agents[0].instanceARN {
			t.Fatalf("static port task placed on %s, want node-a %s (node-b reserves the port)", got, agents[0].instanceARN)
		}
		running := waitTaskStatus(t, srv, cluster, aws.ToString(first.TaskArn), "RUNNING")
		if got := hostPort(t, containerNamed(t, running, "web"), 8080); got != int32(staticPort) {
			t.Errorf("host port %d, want %d", got, staticPort)
		}
		httpGetApp(t, fmt.Sprintf("http://127.0.0.1:%d/", staticPort))

		out := runTaskOutput(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn})
		assertFailures(t, out, agents, "RESOURCE:PORTS")
	})
}

// assertFailures checks that RunTask placed nothing and reported reason for
// every instance.
func assertFailures(t *testing.T, out *ecs.RunTaskOutput, agents []*agent, reason string) {
	t.Helper()
	if len(out.Tasks) != 0 {
		t.Errorf("RunTask placed %d tasks, want none", len(out.Tasks))
	}
	got := map[string]string{}
	for _, f := range out.Failures {
		got[aws.ToString(f.Arn)] = aws.ToString(f.Reason)
	}
	for _, a := range agents {
		if got[a.instanceARN] != reason {
			t.Errorf("failure for %s = %q, want %q (all failures %s)", a.opts.Name, got[a.instanceARN], reason, jsonString(out.Failures))
		}
	}
}

// TestAgentRestartAdoptsContainers kills an agent with SIGKILL while its task
// runs and starts it again on the same data dir: it comes back as the same
// instance, adopts the running containers instead of creating new ones, and
// still obeys StopTask.
func TestAgentRestartAdoptsContainers(t *testing.T) {
	srv, cluster, a := oneNode(t)
	def := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String(uniqueName(t, "f")),
		ContainerDefinitions: []types.ContainerDefinition{sleeper("main", true), sleeper("sidecar", false)},
	})
	task := runTask(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn})[0]
	arn := aws.ToString(task.TaskArn)
	task = waitTaskStatus(t, srv, cluster, arn, "RUNNING")
	before := containerIDs(t, labelTaskARN, arn)
	if len(before) != 2 {
		t.Fatalf("%d containers for the task, want 2", len(before))
	}

	killedAt := time.Now()
	a.proc.stop(t, syscall.SIGKILL, 10*time.Second)
	waitFor(t, stateTimeout, "the server to see the agent disconnected", func() bool {
		insts := describeInstances(t, srv, cluster)
		return len(insts) == 1 && !insts[0].AgentConnected
	})
	for _, id := range before {
		if !inspect(t, id).State.Running {
			t.Fatalf("container %s stopped when its agent was killed", id)
		}
	}
	// A disconnected agent takes no new work.
	out := runTaskOutput(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn})
	assertFailures(t, out, []*agent{a}, "AGENT")

	a.start(t) // fails unless it re-registers with the same ARN
	if insts := describeInstances(t, srv, cluster); len(insts) != 1 {
		t.Fatalf("%d container instances after the restart, want 1: %s", len(insts), jsonString(insts))
	}
	task = waitTaskStatus(t, srv, cluster, arn, "RUNNING")
	for _, name := range []string{"main", "sidecar"} {
		id := aws.ToString(containerNamed(t, task, name).RuntimeId)
		if !slices.Contains(before, id) {
			t.Errorf("container %s runtimeId %s is not one of the original %v", name, id, before)
		}
	}
	if after := containerIDs(t, labelTaskARN, arn); !slices.Equal(after, before) {
		t.Fatalf("containers after restart %v, want the same %v", after, before)
	}
	for _, id := range before {
		if !inspect(t, id).State.Running {
			t.Errorf("container %s not running after the agent restart", id)
		}
	}

	stopTask(t, srv, cluster, arn, "stopped through the restarted agent")
	task = waitTaskStatus(t, srv, cluster, arn, "STOPPED")
	if task.StopCode != types.TaskStopCodeUserInitiated {
		t.Errorf("stopCode = %q", task.StopCode)
	}
	waitContainersGone(t, arn)
	// The restarted agent acted on the task (it stopped it), so by now it has
	// also had every chance to duplicate it: Docker's event history since
	// the kill must show no container created for the task.
	if created := containerEvents(t, killedAt, time.Now(), "create", labelTaskARN, arn); len(created) != 0 {
		t.Errorf("the restarted agent created %d new containers for the task: %s", len(created), jsonString(created))
	}
	if destroyed := containerEvents(t, killedAt, time.Now(), "destroy", labelTaskARN, arn); len(destroyed) != len(before) {
		t.Errorf("%d containers of the task destroyed, want the original %d", len(destroyed), len(before))
	}
}
