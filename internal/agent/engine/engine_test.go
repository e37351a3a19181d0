package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/agent/runtime/fake"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func TestMultiContainerTaskRunsWithBindings(t *testing.T) {
	type binding struct {
		container, host int32
	}
	tests := []struct {
		mode string
		want map[string][]binding // by container
	}{
		{"", map[string][]binding{"web": {{80, 8080}}, "api": {{9000, fake.DefaultPortBase}}}},
		{"bridge", map[string][]binding{"web": {{80, 8080}}, "api": {{9000, fake.DefaultPortBase}}}},
		{"host", map[string][]binding{"web": {{80, 8080}}, "api": {{9000, 9000}}}},
		{"none", map[string][]binding{"web": nil, "api": nil}},
	}
	for _, tt := range tests {
		t.Run("mode="+tt.mode, func(t *testing.T) {
			rt, _ := newRuntime(images("web", "api")...)
			te := startEngine(t, rt)
			task := newTask(taskARN(1), ctr("web", port(80, 8080)), ctr("api", port(9000, 0)))
			if tt.mode != "" {
				task.TaskDefinition.NetworkMode = aws.String(tt.mode)
			}
			te.Upsert([]Task{task})
			got := te.rec.waitStatus(t, task.Arn, "RUNNING")
			if got.StartedAt == nil || !got.StartedAt.Equal(testNow) {
				t.Errorf("StartedAt = %v, want %v", got.StartedAt, testNow)
			}
			if got.PullStartedAt == nil || got.PullStoppedAt == nil {
				t.Errorf("pull times not recorded: %+v", got)
			}
			if got.StopCode != "" || got.Reason != "" {
				t.Errorf("running task has stop code/reason %q/%q", got.StopCode, got.Reason)
			}
			for name, want := range tt.want {
				cc := container(t, got, name)
				if cc.Status != "RUNNING" || cc.RuntimeID == "" || !strings.HasPrefix(cc.ImageDigest, "sha256:") {
					t.Errorf("%s = %+v, want RUNNING with runtime ID and digest", name, cc)
				}
				if len(cc.NetworkBindings) != len(want) {
					t.Fatalf("%s bindings = %+v, want %v", name, cc.NetworkBindings, want)
				}
				for i, b := range cc.NetworkBindings {
					if aws.ToInt32(b.ContainerPort) != want[i].container || aws.ToInt32(b.HostPort) != want[i].host ||
						aws.ToString(b.Protocol) != "tcp" || aws.ToString(b.BindIP) != "0.0.0.0" {
						t.Errorf("%s binding %d = %s:%d->%d/%s, want %v", name, i, aws.ToString(b.BindIP),
							aws.ToInt32(b.HostPort), aws.ToInt32(b.ContainerPort), aws.ToString(b.Protocol), want[i])
					}
				}
			}
			hist := te.rec.history(task.Arn)
			if hist[0].Status != "PENDING" {
				t.Errorf("first report = %s, want PENDING", hist[0].Status)
			}
			snap := te.Snapshot()
			if len(snap) != 1 || snap[0].Status != "RUNNING" || snap[0].TaskARN != task.Arn {
				t.Errorf("Snapshot = %+v", snap)
			}
		})
	}
}

func TestEssentialExitStopsTask(t *testing.T) {
	rt, j := newRuntime(images("app", "sidecar")...)
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("app"), ctr("sidecar", func(cd *ecstypes.ContainerDefinition) { cd.StopTimeout = aws.Int32(5) }))
	te.Upsert([]Task{task})
	running := te.rec.waitStatus(t, task.Arn, "RUNNING")

	if err := rt.Exit(container(t, running, "app").RuntimeID, 2); err != nil {
		t.Fatal(err)
	}
	got := te.rec.waitStatus(t, task.Arn, "STOPPED")
	if got.Reason != ReasonEssentialExited || got.StopCode != StopCodeEssentialContainerExited {
		t.Errorf("reason/code = %q/%q", got.Reason, got.StopCode)
	}
	if got.ExecutionStoppedAt == nil || !got.ExecutionStoppedAt.Equal(testNow) {
		t.Errorf("ExecutionStoppedAt = %v", got.ExecutionStoppedAt)
	}
	for name, want := range map[string]string{"app": "2", "sidecar": "137"} {
		if cc := container(t, got, name); cc.Status != "STOPPED" || exitCode(cc) != want {
			t.Errorf("%s = %s exit %s, want STOPPED exit %s", name, cc.Status, exitCode(cc), want)
		}
	}
	if d := j.count(func(j *journal) int { return int(j.stops["sidecar"] / time.Second) }); d != 5 {
		t.Errorf("sidecar stop timeout = %ds, want its stopTimeout 5s", d)
	}
}

