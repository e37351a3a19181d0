package ecs

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/api/sigv4"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

// acsWait bounds every wait on an ACS socket.
const acsWait = 10 * time.Second

// The keys the harness's SigV4 verifier knows: the account's root, which
// the agent's credentials stand for here, and an IAM user that no policy
// allows ecs:Poll.
const (
	acsRootKey    = "AKIDACSROOT"
	acsRootSecret = "acs-root-secret"
	acsUserKey    = "AKIDACSUSER"
	acsUserSecret = "acs-user-secret"
)

// emptyBodySHA256 is the payload hash the agent signs its upgrade GET with.
const emptyBodySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// acsHarness is the ACS route as the server mounts it (api.Server with
// SigV4 verification and the root-only authorizer, ACSRoute) in front of a
// service with the given heartbeat interval, cluster "prod" and one
// instance registered as the official agent registers, without
// versionInfo, not yet connected.
type acsHarness struct {
	s    *Service
	srv  *httptest.Server
	inst string
}

func newACSHarness(t *testing.T, heartbeat time.Duration) *acsHarness {
	t.Helper()
	s := New(Config{
		Store: storetest.New(t), Region: testRegion, AccountID: testAccount,
		AdvertiseURL: "http://127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return testNow }, Rand: func(int) int { return 0 },
		HeartbeatInterval: heartbeat,
	})
	t.Cleanup(s.Close) // before the store closes: sockets end first
	keys := map[string]sigv4.Credential{
		acsRootKey: {AccessKeyID: acsRootKey, SecretAccessKey: acsRootSecret, Principal: "arn:aws:iam::" + testAccount + ":root"},
		acsUserKey: {AccessKeyID: acsUserKey, SecretAccessKey: acsUserSecret, Principal: "arn:aws:iam::" + testAccount + ":user/bob"},
	}
	apiSrv := api.New(api.Config{
		Verifier: &sigv4.Verifier{Region: testRegion, Lookup: func(id string) (sigv4.Credential, bool) {
			c, ok := keys[id]
			return c, ok
		}},
		Authorizer: api.RootAuthorizer{},
		Logger:     slog.New(slog.DiscardHandler),
	})
	apiSrv.Route(s.ACSRoute(apiSrv.SigV4(ecstypes.SigningName)))
	apiSrv.Route(s.TCSRoute(apiSrv.SigV4(ecstypes.SigningName)))
	srv := httptest.NewServer(apiSrv)
	t.Cleanup(srv.Close)
	createCluster(t, s, "prod")
	reg, err := s.RegisterContainerInstance(t.Context(), &ecstypes.RegisterContainerInstanceRequest{
		Cluster: aws.String("prod"), TotalResources: instanceResources(4096, 4096),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &acsHarness{s: s, srv: srv, inst: aws.ToString(reg.ContainerInstance.ContainerInstanceArn)}
}

// agentQuery is the query the official agent (1.105.1, on Docker
// 20.10.24+dfsg1) dials ACS with: url.Values.Encode of its parameters, so
// sorted, "+" for spaces.
func agentQuery(cluster, inst string) string {
	return "agentHash=4ed2e3a1&agentVersion=1.105.1&clusterArn=" + url.QueryEscape(cluster) +
		"&containerInstanceArn=" + url.QueryEscape(inst) +
		"&dockerVersion=DockerVersion%3A+20.10.24%2Bdfsg1&protocolVersion=2&sendCredentials=true&seqNum=1"
}

// signedUpgrade is the request the official agent signs before it dials:
// a GET of the websocket URL, signed by aws-sdk-go-v2's v4 signer for
// service ecs with the empty body's hash (no key: unsigned). The dialer
// sends its headers.
func (h *acsHarness) signedUpgrade(t *testing.T, query, key, secret string) *http.Request {
	t.Helper()
	u := "ws" + strings.TrimPrefix(h.srv.URL, "http") + acs.Path + "?" + query
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key == "" {
		return req
	}
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, emptyBodySHA256, ecstypes.SigningName, testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// handshake dials with the signed request's URL and headers.
func (h *acsHarness) handshake(t *testing.T, req *http.Request) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), req.URL.String(), req.Header)
	if resp != nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return conn, resp, err
}

