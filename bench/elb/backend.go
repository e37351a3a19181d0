package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchproc"
)

// body is what a backend answers GET / with: 100 bytes, the size of a small
// JSON reply, so that the figures are about requests and not about bytes.
var body = []byte(strings.Repeat("berth elb bench backend ", 5)[:99] + "\n")

// serveBackend is the hidden -backend mode: an HTTP/1.1 server with
// keep-alive on a loopback port, which it prints once it listens.
func serveBackend() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           backendHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute, // longer than any proxy's keep-alive: the proxy closes first
	}
	fmt.Printf("backend listening on %s\n", ln.Addr())
	return srv.Serve(ln)
}

// countPath answers how many requests the backend has served, so that the
// bench can check both proxies spread the load over both backends.
const countPath = "/bench-count"

// backendHandler answers GET / (any path but countPath) with body.
func backendHandler() http.Handler {
	length := strconv.Itoa(len(body))
	var served atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == countPath {
			fmt.Fprintln(w, served.Load())
			return
		}
		served.Add(1)
		h := w.Header()
		h["Content-Type"] = []string{"text/plain; charset=utf-8"}
		h["Content-Length"] = []string{length}
		_, _ = w.Write(body)
	})
}

var backendRE = regexp.MustCompile(`backend listening on (\S+)`)

// backend is one backend process.
type backend struct {
	addr string // 127.0.0.1:PORT
	port int
	proc *benchproc.Proc
}

// startBackend re-executes this command with -backend and waits for its
// address.
func startBackend(ctx context.Context, dir string, i int) (*backend, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("backend-%d.log", i))
	p, err := benchproc.Start(self, os.Environ(), logPath, "-backend")
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	addr, err := benchproc.WaitLine(wctx, logPath, backendRE)
	if err != nil {
		p.Stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("backend %d: %w\n%s", i, err, log)
	}
	port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	return &backend{addr: addr, port: port, proc: p}, nil
}

// served asks the backend how many requests it has served.
func (b *backend) served(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.addr+countPath, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("backend %s count: %w", b.addr, err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("backend %s count: %w", b.addr, err)
	}
	return strconv.ParseInt(strings.TrimSpace(string(text)), 10, 64)
}

// servedAll is every backend's count, in order.
func servedAll(ctx context.Context, bs []*backend) ([]int64, error) {
	out := make([]int64, len(bs))
	for i, b := range bs {
		n, err := b.served(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}