func TestNonEssentialExitKeepsTaskRunning(t *testing.T) {
	rt, _ := newRuntime(images("app", "job")...)
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("app"), ctr("job", nonEssential))
	te.Upsert([]Task{task})
	running := te.rec.waitStatus(t, task.Arn, "RUNNING")

	if err := rt.Exit(container(t, running, "job").RuntimeID, 0); err != nil {
		t.Fatal(err)
	}
	got := te.rec.waitFor(t, task.Arn, "job STOPPED", containerStatusIs("job", "STOPPED"))
	if got.Status != "RUNNING" || exitCode(container(t, got, "job")) != "0" {
		t.Errorf("after non-essential exit: %+v", got)
	}
	if cc := container(t, got, "app"); cc.Status != "RUNNING" {
		t.Errorf("app = %s, want RUNNING", cc.Status)
	}
}

func TestPullBehaviour(t *testing.T) {
	errRegistry := errors.New("registry unreachable")
	tests := []struct {
		behaviour  string
		cached     bool
		pullFails  bool
		wantStatus string
		wantPulls  int
	}{
		{PullDefault, true, true, "RUNNING", 1},
		{PullDefault, false, true, "STOPPED", 1},
		{PullDefault, false, false, "RUNNING", 1},
		{PullAlways, true, true, "STOPPED", 1},
		{PullPreferCached, true, true, "RUNNING", 0},
		{PullPreferCached, false, false, "RUNNING", 1},
		{PullOnce, true, false, "RUNNING", 1}, // present, but not pulled by this agent
		{PullOnce, true, true, "STOPPED", 1},
	}
	for _, tt := range tests {
		name := tt.behaviour
		if tt.cached {
			name += "/cached"
		}
		if tt.pullFails {
			name += "/pull-fails"
		}
		t.Run(name, func(t *testing.T) {
			var imgs []string
			if tt.cached {
				imgs = images("app")
			}
			rt, j := newRuntime(imgs...)
			inner := rt.PullFunc
			rt.PullFunc = func(ctx context.Context, image string) error {
				if tt.pullFails {
					_ = inner(ctx, "counted-only") // count the attempt
					return errRegistry
				}
				return inner(ctx, image)
			}
			te := startEngine(t, rt, func(c *Config) { c.PullBehavior = tt.behaviour })
			task := newTask(taskARN(1), ctr("app"))
			te.Upsert([]Task{task})
			got := te.rec.waitStatus(t, task.Arn, tt.wantStatus)
			if pulls := j.count(func(j *journal) int { return j.pulls }); pulls != tt.wantPulls {
				t.Errorf("pulls = %d, want %d", pulls, tt.wantPulls)
			}
			if tt.wantStatus != "STOPPED" {
				return
			}
			wantReason := "CannotPullContainerError: registry unreachable"
			if got.StopCode != StopCodeTaskFailedToStart || got.Reason != wantReason {
				t.Errorf("stop = %q/%q, want %q/%q", got.StopCode, got.Reason, StopCodeTaskFailedToStart, wantReason)
			}
			if cc := container(t, got, "app"); cc.Reason != wantReason || cc.Status != "STOPPED" {
				t.Errorf("container = %+v", cc)
			}
		})
	}
}

