package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/agent/engine"
)

// fakeEngine records what the ACS client asks of the engine and serves a
// settable snapshot and set of running tasks.
type fakeEngine struct {
	upserts chan []engine.Task
	stops   chan []string
	forgets chan map[string]bool
	mu      sync.Mutex
	snap    []engine.TaskStateChange
	running []string
}

var _ taskEngine = (*fakeEngine)(nil)

func newFakeEngine(snap []engine.TaskStateChange) *fakeEngine {
	return &fakeEngine{
		upserts: make(chan []engine.Task, 10), stops: make(chan []string, 10), forgets: make(chan map[string]bool, 10), snap: snap,
	}
}

func (f *fakeEngine) Upsert(tasks []engine.Task)            { f.upserts <- tasks }
func (f *fakeEngine) Stop(arns []string)                    { f.stops <- arns }
func (f *fakeEngine) ForgetUnlisted(listed map[string]bool) { f.forgets <- listed }

func (f *fakeEngine) Running() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.running)
}

func (f *fakeEngine) setRunning(arns ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running = arns
}

func (f *fakeEngine) Snapshot() []engine.TaskStateChange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.snap)
}

const (
	testClusterARN  = "arn:aws:ecs:us-east-1:000000000000:cluster/default"
	testInstanceARN = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/0123"
)

type acsHarness struct {
	server   *fakeACS
	engine   *fakeEngine
	sub      *recordingSubmitter
	reporter *reporter
	client   *acsClient
	sleeps   chan time.Duration // every wait between connections
	cancel   context.CancelFunc
	done     chan struct{}
}

