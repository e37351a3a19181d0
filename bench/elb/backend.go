package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
	length := strconv.Itoa(len(body))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"text/plain; charset=utf-8"}
			h["Content-Length"] = []string{length}
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute, // longer than any proxy's keep-alive: the proxy closes first
	}
	fmt.Printf("backend listening on %s\n", ln.Addr())
	return srv.Serve(ln)
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