func TestPullOnceSkipsImagesThisEnginePulled(t *testing.T) {
	rt, j := newRuntime()
	te := startEngine(t, rt, func(c *Config) { c.PullBehavior = PullOnce })
	for i := 1; i <= 2; i++ {
		task := newTask(taskARN(i), ctr("app"))
		te.Upsert([]Task{task})
		te.rec.waitStatus(t, task.Arn, "RUNNING")
	}
	if pulls := j.count(func(j *journal) int { return j.pulls }); pulls != 1 {
		t.Errorf("pulls = %d, want 1", pulls)
	}
}

func TestFailureToStart(t *testing.T) {
	tests := []struct {
		name       string
		breakIt    func(rt *fake.Runtime)
		wantReason string
	}{
		{
			name: "create fails",
			breakIt: func(rt *fake.Runtime) {
				inner := rt.CreateFunc
				rt.CreateFunc = func(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
					if spec.Labels[LabelContainerName] == "b" {
						return "", errors.New("no space left on device")
					}
					return inner(ctx, spec)
				}
			},
			wantReason: "CannotCreateContainerError: create container ecs-web-3-b-00000000000000000000000000000001: no space left on device",
		},
		{
			name: "start fails",
			breakIt: func(rt *fake.Runtime) {
				inner := rt.StartFunc
				rt.StartFunc = func(ctx context.Context, id string) error {
					if spec, _ := rt.Spec(id); spec.Labels[LabelContainerName] == "b" {
						return errors.New("port is already allocated")
					}
					return inner(ctx, id)
				}
			},
			wantReason: "CannotStartContainerError: start container ecs-web-3-b-00000000000000000000000000000001: port is already allocated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, _ := newRuntime(images("a", "b")...)
			tt.breakIt(rt)
			te := startEngine(t, rt)
			task := newTask(taskARN(1), ctr("a"), ctr("b"))
			te.Upsert([]Task{task})
			got := te.rec.waitStatus(t, task.Arn, "STOPPED")
			if got.StopCode != StopCodeTaskFailedToStart || got.Reason != tt.wantReason {
				t.Errorf("stop = %q/%q, want %q", got.StopCode, got.Reason, tt.wantReason)
			}
			if cc := container(t, got, "b"); cc.Reason != tt.wantReason || cc.Status != "STOPPED" {
				t.Errorf("b = %+v", cc)
			}
			a := container(t, got, "a")
			if a.Status != "STOPPED" {
				t.Errorf("a = %+v, want STOPPED", a)
			}
			if a.RuntimeID != "" {
				if st, err := rt.InspectContainer(context.Background(), a.RuntimeID); err != nil || st.Running {
					t.Errorf("a still running after failed start: %+v %v", st, err)
				}
			}
		})
	}
}

func TestAwsvpcRejected(t *testing.T) {
	rt, j := newRuntime(images("app")...)
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("app"))
	task.TaskDefinition.NetworkMode = aws.String("awsvpc")
	te.Upsert([]Task{task})
	got := te.rec.waitStatus(t, task.Arn, "STOPPED")
	if got.StopCode != StopCodeTaskFailedToStart || !strings.Contains(got.Reason, "awsvpc network mode is not supported yet") {
		t.Errorf("stop = %q/%q", got.StopCode, got.Reason)
	}
	if n := j.count(func(j *journal) int { return j.creates + j.pulls }); n != 0 {
		t.Errorf("%d pulls/creates for a rejected task", n)
	}
}

func TestStopTaskViaPayload(t *testing.T) {
	rt, j := newRuntime(images("app")...)
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("app"))
	te.Upsert([]Task{task})
	te.rec.waitStatus(t, task.Arn, "RUNNING")

	task.DesiredStatus = ecstypes.DesiredStatusSTOPPED
	task.StoppedReason = "Scaling activity initiated by deployment"
	te.Upsert([]Task{task})
	got := te.rec.waitStatus(t, task.Arn, "STOPPED")
	if got.Reason != task.StoppedReason || got.StopCode != "" {
		t.Errorf("stop = %q/%q", got.Reason, got.StopCode)
	}
	if cc := container(t, got, "app"); exitCode(cc) != "137" {
		t.Errorf("exit code = %s, want 137", exitCode(cc))
	}
	if d := j.count(func(j *journal) int { return int(j.stops["app"] / time.Second) }); d != 7 {
		t.Errorf("stop timeout = %ds, want the engine's 7s", d)
	}
}