// connect is a successful handshake as the official agent for the cluster
// reference given (name or ARN).
func (h *acsHarness) connect(t *testing.T, cluster string, opts ...agentOption) *officialAgent {
	t.Helper()
	conn, resp, err := h.handshake(t, h.signedUpgrade(t, agentQuery(cluster, h.inst), acsRootKey, acsRootSecret))
	if err != nil {
		var body []byte
		if resp != nil {
			body, _ = io.ReadAll(resp.Body)
		}
		t.Fatalf("ACS handshake: %v (%s)", err, body)
	}
	return newOfficialAgent(t, conn, opts...)
}

func (h *acsHarness) connected(t *testing.T) bool {
	t.Helper()
	return aws.ToBool(describeInstance(t, h.s, "prod", h.inst).AgentConnected)
}

// officialAgent is the amazon-ecs-agent's end of the socket, replayed from
// its model (ecs-agent/acs/model/api/api-2.json): every message the server
// sends is checked against the model (acsprotocol_test.go); heartbeats are
// answered with a HeartbeatAckRequest and payloads and manifests with an
// AckRequest, as the agent answers them; everything but heartbeats is
// handed to the test.
type officialAgent struct {
	t          *testing.T
	conn       *websocket.Conn
	wmu        sync.Mutex
	in         chan acsMessage
	heartbeats atomic.Int32
	// mute makes the agent answer nothing, as a hung agent does.
	mute bool
	done chan struct{}
	// readErr is how the socket ended; read it after done.
	readErr error
}

type agentOption func(*officialAgent)

// muted makes an agent that never answers.
func muted(a *officialAgent) { a.mute = true }

// acsMessage is one message from the server: its type, its message decoded
// generically (numbers as json.Number), and raw, for Berth's own types.
type acsMessage struct {
	Type string
	Body map[string]any
	Raw  json.RawMessage
}

func newOfficialAgent(t *testing.T, conn *websocket.Conn, opts ...agentOption) *officialAgent {
	a := &officialAgent{t: t, conn: conn, in: make(chan acsMessage, 1024), done: make(chan struct{})}
	for _, o := range opts {
		o(a)
	}
	go a.read()
	t.Cleanup(a.close)
	return a
}

func (a *officialAgent) read() {
	defer close(a.done)
	defer close(a.in)
	for {
		_, data, err := a.conn.ReadMessage()
		if err != nil {
			a.readErr = err
			return
		}
		m, problems := decodeACS(data)
		for _, p := range problems {
			a.t.Errorf("the server sent %s", p)
		}
		if m.Type == "" {
			continue
		}
		switch m.Type {
		case acs.TypeHeartbeat:
			a.heartbeats.Add(1)
			if id, _ := m.Body["messageId"].(string); id == "" || m.Body["healthy"] != true {
				a.t.Errorf("heartbeat %s: want a messageId and healthy true", m.Raw)
			}
			if !a.mute {
				a.send(acs.TypeHeartbeatAck, map[string]any{"messageId": m.Body["messageId"]})
			}
			continue
		case acs.TypePayload, acs.TypeTaskManifest:
			if !a.mute {
				a.send(acs.TypeAck, map[string]any{
					"cluster": m.Body["clusterArn"], "containerInstance": m.Body["containerInstanceArn"], "messageId": m.Body["messageId"],
				})
			}
		}
		select {
		case a.in <- m:
		default:
			a.t.Errorf("more than %d messages not taken by the test", cap(a.in))
			return
		}
	}
}

// send writes one message framed as the agent's wsclient frames it.
func (a *officialAgent) send(typ string, msg map[string]any) {
	b, err := json.Marshal(map[string]any{"type": typ, "message": msg})
	if err != nil {
		a.t.Errorf("encode %s: %v", typ, err)
		return
	}
	a.wmu.Lock()
	defer a.wmu.Unlock()
	_ = a.conn.WriteMessage(websocket.TextMessage, b) // a failed write shows as a failed expectation
}

// close drops the connection, as a crashed agent would, and waits for the reader.
func (a *officialAgent) close() {
	a.conn.Close()
	<-a.done
}

// closed waits for the server to end the socket.
func (a *officialAgent) closed(t *testing.T, why string) {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(acsWait):
		t.Fatalf("the socket stayed open %s", why)
	}
}

// next returns the next message that is not a heartbeat.
func (a *officialAgent) next(t *testing.T) acsMessage {
	t.Helper()
	select {
	case m, ok := <-a.in:
		if !ok {
			t.Fatalf("the socket closed: %v", a.readErr)
		}
		return m
	case <-time.After(acsWait):
		t.Fatal("timed out waiting for a message")
	}
	return acsMessage{}
}

