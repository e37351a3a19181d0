package ecs

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

const acsWait = 10 * time.Second

// newACSTestService is newTestService with a short ACS heartbeat, so the
// socket's deadlines and leases are exercised within the test.
func newACSTestService(t *testing.T, heartbeat time.Duration) *Service {
	t.Helper()
	s := New(Config{
		Store: storetest.New(t), Region: testRegion, AccountID: testAccount,
		AdvertiseURL: "http://127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return testNow }, Rand: func(int) int { return 0 },
		HeartbeatInterval: heartbeat,
	})
	t.Cleanup(s.Close) // before the store closes: sockets end first
	return s
}

func acsURL(srv *httptest.Server, cluster, instance string) string {
	q := url.Values{"clusterArn": {cluster}, "containerInstanceArn": {instance}, "agentVersion": {"1.0.0"}}
	return "ws" + strings.TrimPrefix(srv.URL, "http") + acs.Path + "?" + q.Encode()
}

// fakeAgent is the agent's end of an ACS socket: it answers heartbeats,
// acknowledges payloads and hands the payloads to the test.
type fakeAgent struct {
	conn       *websocket.Conn
	mu         sync.Mutex // serialises writes
	payloads   chan acs.PayloadMessage
	heartbeats atomic.Int32
	errMu      sync.Mutex
	errCodes   []string // ErrorMessage codes received
	done       chan struct{}
}

func (a *fakeAgent) errorCodes() []string {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return append([]string(nil), a.errCodes...)
}

func dialAgent(t *testing.T, srv *httptest.Server, cluster, instance string) *fakeAgent {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), acsURL(srv, cluster, instance), nil)
	if err != nil {
		t.Fatalf("dial ACS: %v (response %v)", err, resp)
	}
	a := &fakeAgent{conn: conn, payloads: make(chan acs.PayloadMessage, 64), done: make(chan struct{})}
	go a.read(t)
	t.Cleanup(a.close)
	return a
}

func (a *fakeAgent) read(t *testing.T) {
	defer close(a.done)
	for {
		_, data, err := a.conn.ReadMessage()
		if err != nil {
			return
		}
		env, err := acs.Decode(data)
		if err != nil {
			t.Errorf("server sent a malformed message: %v", err)
			return
		}
		switch env.Type {
		case acs.TypeHeartbeat:
			a.heartbeats.Add(1)
			var hb acs.HeartbeatMessage
			_ = json.Unmarshal(env.Message, &hb)
			a.send(t, acs.TypeHeartbeat, acs.HeartbeatMessage{MessageID: hb.MessageID, Healthy: true})
		case acs.TypeError:
			var e acs.ErrorMessage
			_ = json.Unmarshal(env.Message, &e)
			a.errMu.Lock()
			a.errCodes = append(a.errCodes, e.Code)
			a.errMu.Unlock()
		case acs.TypePayload:
			var p acs.PayloadMessage
			if err := json.Unmarshal(env.Message, &p); err != nil {
				t.Errorf("malformed payload: %v", err)
				return
			}
			a.send(t, acs.TypeAck, acs.AckRequest{MessageID: p.MessageID})
			select {
			case a.payloads <- p:
			default:
				t.Errorf("more than %d payloads not taken by the test", cap(a.payloads))
				return
			}
		}
	}
}

