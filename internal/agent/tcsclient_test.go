package agent

import (
	"context"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/tcs"
)

// healthNow is when the test trackers see health change.
var healthNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type tcsHarness struct {
	server *fakeACS
	health *healthTracker
	client *tcsClient
	cancel context.CancelFunc
	done   chan struct{}
}

// startTCS runs a tcsClient against the fake server's telemetry endpoint;
// mutate changes the client before it runs.
func startTCS(t *testing.T, mutate ...func(*tcsClient)) *tcsHarness {
	creds := testCreds{id: "AKIDTEST", secret: "secret"}
	h := &tcsHarness{
		server: newFakeACS(t, creds),
		health: newHealthTracker(testClusterARN, func() time.Time { return healthNow }),
		done:   make(chan struct{}),
	}
	api := &fakeAPI{discover: func(in *ecs.DiscoverPollEndpointInput) (*ecs.DiscoverPollEndpointOutput, error) {
		return &ecs.DiscoverPollEndpointOutput{
			Endpoint: aws.String(h.server.srv.URL), TelemetryEndpoint: aws.String(h.server.telemetryEndpoint()),
		}, nil
	}}
	h.client = &tcsClient{
		api: api,
		dialer: signedDialer{
			creds:  credentials.NewStaticCredentialsProvider(creds.id, creds.secret, "session-token"),
			region: "us-east-1", dialer: &websocket.Dialer{HandshakeTimeout: 5 * time.Second}, now: time.Now,
		},
		cluster:     "default",
		clusterARN:  testClusterARN,
		instanceARN: testInstanceARN,
		version:     versionInfo{agentVersion: "berth-test", agentHash: "abc123", dockerVersion: "DockerVersion: 20.10.24"},
		health:      h.health,
		heartbeat:   100 * time.Millisecond,
		reconnect:   backoff{min: time.Millisecond, max: 20 * time.Millisecond},
		log:         testLogger(t),
	}
	for _, m := range mutate {
		m(h.client)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { defer close(h.done); h.client.run(ctx) }()
	t.Cleanup(func() { cancel(); <-h.done })
	return h
}

// healthChange is a RUNNING task of family "web" revision 3 whose
// containers have the given health ("" for none).
func healthChange(task string, health map[string]string) engine.TaskStateChange {
	c := engine.TaskStateChange{TaskARN: task, Status: "RUNNING", Family: "web", Revision: 3}
	for name, h := range health {
		c.Containers = append(c.Containers, engine.ContainerStateChange{Name: name, Status: "RUNNING", HealthStatus: h})
	}
	return c
}

func wantHealth(task string, containers ...tcs.ContainerHealth) tcs.TaskHealth {
	return tcs.TaskHealth{TaskArn: task, ClusterArn: testClusterARN, TaskDefinitionFamily: "web", TaskDefinitionVersion: "3", Containers: containers}
}

func ch(name, status string) tcs.ContainerHealth {
	return tcs.ContainerHealth{ContainerName: name, HealthStatus: status, StatusSince: ecstypes.Time(healthNow)}
}

func TestTCSPublishesHealth(t *testing.T) {
	h := startTCS(t)
	// No health yet (a task without health checks): no socket.
	h.health.track(healthChange("arn:task/plain", map[string]string{"web": ""}))
	if n := h.server.tcsAttemptCount(); n != 0 {
		t.Fatalf("%d TCS dials without health to publish", n)
	}

	h.health.track(healthChange("arn:task/1", map[string]string{"web": "UNKNOWN", "side": ""}))
	tc := recv(t, h.server.tcsConns, "TCS connection")
	wantQuery := map[string]string{
		"cluster": testClusterARN, "containerInstance": testInstanceARN,
		"agentVersion": "berth-test", "agentHash": "abc123", "dockerVersion": "DockerVersion: 20.10.24",
	}
	if !reflect.DeepEqual(tc.query, wantQuery) {
		t.Errorf("query = %v, want %v", tc.query, wantQuery)
	}
	got := recv(t, tc.health, "health")
	if m := got.Metadata; m == nil || m.Cluster != testClusterARN || m.ContainerInstance != testInstanceARN || m.MessageID == "" || !m.Fin {
		t.Errorf("metadata = %+v", got.Metadata)
	}
	if got.Timestamp == nil || got.Timestamp.IsZero() {
		t.Errorf("timestamp = %v", got.Timestamp)
	}
	if want := []tcs.TaskHealth{wantHealth("arn:task/1", ch("web", "UNKNOWN"))}; !reflect.DeepEqual(got.Tasks, want) {
		t.Fatalf("tasks = %+v, want %+v", got.Tasks, want)
	}

	// A change publishes that task only; a repeat publishes nothing; a
	// stopped task is forgotten.
	h.health.track(healthChange("arn:task/2", map[string]string{"db": "HEALTHY"}))
	got = recv(t, tc.health, "health of a second task")
	if want := []tcs.TaskHealth{wantHealth("arn:task/2", ch("db", "HEALTHY"))}; !reflect.DeepEqual(got.Tasks, want) {
		t.Fatalf("tasks = %+v, want %+v", got.Tasks, want)
	}
	h.health.track(healthChange("arn:task/2", map[string]string{"db": "HEALTHY"}))
	h.health.track(engine.TaskStateChange{TaskARN: "arn:task/2", Status: "STOPPED"})
	h.health.track(healthChange("arn:task/1", map[string]string{"web": "UNHEALTHY"}))
	got = recv(t, tc.health, "health change")
	if want := []tcs.TaskHealth{wantHealth("arn:task/1", ch("web", "UNHEALTHY"))}; !reflect.DeepEqual(got.Tasks, want) {
		t.Fatalf("tasks = %+v, want %+v", got.Tasks, want)
	}

	// After a reconnect, all current health goes out again.
	tc.close()
	tc = recv(t, h.server.tcsConns, "TCS reconnection")
	got = recv(t, tc.health, "health after reconnecting")
	if want := []tcs.TaskHealth{wantHealth("arn:task/1", ch("web", "UNHEALTHY"))}; !reflect.DeepEqual(got.Tasks, want) {
		t.Fatalf("tasks = %+v, want %+v", got.Tasks, want)
	}
}

// TestTCSRedialsSilentServer: a telemetry socket on which the server sends
// nothing and answers no ping is redialled after three heartbeat intervals.
func TestTCSRedialsSilentServer(t *testing.T) {
	h := startTCS(t)
	h.server.setTCSSilent(true)
	h.health.track(healthChange("arn:task/1", map[string]string{"web": "HEALTHY"}))
	first := recv(t, h.server.tcsConns, "TCS connection")
	recv(t, first.health, "health")
	h.server.setTCSSilent(false)
	second := recv(t, h.server.tcsConns, "TCS redial after silence")
	if got := recv(t, second.health, "health on the new socket"); len(got.Tasks) != 1 {
		t.Fatalf("tasks = %+v", got.Tasks)
	}
	<-first.closed
}

func TestHealthPublishSplits(t *testing.T) {
	n := healthPerPublish + 5
	// All tracked before the client runs, so that its first publish has
	// them all (tracked while it runs, a publish may go out in between).
	h := startTCS(t, func(c *tcsClient) {
		for i := range n {
			c.health.track(healthChange("arn:task/"+string(rune('a'+i/26))+string(rune('a'+i%26)), map[string]string{"web": "HEALTHY"}))
		}
	})
	tc := recv(t, h.server.tcsConns, "TCS connection")
	seen := 0
	for seen < n {
		got := recv(t, tc.health, "health")
		seen += len(got.Tasks)
		if len(got.Tasks) > healthPerPublish || got.Metadata.Fin != (seen == n) {
			t.Fatalf("publish of %d tasks, fin %v, after %d of %d", len(got.Tasks), got.Metadata.Fin, seen, n)
		}
	}
}

func TestTelemetryURL(t *testing.T) {
	q := url.Values{"cluster": {"c"}}
	for endpoint, want := range map[string]string{
		"http://127.0.0.1:8080/tcs":  "http://127.0.0.1:8080/tcs/ws?cluster=c",
		"https://berth.example/tcs/": "https://berth.example/tcs/ws?cluster=c",
		"wss://tcs.example":          "https://tcs.example/ws?cluster=c",
	} {
		u, err := telemetryURL(endpoint, q)
		if err != nil || u.String() != want {
			t.Errorf("telemetryURL(%q) = %v, %v; want %s", endpoint, u, err, want)
		}
	}
	if _, err := telemetryURL("ftp://x", q); err == nil {
		t.Error("telemetryURL accepted ftp")
	}
}
