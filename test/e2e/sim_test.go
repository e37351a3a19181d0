package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

const simInstances = 20

// simAgent is one `berth agent --runtime sim` process and its files.
type simAgent struct {
	srv                         *server
	cluster                     string
	configPath, dataDir, logDir string
	proc                        *proc
}

func (s *server) startSimAgent(t *testing.T, cluster string) *simAgent {
	t.Helper()
	a := &simAgent{srv: s, cluster: cluster, dataDir: t.TempDir(), logDir: t.TempDir()}
	a.configPath = filepath.Join(t.TempDir(), "ecs.config")
	conf := strings.Join([]string{
		"ECS_CLUSTER=" + cluster,
		"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1s",
		"ECS_CONTAINER_STOP_TIMEOUT=5s",
	}, "\n") + "\n"
	if err := os.WriteFile(a.configPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	a.start(t)
	return a
}

func (a *simAgent) start(t *testing.T) {
	t.Helper()
	env := childEnv("AWS_ACCESS_KEY_ID="+a.srv.keyID, "AWS_SECRET_ACCESS_KEY="+a.srv.secret, "AWS_REGION="+region)
	a.proc = startProc(t, a.logDir, "sim-agent", env,
		"agent", "--endpoint", a.srv.endpoint(), "--config", a.configPath, "--data-dir", a.dataDir,
		"--runtime", "sim", "--instances", fmt.Sprint(simInstances), "--cpu", "1024", "--memory", "2048")
}

// waitConnected waits until all the process's instances are ACTIVE and
// connected and returns them.
func (a *simAgent) waitConnected(t *testing.T) []types.ContainerInstance {
	t.Helper()
	var insts []types.ContainerInstance
	waitFor(t, stateTimeout, fmt.Sprintf("%d sim instances to register and connect", simInstances), func() bool {
		a.proc.failIfExited(t)
		insts = describeInstances(t, a.srv, a.cluster)
		ready := 0
		for _, in := range insts {
			if aws.ToString(in.Status) == "ACTIVE" && in.AgentConnected {
				ready++
			}
		}
		return ready == simInstances
	})
	return insts
}

// TestSimInstances runs one sim agent process of 20 instances against a
// real server: they register as distinct instances spread over three
// zones, run tasks through the real task engine (placement, RUNNING,
// scripted exits, StopTask) without a single container, and re-register
// under the same ARNs after a restart.
func TestSimInstances(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	clusterARN := srv.createCluster(t, cluster)
	a := srv.startSimAgent(t, cluster)
	insts := a.waitConnected(t)

	zoneOf := map[string]string{} // instance ARN -> zone
	perZone := map[string]int{}
	var names []string
	for _, in := range insts {
		arn := aws.ToString(in.ContainerInstanceArn)
		zone := attribute(in.Attributes, "ecs.availability-zone")
		zoneOf[arn] = zone
		perZone[zone]++
		names = append(names, attribute(in.Attributes, "berth.sim.instance"))
		if cpu := resource(in.RegisteredResources, "CPU").IntegerValue; cpu != 1024 {
			t.Errorf("%s: registered CPU %d, want 1024", arn, cpu)
		}
		if typ := attribute(in.Attributes, "ecs.instance-type"); typ != "berth.sim" {
			t.Errorf("%s: instance type %q, want berth.sim", arn, typ)
		}
	}
	if len(zoneOf) != simInstances {
		t.Fatalf("%d distinct instance ARNs, want %d", len(zoneOf), simInstances)
	}
	for _, zone := range []string{"us-east-1a", "us-east-1b", "us-east-1c"} {
		if n := perZone[zone]; n < simInstances/3 || n > simInstances/3+1 {
			t.Errorf("zone %s has %d instances, want %d or %d (all: %v)", zone, n, simInstances/3, simInstances/3+1, perZone)
		}
	}
	slices.Sort(names)
	if names = slices.Compact(names); len(names) != simInstances || names[0] != "sim-0001" {
		t.Errorf("berth.sim.instance attributes %v, want sim-0001 ... sim-%04d", names, simInstances)
	}

	var running []string
	t.Run("spread over zones", func(t *testing.T) {
		def := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
			Family:               aws.String(uniqueName(t, "web")),
			ContainerDefinitions: []types.ContainerDefinition{simContainer("web", nil)},
		})
		tasks := runTask(t, srv, &ecs.RunTaskInput{
			Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn, Count: aws.Int32(10),
			PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")}},
		})
		tasksPerZone := map[string]int{}
		for _, task := range tasks {
			arn := aws.ToString(task.TaskArn)
			task = waitTaskStatus(t, srv, cluster, arn, "RUNNING")
			running = append(running, arn)
			tasksPerZone[zoneOf[aws.ToString(task.ContainerInstanceArn)]]++
			if c := containerNamed(t, task, "web"); hostPort(t, c, 80) < 32768 {
				t.Errorf("task %s: host port %d, want one from the dynamic range", arn, hostPort(t, c, 80))
			}
		}
		for _, zone := range []string{"us-east-1a", "us-east-1b", "us-east-1c"} {
			if n := tasksPerZone[zone]; n < 3 || n > 4 {
				t.Errorf("zone %s runs %d of 10 tasks, want 3 or 4 (all: %v)", zone, n, tasksPerZone)
			}
		}
	})

	t.Run("scripted exit", func(t *testing.T) {
		def := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(uniqueName(t, "job")),
			ContainerDefinitions: []types.ContainerDefinition{simContainer("job", map[string]string{
				"BERTH_SIM_EXIT_AFTER": "1s", "BERTH_SIM_EXIT_CODE": "3",
			})},
		})
		task := runTask(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn})[0]
		task = waitTaskStatus(t, srv, cluster, aws.ToString(task.TaskArn), "STOPPED")
		if got := aws.ToString(task.StoppedReason); got != "Essential container in task exited" {
			t.Errorf("stoppedReason = %q", got)
		}
		if task.StopCode != types.TaskStopCodeEssentialContainerExited || task.StartedAt == nil {
			t.Errorf("stopCode = %q, startedAt = %v", task.StopCode, task.StartedAt)
		}
		if c := containerNamed(t, task, "job"); aws.ToInt32(c.ExitCode) != 3 || c.ExitCode == nil {
			t.Errorf("exit code = %v, want 3", c.ExitCode)
		}
	})

	t.Run("StopTask", func(t *testing.T) {
		if len(running) == 0 {
			t.Skip("no running tasks (spread over zones failed)")
		}
		for _, arn := range running {
			stopTask(t, srv, cluster, arn, "done with the simulation")
		}
		for _, arn := range running {
			task := waitTaskStatus(t, srv, cluster, arn, "STOPPED")
			if got := aws.ToString(task.StoppedReason); got != "done with the simulation" || task.StopCode != types.TaskStopCodeUserInitiated {
				t.Errorf("task %s: stop %q/%q", arn, got, task.StopCode)
			}
		}
	})

	if n := len(containersWithLabel(t, labelCluster, clusterARN)); n != 0 {
		t.Errorf("the sim runtime made %d Docker containers", n)
	}

	t.Run("restart keeps the identities", func(t *testing.T) {
		a.proc.stop(t, syscall.SIGTERM, 30*time.Second)
		a.start(t)
		after := a.waitConnected(t)
		if len(after) != simInstances {
			t.Fatalf("%d instances after the restart, want the same %d", len(after), simInstances)
		}
		for _, in := range after {
			if _, ok := zoneOf[aws.ToString(in.ContainerInstanceArn)]; !ok {
				t.Errorf("new instance %s after the restart", aws.ToString(in.ContainerInstanceArn))
			}
		}
	})
}

// simContainer is an essential container for the sim runtime: its image
// need not exist anywhere, env scripts it.
func simContainer(name string, env map[string]string) types.ContainerDefinition {
	c := types.ContainerDefinition{
		Name: aws.String(name), Image: aws.String("registry.example/" + name + ":1"), Essential: aws.Bool(true),
		Memory: aws.Int32(64), PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80)}},
	}
	for k, v := range env {
		c.Environment = append(c.Environment, types.KeyValuePair{Name: aws.String(k), Value: aws.String(v)})
	}
	return c
}
