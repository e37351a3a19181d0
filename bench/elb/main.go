// Command elb measures requests/s and latency through Berth's application
// load balancer against Debian's haproxy in front of the same two backends,
// and against the first backend directly, in one run: wrk drives each in
// turn, alternating over the rounds, and the command prints each target's
// median req/s, p50, p90 and p99 and the ratios Berth/HAProxy (throughput)
// and p99 / direct p99.
//
//	go run ./bench/elb [-duration 10s] [-connections 64] [-threads 2] [-rounds 2] [-berth=true]
//
// Needs /usr/sbin/haproxy and /usr/bin/wrk (apt-get install -y haproxy wrk).
// The backends are this command re-executed with -backend.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchproc"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-backend" { // hidden: not a flag a user gives
		if err := serveBackend(); err != nil {
			fmt.Fprintln(os.Stderr, "backend:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long wrk drives each target per round (whole seconds)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "one wrk run of this length per target before the rounds")
	flag.IntVar(&o.connections, "connections", 64, "wrk's connections (-c)")
	flag.IntVar(&o.threads, "threads", 2, "wrk's threads (-t), and haproxy's nbthread")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds; each runs wrk once against every target, the order rotating")
	flag.BoolVar(&o.berth, "berth", true, "measure Berth's ALB (false: direct and haproxy only)")
	flag.Parse()
	if o.connections < o.threads || o.threads < 1 || o.rounds < 1 || o.duration < time.Second {
		fmt.Fprintln(os.Stderr, "elb bench: need -threads >= 1, -connections >= -threads, -rounds >= 1, -duration >= 1s")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "elb bench:", err)
		os.Exit(1)
	}
}

type options struct {
	duration, warmup             time.Duration
	connections, threads, rounds int
	berth                        bool
}

// target is one thing wrk drives.
type target struct {
	name string
	url  string
	proc *benchproc.Proc // the process whose CPU is charged to it
}

func run(ctx context.Context, o options) error {
	if err := installed(haproxyBin, wrkBin); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "berth-bench-elb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	loadBefore := benchproc.LoadAvg()

	var bin string
	if o.berth {
		if bin, err = benchproc.Build(dir); err != nil {
			return err
		}
	}
	var backends []*backend
	defer func() {
		for _, be := range backends {
			be.proc.Stop()
		}
	}()
	for i := range 2 {
		be, err := startBackend(ctx, dir, i+1)
		if err != nil {
			return err
		}
		backends = append(backends, be)
	}
	targets := []target{{name: "direct", url: "http://" + backends[0].addr + "/", proc: backends[0].proc}}

	haAddr, err := freeAddr()
	if err != nil {
		return err
	}
	ha, err := startHAProxy(ctx, dir, haAddr, o.threads, backends)
	if err != nil {
		return err
	}
	defer ha.Stop()
	targets = append(targets, target{name: "haproxy", url: "http://" + haAddr + "/", proc: ha})

	l := load{threads: o.threads, connections: o.connections, host: "bench.elb.localhost"}
	if o.berth {
		lbAddr, err := freeAddr()
		if err != nil {
			return err
		}
		b, err := startBerth(ctx, bin, dir, lbAddr, backends)
		if err != nil {
			return err
		}
		defer b.proc.Stop()
		l.host = b.dnsName // every target gets the same request
		targets = append(targets, target{name: "berth", url: "http://" + lbAddr + "/", proc: b.proc})
	}

	for _, t := range targets {
		fmt.Fprintf(os.Stderr, "warm-up %s (%s)\n", t.name, o.warmup)
		if _, err := runWrk(ctx, l, t.url, o.warmup); err != nil {
			return fmt.Errorf("warm-up %s: %w", t.name, err)
		}
	}
	res := results{}
	for i := range o.rounds {
		order := slices.Concat(targets[i%len(targets):], targets[:i%len(targets)])
		fmt.Fprintf(os.Stderr, "round %d/%d: %s\n", i+1, o.rounds, strings.Join(names(order), ", "))
		for _, t := range order {
			n0, err := servedAll(ctx, backends)
			if err != nil {
				return err
			}
			t0 := benchproc.CPUTicks(t.proc.Pid())
			r, err := runWrk(ctx, l, t.url, o.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			s := sample{wrkResult: r, cpuTicks: benchproc.CPUTicks(t.proc.Pid()) - t0}
			n1, err := servedAll(ctx, backends)
			if err != nil {
				return err
			}
			for j := range n1 {
				s.served = append(s.served, n1[j]-n0[j])
			}
			res[t.name] = append(res[t.name], s)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	fmt.Printf("load average (1, 5, 15 min) before: %s; after: %s; %d CPUs\n", loadBefore, benchproc.LoadAvg(), benchproc.NumCPU())
	fmt.Printf("wrk %s: -t%d -c%d, %s per run, %d rounds (order rotating) after a %s warm-up each; Host: %s\n",
		wrkVersion(), o.threads, o.connections, o.duration, o.rounds, o.warmup, l.host)
	fmt.Printf("backends: 2 processes of this command (Go net/http, keep-alive, GET / -> 200 with %d bytes); direct: the first alone\n", len(body))
	fmt.Printf("haproxy: %s, nbthread %d, roundrobin over both, http-reuse always, forwardfor\n", haproxyVersion(), o.threads)
	if o.berth {
		fmt.Println("berth: berth server (not --dev), ALB listener HTTP 80 (--lb-port-map) forwarding to an ip target group of both")
	}
	res.print(names(targets))
	if o.berth {
		if n, first := benchproc.CountWarnings(targets[len(targets)-1].proc.Log); n > 0 {
			fmt.Printf("berth server warnings: %d, first: %s\n", n, first)
		}
	}
	return nil
}

// installed says which of the Debian packages' binaries are missing, and
// how to install them.
func installed(bins ...string) error {
	var missing []string
	for _, bin := range bins {
		if _, err := os.Stat(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not found (apt-get install -y haproxy wrk)", strings.Join(missing, " and "))
	}
	return nil
}

func names(ts []target) []string {
	var s []string
	for _, t := range ts {
		s = append(s, t.name)
	}
	return s
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// wrkVersion is the first line of wrk -v ("wrk 4.1.0 [epoll] ..."), which
// wrk prints before complaining that no URL was given.
func wrkVersion() string {
	out, _ := exec.Command(wrkBin, "-v").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	if f := strings.Fields(first); len(f) >= 2 {
		return f[1]
	}
	return "?"
}
