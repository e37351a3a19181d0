package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/elb/health"
	"github.com/berth-dev/berth/internal/lbtarget"
)

func TestFixedResponseAndRedirect(t *testing.T) {
	e := newTestEngine(t, nil)
	l := httpListener("L", Action{Type: ActionFixedResponse, Fixed: &FixedResponse{StatusCode: 404, Body: "none"}},
		Rule{ARN: "fixed", Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/fixed"}}},
			Actions: []Action{{Type: ActionFixedResponse, Fixed: &FixedResponse{StatusCode: 418, ContentType: "application/json", Body: `{"tea":1}`}}}},
		Rule{ARN: "redir", Priority: 2, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/old/*"}}},
			Actions: []Action{{Type: ActionRedirect, Redirect: &Redirect{Protocol: "HTTPS", Port: "443", Path: "/new/#{path}", StatusCode: "HTTP_301"}}}},
	)
	l.Port = 8080
	mustApply(t, e, config([]Listener{l}))
	base := baseURL(t, e, "L")
	c := testClient()

	cases := []struct {
		path, wantStatus, wantBody, wantType, wantLocation string
	}{
		{"/fixed", "418", `{"tea":1}`, "application/json", ""},
		{"/nothing", "404", "none", "text/plain; charset=utf-8", ""},
		{"/old/a?b=1", "301", "", "text/html", "https://example.test/new/old/a?b=1"},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
		req.Host = "example.test:8080"
		resp, body := do(t, c, req)
		if got := fmt.Sprint(resp.StatusCode); got != tc.wantStatus {
			t.Errorf("%s: status %s, want %s", tc.path, got, tc.wantStatus)
		}
		if tc.wantBody != "" && body != tc.wantBody {
			t.Errorf("%s: body %q, want %q", tc.path, body, tc.wantBody)
		}
		if got := resp.Header.Get("Content-Type"); got != tc.wantType {
			t.Errorf("%s: content type %q, want %q", tc.path, got, tc.wantType)
		}
		if got := resp.Header.Get("Location"); got != tc.wantLocation {
			t.Errorf("%s: location %q, want %q", tc.path, got, tc.wantLocation)
		}
		if got := resp.Header.Get("Server"); got != serverHeader {
			t.Errorf("%s: server %q", tc.path, got)
		}
	}
}

func TestForwardRoundRobin(t *testing.T) {
	e := newTestEngine(t, nil)
	var addrs []string
	for _, n := range []string{"a", "b", "c"} {
		addrs = append(addrs, hostPort(namedBackend(t, n)))
	}
	g := group("G", addrs...)
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, g))
	markHealthy(e, g)
	base, c := baseURL(t, e, "L"), testClient()
	counts := map[string]int{}
	for range 30 {
		resp, body := get(t, c, base+"/")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		counts[body]++
	}
	for _, n := range []string{"a", "b", "c"} {
		if counts[n] != 10 {
			t.Errorf("round robin: %v, want 10 each", counts)
		}
	}
}

// holdBackend answers /hold only when release is closed and reports each
// held request on held; other paths answer at once. Its name is the body.
func holdBackend(t testing.TB, name string, held chan<- string, release <-chan struct{}) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			held <- name
			<-release
		}
		fmt.Fprint(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestLeastOutstandingRequests(t *testing.T) {
	e := newTestEngine(t, nil)
	held, release := make(chan string, 1), make(chan struct{})
	a, b := holdBackend(t, "a", held, release), holdBackend(t, "b", held, release)
	g := group("G", hostPort(a), hostPort(b))
	g.Algorithm = AlgorithmLeastOutstandingRequest
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, g))
	markHealthy(e, g)
	base, c := baseURL(t, e, "L"), testClient()

	done := make(chan string)
	go func() {
		resp, err := c.Get(base + "/hold")
		if err == nil {
			resp.Body.Close()
		}
		done <- fmt.Sprint(err)
	}()
	busy := <-held
	for range 10 {
		_, body := get(t, c, base+"/")
		if body == busy {
			t.Errorf("request went to %s, which has one in flight", busy)
		}
	}
	close(release)
	if err := <-done; err != "<nil>" {
		t.Fatalf("held request: %s", err)
	}
}

func TestWeightedGroupsAndGroupStickiness(t *testing.T) {
	e := newTestEngine(t, nil)
	ga, gb := group("GA", hostPort(namedBackend(t, "a"))), group("GB", hostPort(namedBackend(t, "b")))
	act := Action{Type: ActionForward, Forward: []WeightedGroup{{ARN: "GA", Weight: 3}, {ARN: "GB", Weight: 0}}}
	mustApply(t, e, config([]Listener{httpListener("L", act)}, ga, gb))
	base, c := baseURL(t, e, "L"), testClient()
	for range 20 {
		if _, body := get(t, c, base+"/"); body != "a" {
			t.Fatalf("weight 0 group got a request")
		}
	}

	act.Forward[1].Weight = 1
	act.Stickiness = time.Hour
	mustApply(t, e, config([]Listener{httpListener("L", act)}, ga, gb))
	counts := map[string]int{}
	var cookie *http.Cookie
	for range 400 {
		resp, body := get(t, c, base+"/")
		counts[body]++
		for _, ck := range resp.Cookies() {
			if ck.Name == cookieTG && body == "b" {
				cookie = ck
			}
		}
	}
	if counts["a"] <= counts["b"] || counts["b"] == 0 {
		t.Errorf("weights 3:1 gave %v", counts)
	}
	if cookie == nil {
		t.Fatal("no AWSALBTG cookie from group b")
	}
	for range 20 {
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.AddCookie(cookie)
		if _, body := do(t, c, req); body != "b" {
			t.Fatalf("group stickiness: went to %s, want b", body)
		}
	}
}

func TestLBCookieStickiness(t *testing.T) {
	e := newTestEngine(t, nil)
	g := group("G", hostPort(namedBackend(t, "a")), hostPort(namedBackend(t, "b")), hostPort(namedBackend(t, "c")))
	g.Stickiness = Stickiness{Enabled: true, Type: "lb_cookie", Duration: time.Hour}
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, g))
	markHealthy(e, g)
	base, c := baseURL(t, e, "L"), testClient()

	resp, first := get(t, c, base+"/")
	var ck *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == cookieLB {
			ck = x
		}
	}
	if ck == nil || ck.Expires.IsZero() {
		t.Fatalf("no AWSALB cookie with expiry: %v", resp.Header["Set-Cookie"])
	}
	for range 20 {
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.AddCookie(&http.Cookie{Name: cookieLB, Value: ck.Value})
		if _, body := do(t, c, req); body != first {
			t.Fatalf("sticky request went to %s, want %s", body, first)
		}
	}
}

func TestAppCookieStickiness(t *testing.T) {
	e := newTestEngine(t, nil)
	var addrs []string
	for _, n := range []string{"a", "b"} {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "SESSION", Value: "x"})
			fmt.Fprint(w, n)
		}))
		t.Cleanup(s.Close)
		addrs = append(addrs, hostPort(s))
	}
	g := group("G", addrs...)
	g.Stickiness = Stickiness{Enabled: true, Type: "app_cookie", Duration: time.Hour, CookieName: "SESSION"}
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, g))
	markHealthy(e, g)
	base, c := baseURL(t, e, "L"), testClient()
	resp, first := get(t, c, base+"/")
	var ck *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == cookieApp {
			ck = x
		}
	}
	if ck == nil {
		t.Fatalf("no %s cookie: %v", cookieApp, resp.Header["Set-Cookie"])
	}
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.AddCookie(&http.Cookie{Name: cookieApp, Value: ck.Value})
		if _, body := do(t, c, req); body != first {
			t.Fatalf("app cookie: went to %s, want %s", body, first)
		}
	}
}

func TestHealthAwareSelectionAndFailOpen(t *testing.T) {
	rep := newFakeReporter()
	e := newTestEngine(t, rep)
	g := group("G", hostPort(namedBackend(t, "a")), hostPort(namedBackend(t, "b")), hostPort(namedBackend(t, "c")))
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, g))
	base, c := baseURL(t, e, "L"), testClient()
	spread := func() map[string]int {
		counts := map[string]int{}
		for range 30 {
			_, body := get(t, c, base+"/")
			counts[body]++
		}
		return counts
	}

	// a healthy, b unhealthy, c initial: only a.
	e.ObserveHealth("G", "t0:80", health.Result{State: lbtarget.StateHealthy})
	e.ObserveHealth("G", "t1:80", health.Result{State: lbtarget.StateUnhealthy, Reason: "Target.Timeout"})
	if got := spread(); got["a"] != 30 {
		t.Errorf("one healthy target: %v, want all on a", got)
	}
	waitFor(t, "reporter hears the health", func() bool {
		rep.mu.Lock()
		defer rep.mu.Unlock()
		return rep.health["G|t1:80"] == lbtarget.StateUnhealthy
	})

	// None healthy: fail open over all three.
	e.ObserveHealth("G", "t0:80", health.Result{State: lbtarget.StateUnhealthy})
	if got := spread(); got["a"] != 10 || got["b"] != 10 || got["c"] != 10 {
		t.Errorf("fail open: %v, want 10 each", got)
	}
}

func TestDraining(t *testing.T) {
	rep := newFakeReporter()
	e := newTestEngine(t, rep)
	held, release := make(chan string, 1), make(chan struct{})
	a := holdBackend(t, "a", held, release)
	b := namedBackend(t, "b")
	g := group("G", hostPort(a))
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, g))
	base, c := baseURL(t, e, "L"), testClient()

	done := make(chan string, 1)
	go func() {
		resp, err := c.Get(base + "/hold")
		if err != nil {
			done <- err.Error()
			return
		}
		resp.Body.Close()
		done <- fmt.Sprint(resp.StatusCode)
	}()
	<-held

	g2 := group("G", hostPort(a), hostPort(b))
	g2.Targets[0].Draining = true
	g2.Targets[0].DrainUntil = time.Now().Add(time.Hour)
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, g2))
	for range 10 {
		if _, body := get(t, c, base+"/"); body != "b" {
			t.Fatalf("draining target got a new request")
		}
	}
	if n := rep.drainCount("G", "t0:80"); n != 0 {
		t.Fatalf("drained reported with a request in flight (%d)", n)
	}
	close(release)
	if got := <-done; got != "200" {
		t.Fatalf("in-flight request on draining target: %s", got)
	}
	waitFor(t, "drain reported", func() bool { return rep.drainCount("G", "t0:80") == 1 })
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, g2))
	get(t, c, base+"/")
	if n := rep.drainCount("G", "t0:80"); n != 1 {
		t.Errorf("drained reported %d times, want once", n)
	}
}

func TestDrainUntilPasses(t *testing.T) {
	rep := newFakeReporter()
	e := newTestEngine(t, rep)
	held, release := make(chan string, 1), make(chan struct{})
	defer close(release)
	g := group("G", hostPort(holdBackend(t, "a", held, release)))
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, g))
	base := baseURL(t, e, "L")
	status := make(chan int, 1)
	go func() {
		resp, err := testClient().Get(base + "/hold")
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-held
	g.Targets[0].Draining = true
	g.Targets[0].DrainUntil = time.Now().Add(20 * time.Millisecond)
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, g))
	waitFor(t, "drain reported at DrainUntil", func() bool { return rep.drainCount("G", "t0:80") == 1 })
	if got := <-status; got != http.StatusBadGateway {
		t.Errorf("request cut at DrainUntil: status %d, want 502", got)
	}
	// No non-draining target: 503.
	if resp, _ := get(t, testClient(), base+"/"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("only a draining target: status %d, want 503", resp.StatusCode)
	}
}

var traceRE = regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$`)

func TestForwardedHeaders(t *testing.T) {
	e := newTestEngine(t, nil)
	seen := make(chan http.Header, 2)
	hosts := make(chan string, 2)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		hosts <- r.Host
	}))
	t.Cleanup(s.Close)
	l := httpListener("L", forward("G"))
	l.Port = 8080
	mustApply(t, e, config([]Listener{l}, group("G", hostPort(s))))
	base, c := baseURL(t, e, "L"), testClient()

	req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
	req.Host = "app.example.test"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	do(t, c, req)
	h := <-seen
	if got := h.Get("X-Forwarded-For"); got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if h.Get("X-Forwarded-Proto") != "http" || h.Get("X-Forwarded-Port") != "8080" {
		t.Errorf("X-Forwarded-Proto %q Port %q", h.Get("X-Forwarded-Proto"), h.Get("X-Forwarded-Port"))
	}
	if !traceRE.MatchString(h.Get("X-Amzn-Trace-Id")) {
		t.Errorf("X-Amzn-Trace-Id %q", h.Get("X-Amzn-Trace-Id"))
	}
	if got := <-hosts; got != "app.example.test" {
		t.Errorf("Host %q, want the client's", got)
	}

	req, _ = http.NewRequest(http.MethodGet, base+"/", nil)
	req.Header.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
	do(t, c, req)
	<-hosts
	if got := (<-seen).Get("X-Amzn-Trace-Id"); got != "Root=1-5759e988-bd862e3fe1be46a994272793" {
		t.Errorf("existing trace id replaced: %q", got)
	}
}

func TestGatewayErrors(t *testing.T) {
	e := newTestEngine(t, nil)
	hang := make(chan struct{})
	defer close(hang)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	t.Cleanup(slow.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	downAddr := hostPort(down)
	down.Close()

	l := httpListener("L", forward("Empty"),
		Rule{ARN: "down", Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/down"}}},
			Actions: []Action{forward("Down")}},
		Rule{ARN: "slow", Priority: 2, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/slow"}}},
			Actions: []Action{forward("Slow")}},
	)
	l.IdleTimeout = 200 * time.Millisecond
	mustApply(t, e, config([]Listener{l}, group("Empty"), group("Down", downAddr), group("Slow", hostPort(slow))))
	base, c := baseURL(t, e, "L"), testClient()
	for _, tc := range []struct {
		path string
		want int
	}{{"/", 503}, {"/down", 502}, {"/slow", 504}} {
		resp, body := get(t, c, base+tc.path)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
		if resp.Header.Get("Server") != serverHeader || !strings.Contains(body, fmt.Sprint(tc.want)) {
			t.Errorf("%s: server %q body %q", tc.path, resp.Header.Get("Server"), body)
		}
	}
}

func TestConcurrentRequestsDuringApply(t *testing.T) {
	e := newTestEngine(t, nil)
	g := group("G", hostPort(namedBackend(t, "a")), hostPort(namedBackend(t, "b")))
	cfg := config([]Listener{httpListener("L", forward("G"))}, g)
	mustApply(t, e, cfg)
	base := baseURL(t, e, "L")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			c := testClient()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(base + "/")
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	for i := range 50 {
		g.Algorithm = []string{AlgorithmRoundRobin, AlgorithmLeastOutstandingRequest}[i%2]
		mustApply(t, e, cfg)
		markHealthy(e, g)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
