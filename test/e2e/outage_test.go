package e2e

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/events"
)

// TestAgentRestartDuringServerOutage: the server goes down and the agent is
// killed while a task runs; only the agent comes back. It watches the task's
// containers without the server: when the essential container exits with 5
// it stops the sidecar at once. When the server returns, the agent
// re-registers as the same instance and the task ends STOPPED with
// EssentialContainerExited and the exit code.
func TestAgentRestartDuringServerOutage(t *testing.T) {
	srv, cluster, a := oneNode(t)
	def := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(uniqueName(t, "f")),
		ContainerDefinitions: []types.ContainerDefinition{
			exitingWorker("worker", "6s", 5),
			sleeper("sidecar", false),
		},
	})
	began := time.Now()
	arn := aws.ToString(runTask(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn})[0].TaskArn)
	task := waitTaskStatus(t, srv, cluster, arn, "RUNNING")
	worker := aws.ToString(containerNamed(t, task, "worker").RuntimeId)
	sidecar := aws.ToString(containerNamed(t, task, "sidecar").RuntimeId)

	srv.stop(t, syscall.SIGTERM)
	a.proc.stop(t, syscall.SIGKILL, 10*time.Second)
	a.startNoWait(t) // same config and data dir; the server is down

	waitFor(t, stateTimeout, "the worker to exit with 5", func() bool {
		a.proc.failIfExited(t)
		return diedWith(t, began, arn, worker, "5")
	})
	// Only a restarted agent that watches the task stops the sidecar now.
	waitFor(t, stateTimeout, "the restarted agent to stop the sidecar while the server is down", func() bool {
		a.proc.failIfExited(t)
		return diedWith(t, began, arn, sidecar, "")
	})
	if !srv.proc.exited() {
		t.Fatal("the server is not down")
	}

	srv.start(t) // same data dir and port
	task = waitTaskStatus(t, srv, cluster, arn, "STOPPED")
	if task.StopCode != types.TaskStopCodeEssentialContainerExited {
		t.Errorf("stopCode = %q, want EssentialContainerExited", task.StopCode)
	}
	if got := aws.ToString(task.StoppedReason); got != "Essential container in task exited" {
		t.Errorf("stoppedReason = %q", got)
	}
	if c := containerNamed(t, task, "worker"); c.ExitCode == nil || *c.ExitCode != 5 {
		t.Errorf("worker exit code = %v, want 5", c.ExitCode)
	}
	if c := containerNamed(t, task, "sidecar"); aws.ToString(c.LastStatus) != "STOPPED" {
		t.Errorf("sidecar lastStatus = %q, want STOPPED", aws.ToString(c.LastStatus))
	}
	inst := a.waitConnected(t)
	if got := aws.ToString(inst.ContainerInstanceArn); got != a.instanceARN {
		t.Errorf("agent connected as %s, want its earlier ARN %s", got, a.instanceARN)
	}
	if insts := describeInstances(t, srv, cluster); len(insts) != 1 {
		t.Errorf("%d container instances, want 1: %s", len(insts), jsonString(insts))
	}
}

// startNoWait (re)starts the agent process as start does, without waiting
// for it to register: its server may be down, or its cluster not exist yet.
func (a *agent) startNoWait(t *testing.T) {
	t.Helper()
	env := childEnv("AWS_ACCESS_KEY_ID="+a.srv.keyID, "AWS_SECRET_ACCESS_KEY="+a.srv.secret, "AWS_REGION="+region)
	a.proc = startProc(t, a.logDir, "agent-"+a.opts.Name, env,
		"agent", "--endpoint", a.srv.endpoint(), "--config", a.configPath, "--data-dir", a.dataDir)
}

// diedWith reports whether Docker recorded, since since, the container id of
// task dying (with exitCode, unless it is "").
func diedWith(t *testing.T, since time.Time, task, id, exitCode string) bool {
	t.Helper()
	return slices.ContainsFunc(containerEvents(t, since, time.Now(), "die", labelTaskARN, task), func(m events.Message) bool {
		return m.Actor.ID == id && (exitCode == "" || m.Actor.Attributes["exitCode"] == exitCode)
	})
}