// waitFor skips messages until one of type typ for which ok holds (nil: any).
func (a *officialAgent) waitFor(t *testing.T, typ string, ok func(acsMessage) bool) acsMessage {
	t.Helper()
	deadline := time.NewTimer(acsWait)
	defer deadline.Stop()
	for {
		select {
		case m, open := <-a.in:
			if !open {
				t.Fatalf("the socket closed waiting for a %s: %v", typ, a.readErr)
			}
			if m.Type == typ && (ok == nil || ok(m)) {
				return m
			}
		case <-deadline.C:
			t.Fatalf("timed out waiting for a %s", typ)
		}
	}
}

// decodeAs decodes a message into one of Berth's acs types, once its field
// names passed the model.
func decodeAs[T any](t *testing.T, m acsMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(m.Raw, &v); err != nil {
		t.Fatalf("%s %s: %v", m.Type, m.Raw, err)
	}
	return v
}

// payloadTasks and manifestTasks are a message's tasks as ARN -> desired
// status.
func payloadTasks(t *testing.T, m acsMessage) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, task := range decodeAs[acs.PayloadMessage](t, m).Tasks {
		out[task.Arn] = task.DesiredStatus
	}
	return out
}

func manifestTasks(t *testing.T, m acsMessage) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range decodeAs[acs.TaskManifestMessage](t, m).Tasks {
		out[id.TaskArn] = id.DesiredStatus
	}
	return out
}

func sameStatuses(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// The server's heartbeat keeps an answering agent's socket alive past its
// read deadline (three intervals), and drops an agent that stays silent.
func TestACSHeartbeats(t *testing.T) {
	const heartbeat = 150 * time.Millisecond
	tests := []struct {
		name     string
		opts     []agentOption
		wantOpen bool
	}{
		{name: "an answering agent outlives three intervals", wantOpen: true},
		{name: "a silent agent is dropped", opts: []agentOption{muted}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newACSHarness(t, heartbeat)
			agent := h.connect(t, "prod", tc.opts...)
			storetest.WaitFor(t, acsWait, "agentConnected", func() bool { return h.connected(t) })
			if !tc.wantOpen {
				agent.closed(t, "while the agent answered nothing")
				if n := agent.heartbeats.Load(); n == 0 {
					t.Fatal("the socket was dropped before a single heartbeat")
				}
				storetest.WaitFor(t, acsWait, "agentConnected false", func() bool { return !h.connected(t) })
				return
			}
			// The agent acknowledged the session's manifest with an
			// AckRequest; four heartbeats later it is still connected.
			agent.waitFor(t, acs.TypeTaskManifest, nil)
			storetest.WaitFor(t, acsWait, "four heartbeats", func() bool { return agent.heartbeats.Load() >= 4 })
			select {
			case <-agent.done:
				t.Fatalf("the server dropped an answering agent: %v", agent.readErr)
			default:
			}
			if !h.connected(t) {
				t.Fatal("agentConnected went false while the agent answered heartbeats")
			}
		})
	}
}

// Payloads carry what changed, never the whole set: a task's absence from a
// payload is not a stop. A new session sends every task again.
func TestACSPayloadsAreIncremental(t *testing.T) {
	h := newACSHarness(t, time.Second)
	s := h.s
	agent := h.connect(t, "prod")
	if m := agent.waitFor(t, acs.TypeTaskManifest, nil); len(manifestTasks(t, m)) != 0 {
		t.Fatalf("manifest of an empty instance: %s", m.Raw)
	}
	web := registerTaskDef(t, s, webTaskDef)
	var lastSeq int64
	nextPayload := func(what string, want map[string]string) {
		t.Helper()
		m := agent.waitFor(t, acs.TypePayload, nil)
		p := decodeAs[acs.PayloadMessage](t, m)
		if got := payloadTasks(t, m); !sameStatuses(got, want) {
			t.Fatalf("payload after %s has tasks %v, want only %v", what, got, want)
		}
		if p.SeqNum <= lastSeq {
			t.Fatalf("payload after %s: seqNum %d, not past %d", what, p.SeqNum, lastSeq)
		}
		lastSeq = p.SeqNum
	}

	a := runOne(t, s, "prod", web)
	nextPayload("the first RunTask", map[string]string{a: "RUNNING"})
	b := runOne(t, s, "prod", web)
	nextPayload("a second RunTask", map[string]string{b: "RUNNING"})
	stopTask(t, s, "prod", a, "")
	nextPayload("StopTask", map[string]string{a: "STOPPED"})
	// The agent reports a stopped; it leaves the instance's set silently.
	reportTask(t, s, "prod", a, "STOPPED", "")
	c := runOne(t, s, "prod", web)
	nextPayload("a third RunTask", map[string]string{c: "RUNNING"})
	if got := aws.ToString(describeTask(t, s, "prod", b).DesiredStatus); got != "RUNNING" {
		t.Fatalf("b, absent from the last two payloads, has desiredStatus %s", got)
	}

	// A restarted agent is sent every task the instance has, then the manifest.
	agent.close()
	again := h.connect(t, "prod")
	want := map[string]string{b: "RUNNING", c: "RUNNING"}
	if got := payloadTasks(t, again.waitFor(t, acs.TypePayload, nil)); !sameStatuses(got, want) {
		t.Fatalf("first payload of a new session: %v, want %v", got, want)
	}
	if got := manifestTasks(t, again.waitFor(t, acs.TypeTaskManifest, nil)); !sameStatuses(got, want) {
		t.Fatalf("manifest of a new session: %v, want %v", got, want)
	}
}

