package proxy

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/elb/health"
	"github.com/berth-dev/berth/internal/lbtarget"
)

// fakeReporter records what the engine reports.
type fakeReporter struct {
	mu      sync.Mutex
	health  map[string]string
	drained map[string]int
}

var _ Reporter = (*fakeReporter)(nil)

func newFakeReporter() *fakeReporter {
	return &fakeReporter{health: map[string]string{}, drained: map[string]int{}}
}

func (f *fakeReporter) TargetHealth(group, key string, r health.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.health[group+"|"+key] = r.State
}

func (f *fakeReporter) TargetDrained(group, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drained[group+"|"+key]++
}

func (f *fakeReporter) drainCount(group, key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drained[group+"|"+key]
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newTestEngine starts an engine closed at the end of the test.
func newTestEngine(t testing.TB, rep Reporter) *Engine {
	t.Helper()
	if rep == nil {
		rep = newFakeReporter()
	}
	e := New(Options{Reporter: rep, Logger: quietLogger(), DrainTimeout: 5 * time.Second,
		newProber: noProber})
	t.Cleanup(e.Close)
	return e
}

// noProbes is a health source that never probes: a test decides every
// target's health through ObserveHealth.
type noProbes struct{}

func noProber(health.Options) healthSource { return noProbes{} }

func (noProbes) Update([]health.Group)                       {}
func (noProbes) Result(string, string) (health.Result, bool) { return health.Result{}, false }
func (noProbes) Close()                                      {}

// namedBackend answers every request with its name.
func namedBackend(t testing.TB, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		fmt.Fprint(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

// hostPort is a test server's ip:port.
func hostPort(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// group builds a target group over backends, targets keyed t0, t1...
func group(arn string, addrs ...string) *TargetGroup {
	g := &TargetGroup{ARN: arn, Protocol: "HTTP", ProtocolVersion: "HTTP1"}
	for i, a := range addrs {
		g.Targets = append(g.Targets, Target{Key: fmt.Sprintf("t%d:80", i), Addr: a})
	}
	return g
}

// forward is a forward action to groups with weight 1 each.
func forward(arns ...string) Action {
	a := Action{Type: ActionForward}
	for _, arn := range arns {
		a.Forward = append(a.Forward, WeightedGroup{ARN: arn, Weight: 1})
	}
	return a
}

// httpListener is an HTTP listener on a free port with a default rule.
func httpListener(arn string, def Action, rules ...Rule) Listener {
	rules = append(rules, Rule{ARN: arn + "/default", Actions: []Action{def}})
	return Listener{ARN: arn, Type: TypeApplication, Addr: "127.0.0.1:0", Port: 80, Protocol: "HTTP",
		Rules: rules, IdleTimeout: 30 * time.Second}
}

// config is a snapshot of listeners and groups.
func config(ls []Listener, gs ...*TargetGroup) Config {
	c := Config{Listeners: ls, TargetGroups: map[string]*TargetGroup{}}
	for _, g := range gs {
		c.TargetGroups[g.ARN] = g
	}
	return c
}

// mustApply applies cfg and fails the test on error.
func mustApply(t testing.TB, e *Engine, cfg Config) {
	t.Helper()
	if err := e.Apply(cfg); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// baseURL is the http URL of a bound listener.
func baseURL(t testing.TB, e *Engine, arn string) string {
	t.Helper()
	a := e.Addr(arn)
	if a == nil {
		t.Fatalf("listener %s not bound", arn)
	}
	return "http://" + a.String()
}

// testClient is a client that keeps no cookies and follows no redirects.
func testClient() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends a request and returns the response with its body read.
func do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

func get(t testing.TB, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

// markHealthy reports every target of g healthy through the engine's
// health path.
func markHealthy(e *Engine, g *TargetGroup) {
	for _, tg := range g.Targets {
		e.ObserveHealth(g.ARN, tg.Key, health.Result{State: lbtarget.StateHealthy})
	}
}