// TestAbsentFromPayloadKeepsRunning: payloads are incremental, so a task
// a later payload leaves out keeps running.
func TestAbsentFromPayloadKeepsRunning(t *testing.T) {
	rt, j := newRuntime(images("app", "other")...)
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("app"))
	te.Upsert([]Task{task})
	te.rec.waitStatus(t, task.Arn, "RUNNING")

	other := newTask(taskARN(2), ctr("other"))
	te.Upsert(nil)
	te.Upsert([]Task{other})
	te.rec.waitStatus(t, other.Arn, "RUNNING")
	if c, _ := te.rec.get(task.Arn); c.Status != "RUNNING" {
		t.Fatalf("task left out of a payload = %+v, want RUNNING", c)
	}
	if n := j.count(func(j *journal) int { return len(j.stops) }); n != 0 {
		t.Errorf("%d containers stopped", n)
	}
	if got, want := te.Running(), []string{task.Arn, other.Arn}; !slices.Equal(got, want) {
		t.Errorf("Running = %v, want %v", got, want)
	}
}

// TestStopStopsAndCleansUp: a confirmed stop stops the task with no reason
// of the engine's own (the server has its own), and cleans it up after the
// cleanup wait.
func TestStopStopsAndCleansUp(t *testing.T) {
	rt, _ := newRuntime(images("app")...)
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("app"))
	te.Upsert([]Task{task})
	te.rec.waitStatus(t, task.Arn, "RUNNING")

	te.Stop([]string{task.Arn})
	got := te.rec.waitStatus(t, task.Arn, "STOPPED")
	if got.Reason != "" || got.StopCode != "" || exitCode(container(t, got, "app")) != "137" {
		t.Errorf("stopped = %+v", got)
	}
	if r := te.Running(); len(r) != 0 {
		t.Errorf("Running = %v after the stop", r)
	}
	if list, _ := rt.ListContainers(context.Background(), map[string]string{LabelTaskARN: task.Arn}); len(list) != 1 {
		t.Fatalf("%d containers right after STOPPED, want 1 kept until the cleanup wait", len(list))
	}
	te.Stop([]string{task.Arn})       // again: nothing more to do
	te.advance(t, 1, testCleanupWait) // the cleanup timer
	waitUntil(t, "containers removed and task forgotten", func() bool {
		list, err := rt.ListContainers(context.Background(), map[string]string{LabelTaskARN: task.Arn})
		return err == nil && len(list) == 0 && len(te.Snapshot()) == 0 && !te.Holds(task.Arn)
	})
}

// TestUnknownStoppedTaskReportsStopped: a task the engine never ran, sent
// with desired status STOPPED (a new session resends every task of the
// instance), is reported STOPPED without pulling or creating anything.
func TestUnknownStoppedTaskReportsStopped(t *testing.T) {
	rt, j := newRuntime(images("app")...)
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("app"))
	task.DesiredStatus = ecstypes.DesiredStatusSTOPPED
	te.Upsert([]Task{task})
	got := te.rec.waitStatus(t, task.Arn, "STOPPED")
	if cc := container(t, got, "app"); cc.Status != "STOPPED" || cc.RuntimeID != "" {
		t.Errorf("app = %+v", cc)
	}
	if n := j.count(func(j *journal) int { return j.pulls + j.creates }); n != 0 {
		t.Errorf("%d pulls/creates for a task sent STOPPED", n)
	}
	if r := te.Running(); len(r) != 0 {
		t.Errorf("Running = %v", r)
	}
}

