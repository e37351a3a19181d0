package proxy

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkProxyHTTP measures requests through the engine against the
// same requests straight to the backend, in one run, and reports the
// ratio of their times (proxied/direct).
func BenchmarkProxyHTTP(b *testing.B) {
	backend := namedBackend(b, "a")
	e := newTestEngine(b, nil)
	g := group("G", hostPort(backend))
	mustApply(b, e, config([]Listener{httpListener("L", forward("G"))}, g))
	markHealthy(e, g)
	proxied := baseURL(b, e, "L") + "/"
	direct := backend.URL + "/"
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	run := func(url string, n int) time.Duration {
		start := time.Now()
		for range n {
			resp, err := c.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return time.Since(start)
	}
	// Warm both connection pools.
	run(direct, 10)
	run(proxied, 10)

	var through, straight time.Duration
	b.ResetTimer()
	for b.Loop() {
		through += run(proxied, 1)
		straight += run(direct, 1)
	}
	b.StopTimer()
	if straight > 0 {
		b.ReportMetric(float64(through)/float64(straight), "proxied/direct")
	}
	b.ReportMetric(float64(through.Nanoseconds())/float64(b.N), "proxied-ns/req")
	b.ReportMetric(float64(straight.Nanoseconds())/float64(b.N), "direct-ns/req")
}

// BenchmarkApply measures swapping in a snapshot of 10 kept listeners
// over 10 groups of 10 targets each: the cost the elb service pays per
// change.
func BenchmarkApply(b *testing.B) {
	e := newTestEngine(b, nil)
	var ls []Listener
	var gs []*TargetGroup
	for i := range 10 {
		addrs := make([]string, 10)
		for j := range addrs {
			addrs[j] = fmt.Sprintf("10.0.%d.%d:80", i, j)
		}
		arn := fmt.Sprintf("G%d", i)
		gs = append(gs, group(arn, addrs...))
		ls = append(ls, httpListener(fmt.Sprintf("L%d", i), forward(arn),
			Rule{ARN: "r", Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/api/*"}}},
				Actions: []Action{forward(arn)}}))
	}
	cfg := config(ls, gs...)
	mustApply(b, e, cfg)
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Apply(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
