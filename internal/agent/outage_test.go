package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecssdk "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/agent/runtime/fake"
)

const (
	arnA = "arn:aws:ecs:us-east-1:000000000000:container-instance/prod/aaaa"
	arnB = "arn:aws:ecs:us-east-1:000000000000:container-instance/prod/bbbb"
)

var errRefused = errors.New("dial tcp 127.0.0.1:8080: connect: connection refused")

// controlPlane is a fake ECS API that is down (every call fails as a
// refused connection) until bringUp; the ACS side is a fakeACS.
type controlPlane struct {
	up        chan struct{}
	upOnce    sync.Once
	acs       *fakeACS
	register  func(in *ecs.RegisterContainerInstanceInput) (string, error) // called once up
	registers atomic.Int32                                                 // attempts, up or down
	attempts  chan *ecs.SubmitTaskStateChangeInput                         // every submission, up or down
	accepted  chan *ecs.SubmitTaskStateChangeInput
}

func newControlPlane(t *testing.T, up bool, register func(*ecs.RegisterContainerInstanceInput) (string, error)) *controlPlane {
	cp := &controlPlane{
		up: make(chan struct{}), acs: newFakeACS(t, testCreds{id: "AKIDTEST", secret: "secret"}), register: register,
		attempts: make(chan *ecs.SubmitTaskStateChangeInput, 1000), accepted: make(chan *ecs.SubmitTaskStateChangeInput, 1000),
	}
	if up {
		cp.bringUp()
	}
	return cp
}

func (cp *controlPlane) bringUp() { cp.upOnce.Do(func() { close(cp.up) }) }

func (cp *controlPlane) isUp() bool {
	select {
	case <-cp.up:
		return true
	default:
		return false
	}
}

func (cp *controlPlane) api() *fakeAPI {
	return &fakeAPI{
		register: func(in *ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error) {
			cp.registers.Add(1)
			if !cp.isUp() {
				return nil, errRefused
			}
			arn, err := cp.register(in)
			if err != nil {
				return nil, err
			}
			return &ecs.RegisterContainerInstanceOutput{ContainerInstance: &ecssdk.ContainerInstance{ContainerInstanceArn: aws.String(arn)}}, nil
		},
		discover: func(*ecs.DiscoverPollEndpointInput) (*ecs.DiscoverPollEndpointOutput, error) {
			if !cp.isUp() {
				return nil, errRefused
			}
			return &ecs.DiscoverPollEndpointOutput{Endpoint: aws.String(cp.acs.srv.URL), TelemetryEndpoint: aws.String(cp.acs.telemetryEndpoint())}, nil
		},
		submit: func(in *ecs.SubmitTaskStateChangeInput) (*ecs.SubmitTaskStateChangeOutput, error) {
			cp.attempts <- in
			if !cp.isUp() {
				return nil, errRefused
			}
			cp.accepted <- in
			return &ecs.SubmitTaskStateChangeOutput{}, nil
		},
	}
}

// waitSubmission waits on ch for a submission of task with status.
func waitSubmission(t *testing.T, ch <-chan *ecs.SubmitTaskStateChangeInput, task, status string) *ecs.SubmitTaskStateChangeInput {
	t.Helper()
	for {
		in := recv(t, ch, task+" "+status)
		if aws.ToString(in.Task) == task && aws.ToString(in.Status) == status {
			return in
		}
	}
}

// waitSubmissions waits on ch for a submission with status of each task, in
// any order.
func waitSubmissions(t *testing.T, ch <-chan *ecs.SubmitTaskStateChangeInput, status string, tasks ...string) {
	t.Helper()
	left := map[string]bool{}
	for _, task := range tasks {
		left[task] = true
	}
	for len(left) > 0 {
		in := recv(t, ch, fmt.Sprintf("%d more %s", len(left), status))
		if aws.ToString(in.Status) == status {
			delete(left, aws.ToString(in.Task))
		}
	}
}

// agentHost is one host: a fake container engine and a data dir that
// outlive the agent runs started on it.
type agentHost struct {
	t       *testing.T
	rt      *fake.Runtime
	dataDir string
}

func newAgentHost(t *testing.T) *agentHost {
	return &agentHost{t: t, rt: fake.New("busybox:latest"), dataDir: t.TempDir()}
}

