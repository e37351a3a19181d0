package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/elb/health"
	"github.com/berth-dev/berth/internal/lbtarget"
)

// TestProbedHealthSteersTraffic runs the engine with its real prober: a
// target whose health check fails gets no traffic once the prober calls it
// unhealthy, and the Reporter hears both targets' health.
func TestProbedHealthSteersTraffic(t *testing.T) {
	rep := newFakeReporter()
	e := New(Options{Reporter: rep, Logger: quietLogger(), DrainTimeout: 5 * time.Second})
	t.Cleanup(e.Close)
	backend := func(name string, healthy bool) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" && !healthy {
				http.Error(w, "down", http.StatusInternalServerError)
				return
			}
			fmt.Fprint(w, name)
		}))
		t.Cleanup(s.Close)
		return hostPort(s)
	}
	g := group("G", backend("a", true), backend("b", false))
	g.HealthCheck = health.Check{Enabled: true, Protocol: "HTTP", Port: "traffic-port", Path: "/healthz",
		Interval: 20 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2, Matcher: "200"}
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, g))
	waitFor(t, "the prober's verdicts", func() bool {
		rep.mu.Lock()
		defer rep.mu.Unlock()
		return rep.health["G|t0:80"] == lbtarget.StateHealthy && rep.health["G|t1:80"] == lbtarget.StateUnhealthy
	})
	base, c := baseURL(t, e, "L"), testClient()
	for range 20 {
		if _, body := get(t, c, base+"/"); body != "a" {
			t.Fatalf("a request went to %q, want only the healthy target a", body)
		}
	}
}
