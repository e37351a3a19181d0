package agent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/sigv4"
	"github.com/berth-dev/berth/internal/tcs"
)

// fakeTelemetryPrefix is where the fake serves TCS, as Berth's server does:
// DiscoverPollEndpoint's TelemetryEndpoint is <url>/tcs.
const fakeTelemetryPrefix = "/tcs"

// fakeACS is a test server speaking ECS's agent protocols: the ACS
// websocket at acs.Path and the TCS websocket at /tcs/ws, both upgrades
// SigV4-verified. ACS connections are handed to the test, which plays the
// server (payloads, heartbeats, manifests, errors); TCS connections verify
// every frame's signature, acknowledge health and metrics and hand them to
// the test.
type fakeACS struct {
	t        *testing.T
	srv      *httptest.Server
	verifier *sigv4.Verifier
	conns    chan *serverConn
	tcsConns chan *tcsServerConn

	mu sync.Mutex
	// reject, when set, fails ACS upgrades with this HTTP status and body.
	reject      int
	rejectBody  []byte
	attempts    int // ACS upgrade requests seen
	tcsAttempts int // TCS upgrade requests seen
	// tcsSilent makes TCS connections neither acknowledge nor answer
	// pings: a dead server, as the agent sees it.
	tcsSilent bool
}