// A session begins with the payloads of every task, then the manifest,
// numbered past them; the agent's stop candidates are answered with the
// ones the server does not want running, under the manifest's message id.
func TestACSManifestAndStopVerification(t *testing.T) {
	h := newACSHarness(t, time.Second)
	s := h.s
	first := h.connect(t, "prod") // lets tasks be placed
	first.waitFor(t, acs.TypeTaskManifest, nil)
	web := registerTaskDef(t, s, webTaskDef)
	running := runOne(t, s, "prod", web)
	stopping := runOne(t, s, "prod", web)
	stopTask(t, s, "prod", stopping, "")
	first.close()

	agent := h.connect(t, "prod")
	var seqs []int64
	var manifest acsMessage
	for manifest.Type == "" {
		switch m := agent.next(t); m.Type {
		case acs.TypePayload:
			seqs = append(seqs, decodeAs[acs.PayloadMessage](t, m).SeqNum)
		case acs.TypeTaskManifest:
			manifest = m
		default:
			t.Fatalf("unexpected %s before the manifest: %s", m.Type, m.Raw)
		}
	}
	if len(seqs) == 0 {
		t.Fatal("no payload before the manifest")
	}
	mf := decodeAs[acs.TaskManifestMessage](t, manifest)
	if mf.MessageID == "" || mf.ClusterArn != s.arns.cluster("prod") || mf.ContainerInstanceArn != h.inst ||
		mf.GeneratedAt != testNow.Unix() {
		t.Fatalf("manifest header: %s", manifest.Raw)
	}
	// The agent discards a manifest whose timeline is not past every
	// sequence number it has seen.
	if max := slices.Max(seqs); mf.Timeline <= max {
		t.Fatalf("manifest timeline %d is not past the payloads' seqNum %d", mf.Timeline, max)
	}
	// The agent dereferences taskArn and desiredStatus of every entry.
	for i, task := range manifest.Body["tasks"].([]any) {
		entry := task.(map[string]any)
		if entry["taskArn"] == nil || entry["desiredStatus"] == nil || entry["taskClusterArn"] != s.arns.cluster("prod") {
			t.Fatalf("manifest task %d: %v", i, entry)
		}
	}
	if got, want := manifestTasks(t, manifest), map[string]string{running: "RUNNING", stopping: "STOPPED"}; !sameStatuses(got, want) {
		t.Fatalf("manifest tasks %v, want %v", got, want)
	}

	unknown := s.arns.task("prod", "0123456789abcdef0123456789abcdef")
	candidate := func(arn string) map[string]any {
		return map[string]any{"taskArn": arn, "taskClusterArn": mf.ClusterArn, "desiredStatus": "STOPPED"}
	}
	agent.send(acs.TypeTaskStopVerification, map[string]any{
		"messageId":      mf.MessageID,
		"stopCandidates": []any{candidate(running), candidate(stopping), candidate(unknown)},
	})
	m := agent.waitFor(t, acs.TypeTaskStopVerificationAck, nil)
	ack := decodeAs[acs.TaskStopVerificationAck](t, m)
	if ack.MessageID != mf.MessageID {
		t.Fatalf("ack messageId %q, want the manifest's %q (the agent ignores any other)", ack.MessageID, mf.MessageID)
	}
	var stop []string
	for _, id := range ack.StopTasks {
		stop = append(stop, id.TaskArn)
		if id.DesiredStatus != "STOPPED" {
			t.Errorf("stop task %s: desiredStatus %q", id.TaskArn, id.DesiredStatus)
		}
	}
	if want := sorted(stopping, unknown); !slices.Equal(sorted(stop...), want) {
		t.Fatalf("stopTasks %v, want %v", stop, want)
	}
	if got := aws.ToString(describeTask(t, s, "prod", running).DesiredStatus); got != "RUNNING" {
		t.Fatalf("stop verification changed the running task's desiredStatus to %s", got)
	}
}

