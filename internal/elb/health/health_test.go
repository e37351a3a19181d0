package health

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/lbtarget"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reports records what a Prober reports, per target.
type reports struct {
	mu  sync.Mutex
	got map[string][]Result
}

func (r *reports) report(group, key string, res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string][]Result{}
	}
	r.got[group+" "+key] = append(r.got[group+" "+key], res)
}

func (r *reports) of(group, key string) []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.got[group+" "+key]...)
}

// statusServer answers every request with the status the test sets.
type statusServer struct {
	*httptest.Server
	status atomic.Int32
	hits   atomic.Int32
}

func newStatusServer(t *testing.T, tls bool) *statusServer {
	s := &statusServer{}
	s.status.Store(http.StatusOK)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/", http.StatusFound)
			return
		}
		w.WriteHeader(int(s.status.Load()))
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *statusServer) addr() string { return s.Listener.Addr().String() }

func fastCheck(protocol string) Check {
	return Check{
		Enabled: true, Protocol: protocol, Port: "traffic-port", Path: "/",
		Interval: 15 * time.Millisecond, Timeout: 200 * time.Millisecond,
		HealthyThreshold: 3, UnhealthyThreshold: 2, Matcher: "200",
	}
}

const group = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1"

func newProber(t *testing.T) (*Prober, *reports) {
	rec := &reports{}
	p := New(Options{Report: rec.report})
	t.Cleanup(p.Close)
	return p, rec
}

func waitState(t *testing.T, p *Prober, key string, want Result) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s to be %+v", key, want), func() bool {
		r, ok := p.Result(group, key)
		return ok && r == want
	})
}

func unhealthy(reason, desc string) Result {
	return Result{State: lbtarget.StateUnhealthy, Reason: reason, Description: desc}
}

func TestInitialToHealthyReportsEachChangeOnce(t *testing.T) {
	srv := newStatusServer(t, false)
	p, rec := newProber(t)
	p.Update([]Group{{ARN: group, Check: fastCheck("HTTP"), Targets: []Target{{Key: "t:1", Addr: srv.addr()}}}})
	if r, ok := p.Result(group, "t:1"); !ok || r != registering {
		t.Fatalf("right after Update: %+v %v, want %+v", r, ok, registering)
	}
	waitState(t, p, "t:1", healthy)
	want := []Result{registering, checking, healthy}
	waitFor(t, "three reports", func() bool { return len(rec.of(group, "t:1")) >= 3 })
	got := rec.of(group, "t:1")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reports %+v, want %+v", got, want)
	}
	if n := srv.hits.Load(); n < 3 {
		t.Fatalf("healthy after %d probes, want >= 3", n)
	}
}

func TestTransitions(t *testing.T) {
	refused := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	tests := []struct {
		name     string
		protocol string
		matcher  string
		path     string
		status   int
		addr     func(t *testing.T, s *statusServer) string
		tls      bool
		want     Result
	}{
		{name: "200 matches", protocol: "HTTP", status: 200, want: healthy},
		{name: "500 mismatch", protocol: "HTTP", status: 500,
			want: unhealthy(ReasonResponseCodeMismatch, "Health checks failed with these codes: [500]")},
		{name: "range matches 204", protocol: "HTTP", matcher: "200-299", status: 204, want: healthy},
		{name: "range misses 404", protocol: "HTTP", matcher: "200-299", status: 404,
			want: unhealthy(ReasonResponseCodeMismatch, "Health checks failed with these codes: [404]")},
		{name: "list matches 202", protocol: "HTTP", matcher: "200,202", status: 202, want: healthy},
		{name: "list misses 201", protocol: "HTTP", matcher: "200,202", status: 201,
			want: unhealthy(ReasonResponseCodeMismatch, "Health checks failed with these codes: [201]")},
		{name: "redirect is a code, not followed", protocol: "HTTP", path: "/redirect", status: 200,
			want: unhealthy(ReasonResponseCodeMismatch, "Health checks failed with these codes: [302]")},
		{name: "https self-signed", protocol: "HTTPS", tls: true, status: 200, want: healthy},
		{name: "http refused", protocol: "HTTP", status: 200,
			addr: func(t *testing.T, _ *statusServer) string { return refused(t) },
			want: unhealthy(ReasonFailedHealthChecks, "Health checks failed")},
		{name: "tcp connects", protocol: "TCP", status: 500, want: healthy},
		{name: "tcp refused", protocol: "TCP",
			addr: func(t *testing.T, _ *statusServer) string { return refused(t) },
			want: unhealthy(ReasonFailedHealthChecks, "Health checks failed")},
		{name: "bad matcher", protocol: "HTTP", matcher: "2xx", status: 200,
			want: unhealthy(reasonInternalError, descInternalError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStatusServer(t, tt.tls)
			srv.status.Store(int32(tt.status))
			addr := srv.addr()
			if tt.addr != nil {
				addr = tt.addr(t, srv)
			}
			c := fastCheck(tt.protocol)
			if tt.matcher != "" {
				c.Matcher = tt.matcher
			}
			if tt.path != "" {
				c.Path = tt.path
			}
			p, _ := newProber(t)
			p.Update([]Group{{ARN: group, Check: c, Targets: []Target{{Key: "t:1", Addr: addr}}}})
			waitState(t, p, "t:1", tt.want)
		})
	}
}