func newFakeACS(t *testing.T, creds testCreds) *fakeACS {
	f := &fakeACS{t: t, conns: make(chan *serverConn, 16), tcsConns: make(chan *tcsServerConn, 16)}
	f.verifier = &sigv4.Verifier{
		Region: "us-east-1",
		Lookup: func(id string) (sigv4.Credential, bool) {
			return sigv4.Credential{AccessKeyID: creds.id, SecretAccessKey: creds.secret}, id == creds.id
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc(acs.Path, f.serveACS)
	mux.HandleFunc(fakeTelemetryPrefix+tcs.Path, f.serveTCS)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// telemetryEndpoint is what DiscoverPollEndpoint returns as TelemetryEndpoint.
func (f *fakeACS) telemetryEndpoint() string { return f.srv.URL + fakeTelemetryPrefix }

func (f *fakeACS) serveACS(w http.ResponseWriter, r *http.Request) {
	if _, err := f.verifier.Verify(r, nil, "ecs"); err != nil {
		f.t.Errorf("ACS upgrade signature: %v", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	f.mu.Lock()
	reject, body := f.reject, f.rejectBody
	f.attempts++
	f.mu.Unlock()
	if reject != 0 {
		w.WriteHeader(reject)
		_, _ = w.Write(body)
		return
	}
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		f.t.Errorf("upgrade: %v", err)
		return
	}
	sc := &serverConn{conn: conn, query: flatQuery(r.URL.Query()), in: make(chan acs.Envelope, 100),
		pings: make(chan struct{}, 1000), closed: make(chan struct{})}
	conn.SetPingHandler(func(data string) error {
		select {
		case sc.pings <- struct{}{}:
		default:
		}
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	f.conns <- sc
	sc.readLoop()
}

func (f *fakeACS) attemptCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

// setReject makes ACS upgrades fail with status and body (0: accept).
func (f *fakeACS) setReject(status int, body []byte) {
	f.mu.Lock()
	f.reject, f.rejectBody = status, body
	f.mu.Unlock()
}

func flatQuery(q url.Values) map[string]string {
	out := map[string]string{}
	for k := range q {
		out[k] = q.Get(k)
	}
	return out
}

// serverConn is one ACS connection, played by the test.
type serverConn struct {
	conn    *websocket.Conn
	query   map[string]string
	in      chan acs.Envelope // every agent message
	pings   chan struct{}     // every ping (each answered)
	closed  chan struct{}
	writeMu sync.Mutex
}

func (sc *serverConn) readLoop() {
	defer close(sc.closed)
	for {
		_, data, err := sc.conn.ReadMessage()
		if err != nil {
			return
		}
		env, err := acs.Decode(data)
		if err != nil {
			continue
		}
		sc.in <- env
	}
}

func (sc *serverConn) send(typ string, msg any) error {
	data, err := acs.Encode(typ, msg)
	if err != nil {
		return err
	}
	sc.writeMu.Lock()
	defer sc.writeMu.Unlock()
	return sc.conn.WriteMessage(websocket.TextMessage, data)
}

// payload sends a PayloadMessage of tasks addressed as the server
// addresses it (the connection's cluster and instance).
func (sc *serverConn) payload(t *testing.T, id string, seq int64, tasks ...acs.Task) {
	t.Helper()
	if err := sc.send(acs.TypePayload, acs.PayloadMessage{
		MessageID: id, ClusterArn: sc.query[acs.QueryClusterArn], ContainerInstanceArn: sc.query[acs.QueryContainerInstanceArn],
		SeqNum: seq, Tasks: tasks,
	}); err != nil {
		t.Fatal(err)
	}
}

// manifest sends a TaskManifestMessage listing tasks.
func (sc *serverConn) manifest(t *testing.T, id string, timeline int64, tasks ...acs.TaskIdentifier) {
	t.Helper()
	if tasks == nil {
		tasks = []acs.TaskIdentifier{}
	}
	if err := sc.send(acs.TypeTaskManifest, acs.TaskManifestMessage{
		MessageID: id, ClusterArn: sc.query[acs.QueryClusterArn], ContainerInstanceArn: sc.query[acs.QueryContainerInstanceArn],
		Timeline: timeline, Tasks: tasks,
	}); err != nil {
		t.Fatal(err)
	}
}

// expect returns the next agent message, which must be of type typ.
func (sc *serverConn) expect(t *testing.T, typ string, into any) {
	t.Helper()
	env := recv(t, sc.in, typ)
	if env.Type != typ {
		t.Fatalf("agent sent %s %s, want %s", env.Type, env.Message, typ)
	}
	if err := json.Unmarshal(env.Message, into); err != nil {
		t.Fatalf("decode %s: %v", typ, err)
	}
}

// expectAck waits for the AckRequest of message id, as the server would
// have it addressed.
func (sc *serverConn) expectAck(t *testing.T, id string) {
	t.Helper()
	var ack acs.AckRequest
	sc.expect(t, acs.TypeAck, &ack)
	want := acs.AckRequest{MessageID: id, Cluster: sc.query[acs.QueryClusterArn], ContainerInstance: sc.query[acs.QueryContainerInstanceArn]}
	if ack != want {
		t.Fatalf("ack = %+v, want %+v", ack, want)
	}
}

// quiet fails the test if the agent sent anything not yet read.
func (sc *serverConn) quiet(t *testing.T) {
	t.Helper()
	select {
	case env := <-sc.in:
		t.Fatalf("unexpected %s %s from the agent", env.Type, env.Message)
	default:
	}
}

func (sc *serverConn) close() {
	sc.conn.Close()
	<-sc.closed
}

// tcsServerConn is one TCS connection: every frame is verified against the
// upgrade's URL, health and metrics are acknowledged and handed to the test.
type tcsServerConn struct {
	conn    *websocket.Conn
	query   map[string]string
	health  chan tcs.PublishHealthRequest
	metrics chan tcs.PublishMetricsRequest
	closed  chan struct{}
}

func (f *fakeACS) serveTCS(w http.ResponseWriter, r *http.Request) {
	if _, err := f.verifier.Verify(r, nil, tcs.SigningName); err != nil {
		f.t.Errorf("TCS upgrade signature: %v", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	f.mu.Lock()
	f.tcsAttempts++
	silent := f.tcsSilent
	f.mu.Unlock()
	upgrade := &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		f.t.Errorf("upgrade: %v", err)
		return
	}
	if silent {
		conn.SetPingHandler(func(string) error { return nil })
	}
	tc := &tcsServerConn{
		conn: conn, query: flatQuery(r.URL.Query()), closed: make(chan struct{}),
		health: make(chan tcs.PublishHealthRequest, 100), metrics: make(chan tcs.PublishMetricsRequest, 100),
	}
	f.tcsConns <- tc
	defer close(tc.closed)
	for {
		_, frame, err := conn.ReadMessage()
		if err != nil {
			return
		}
		req, body, err := tcs.ParseFrame(frame, upgrade)
		if err != nil {
			f.t.Errorf("TCS frame: %v", err)
			continue
		}
		if _, err := f.verifier.Check(req, body, tcs.SigningName); err != nil {
			f.t.Errorf("TCS frame signature: %v", err)
			continue
		}
		env, err := tcs.Decode(body)
		if err != nil {
			f.t.Errorf("TCS frame envelope: %v", err)
			continue
		}
		var ackType string
		switch env.Type {
		case tcs.TypePublishHealth:
			var msg tcs.PublishHealthRequest
			if err := json.Unmarshal(env.Message, &msg); err != nil {
				f.t.Errorf("TCS %s: %v", env.Type, err)
				continue
			}
			tc.health <- msg
			ackType = tcs.TypeAckPublishHealth
		case tcs.TypePublishMetrics:
			var msg tcs.PublishMetricsRequest
			if err := json.Unmarshal(env.Message, &msg); err != nil {
				f.t.Errorf("TCS %s: %v", env.Type, err)
				continue
			}
			tc.metrics <- msg
			ackType = tcs.TypeAckPublishMetric
		default:
			f.t.Errorf("TCS message %s, want only %s or %s", env.Type, tcs.TypePublishHealth, tcs.TypePublishMetrics)
			continue
		}
		if silent {
			continue
		}
		ack, _ := tcs.Encode(ackType, tcs.Ack{})
		if err := conn.WriteMessage(websocket.TextMessage, ack); err != nil {
			return
		}
	}
}

func (f *fakeACS) tcsAttemptCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tcsAttempts
}

func (f *fakeACS) setTCSSilent(silent bool) {
	f.mu.Lock()
	f.tcsSilent = silent
	f.mu.Unlock()
}

func (tc *tcsServerConn) close() {
	tc.conn.Close()
	<-tc.closed
}

type testCreds struct{ id, secret string }
