package ecs

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/api/sigv4"
	"github.com/berth-dev/berth/internal/store/storetest"
	"github.com/berth-dev/berth/internal/tcs"
)

// tcsWait bounds waiting for the telemetry server.
const tcsWait = 10 * time.Second

const (
	tcsKey    = "AKIDTCSSERVER"
	tcsSecret = "tcs-server-secret"
)

// tcsFixture is a service with a short heartbeat, its telemetry handler
// on a test server verifying frames with a known key, cluster "prod", one
// registered instance (2 cores) and a running task with a health-checked
// essential container.
type tcsFixture struct {
	s          *Service
	srv        *httptest.Server
	inst, task string
}

func newTCSFixture(t *testing.T) *tcsFixture {
	t.Helper()
	s := New(Config{
		Store: storetest.New(t), Region: testRegion, AccountID: testAccount,
		AdvertiseURL: "http://127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
		Now: time.Now, Rand: func(int) int { return 0 },
		HeartbeatInterval: 200 * time.Millisecond,
	})
	t.Cleanup(s.Close) // before the store closes: sockets end first
	auth := api.SigV4Auth{Verifier: &sigv4.Verifier{
		Lookup: func(id string) (sigv4.Credential, bool) {
			return sigv4.Credential{AccessKeyID: tcsKey, SecretAccessKey: tcsSecret}, id == tcsKey
		},
		Region: testRegion,
	}, Service: tcs.SigningName}
	srv := httptest.NewServer(s.TCSHandler(auth))
	t.Cleanup(srv.Close)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 2048, 4096)
	td := registerTaskDef(t, s, `{"family":"web","containerDefinitions":[
		{"name":"app","image":"app","memory":128,"essential":true,
		 "healthCheck":{"command":["CMD","true"]}},
		{"name":"side","image":"side","memory":64,"essential":false}]}`)
	task := runOne(t, s, "prod", td)
	return &tcsFixture{s: s, srv: srv, inst: inst, task: task}
}

// agentURL is the telemetry URL as the official agent builds it: the
// endpoint DiscoverPollEndpoint returned, "/ws" and its query.
func (f *tcsFixture) agentURL(t *testing.T) string {
	t.Helper()
	out, err := f.s.DiscoverPollEndpoint(t.Context(), &ecstypes.DiscoverPollEndpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	endpoint := aws.ToString(out.TelemetryEndpoint)
	if !strings.HasSuffix(endpoint, TelemetryPrefix) {
		t.Fatalf("telemetryEndpoint = %q, want it under %s", endpoint, TelemetryPrefix)
	}
	q := url.Values{
		tcs.QueryCluster: {"prod"}, tcs.QueryContainerInstance: {f.inst}, tcs.QueryAgentVersion: {"1.105.1"},
		tcs.QueryAgentHash: {"4ed2e3a1"}, tcs.QueryDockerVersion: {"DockerVersion: 20.10.24+dfsg1"},
	}
	// The test server stands in for the advertised URL.
	return f.srv.URL + TelemetryPath + "?" + q.Encode()
}

// tcsAgent is the agent's end of a telemetry socket.
type tcsAgent struct {
	t           *testing.T
	conn        *websocket.Conn
	url         string
	key, secret string
	in          chan tcs.Envelope
}

func (f *tcsFixture) dial(t *testing.T, secret string) *tcsAgent {
	t.Helper()
	u := f.agentURL(t)
	conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(u, "http"), nil)
	if err != nil {
		t.Fatalf("dial TCS: %v (response %v)", err, resp)
	}
	a := &tcsAgent{t: t, conn: conn, url: u, key: tcsKey, secret: secret, in: make(chan tcs.Envelope, 64)}
	go a.readAll()
	t.Cleanup(func() { conn.Close() })
	return a
}

// readAll hands the server's messages to a.in until the socket closes.
func (a *tcsAgent) readAll() {
	defer close(a.in)
	for {
		_, data, err := a.conn.ReadMessage()
		if err != nil {
			return
		}
		env, err := tcs.Decode(data)
		if err != nil {
			a.t.Errorf("server sent a malformed message %q: %v", data, err)
			return
		}
		a.in <- env
	}
}

func (a *tcsAgent) publish(typ string, msg any) {
	a.t.Helper()
	env, err := tcs.Encode(typ, msg)
	if err != nil {
		a.t.Fatal(err)
	}
	frame, err := tcs.SignFrame(context.Background(), aws.Credentials{AccessKeyID: a.key, SecretAccessKey: a.secret}, testRegion, a.url, env, time.Now())
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		a.t.Fatal(err)
	}
}