func TestHealthyUnhealthyAndBack(t *testing.T) {
	srv := newStatusServer(t, false)
	p, rec := newProber(t)
	p.Update([]Group{{ARN: group, Check: fastCheck("HTTP"), Targets: []Target{{Key: "t:1", Addr: srv.addr()}}}})
	waitState(t, p, "t:1", healthy)

	srv.status.Store(500)
	bad := unhealthy(ReasonResponseCodeMismatch, "Health checks failed with these codes: [500]")
	waitState(t, p, "t:1", bad)

	srv.status.Store(200)
	waitState(t, p, "t:1", healthy)
	want := []Result{registering, checking, healthy, bad, healthy}
	if got := rec.of(group, "t:1"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reports %+v, want %+v", got, want)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := fastCheck("HTTP")
	c.Timeout = 20 * time.Millisecond
	p, _ := newProber(t)
	p.Update([]Group{{ARN: group, Check: c, Targets: []Target{{Key: "t:1", Addr: srv.Listener.Addr().String()}}}})
	waitState(t, p, "t:1", unhealthy(ReasonTimeout, "Request timed out"))
}

func TestTCPListenerClosed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p, _ := newProber(t)
	p.Update([]Group{{ARN: group, Check: fastCheck("TCP"), Targets: []Target{{Key: "t:1", Addr: l.Addr().String()}}}})
	waitState(t, p, "t:1", healthy)
	l.Close()
	waitState(t, p, "t:1", unhealthy(ReasonFailedHealthChecks, "Health checks failed"))
}

func TestDisabledIsHealthyAtOnce(t *testing.T) {
	srv := newStatusServer(t, false)
	p, rec := newProber(t)
	c := fastCheck("HTTP")
	c.Enabled = false
	p.Update([]Group{{ARN: group, Check: c, Targets: []Target{{Key: "t:1", Addr: srv.addr()}}}})
	if r, _ := p.Result(group, "t:1"); r != healthy {
		t.Fatalf("right after Update: %+v, want healthy", r)
	}
	waitFor(t, "the healthy report", func() bool { return len(rec.of(group, "t:1")) == 1 })
	if got := rec.of(group, "t:1"); got[0] != healthy {
		t.Fatalf("reports %+v, want just healthy", got)
	}
	p.Close()
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("%d probes of a disabled check", n)
	}
}

func TestPortOverride(t *testing.T) {
	srv := newStatusServer(t, false)
	_, port, _ := net.SplitHostPort(srv.addr())
	c := fastCheck("HTTP")
	c.Port = port
	p, _ := newProber(t)
	// The traffic port (1) has nothing listening; the check port has.
	p.Update([]Group{{ARN: group, Check: c, Targets: []Target{{Key: "t:1", Addr: "127.0.0.1:1"}}}})
	waitState(t, p, "t:1", healthy)
}

