package agent

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
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

// fakeEngine records Apply calls and serves a settable snapshot.
type fakeEngine struct {
	applied chan []acs.Task
	mu      sync.Mutex
	snap    []engine.TaskStateChange
}

var _ taskEngine = (*fakeEngine)(nil)

func (f *fakeEngine) Apply(tasks []acs.Task) { f.applied <- tasks }

func (f *fakeEngine) Snapshot() []engine.TaskStateChange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.TaskStateChange(nil), f.snap...)
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
	cancel   context.CancelFunc
	done     chan struct{}
}

// startACS runs an acsClient (with a real reporter over a recording
// submitter) against a fake ACS server.
func startACS(t *testing.T, snap []engine.TaskStateChange) *acsHarness {
	creds := testCreds{id: "AKIDTEST", secret: "secret"}
	h := &acsHarness{
		server: newFakeACS(t, creds),
		engine: &fakeEngine{applied: make(chan []acs.Task, 10), snap: snap},
		sub:    newRecordingSubmitter(),
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
		api:          api,
		creds:        credentials.NewStaticCredentialsProvider(creds.id, creds.secret, "session-token"),
		region:       "us-east-1",
		cluster:      "default",
		clusterARN:   testClusterARN,
		instanceARN:  testInstanceARN,
		agentVersion: "berth-test",
		engine:       h.engine,
		reporter:     h.reporter,
		heartbeat:    100 * time.Millisecond,
		reconnect:    backoff{min: time.Millisecond, max: 20 * time.Millisecond},
		dialer:       &websocket.Dialer{HandshakeTimeout: 5 * time.Second},
		log:          testLogger(t),
		now:          time.Now,
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

func TestACSPayloadAckAndHeartbeat(t *testing.T) {
	h := startACS(t, nil)
	sc := recv(t, h.server.conns, "connection")
	wantQuery := map[string]string{"clusterArn": testClusterARN, "containerInstanceArn": testInstanceARN, "agentVersion": "berth-test"}
	if !reflect.DeepEqual(sc.query, wantQuery) {
		t.Errorf("query = %v", sc.query)
	}

	tasks := []acs.Task{{Arn: "arn:task/1", DesiredStatus: "RUNNING"}}
	if err := sc.send(acs.TypePayload, acs.PayloadMessage{MessageID: "m1", SeqNum: 1, Tasks: tasks}); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, h.engine.applied, "Apply"); !reflect.DeepEqual(got, tasks) {
		t.Fatalf("Apply(%+v)", got)
	}
	var ack acs.AckRequest
	sc.expect(t, acs.TypeAck, &ack)
	if ack.MessageID != "m1" {
		t.Fatalf("ack %+v", ack)
	}

	if err := sc.send(acs.TypeHeartbeat, acs.HeartbeatMessage{MessageID: "srv-hb-1", Healthy: true}); err != nil {
		t.Fatal(err)
	}
	var hb acs.HeartbeatMessage
	sc.expect(t, acs.TypeHeartbeat, &hb)
	if hb.MessageID != "srv-hb-1" || !hb.Healthy {
		t.Fatalf("heartbeat reply %+v", hb)
	}

	// The agent's own heartbeats keep flowing (the server echoes them and
	// the agent must not answer the echoes, or they would ping-pong); the
	// connection outlives several read deadlines.
	// Five intervals exceed the 3-interval read deadline.
	waitFor(t, "five agent heartbeats", func() bool { return sc.echoed.Load() >= 5 })
	select {
	case env := <-sc.in:
		t.Fatalf("unexpected %s from agent", env.Type)
	case <-sc.closed:
		t.Fatal("connection dropped while heartbeats flowed")
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

	// An ErrorMessage also makes the agent reconnect.
	h.engine.mu.Lock()
	h.engine.snap = []engine.TaskStateChange{{TaskARN: "arn:task/1", Status: "STOPPED", Reason: "Essential container in task exited"}}
	h.engine.mu.Unlock()
	if err := sc.send(acs.TypeError, acs.ErrorMessage{Code: "InactiveInstanceException", Message: "bye"}); err != nil {
		t.Fatal(err)
	}
	<-sc.closed
	sc = recv(t, h.server.conns, "third connection")
	if got := recv(t, h.sub.ch, "resync after error"); got.status != "STOPPED" || got.reason != "Essential container in task exited" {
		t.Fatalf("resync = %+v", got)
	}

	// Payloads still work on the new connection.
	if err := sc.send(acs.TypePayload, acs.PayloadMessage{MessageID: "m2"}); err != nil {
		t.Fatal(err)
	}
	recv(t, h.engine.applied, "Apply on new connection")
	var ack acs.AckRequest
	sc.expect(t, acs.TypeAck, &ack)
}

func TestACSRetriesRejectedUpgrade(t *testing.T) {
	h := startACS(t, nil)
	sc := recv(t, h.server.conns, "first connection")
	h.server.setReject(http.StatusServiceUnavailable)
	sc.close()
	// The agent keeps trying; once the server accepts again it connects.
	waitFor(t, "rejected attempts", func() bool { return h.server.attemptCount() >= 4 })
	h.server.setReject(0)
	recv(t, h.server.conns, "connection after rejections")
}

func TestACSHealthMessages(t *testing.T) {
	h := startACS(t, nil)
	// Health reported while disconnected is sent once connected.
	h.reporter.Report(engine.TaskStateChange{TaskARN: "arn:task/1", Status: "RUNNING",
		Containers: []engine.ContainerStateChange{{Name: "web", HealthStatus: "UNKNOWN"}}})
	sc := recv(t, h.server.conns, "connection")
	var hm acs.HealthMessage
	sc.expect(t, acs.TypeHealth, &hm)
	if len(hm.Tasks) != 1 || hm.Tasks[0].TaskArn != "arn:task/1" || hm.Tasks[0].Containers[0].Status != "UNKNOWN" {
		t.Fatalf("health %+v", hm)
	}
	h.reporter.Report(engine.TaskStateChange{TaskARN: "arn:task/1", Status: "RUNNING",
		Containers: []engine.ContainerStateChange{{Name: "web", HealthStatus: "HEALTHY"}}})
	sc.expect(t, acs.TypeHealth, &hm)
	if hm.Tasks[0].Containers[0].Status != "HEALTHY" {
		t.Fatalf("health %+v", hm)
	}
}

func TestConnectURL(t *testing.T) {
	q := url.Values{"clusterArn": {"arn:aws:ecs:r:1:cluster/c"}}
	tests := []struct {
		endpoint string
		want     string
		wantErr  bool
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/acs/v1/connect?clusterArn=arn%3Aaws%3Aecs%3Ar%3A1%3Acluster%2Fc", false},
		{"https://berth.example/", "https://berth.example/acs/v1/connect?clusterArn=arn%3Aaws%3Aecs%3Ar%3A1%3Acluster%2Fc", false},
		{"wss://berth.example/prefix/acs/v1/connect", "https://berth.example/prefix/acs/v1/connect?clusterArn=arn%3Aaws%3Aecs%3Ar%3A1%3Acluster%2Fc", false},
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