// startACS runs an acsClient (with a real reporter over a recording
// submitter) against a fake ACS server.
func startACS(t *testing.T, snap []engine.TaskStateChange) *acsHarness {
	creds := testCreds{id: "AKIDTEST", secret: "secret"}
	h := &acsHarness{
		server: newFakeACS(t, creds),
		engine: newFakeEngine(snap),
		sub:    newRecordingSubmitter(),
		sleeps: make(chan time.Duration, 100),
		done:   make(chan struct{}),
	}
	api := h.sub.api()
	api.discover = func(in *ecs.DiscoverPollEndpointInput) (*ecs.DiscoverPollEndpointOutput, error) {
		if aws.ToString(in.ContainerInstance) != testInstanceARN || aws.ToString(in.Cluster) != "default" {
			t.Errorf("DiscoverPollEndpoint(%s, %s)", aws.ToString(in.ContainerInstance), aws.ToString(in.Cluster))
		}
		return &ecs.DiscoverPollEndpointOutput{Endpoint: aws.String(h.server.srv.URL + "/")}, nil
	}
	h.reporter = newTestReporter(t, api)
	startReporter(t, h.reporter)
	h.client = &acsClient{
		api: api,
		dialer: signedDialer{
			creds:  credentials.NewStaticCredentialsProvider(creds.id, creds.secret, "session-token"),
			region: "us-east-1", dialer: &websocket.Dialer{HandshakeTimeout: 5 * time.Second}, now: time.Now,
		},
		cluster:     "default",
		clusterARN:  testClusterARN,
		instanceARN: testInstanceARN,
		version:     versionInfo{agentVersion: "berth-test", agentHash: "abc123", dockerVersion: "DockerVersion: 20.10.24"},
		engine:      h.engine,
		reporter:    h.reporter,
		heartbeat:   100 * time.Millisecond,
		reconnect:   backoff{min: time.Millisecond, max: 20 * time.Millisecond},
		log:         testLogger(t),
		sleep: func(ctx context.Context, d time.Duration) bool {
			h.sleeps <- d
			return sleepCtx(ctx, d)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { defer close(h.done); h.client.run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *acsHarness) stop() {
	h.cancel()
	<-h.done
}

// webACSTask is a one-container task as ACS sends it.
func webACSTask(arn, desired string) acs.Task {
	return acs.Task{
		Arn: arn, DesiredStatus: desired, Family: "web", Version: "3", Zone: "us-east-1a",
		Containers: []acs.Container{{Name: "web", Image: "busybox:latest", Essential: true, Memory: 64}},
	}
}

func TestACSQuery(t *testing.T) {
	h := startACS(t, nil)
	sc := recv(t, h.server.conns, "connection")
	want := map[string]string{
		"clusterArn": testClusterARN, "containerInstanceArn": testInstanceARN,
		"agentVersion": "berth-test", "agentHash": "abc123", "dockerVersion": "DockerVersion: 20.10.24",
		"protocolVersion": "2", "sendCredentials": "true", "seqNum": "1",
	}
	if !reflect.DeepEqual(sc.query, want) {
		t.Errorf("query = %v, want %v", sc.query, want)
	}
	h.client.version.dockerVersion = ""
	if q := h.client.query(); q.Has(acs.QueryDockerVersion) {
		t.Errorf("dockerVersion sent without a runtime version: %v", q)
	}
}

func TestACSPayloadUpsertAndAck(t *testing.T) {
	h := startACS(t, nil)
	sc := recv(t, h.server.conns, "connection")

	sc.payload(t, "m1", 10, webACSTask("arn:task/1", "RUNNING"), webACSTask("arn:task/2", "STOPPED"))
	got := recv(t, h.engine.upserts, "Upsert")
	if len(got) != 2 || got[0].Arn != "arn:task/1" || got[0].DesiredStatus != "RUNNING" || got[1].DesiredStatus != "STOPPED" {
		t.Fatalf("Upsert(%+v)", got)
	}
	def := got[0].TaskDefinition
	if aws.ToString(def.Family) != "web" || aws.ToInt32(def.Revision) != 3 || len(def.ContainerDefinitions) != 1 ||
		aws.ToString(def.ContainerDefinitions[0].Image) != "busybox:latest" || got[0].AvailabilityZone != "us-east-1a" || got[0].Problem != "" {
		t.Errorf("task 1 as the engine gets it: %+v", got[0])
	}
	sc.expectAck(t, "m1")

	// A task whose definition cannot be rebuilt goes to the engine to fail.
	bad := webACSTask("arn:task/3", "RUNNING")
	bad.Version = "three"
	sc.payload(t, "m2", 11, bad)
	if got := recv(t, h.engine.upserts, "Upsert"); len(got) != 1 || !strings.HasPrefix(got[0].Problem, "CannotCreateContainerError: ") ||
		len(got[0].TaskDefinition.ContainerDefinitions) != 1 {
		t.Errorf("bad task as the engine gets it: %+v", got)
	}
	sc.expectAck(t, "m2")

	// Payloads without their ids are dropped, unacknowledged, as the ECS
	// agent drops them.
	for _, msg := range []acs.PayloadMessage{
		{ClusterArn: testClusterARN, ContainerInstanceArn: testInstanceARN},
		{MessageID: "m3", ContainerInstanceArn: testInstanceARN},
		{MessageID: "m4", ClusterArn: testClusterARN},
	} {
		msg.Tasks = []acs.Task{webACSTask("arn:task/9", "RUNNING")}
		if err := sc.send(acs.TypePayload, msg); err != nil {
			t.Fatal(err)
		}
	}
	sc.payload(t, "m5", 12)
	if got := recv(t, h.engine.upserts, "Upsert"); len(got) != 0 {
		t.Fatalf("a dropped payload reached the engine: %+v", got)
	}
	sc.expectAck(t, "m5")
}

// TestACSHeartbeats: the server's heartbeats are acknowledged; the agent
// sends none of its own, and its pings keep a server that sends nothing
// else connected past the three-interval read deadline.
func TestACSHeartbeats(t *testing.T) {
	h := startACS(t, nil)
	sc := recv(t, h.server.conns, "connection")
	if err := sc.send(acs.TypeHeartbeat, acs.HeartbeatMessage{MessageID: "hb-1", Healthy: true}); err != nil {
		t.Fatal(err)
	}
	var ack acs.HeartbeatAckRequest
	sc.expect(t, acs.TypeHeartbeatAck, &ack)
	if ack.MessageID != "hb-1" {
		t.Fatalf("heartbeat ack %+v", ack)
	}

	for i := range 5 { // five intervals exceed the read deadline
		recv(t, sc.pings, fmt.Sprintf("ping %d", i+1))
	}
	select {
	case <-sc.closed:
		t.Fatal("connection dropped while pings were answered")
	default:
	}
	sc.quiet(t)
}

func TestACSManifestStopVerification(t *testing.T) {
	h := startACS(t, nil)
	sc := recv(t, h.server.conns, "connection")
	h.engine.setRunning("arn:task/a", "arn:task/b", "arn:task/c")

	sc.payload(t, "p1", 100)
	recv(t, h.engine.upserts, "Upsert")
	sc.expectAck(t, "p1")

	// Stale: not past the payload's seqNum.
	sc.manifest(t, "stale", 100)
	// a is wanted; b listed as STOPPED; c unlisted.
	sc.manifest(t, "m1", 101,
		acs.TaskIdentifier{TaskArn: "arn:task/a", DesiredStatus: "RUNNING"},
		acs.TaskIdentifier{TaskArn: "arn:task/b", DesiredStatus: "STOPPED"},
		acs.TaskIdentifier{TaskArn: "arn:task/gone", DesiredStatus: "STOPPED"})
	if got, want := recv(t, h.engine.forgets, "ForgetUnlisted"), map[string]bool{"arn:task/a": true, "arn:task/b": true, "arn:task/gone": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("ForgetUnlisted(%v), want %v", got, want)
	}
	sc.expectAck(t, "m1") // the stale manifest was neither acknowledged nor compared
	var ver acs.TaskStopVerificationMessage
	sc.expect(t, acs.TypeTaskStopVerification, &ver)
	want := acs.TaskStopVerificationMessage{MessageID: "m1", StopCandidates: []acs.TaskIdentifier{
		{TaskArn: "arn:task/b", TaskClusterArn: testClusterARN, DesiredStatus: "STOPPED"},
		{TaskArn: "arn:task/c", TaskClusterArn: testClusterARN, DesiredStatus: "STOPPED"},
	}}
	if !reflect.DeepEqual(ver, want) {
		t.Fatalf("stop verification = %+v, want %+v", ver, want)
	}

	// An answer to another manifest stops nothing; the right one stops
	// exactly what it names, once.
	if err := sc.send(acs.TypeTaskStopVerificationAck, acs.TaskStopVerificationAck{MessageID: "other",
		StopTasks: []acs.TaskIdentifier{{TaskArn: "arn:task/a", DesiredStatus: "STOPPED"}}}); err != nil {
		t.Fatal(err)
	}
	ack := acs.TaskStopVerificationAck{MessageID: "m1", StopTasks: []acs.TaskIdentifier{{TaskArn: "arn:task/c", DesiredStatus: "STOPPED"}}}
	for range 2 {
		if err := sc.send(acs.TypeTaskStopVerificationAck, ack); err != nil {
			t.Fatal(err)
		}
	}
	if got := recv(t, h.engine.stops, "Stop"); !slices.Equal(got, []string{"arn:task/c"}) {
		t.Fatalf("Stop(%v), want only the verified c", got)
	}

	// A manifest everything running agrees with is acknowledged, nothing more.
	h.engine.setRunning("arn:task/a")
	sc.manifest(t, "m2", 102, acs.TaskIdentifier{TaskArn: "arn:task/a", DesiredStatus: "RUNNING"})
	recv(t, h.engine.forgets, "ForgetUnlisted")
	sc.expectAck(t, "m2")
	// The heartbeat's ack proves the agent read everything sent before it.
	if err := sc.send(acs.TypeHeartbeat, acs.HeartbeatMessage{MessageID: "hb"}); err != nil {
		t.Fatal(err)
	}
	var hb acs.HeartbeatAckRequest
	sc.expect(t, acs.TypeHeartbeatAck, &hb)
	select {
	case got := <-h.engine.stops:
		t.Errorf("Stop(%v) after a wrong or repeated answer", got)
	default:
	}
}

func TestACSReconnectResyncs(t *testing.T) {
	snap := []engine.TaskStateChange{{TaskARN: "arn:task/1", Status: "RUNNING"}}
	h := startACS(t, snap)

	sc := recv(t, h.server.conns, "first connection")
	if got := recv(t, h.sub.ch, "resync report"); got != (submission{task: "arn:task/1", status: "RUNNING"}) {
		t.Fatalf("resync = %+v", got)
	}

	// Server drops the connection: the agent reconnects and re-reports.
	sc.close()
	sc = recv(t, h.server.conns, "second connection")
	if got := recv(t, h.sub.ch, "resync after reconnect"); got != (submission{task: "arn:task/1", status: "RUNNING"}) {
		t.Fatalf("resync = %+v", got)
	}

	// An error envelope ends the session too; the agent reconnects.
	h.engine.mu.Lock()
	h.engine.snap = []engine.TaskStateChange{{TaskARN: "arn:task/1", Status: "STOPPED", Reason: "Essential container in task exited"}}
	h.engine.mu.Unlock()
	if err := sc.send(acs.ErrorTypeServer, acs.ErrorMessage{Message: "try again"}); err != nil {
		t.Fatal(err)
	}
	<-sc.closed
	sc = recv(t, h.server.conns, "third connection")
	if got := recv(t, h.sub.ch, "resync after error"); got.status != "STOPPED" || got.reason != "Essential container in task exited" {
		t.Fatalf("resync = %+v", got)
	}

	// Payloads still work on the new connection.
	sc.payload(t, "m2", 1)
	recv(t, h.engine.upserts, "Upsert on new connection")
	sc.expectAck(t, "m2")
}

// TestACSInactiveInstance: InactiveInstanceException, on the socket or as
// the body of a refused upgrade, makes the agent wait the backoff's maximum
// before it redials; other refusals back off as usual.
func TestACSInactiveInstance(t *testing.T) {
	h := startACS(t, nil)
	sc := recv(t, h.server.conns, "first connection")
	maxWait := h.client.reconnect.max

	if err := sc.send(acs.ErrorTypeInactiveInstance, acs.ErrorMessage{Message: "deregistered"}); err != nil {
		t.Fatal(err)
	}
	<-sc.closed
	if d := recv(t, h.sleeps, "wait after InactiveInstanceException"); d != maxWait {
		t.Errorf("waited %v after InactiveInstanceException on the socket, want the maximum %v", d, maxWait)
	}
	sc = recv(t, h.server.conns, "connection after the wait")

	body, _ := acs.Encode(acs.ErrorTypeInactiveInstance, acs.ErrorMessage{Message: "The container instance is not registered."})
	h.server.setReject(http.StatusBadRequest, body)
	sc.close()
	// The wait after the close is the usual backoff (jittered below its
	// maximum); the one after the refusal is the maximum.
	waitFor(t, "the maximum wait after a refused upgrade", func() bool {
		for {
			select {
			case d := <-h.sleeps:
				if d == maxWait {
					return true
				}
			default:
				return false
			}
		}
	})
	h.server.setReject(0, nil)
	recv(t, h.server.conns, "connection once registered again")
}

func TestDialDecodesRefusal(t *testing.T) {
	f := newFakeACS(t, testCreds{id: "AKIDTEST", secret: "secret"})
	d := signedDialer{
		creds: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""), region: "us-east-1",
		dialer: &websocket.Dialer{HandshakeTimeout: 5 * time.Second}, now: time.Now,
	}
	u, err := connectURL(f.srv.URL, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := acs.Encode(acs.ErrorTypeInvalidCluster, acs.ErrorMessage{Message: "no such cluster"})
	f.setReject(http.StatusBadRequest, body)
	_, err = d.dial(context.Background(), u)
	var se *serverError
	if !errors.As(err, &se) || se.Type != acs.ErrorTypeInvalidCluster || se.Message != "no such cluster" || se.Status != http.StatusBadRequest {
		t.Errorf("dial error = %v, want the InvalidClusterException envelope", err)
	}

	f.setReject(http.StatusServiceUnavailable, []byte("busy"))
	if _, err = d.dial(context.Background(), u); errors.As(err, &se) || !strings.Contains(err.Error(), "HTTP 503: busy") {
		t.Errorf("dial error = %v, want the plain refusal", err)
	}
}

func TestACSRetriesRejectedUpgrade(t *testing.T) {
	h := startACS(t, nil)
	sc := recv(t, h.server.conns, "first connection")
	h.server.setReject(http.StatusServiceUnavailable, []byte("rejected by test"))
	sc.close()
	// The agent keeps trying; once the server accepts again it connects.
	waitFor(t, "rejected attempts", func() bool { return h.server.attemptCount() >= 4 })
	h.server.setReject(0, nil)
	recv(t, h.server.conns, "connection after rejections")
}

func TestConnectURL(t *testing.T) {
	q := url.Values{"clusterArn": {"arn:aws:ecs:r:1:cluster/c"}}
	tests := []struct {
		endpoint string
		want     string
		wantErr  bool
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/ws?clusterArn=arn%3Aaws%3Aecs%3Ar%3A1%3Acluster%2Fc", false},
		{"https://berth.example/", "https://berth.example/ws?clusterArn=arn%3Aaws%3Aecs%3Ar%3A1%3Acluster%2Fc", false},
		{"wss://berth.example/prefix/ws", "https://berth.example/prefix/ws?clusterArn=arn%3Aaws%3Aecs%3Ar%3A1%3Acluster%2Fc", false},
		{"ftp://x", "", true},
		{"://bad", "", true},
	}
	for _, tt := range tests {
		u, err := connectURL(tt.endpoint, q)
		if (err != nil) != tt.wantErr {
			t.Errorf("connectURL(%q) err = %v", tt.endpoint, err)
			continue
		}
		if err == nil && u.String() != tt.want {
			t.Errorf("connectURL(%q) = %s, want %s", tt.endpoint, u, tt.want)
		}
	}
}
