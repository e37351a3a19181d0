package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchproc"
)

const haproxyBin = "/usr/sbin/haproxy"

// haproxyConfig balances round-robin over the backends with the settings a
// fair comparison needs: keep-alive on both sides, server connections
// reused by any client (http-reuse always, as Berth's pool does), no
// connection limit in the way, no logging, and the request headers ELB adds
// (X-Forwarded-For/-Proto/-Port and a per-request id in place of
// X-Amzn-Trace-Id) so that both proxies rewrite requests alike.
func haproxyConfig(listen string, threads int, backends []*backend) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    nbthread %d
    maxconn 8000

defaults
    mode http
    option http-keep-alive
    option forwardfor
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend bench
    bind %s
    unique-id-format Root=1-%%[date,hex]-%%[rand,hex]%%[rand,hex]%%[rand,hex]
    unique-id-header X-Amzn-Trace-Id
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Port %%[dst_port]
    default_backend targets

backend targets
    balance roundrobin
`, threads, listen)
	for i, be := range backends {
		fmt.Fprintf(&b, "    server t%d %s\n", i+1, be.addr)
	}
	return b.String()
}

// startHAProxy writes the config to dir and runs haproxy in the foreground
// (-db) on addr until it answers GET / with 200.
func startHAProxy(ctx context.Context, dir, addr string, threads int, backends []*backend) (*benchproc.Proc, error) {
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(addr, threads, backends)), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, haproxyBin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("haproxy -c: %w\n%s", err, out)
	}
	p, err := benchproc.Start(haproxyBin, os.Environ(), filepath.Join(dir, "haproxy.log"), "-f", cfg, "-db")
	if err != nil {
		return nil, err
	}
	if err := waitOK(ctx, p, "http://"+addr+"/", "", 15*time.Second); err != nil {
		p.Stop()
		log, _ := os.ReadFile(p.Log)
		return nil, fmt.Errorf("haproxy: %w\n%s", err, log)
	}
	return p, nil
}

func haproxyVersion() string {
	out, err := exec.Command(haproxyBin, "-v").Output()
	if err != nil {
		return haproxyBin
	}
	first, _, _ := strings.Cut(string(out), "\n")
	first, _, _ = strings.Cut(first, " - ")
	return strings.TrimSpace(first)
}

// waitOK polls url (with host as the Host header, if given) until it
// answers 200, the process exits, or the timeout passes.
func waitOK(ctx context.Context, p *benchproc.Proc, url, host string, timeout time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if host != "" {
			req.Host = host
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("exited before %s answered 200 (last: %s)", url, last)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s (last: %s)", url, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond): // polling pace
		}
	}
}