// Deregistering an instance ends its socket as ECS's ACS does: an
// InactiveInstanceException envelope, then a normal close, after which the
// agent redials at once and is refused with the same exception.
func TestACSDeregisterEndsSession(t *testing.T) {
	h := newACSHarness(t, time.Second)
	agent := h.connect(t, "prod")
	agent.waitFor(t, acs.TypeTaskManifest, nil)

	if _, err := h.s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(h.inst),
	}); err != nil {
		t.Fatal(err)
	}
	m := agent.waitFor(t, acs.ErrorTypeInactiveInstance, nil)
	if msg, _ := m.Body["message"].(string); msg == "" || len(m.Body) != 1 {
		t.Fatalf("InactiveInstanceException message = %s, want {\"message\": <text>}", m.Raw)
	}
	agent.closed(t, "after deregistration")
	if !websocket.IsCloseError(agent.readErr, websocket.CloseNormalClosure) {
		t.Fatalf("socket ended with %v, want a normal close (the agent then redials without backoff)", agent.readErr)
	}
	_, resp, err := h.handshake(t, h.signedUpgrade(t, agentQuery("prod", h.inst), acsRootKey, acsRootSecret))
	if err == nil || resp == nil {
		t.Fatalf("redial after deregistration: err %v, response %v; want a refusal", err, resp)
	}
	if typ, _ := refusal(t, resp); typ != acs.ErrorTypeInactiveInstance {
		t.Fatalf("redial refused with %s, want %s", typ, acs.ErrorTypeInactiveInstance)
	}
}

// An agent that redials before the server noticed its old socket die stays
// connected when the old session ends, and the new session is sent what
// changes.
func TestACSReconnectOverlapsTheOldSession(t *testing.T) {
	h := newACSHarness(t, time.Second)
	old := h.connect(t, "prod")
	old.waitFor(t, acs.TypeTaskManifest, nil)
	fresh := h.connect(t, "prod")
	fresh.waitFor(t, acs.TypeTaskManifest, nil)
	old.close()
	storetest.WaitFor(t, acsWait, "the old session to leave the hub", func() bool { return h.s.acs.count() == 1 })
	if !h.connected(t) {
		t.Fatal("agentConnected went false when the older of two sockets closed")
	}
	arn := runOne(t, h.s, "prod", registerTaskDef(t, h.s, webTaskDef))
	if got := payloadTasks(t, fresh.waitFor(t, acs.TypePayload, nil)); got[arn] != "RUNNING" {
		t.Fatalf("payload on the new socket: %v", got)
	}
}

// Closing the service ends its agent sockets and their sessions.
func TestACSCloseEndsSockets(t *testing.T) {
	h := newACSHarness(t, time.Second)
	agent := h.connect(t, "prod")
	if m := agent.waitFor(t, acs.TypeTaskManifest, nil); len(manifestTasks(t, m)) != 0 {
		t.Fatalf("manifest of an empty instance: %s", m.Raw)
	}
	storetest.WaitFor(t, acsWait, "agentConnected", func() bool { return h.connected(t) })

	h.s.Close()
	agent.closed(t, "after Service.Close")
	// The closed service answers no more calls: look at its agent session
	// record in the store directly.
	storetest.WaitFor(t, acsWait, "the agent session to end after Close", func() bool {
		err := h.s.st.View(t.Context(), func(tx *store.Tx) error {
			_, err := store.Get(tx, agentSessions, idFromARN(h.inst))
			return err
		})
		return errors.Is(err, store.ErrNotFound)
	})
}

// refusal reads a refused handshake's body: the error's name and message,
// from an ACS envelope ({"type":..., "message":{"message":...}}, envelope
// true) or an awsJson error ({"__type":..., "message":...}).
func refusal(t *testing.T, resp *http.Response) (typ string, envelope bool) {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("refusal body %q: %v", body, err)
	}
	if typ, ok := m["__type"].(string); ok {
		return typ, false
	}
	msg, problems := decodeACS(body)
	for _, p := range problems {
		t.Errorf("refusal: %s", p)
	}
	if text, _ := msg.Body["message"].(string); text == "" {
		t.Errorf("refusal %s has no message text", body)
	}
	return msg.Type, true
}