// TestCleanedTaskIsNotRelaunched: a task cleaned up while the server still
// sends it (its essential container exited; the server has not caught up,
// or a new session resends it) does not run again, until a manifest no
// longer lists it.
func TestCleanedTaskIsNotRelaunched(t *testing.T) {
	rt, j := newRuntime(images("app")...)
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("app"))
	te.Upsert([]Task{task})
	running := te.rec.waitStatus(t, task.Arn, "RUNNING")
	if err := rt.Exit(container(t, running, "app").RuntimeID, 0); err != nil {
		t.Fatal(err)
	}
	te.rec.waitStatus(t, task.Arn, "STOPPED")
	if r := te.Running(); len(r) != 0 {
		t.Errorf("Running = %v after an essential exit", r)
	}
	te.advance(t, 1, testCleanupWait)
	waitUntil(t, "task forgotten", func() bool { return len(te.Snapshot()) == 0 })
	te.Upsert([]Task{task}) // the server has not caught up yet
	te.ForgetUnlisted(map[string]bool{task.Arn: true})
	te.Upsert([]Task{task}) // a new session resends it
	if n := j.count(func(j *journal) int { return j.creates }); n != 1 {
		t.Errorf("creates = %d, want 1", n)
	}
	if te.Holds(task.Arn) || len(te.Running()) != 0 {
		t.Errorf("the cleaned task is back: Holds %v, Running %v", te.Holds(task.Arn), te.Running())
	}

	// Once the server no longer lists it, the engine forgets it was here.
	te.ForgetUnlisted(map[string]bool{})
	te.mu.Lock()
	remembered := len(te.cleaned)
	te.mu.Unlock()
	if remembered != 0 {
		t.Errorf("%d cleaned tasks remembered after a manifest without them", remembered)
	}
}

func TestUpsertIsIdempotent(t *testing.T) {
	rt, j := newRuntime(images("a", "b", "c")...)
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("a"), ctr("b"), ctr("c", dependsOn("a", "START")))
	for range 5 {
		te.Upsert([]Task{task})
	}
	te.rec.waitStatus(t, task.Arn, "RUNNING")
	for range 5 {
		te.Upsert([]Task{task})
	}
	if n := j.count(func(j *journal) int { return j.creates }); n != 3 {
		t.Errorf("creates = %d, want 3", n)
	}
	running := 0
	for _, c := range te.rec.history(task.Arn) {
		if c.Status == "RUNNING" {
			running++
		}
	}
	if running != 1 {
		t.Errorf("%d RUNNING reports, want 1 (no duplicate reports)", running)
	}
}

// TestUpsertBeforeStartIsDeferred: payloads before Start accumulate (the
// latest of each task wins), and so do stops; Start applies them after
// adoption.
func TestUpsertBeforeStartIsDeferred(t *testing.T) {
	rt, j := newRuntime(images("app")...)
	rec := newRecorder()
	e, err := New(Config{Runtime: rt, InstanceARN: testInstance, Reporter: rec})
	if err != nil {
		t.Fatal(err)
	}
	t1, t2, t3 := newTask(taskARN(1), ctr("app")), newTask(taskARN(2), ctr("app")), newTask(taskARN(3), ctr("app"))
	e.Upsert([]Task{t1, t2})
	stopped := t2
	stopped.DesiredStatus = ecstypes.DesiredStatusSTOPPED
	e.Upsert([]Task{stopped, t3})
	e.Stop([]string{t3.Arn})
	if r := e.Running(); len(r) != 0 {
		t.Errorf("Running before Start = %v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); e.Wait() }()
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rec.waitStatus(t, t1.Arn, "RUNNING")
	rec.waitStatus(t, t2.Arn, "STOPPED")
	rec.waitStatus(t, t3.Arn, "STOPPED")
	if got, want := e.Running(), []string{t1.Arn}; !slices.Equal(got, want) {
		t.Errorf("Running = %v, want %v", got, want)
	}
	if n := j.count(func(j *journal) int { return j.creates }); n > 2 {
		t.Errorf("creates = %d, want at most 2 (t1, and t3 unless stopped before its create)", n)
	}
}

func TestNewValidates(t *testing.T) {
	rt := fake.New()
	for name, cfg := range map[string]Config{
		"no runtime":   {InstanceARN: testInstance},
		"no instance":  {Runtime: rt},
		"bad behavior": {Runtime: rt, InstanceARN: testInstance, PullBehavior: "sometimes"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