func (a *fakeAgent) send(t *testing.T, typ string, msg any) {
	b, err := acs.Encode(typ, msg)
	if err != nil {
		t.Errorf("encode %s: %v", typ, err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.conn.WriteMessage(websocket.TextMessage, b) // a failed write shows as a failed expectation
}

// close drops the connection, as a crashed agent would, and waits for the reader.
func (a *fakeAgent) close() {
	a.conn.Close()
	<-a.done
}

// waitPayload returns the first payload for which ok holds, skipping others.
func (a *fakeAgent) waitPayload(t *testing.T, what string, ok func(acs.PayloadMessage) bool) acs.PayloadMessage {
	t.Helper()
	deadline := time.After(acsWait)
	for {
		select {
		case p := <-a.payloads:
			if ok(p) {
				return p
			}
		case <-deadline:
			t.Fatalf("timed out waiting for a payload with %s", what)
		}
	}
}

func payloadTask(p acs.PayloadMessage, arn string) (acs.Task, bool) {
	for _, task := range p.Tasks {
		if task.Arn == arn {
			return task, true
		}
	}
	return acs.Task{}, false
}

func TestACSRejectsUnknownInstance(t *testing.T) {
	s := newACSTestService(t, time.Second)
	srv := httptest.NewServer(s.ACSHandler())
	t.Cleanup(srv.Close)
	createCluster(t, s, "prod")
	gone := registerInstance(t, s, "prod", 1024, 1024)
	if _, err := s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(gone),
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, cluster, instance, code string }{
		{"unknown instance", "prod", s.arns.instance("prod", "00000000-0000-4000-8000-000000000000"), "InvalidParameterException"},
		{"deregistered instance", "prod", gone, "InvalidParameterException"},
		{"unknown cluster", "nope", gone, "ClusterNotFoundException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), acsURL(srv, tc.cluster, tc.instance), nil)
			if err == nil {
				conn.Close()
				t.Fatal("the socket was upgraded")
			}
			if resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("dial error %v, response %v; want HTTP 400", err, resp)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), tc.code) {
				t.Fatalf("body %s, want %s", body, tc.code)
			}
		})
	}
}