func TestUpdate(t *testing.T) {
	a := newStatusServer(t, false)
	b := newStatusServer(t, false)
	p, rec := newProber(t)
	c := fastCheck("HTTP")
	ta := Target{Key: "a:1", Addr: a.addr()}
	tb := Target{Key: "b:1", Addr: b.addr()}

	p.Update([]Group{{ARN: group, Check: c, Targets: []Target{ta}}})
	waitState(t, p, "a:1", healthy)

	// Adding b leaves a alone.
	p.Update([]Group{{ARN: group, Check: c, Targets: []Target{ta, tb}}})
	if r, _ := p.Result(group, "a:1"); r != healthy {
		t.Fatalf("a after adding b: %+v", r)
	}
	waitState(t, p, "b:1", healthy)
	if n := len(rec.of(group, "a:1")); n != 3 {
		t.Fatalf("a reported %d times, want 3", n)
	}

	// Removing b stops its probes.
	p.Update([]Group{{ARN: group, Check: c, Targets: []Target{ta}}})
	if _, ok := p.Result(group, "b:1"); ok {
		t.Fatal("b still probed after removal")
	}
	// A probe already in flight may still land; none after that.
	aProbes := func(n int32) {
		from := a.hits.Load()
		waitFor(t, "more of a's probes", func() bool { return a.hits.Load() >= from+n })
	}
	aProbes(2)
	stopped := b.hits.Load()
	aProbes(3)
	if n := b.hits.Load(); n != stopped {
		t.Fatalf("b probed %d more times after removal", n-stopped)
	}

	// A changed check restarts a's probe but keeps its state: healthy
	// until the new check has failed UnhealthyThreshold times.
	c2 := c
	c2.Matcher = "204"
	p.Update([]Group{{ARN: group, Check: c2, Targets: []Target{ta}}})
	if r, _ := p.Result(group, "a:1"); r != healthy {
		t.Fatalf("a right after its check changed: %+v, want healthy", r)
	}
	waitState(t, p, "a:1", unhealthy(ReasonResponseCodeMismatch, "Health checks failed with these codes: [200]"))
	for _, r := range rec.of(group, "a:1")[3:] {
		if r.State == lbtarget.StateInitial {
			t.Fatalf("a went back to initial after a check change: %+v", rec.of(group, "a:1"))
		}
	}

	// A changed address does too.
	p.Update([]Group{{ARN: group, Check: c2, Targets: []Target{{Key: "a:1", Addr: b.addr()}}}})
	b.status.Store(204)
	waitState(t, p, "a:1", healthy)
}

func TestCloseStopsEveryGoroutine(t *testing.T) {
	srv := newStatusServer(t, false)
	tcp := newStatusServer(t, false)
	// A target that never answers: Close must cancel its probe, not wait
	// out the minute-long timeout.
	hung := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(hung)
		<-r.Context().Done()
	}))
	defer hang.Close()
	slow := fastCheck("HTTP")
	slow.Timeout = time.Minute
	before := runtime.NumGoroutine()
	p := New(Options{})
	var targets []Target
	for i := range 20 {
		targets = append(targets, Target{Key: fmt.Sprintf("t:%d", i), Addr: srv.addr()})
	}
	p.Update([]Group{
		{ARN: group, Check: fastCheck("HTTP"), Targets: targets},
		{ARN: group + "tcp", Check: fastCheck("TCP"), Targets: []Target{{Key: "x:1", Addr: tcp.addr()}}},
		{ARN: group + "hung", Check: slow, Targets: []Target{{Key: "h:1", Addr: hang.Listener.Addr().String()}}},
	})
	<-hung
	waitFor(t, "every target healthy", func() bool {
		for _, tg := range targets {
			if r, _ := p.Result(group, tg.Key); r != healthy {
				return false
			}
		}
		return true
	})
	p.Close()
	if _, ok := p.Result(group, "t:0"); ok {
		t.Fatal("a target is still probed after Close")
	}
	p.Update([]Group{{ARN: group, Check: fastCheck("HTTP"), Targets: targets}})
	if _, ok := p.Result(group, "t:0"); ok {
		t.Fatal("Update after Close started a probe")
	}
	waitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= before })
}

func TestDisablingAndEnablingACheck(t *testing.T) {
	srv := newStatusServer(t, false)
	p, rec := newProber(t)
	c := fastCheck("HTTP")
	target := []Target{{Key: "t:1", Addr: srv.addr()}}
	p.Update([]Group{{ARN: group, Check: c, Targets: target}})
	waitState(t, p, "t:1", healthy)

	off := c
	off.Enabled = false
	// Another group's probes of another server mark the time passing.
	clock := newStatusServer(t, false)
	clockGroup := Group{ARN: group + "clock", Check: c, Targets: []Target{{Key: "c:1", Addr: clock.addr()}}}
	p.Update([]Group{{ARN: group, Check: off, Targets: target}, clockGroup})
	srv.status.Store(500)
	// Disabled, a failing target stays healthy and unprobed (but for a
	// probe that was already in flight).
	from := srv.hits.Load()
	ticks := clock.hits.Load()
	waitFor(t, "a few intervals", func() bool { return clock.hits.Load() >= ticks+4 })
	if n := srv.hits.Load(); n > from+1 {
		t.Fatalf("%d probes after the check was disabled", n-from)
	}
	if r, _ := p.Result(group, "t:1"); r != healthy {
		t.Fatalf("disabled: %+v", r)
	}

	p.Update([]Group{{ARN: group, Check: c, Targets: target}, clockGroup})
	bad := unhealthy(ReasonResponseCodeMismatch, "Health checks failed with these codes: [500]")
	waitState(t, p, "t:1", bad)
	want := []Result{registering, checking, healthy, bad}
	if got := rec.of(group, "t:1"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reports %+v, want %+v", got, want)
	}
}
