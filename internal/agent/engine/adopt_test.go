package engine

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/agent/runtime/fake"
)

// restart runs task on a first engine until RUNNING, then ends that engine
// (leaving its containers) and returns the RUNNING report.
func restart(t *testing.T, rt *fake.Runtime, task Task) TaskStateChange {
	t.Helper()
	first := startEngine(t, rt)
	first.Upsert([]Task{task})
	running := first.rec.waitStatus(t, task.Arn, "RUNNING")
	first.stop()
	return running
}

func TestRestartedEngineAdoptsRunningContainers(t *testing.T) {
	rt, j := newRuntime(images("web", "log")...)
	task := newTask(taskARN(1), ctr("web", port(80, 0)), ctr("log"))
	before := restart(t, rt, task)
	for _, c := range before.Containers {
		if st, err := rt.InspectContainer(context.Background(), c.RuntimeID); err != nil || !st.Running {
			t.Fatalf("%s not left running when the engine ended: %+v %v", c.Name, st, err)
		}
	}

	second := startEngine(t, rt)
	second.Upsert([]Task{task})
	after := second.rec.waitStatus(t, task.Arn, "RUNNING")
	if n := j.count(func(j *journal) int { return j.creates }); n != 2 {
		t.Errorf("creates = %d, want 2 (no duplicates)", n)
	}
	for _, c := range before.Containers {
		got := container(t, after, c.Name)
		if got.RuntimeID != c.RuntimeID || got.Status != "RUNNING" {
			t.Errorf("%s = %+v, want adopted %s RUNNING", c.Name, got, c.RuntimeID)
		}
	}
	if b := container(t, after, "web").NetworkBindings; len(b) != 1 || aws.ToInt32(b[0].HostPort) != fake.DefaultPortBase {
		t.Errorf("adopted bindings = %+v", b)
	}

	// The wait was re-attached: an exit is noticed.
	if err := rt.Exit(container(t, after, "web").RuntimeID, 4); err != nil {
		t.Fatal(err)
	}
	stopped := second.rec.waitStatus(t, task.Arn, "STOPPED")
	if stopped.StopCode != StopCodeEssentialContainerExited || exitCode(container(t, stopped, "web")) != "4" {
		t.Errorf("after exit: %+v", stopped)
	}
}

func TestEssentialExitWhileAgentWasDown(t *testing.T) {
	rt, _ := newRuntime(images("app", "side")...)
	task := newTask(taskARN(1), ctr("app"), ctr("side"))
	before := restart(t, rt, task)
	if err := rt.Exit(container(t, before, "app").RuntimeID, 1); err != nil {
		t.Fatal(err)
	}

	second := startEngine(t, rt)
	second.Upsert([]Task{task})
	got := second.rec.waitStatus(t, task.Arn, "STOPPED")
	if got.StopCode != StopCodeEssentialContainerExited || got.Reason != ReasonEssentialExited {
		t.Errorf("stop = %q/%q", got.StopCode, got.Reason)
	}
	if a, s := container(t, got, "app"), container(t, got, "side"); exitCode(a) != "1" || exitCode(s) != "137" {
		t.Errorf("exit codes app=%s side=%s, want 1 and 137", exitCode(a), exitCode(s))
	}
}

func TestAdoptedTaskCreatesOnlyMissingContainers(t *testing.T) {
	rt, j := newRuntime(images("a", "b")...)
	task := newTask(taskARN(1), ctr("a"), ctr("b", dependsOn("a", "START")))
	// A previous agent created and started "a", then died before "b".
	spec, err := buildSpec(specInput{Task: task, Container: task.TaskDefinition.ContainerDefinitions[0],
		NetworkMode: "bridge", ClusterARN: testCluster, InstanceARN: testInstance})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := rt.Default().CreateContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Default().StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}

	te := startEngine(t, rt)
	te.Upsert([]Task{task})
	got := te.rec.waitStatus(t, task.Arn, "RUNNING")
	if container(t, got, "a").RuntimeID != id {
		t.Errorf("a = %+v, want adopted %s", container(t, got, "a"), id)
	}
	if n := j.count(func(j *journal) int { return j.creates }); n != 1 {
		t.Errorf("creates = %d, want 1 (only b)", n)
	}
}

// TestAdoptedContainersOfUnwantedTasksAreStoppedByStop: adopted containers
// no payload claims are left alone (payloads are incremental), counted as
// running for the manifest comparison, and stopped and cleaned up once a
// Stop names their task.
func TestAdoptedContainersOfUnwantedTasksAreStoppedByStop(t *testing.T) {
	rt, _ := newRuntime(images("app", "other")...)
	task := newTask(taskARN(1), ctr("app"))
	before := restart(t, rt, task)
	id := container(t, before, "app").RuntimeID

	// A container of another instance on the same engine is not ours.
	foreign := task
	foreign.Arn = taskARN(2)
	spec, err := buildSpec(specInput{Task: foreign, Container: task.TaskDefinition.ContainerDefinitions[0],
		NetworkMode: "bridge", InstanceARN: "arn:other-instance"})
	if err != nil {
		t.Fatal(err)
	}
	foreignID, err := rt.Default().CreateContainer(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}

	te := startEngine(t, rt)
	other := newTask(taskARN(3), ctr("other"))
	te.Upsert([]Task{other}) // a payload without the adopted task
	te.rec.waitStatus(t, other.Arn, "RUNNING")
	if st, err := rt.InspectContainer(context.Background(), id); err != nil || !st.Running {
		t.Fatalf("adopted container touched by a payload that does not list its task: %+v %v", st, err)
	}
	if got, want := te.Running(), []string{task.Arn, other.Arn}; !slices.Equal(got, want) {
		t.Errorf("Running = %v, want %v (the adopted task included)", got, want)
	}
	if !te.Holds(task.Arn) || te.Holds(foreign.Arn) {
		t.Errorf("Holds(adopted) = %v, Holds(foreign) = %v", te.Holds(task.Arn), te.Holds(foreign.Arn))
	}

	te.Stop([]string{task.Arn, "arn:aws:ecs:us-east-1:000000000000:task/default/unknown"})
	got := te.rec.waitStatus(t, task.Arn, "STOPPED")
	if exitCode(container(t, got, "app")) != "137" || got.Reason != "" || got.StopCode != "" {
		t.Errorf("orphan = %+v", got)
	}
	if got, want := te.Running(), []string{other.Arn}; !slices.Equal(got, want) {
		t.Errorf("Running after the stop = %v, want %v", got, want)
	}
	te.advance(t, 1, testCleanupWait)
	waitUntil(t, "orphan removed", func() bool {
		_, err := rt.InspectContainer(context.Background(), id)
		return err != nil && !te.Holds(task.Arn)
	})
	if _, err := rt.InspectContainer(context.Background(), foreignID); err != nil {
		t.Errorf("another instance's container was removed: %v", err)
	}
	if c, _ := te.rec.get(other.Arn); c.Status != "RUNNING" {
		t.Errorf("the other task = %+v, want it left RUNNING", c)
	}
}

func TestAdoptedTaskStoppedByServer(t *testing.T) {
	rt, _ := newRuntime(images("app")...)
	task := newTask(taskARN(1), ctr("app"))
	restart(t, rt, task)
	task.DesiredStatus = "STOPPED"
	task.StoppedReason = "Task stopped by user"

	te := startEngine(t, rt)
	te.Upsert([]Task{task})
	got := te.rec.waitStatus(t, task.Arn, "STOPPED")
	if got.Reason != task.StoppedReason || got.StopCode != "" || exitCode(container(t, got, "app")) != "137" {
		t.Errorf("got %+v", got)
	}
}