// acsFixture is a service with a short heartbeat, its ACS handler on a test
// server, cluster "prod" and one registered instance (not yet connected).
func acsFixture(t *testing.T) (*Service, *httptest.Server, string) {
	t.Helper()
	s := newACSTestService(t, 300*time.Millisecond)
	srv := httptest.NewServer(s.ACSHandler())
	t.Cleanup(srv.Close)
	createCluster(t, s, "prod")
	reg, err := s.RegisterContainerInstance(t.Context(), &ecstypes.RegisterContainerInstanceRequest{
		Cluster: aws.String("prod"), TotalResources: instanceResources(4096, 4096),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, srv, aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
}

func TestACSSession(t *testing.T) {
	s, srv, inst := acsFixture(t)
	connected := func() bool { return aws.ToBool(describeInstance(t, s, "prod", inst).AgentConnected) }

	// Seed a live and a stopped task while a stand-in session lets them be placed.
	connectAgent(t, s, inst)
	healthDef := registerTaskDef(t, s, healthTaskDef)
	live := runOne(t, s, "prod", healthDef)
	dead := runOne(t, s, "prod", healthDef)
	reportTask(t, s, "prod", dead, "STOPPED", essentialExitReason)
	disconnectAgent(t, s, inst)
	if connected() {
		t.Fatal("agentConnected before the socket connected")
	}

	agent := dialAgent(t, srv, s.arns.cluster("prod"), inst)
	storetest.WaitFor(t, acsWait, "agentConnected", connected)

	first := agent.waitPayload(t, "the first payload", func(acs.PayloadMessage) bool { return true })
	if first.ContainerInstanceArn != inst || first.ClusterArn != s.arns.cluster("prod") || len(first.Tasks) != 1 {
		t.Fatalf("first payload: instance %s cluster %s %d tasks; want only the live task", first.ContainerInstanceArn, first.ClusterArn, len(first.Tasks))
	}
	task, ok := payloadTask(first, live)
	if !ok || task.DesiredStatus != "RUNNING" || task.Group != "family:health" {
		t.Fatalf("first payload task = %+v", first.Tasks[0])
	}
	if td := task.TaskDefinition; aws.ToString(td.TaskDefinitionArn) != healthDef || len(td.ContainerDefinitions) != 4 ||
		td.ContainerDefinitions[0].HealthCheck == nil {
		t.Fatalf("payload task definition is not the full definition: %+v", td)
	}

	// A new task on the instance yields a new payload with it.
	added := runOne(t, s, "prod", healthDef)
	next := agent.waitPayload(t, "the new task", func(p acs.PayloadMessage) bool { _, ok := payloadTask(p, added); return ok })
	if next.SeqNum <= first.SeqNum || len(next.Tasks) != 2 {
		t.Fatalf("payload after RunTask: seq %d (first %d), %d tasks", next.SeqNum, first.SeqNum, len(next.Tasks))
	}

	// StopTask yields a payload asking for the task STOPPED.
	stopTask(t, s, "prod", live, "")
	agent.waitPayload(t, "desiredStatus STOPPED", func(p acs.PayloadMessage) bool {
		task, ok := payloadTask(p, live)
		return ok && task.DesiredStatus == "STOPPED" && task.StoppedReason == "Task stopped by user"
	})

	// Health reported on the socket reaches the task.
	agent.send(t, acs.TypeHealth, acs.HealthMessage{Tasks: []acs.TaskHealth{{TaskArn: added, Containers: []acs.ContainerHealth{
		{Name: "a", Status: "HEALTHY"}, {Name: "b", Status: "HEALTHY"},
	}}}})
	storetest.WaitFor(t, acsWait, "task health HEALTHY", func() bool {
		return aws.ToString(describeTask(t, s, "prod", added).HealthStatus) == "HEALTHY"
	})
	if c := describeTask(t, s, "prod", added).Containers[0]; aws.ToString(c.HealthStatus) != "HEALTHY" {
		t.Fatalf("container a health = %s", aws.ToString(c.HealthStatus))
	}
	// The session outlives the server's read deadline (three intervals)
	// while the agent answers heartbeats.
	storetest.WaitFor(t, acsWait, "four heartbeats", func() bool { return agent.heartbeats.Load() >= 4 })
	if !connected() {
		t.Fatal("agentConnected went false while the agent was answering heartbeats")
	}

	agent.close()
	storetest.WaitFor(t, acsWait, "agentConnected false after disconnect", func() bool { return !connected() })
}

// Closing the service ends its agent sockets and their sessions.
func TestACSCloseEndsSockets(t *testing.T) {
	s := newACSTestService(t, time.Second)
	srv := httptest.NewServer(s.ACSHandler())
	t.Cleanup(srv.Close)
	createCluster(t, s, "prod")
	reg, err := s.RegisterContainerInstance(t.Context(), &ecstypes.RegisterContainerInstanceRequest{
		Cluster: aws.String("prod"), TotalResources: instanceResources(1024, 1024),
	})
	if err != nil {
		t.Fatal(err)
	}
	inst := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	connected := func() bool { return aws.ToBool(describeInstance(t, s, "prod", inst).AgentConnected) }
	agent := dialAgent(t, srv, "prod", inst)
	if p := agent.waitPayload(t, "the first payload", func(acs.PayloadMessage) bool { return true }); len(p.Tasks) != 0 {
		t.Fatalf("first payload of an empty instance has %d tasks", len(p.Tasks))
	}
	storetest.WaitFor(t, acsWait, "agentConnected", connected)

	s.Close()
	select {
	case <-agent.done:
	case <-time.After(acsWait):
		t.Fatal("the socket stayed open after Service.Close")
	}
	// The closed service answers no more calls: look at its agent session
	// record in the store directly.
	storetest.WaitFor(t, acsWait, "the agent session to end after Close", func() bool {
		err := s.st.View(t.Context(), func(tx *store.Tx) error {
			_, err := store.Get(tx, agentSessions, idFromARN(inst))
			return err
		})
		return errors.Is(err, store.ErrNotFound)
	})
}

// Deregistering an instance ends its socket with InactiveInstanceException,
// as ECS's ACS does.
func TestACSDeregisterEndsSession(t *testing.T) {
	s, srv, inst := acsFixture(t)
	agent := dialAgent(t, srv, s.arns.cluster("prod"), inst)
	agent.waitPayload(t, "the first payload", func(acs.PayloadMessage) bool { return true })

	if _, err := s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(inst),
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-agent.done:
	case <-time.After(acsWait):
		t.Fatal("the socket stayed open after deregistration")
	}
	if codes := agent.errorCodes(); len(codes) != 1 || codes[0] != "InactiveInstanceException" {
		t.Fatalf("error messages = %v, want [InactiveInstanceException]", codes)
	}
}