// start runs an agent against cp until the returned stop is called.
func (h *agentHost) start(cp *controlPlane, log *slog.Logger) (stop func()) {
	t := h.t
	a, err := newAgent(Options{
		Endpoint: "http://127.0.0.1:1", Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Config:      testConfig(), Runtime: h.rt, DataDir: h.dataDir, Logger: log,
		HeartbeatInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.api = cp.api()
	a.retry = backoff{min: 5 * time.Millisecond, max: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.runUntilDone(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := recv(t, errc, "Run to return"); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// containers lists the host's containers carrying labels.
func (h *agentHost) containers(labels map[string]string) []runtime.ContainerState {
	h.t.Helper()
	cs, err := h.rt.ListContainers(context.Background(), labels)
	if err != nil {
		h.t.Fatal(err)
	}
	return cs
}

func (h *agentHost) container(task, name string) runtime.ContainerState {
	h.t.Helper()
	cs := h.containers(map[string]string{engine.LabelTaskARN: task, engine.LabelContainerName: name})
	if len(cs) != 1 {
		h.t.Fatalf("%d containers %s of %s, want 1", len(cs), name, task)
	}
	return cs[0]
}

func (h *agentHost) running(id string) bool {
	h.t.Helper()
	st, err := h.rt.InspectContainer(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return st.Running
}

// webTask is an essential "web" container with a non-essential "side", as
// ACS sends it.
func webTask(arn string) acs.Task {
	c := func(name string, essential bool) acs.Container {
		return acs.Container{Name: name, Image: "busybox:latest", Essential: essential, Memory: 64}
	}
	return acs.Task{Arn: arn, DesiredStatus: "RUNNING", Family: "web", Version: "1", Containers: []acs.Container{c("web", true), c("side", false)}}
}

// runTaskAs has a healthy control plane hand task to a fresh agent on h,
// registered as arn, and waits until it runs; the agent is stopped after.
func (h *agentHost) runTaskAs(arn string, task acs.Task) {
	t := h.t
	cp := newControlPlane(t, true, func(*ecs.RegisterContainerInstanceInput) (string, error) { return arn, nil })
	stop := h.start(cp, testLogger(t))
	sc := recv(t, cp.acs.conns, "first connection")
	sc.payload(t, "m1", 1, task)
	sc.expectAck(t, "m1")
	waitSubmission(t, cp.accepted, task.Arn, "RUNNING")
	stop()
}

// TestRestartWatchesContainersBeforeRegistering restarts the agent while the
// server is down: the engine for the saved instance runs at once, so an
// essential exit stops the task and is reported while registration still
// fails; once the server is back the agent re-registers as the same
// instance and the report gets through.
func TestRestartWatchesContainersBeforeRegistering(t *testing.T) {
	h := newAgentHost(t)
	task := webTask("arn:aws:ecs:us-east-1:000000000000:task/prod/t1")
	h.runTaskAs(arnA, task)
	web, side := h.container(task.Arn, "web"), h.container(task.Arn, "side")

	cp := newControlPlane(t, false, func(in *ecs.RegisterContainerInstanceInput) (string, error) {
		if got := aws.ToString(in.ContainerInstanceArn); got != arnA {
			t.Errorf("re-registration with %q, want the saved %s", got, arnA)
		}
		return arnA, nil
	})
	h.start(cp, testLogger(t))
	waitFor(t, "a registration attempt", func() bool { return cp.registers.Load() > 0 })
	if err := h.rt.Exit(web.ID, 5); err != nil {
		t.Fatal(err)
	}
	// While the server is still down: the task stopped and is being reported.
	stopped := waitSubmission(t, cp.attempts, task.Arn, "STOPPED")
	if got := aws.ToString(stopped.Reason); got != "Essential container in task exited" {
		t.Errorf("reason %q", got)
	}
	waitFor(t, "the non-essential container to be stopped", func() bool { return !h.running(side.ID) })
	if cp.isUp() {
		t.Fatal("the server came up by itself")
	}

	cp.bringUp()
	sc := recv(t, cp.acs.conns, "connection after the outage")
	if got := sc.query["containerInstanceArn"]; got != arnA {
		t.Errorf("connected as %s, want %s", got, arnA)
	}
	stopped = waitSubmission(t, cp.accepted, task.Arn, "STOPPED")
	for _, c := range stopped.Containers {
		if aws.ToString(c.ContainerName) == "web" && aws.ToInt32(c.ExitCode) != 5 {
			t.Errorf("web exit code %v, want 5", c.ExitCode)
		}
	}
	if cs := h.containers(nil); len(cs) != 2 {
		t.Errorf("%d containers, want the task's 2 (nothing created or removed)", len(cs))
	}
}

// TestRestartStopsOnlyWhatTheServerConfirms: after a restart the server
// sends only the tasks it has (here t2); the adopted containers of t1 are
// left running until a task manifest without t1 and the server's
// confirmation stop them, and t2 is never touched.
func TestRestartStopsOnlyWhatTheServerConfirms(t *testing.T) {
	h := newAgentHost(t)
	t1 := webTask("arn:aws:ecs:us-east-1:000000000000:task/prod/t1")
	t2 := webTask("arn:aws:ecs:us-east-1:000000000000:task/prod/t2")
	cp := newControlPlane(t, true, func(*ecs.RegisterContainerInstanceInput) (string, error) { return arnA, nil })
	stop := h.start(cp, testLogger(t))
	sc := recv(t, cp.acs.conns, "first connection")
	sc.payload(t, "m1", 1, t1, t2)
	sc.expectAck(t, "m1")
	waitSubmissions(t, cp.accepted, "RUNNING", t1.Arn, t2.Arn)
	stop()
	web1, web2 := h.container(t1.Arn, "web"), h.container(t2.Arn, "web")

	cp = newControlPlane(t, true, func(*ecs.RegisterContainerInstanceInput) (string, error) { return arnA, nil })
	h.start(cp, testLogger(t))
	sc = recv(t, cp.acs.conns, "connection after the restart")
	sc.payload(t, "m2", 10, t2)
	sc.expectAck(t, "m2")
	waitSubmission(t, cp.accepted, t2.Arn, "RUNNING")
	if !h.running(web1.ID) {
		t.Fatal("an adopted task absent from the payload was stopped")
	}

	sc.manifest(t, "manifest", 11, acs.TaskIdentifier{TaskArn: t2.Arn, DesiredStatus: "RUNNING"})
	sc.expectAck(t, "manifest")
	var ver acs.TaskStopVerificationMessage
	sc.expect(t, acs.TypeTaskStopVerification, &ver)
	if len(ver.StopCandidates) != 1 || ver.StopCandidates[0].TaskArn != t1.Arn || ver.MessageID != "manifest" {
		t.Fatalf("stop verification = %+v, want t1 only", ver)
	}
	if !h.running(web1.ID) {
		t.Fatal("a stop candidate was stopped before the server confirmed it")
	}
	if err := sc.send(acs.TypeTaskStopVerificationAck, acs.TaskStopVerificationAck{MessageID: "manifest", StopTasks: ver.StopCandidates}); err != nil {
		t.Fatal(err)
	}
	stopped := waitSubmission(t, cp.accepted, t1.Arn, "STOPPED")
	if r := aws.ToString(stopped.Reason); r != "" {
		t.Errorf("reason %q, want none (the server has its own)", r)
	}
	if h.running(web1.ID) || !h.running(web2.ID) {
		t.Errorf("after the confirmed stop: t1 web running %v, t2 web running %v", h.running(web1.ID), h.running(web2.ID))
	}
}

// TestRestartDuringOutageStopsCleanly: an agent still waiting to register
// returns nil when its context ends and leaves the containers running.
func TestRestartDuringOutageStopsCleanly(t *testing.T) {
	h := newAgentHost(t)
	task := webTask("arn:aws:ecs:us-east-1:000000000000:task/prod/t1")
	h.runTaskAs(arnA, task)

	cp := newControlPlane(t, false, nil)
	stop := h.start(cp, testLogger(t))
	waitFor(t, "registration attempts", func() bool { return cp.registers.Load() > 2 })
	stop() // fails the test unless Run returns nil
	for _, c := range h.containers(nil) {
		if !c.Running {
			t.Errorf("container %s stopped with the agent", c.Name)
		}
	}
}

// TestRestartWithNewARNRemovesOldContainers: when the server refuses the
// saved instance and the agent registers as a new one, the old instance's
// containers (and only those) are stopped and removed, and a fresh engine
// runs the new instance's tasks.
func TestRestartWithNewARNRemovesOldContainers(t *testing.T) {
	h := newAgentHost(t)
	task := webTask("arn:aws:ecs:us-east-1:000000000000:task/prod/t1")
	h.runTaskAs(arnA, task)
	// Another agent's container on the same engine must be left alone.
	foreign, err := h.rt.CreateContainer(context.Background(), runtime.ContainerSpec{
		Name: "foreign", Image: "busybox:latest", Labels: map[string]string{engine.LabelInstance: "arn:other"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.rt.StartContainer(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}

	cp := newControlPlane(t, true, func(in *ecs.RegisterContainerInstanceInput) (string, error) {
		if in.ContainerInstanceArn != nil {
			return "", &ecssdk.InvalidParameterException{Message: aws.String("unknown instance")}
		}
		return arnB, nil
	})
	logs := &lockedBuffer{}
	h.start(cp, slog.New(slog.NewTextHandler(logs, nil)))
	sc := recv(t, cp.acs.conns, "connection as the new instance")
	if got := sc.query["containerInstanceArn"]; got != arnB {
		t.Fatalf("connected as %s, want %s", got, arnB)
	}
	if cs := h.containers(map[string]string{engine.LabelInstance: arnA}); len(cs) != 0 {
		t.Errorf("%d containers of the old instance left", len(cs))
	}
	if !h.running(foreign) {
		t.Error("another instance's container was stopped")
	}
	if st, err := loadState(h.dataDir); err != nil || st.ContainerInstanceArn != arnB {
		t.Errorf("state %+v, %v; want %s", st, err, arnB)
	}
	if _, ok, err := loadDesired(h.dataDir, arnA); ok || err != nil {
		t.Errorf("the old instance's desired tasks are still saved (%v)", err)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "oldContainerInstanceArn="+arnA+" containers=2") {
		t.Errorf("no warning naming the 2 removed containers in:\n%s", out)
	}

	// The fresh engine works for the new identity.
	next := webTask("arn:aws:ecs:us-east-1:000000000000:task/prod/t2")
	sc.payload(t, "m1", 1, next)
	waitSubmission(t, cp.accepted, next.Arn, "RUNNING")
	if cs := h.containers(map[string]string{engine.LabelInstance: arnB}); len(cs) != 2 {
		t.Errorf("%d containers of the new instance, want 2", len(cs))
	}
}

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWatchable(t *testing.T) {
	t1, t2 := engineTask(webTask("arn:task/t1")), engineTask(webTask("arn:task/t2"))
	tests := []struct {
		name       string
		containers map[string]string // container name -> task ARN, all labelled arnA
		foreign    bool              // one more container, labelled with another instance
		want       []string
	}{
		{"only tasks with containers", map[string]string{"a": t1.Arn}, true, []string{t1.Arn}},
		{"nothing left to watch", nil, false, nil},
		// Upserting what is known stops nothing: the unknown task's
		// containers wait for the server's manifest.
		{"set older than the containers", map[string]string{"a": t1.Arn, "b": "arn:task/t3"}, false, []string{t1.Arn}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := fake.New("busybox:latest")
			add := func(name, instance, task string) {
				if _, err := rt.CreateContainer(context.Background(), runtime.ContainerSpec{Name: name, Image: "busybox:latest",
					Labels: map[string]string{engine.LabelInstance: instance, engine.LabelTaskARN: task}}); err != nil {
					t.Fatal(err)
				}
			}
			for name, task := range tt.containers {
				add(name, arnA, task)
			}
			if tt.foreign {
				add("foreign", arnB, t2.Arn)
			}
			a := &Agent{opts: Options{Runtime: rt}, log: testLogger(t), callTimeout: time.Second}
			got, ok := a.watchable(context.Background(), arnA, []engine.Task{t1, t2})
			var arns []string
			for _, task := range got {
				arns = append(arns, task.Arn)
			}
			if !ok || strings.Join(arns, ",") != strings.Join(tt.want, ",") {
				t.Errorf("watchable = %v, %v; want %v, true", arns, ok, tt.want)
			}
		})
	}
}