// next returns the next message that is not a heartbeat.
func (a *tcsAgent) next() (tcs.Envelope, bool) {
	a.t.Helper()
	deadline := time.After(tcsWait)
	for {
		select {
		case env, ok := <-a.in:
			if !ok {
				return tcs.Envelope{}, false
			}
			if env.Type != tcs.TypeHeartbeat {
				return env, true
			}
		case <-deadline:
			a.t.Fatal("no message from the telemetry server")
		}
	}
}

func (a *tcsAgent) wantNext(typ string) tcs.Envelope {
	a.t.Helper()
	env, ok := a.next()
	if !ok || env.Type != typ {
		a.t.Fatalf("got %+v (open %v), want %s", env, ok, typ)
	}
	return env
}

func health(task, app string) tcs.PublishHealthRequest {
	return tcs.PublishHealthRequest{
		Metadata: &tcs.HealthMetadata{Cluster: "prod", MessageID: "m"},
		Tasks: []tcs.TaskHealth{{TaskArn: task, Containers: []tcs.ContainerHealth{
			{ContainerName: "app", HealthStatus: app},
		}}},
	}
}

func TestTCSHealthMetricsAndStatus(t *testing.T) {
	f := newTCSFixture(t)
	a := f.dial(t, tcsSecret)

	// The heartbeat comes unasked: the agent redials without one.
	select {
	case env := <-a.in:
		if env.Type != tcs.TypeHeartbeat {
			t.Fatalf("first message = %s, want %s", env.Type, tcs.TypeHeartbeat)
		}
		var hb map[string]any
		if err := json.Unmarshal(env.Message, &hb); err != nil || hb["healthy"] != true {
			t.Fatalf("heartbeat = %s (%v)", env.Message, err)
		}
	case <-time.After(tcsWait):
		t.Fatal("no heartbeat")
	}

	for _, step := range []struct{ app, task string }{
		{"HEALTHY", "HEALTHY"},
		{"UNHEALTHY", "UNHEALTHY"},
		{"HEALTHY", "HEALTHY"},
	} {
		a.publish(tcs.TypePublishHealth, health(f.task, step.app))
		a.wantNext(tcs.TypeAckPublishHealth)
		got := describeTask(t, f.s, "prod", f.task)
		if aws.ToString(got.HealthStatus) != step.task {
			t.Fatalf("after %s: task health = %s, want %s", step.app, aws.ToString(got.HealthStatus), step.task)
		}
		for _, c := range got.Containers {
			if aws.ToString(c.Name) == "app" && aws.ToString(c.HealthStatus) != step.app {
				t.Fatalf("app health = %s, want %s", aws.ToString(c.HealthStatus), step.app)
			}
		}
	}

	// Health of a task the server does not have is acknowledged all the
	// same: the agent cannot act on a refusal.
	a.publish(tcs.TypePublishHealth, health("arn:aws:ecs:"+testRegion+":"+testAccount+":task/prod/00000000000000000000000000000000", "HEALTHY"))
	a.wantNext(tcs.TypeAckPublishHealth)

	// Metrics: 25% of the instance's 2 cores and 100 MiB, as the agent
	// sends them (statistic sets per container).
	stats := func(sum float64, n int64) *tcs.CWStatsSet {
		return &tcs.CWStatsSet{Min: aws.Float64(sum / float64(n)), Max: aws.Float64(sum / float64(n)), SampleCount: aws.Int64(n), Sum: aws.Float64(sum)}
	}
	a.publish(tcs.TypePublishMetrics, tcs.PublishMetricsRequest{
		Metadata: &tcs.MetricsMetadata{Cluster: "prod", ContainerInstance: f.inst, MessageID: "m2", Fin: true},
		TaskMetrics: []tcs.TaskMetric{{TaskArn: f.task, TaskDefinitionFamily: "web", TaskDefinitionVersion: "1", ContainerMetrics: []tcs.ContainerMetric{
			{ContainerName: "app", CPUStatsSet: stats(80, 4), MemoryStatsSet: stats(240, 4)},
			{ContainerName: "side", CPUStatsSet: stats(10, 2), MemoryStatsSet: stats(80, 2)},
		}}},
	})
	a.wantNext(tcs.TypeAckPublishMetric)
	usage, err := f.s.TaskUsage(t.Context(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	u, ok := usage[f.task]
	if !ok {
		t.Fatalf("no usage for %s in %+v", f.task, usage)
	}
	if u.CPUUnits != 512 || u.MemoryMiB != 100 || u.Family != "web" || u.Samples != 1 {
		t.Fatalf("usage = %+v, want 512 CPU units (25%% of 2048) and 100 MiB", u)
	}

	a.publish(tcs.TypePublishInstanceStatus, tcs.PublishInstanceStatusRequest{
		Metadata: &tcs.InstanceStatusMetadata{Cluster: "prod", ContainerInstance: f.inst, RequestID: "r"},
		Statuses: []tcs.InstanceStatus{{Type: "ContainerRuntime", Status: "OK"}},
	})
	a.wantNext(tcs.TypeAckPublishInstanceStatus)
}

func TestTCSRefusesBadFrames(t *testing.T) {
	f := newTCSFixture(t)
	tests := []struct {
		name string
		send func(a *tcsAgent)
	}{
		{"wrong secret", func(a *tcsAgent) {
			a.secret = "not-the-secret"
			a.publish(tcs.TypePublishHealth, health(f.task, "HEALTHY"))
		}},
		{"unsigned message", func(a *tcsAgent) {
			env, _ := tcs.Encode(tcs.TypePublishHealth, health(f.task, "HEALTHY"))
			if err := a.conn.WriteMessage(websocket.TextMessage, env); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := f.dial(t, tcsSecret)
			tc.send(a)
			env := a.wantNext(tcs.ErrorTypeBadRequest)
			var m tcs.ErrorMessage
			if err := json.Unmarshal(env.Message, &m); err != nil || m.Message == "" {
				t.Fatalf("error message = %s (%v)", env.Message, err)
			}
			if env, ok := a.next(); ok {
				t.Fatalf("socket still open after the refusal; got %s", env.Type)
			}
			if h := aws.ToString(describeTask(t, f.s, "prod", f.task).HealthStatus); h == "HEALTHY" {
				t.Fatalf("an unverified frame changed the task's health to %s", h)
			}
		})
	}
}

func TestTCSRefusesUnknownInstance(t *testing.T) {
	f := newTCSFixture(t)
	u := strings.Replace(f.agentURL(t), url.QueryEscape(f.inst), url.QueryEscape(f.inst+"0"), 1)
	_, resp, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(u, "http"), nil)
	if err == nil {
		t.Fatal("handshake for an unknown instance accepted")
	}
	defer resp.Body.Close()
	var env tcs.Envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Type != "InactiveInstanceException" {
		t.Fatalf("refusal = %+v (%v), want an InactiveInstanceException envelope", env, err)
	}
}

func TestTCSRefusesMissingParameters(t *testing.T) {
	f := newTCSFixture(t)
	u := "ws" + strings.TrimPrefix(f.srv.URL, "http") + TelemetryPath + "?" + url.Values{tcs.QueryCluster: {"prod"}}.Encode()
	_, resp, err := websocket.DefaultDialer.DialContext(t.Context(), u, nil)
	if err == nil {
		t.Fatal("handshake without a container instance accepted")
	}
	defer resp.Body.Close()
	var env tcs.Envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Type != tcs.ErrorTypeBadRequest || resp.StatusCode != 400 {
		t.Fatalf("refusal = %d %+v (%v), want 400 and a BadRequestException envelope", resp.StatusCode, env, err)
	}
}

// The official agent's telemetry exchange through the real route: the
// upgrade SigV4-signed with its query (dockerVersion without the prefix ACS
// carries), then frames signed for that URL. A frame signed with another
// key than the upgrade's is refused.
func TestTCSThroughRoute(t *testing.T) {
	h := newACSHarness(t, time.Second)
	q := "agentHash=4ed2e3a1&agentVersion=1.105.1&cluster=prod&containerInstance=" + url.QueryEscape(h.inst) +
		"&dockerVersion=20.10.24%2Bdfsg1"
	dial := func(t *testing.T) *tcsAgent {
		req := h.signedUpgrade(t, q, acsRootKey, acsRootSecret)
		req.URL.Path = TelemetryPath
		if err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: acsRootKey, SecretAccessKey: acsRootSecret},
			req, emptyBodySHA256, ecstypes.SigningName, testRegion, time.Now()); err != nil {
			t.Fatal(err)
		}
		conn, resp, err := h.handshake(t, req)
		if err != nil {
			t.Fatalf("TCS handshake: %v (%v)", err, resp)
		}
		httpURL := "http" + strings.TrimPrefix(req.URL.String(), "ws")
		a := &tcsAgent{t: t, conn: conn, url: httpURL, in: make(chan tcs.Envelope, 64)}
		go a.readAll()
		t.Cleanup(func() { conn.Close() })
		return a
	}
	status := tcs.PublishInstanceStatusRequest{
		Metadata: &tcs.InstanceStatusMetadata{Cluster: "prod", ContainerInstance: h.inst, RequestID: "r"},
		Statuses: []tcs.InstanceStatus{{Type: "ContainerRuntime", Status: "OK"}},
	}

	a := dial(t)
	a.key, a.secret = acsRootKey, acsRootSecret
	a.publish(tcs.TypePublishInstanceStatus, status)
	a.wantNext(tcs.TypeAckPublishInstanceStatus)

	b := dial(t)
	b.key, b.secret = acsUserKey, acsUserSecret
	b.publish(tcs.TypePublishInstanceStatus, status)
	b.wantNext(tcs.ErrorTypeBadRequest)
}
