package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/elb/health"
	"github.com/berth-dev/berth/internal/elb/proxy"
)

// The in-process benchmarks put internal/elb/proxy (and, for reference,
// nothing) between a Go client and two backends, so that a CPU profile of
// the data plane needs no server:
//
//	go test -run '^$' -bench . -benchtime 5s -cpuprofile /tmp/elb.cpu ./bench/elb
//	go tool pprof -top -nodecount 40 /tmp/elb.cpu
//
// The client's own cost is in both; compare ns/op of Proxy against Direct.

type nopReporter struct{}

func (nopReporter) TargetHealth(string, string, health.Result) {}
func (nopReporter) TargetDrained(string, string)               {}

var _ proxy.Reporter = nopReporter{}

func BenchmarkDirect(b *testing.B) {
	be := httptest.NewServer(backendHandler())
	defer be.Close()
	drive(b, be.URL+"/")
}

func BenchmarkProxy(b *testing.B) {
	var targets []proxy.Target
	for range 2 {
		be := httptest.NewServer(backendHandler())
		defer be.Close()
		addr := be.Listener.Addr().String()
		targets = append(targets, proxy.Target{Key: addr, Addr: addr}) // ip targets: "<ip>:<port>"
	}
	addr, err := freeAddr()
	if err != nil {
		b.Fatal(err)
	}
	const group = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/bench/0000000000000001"
	e := proxy.New(proxy.Options{Reporter: nopReporter{}, Logger: slog.New(slog.DiscardHandler)})
	defer e.Close()
	if err := e.Apply(proxy.Config{
		Listeners: []proxy.Listener{{
			ARN:             "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/bench/0000000000000001/0000000000000001",
			LoadBalancerARN: "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/bench/0000000000000001",
			Type:            proxy.TypeApplication, Addr: addr, Port: 80, Protocol: "HTTP", IdleTimeout: 60 * time.Second,
			Rules: []proxy.Rule{{Actions: []proxy.Action{{Type: proxy.ActionForward, Forward: []proxy.WeightedGroup{{ARN: group, Weight: 1}}}}}},
		}},
		TargetGroups: map[string]*proxy.TargetGroup{group: {
			ARN: group, Name: "bench", Protocol: "HTTP", ProtocolVersion: "HTTP1", Algorithm: proxy.AlgorithmRoundRobin,
			HealthCheck:         health.Check{Enabled: false},
			DeregistrationDelay: 300 * time.Second, Targets: targets,
		}},
	}); err != nil {
		b.Fatal(err)
	}
	url := "http://" + addr + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := waitOK(ctx, nil, url, "", 5*time.Second); err != nil {
		b.Fatalf("the proxy engine does not forward: %v", err)
	}
	drive(b, url)
}

// drive sends GETs to url from 64 goroutines over keep-alive connections.
func drive(b *testing.B, url string) {
	c := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 128, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	defer c.CloseIdleConnections()
	b.SetParallelism(max(1, 64/testingProcs()))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }

// BenchmarkReverseProxy is net/http/httputil's ReverseProxy alone, set up as
// internal/elb/proxy sets up its own (no BufferPool) and with a BufferPool:
// the floor of a net/http proxy, and what pooling the copy buffer saves.
func BenchmarkReverseProxy(b *testing.B) {
	for _, pooled := range []bool{false, true} {
		name := "plain"
		if pooled {
			name = "buffer-pool"
		}
		b.Run(name, func(b *testing.B) {
			be := httptest.NewServer(backendHandler())
			defer be.Close()
			target, _ := url.Parse(be.URL)
			tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
			defer tr.CloseIdleConnections()
			rp := &httputil.ReverseProxy{Transport: tr, Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.SetXForwarded()
			}}
			if pooled {
				rp.BufferPool = &bufferPool{}
			}
			px := httptest.NewServer(rp)
			defer px.Close()
			drive(b, px.URL+"/")
		})
	}
}

type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte {
	if v := bp.p.Get(); v != nil {
		return *v.(*[]byte)
	}
	return make([]byte, 32*1024)
}

func (bp *bufferPool) Put(buf []byte) { bp.p.Put(&buf) }
