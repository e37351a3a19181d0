// Command simfleet measures `berth agent --runtime sim` at scale: for each
// instance count it starts a fresh `berth server` (not --dev) and one sim
// agent process, and reports how long registration and connection took,
// the agent's RSS and goroutines once all instances are connected, both
// processes' CPU while the fleet idles, and optionally how long a burst of
// RunTask calls takes to reach RUNNING.
//
//	go run ./bench/simfleet -instances 500,2000,5000 [-tasks 50] [-idle 30s]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchproc"
)

const (
	keyID  = "AKIASIMFLEETBENCH001"
	secret = "simfleet-bench-secret"
)

func main() {
	counts := flag.String("instances", "500,2000,5000", "comma-separated instance counts")
	tasks := flag.Int("tasks", 0, "RunTask this many tasks (10 per call) once all instances are connected")
	idle := flag.Duration("idle", 30*time.Second, "how long to sample CPU while the fleet idles")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up on one count after this long")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "simfleet-")
	check(err)
	defer os.RemoveAll(tmp)
	bin, err := benchproc.Build(tmp)
	check(err)

	for _, s := range strings.Split(*counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		check(err)
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		r, err := measure(ctx, bin, filepath.Join(tmp, s), n, *tasks, *idle)
		cancel()
		if err != nil {
			fmt.Printf("%d instances: %v\n", n, err)
			continue
		}
		r.print()
	}
}

type result struct {
	n                              int
	registered, connected          string // "took" as the agent logged it
	agentRSS, serverRSS            int64  // KiB, all connected
	goroutines, heapMiB            string // from the agent's summary line
	agentCPU, serverCPU            float64
	idle                           time.Duration
	tasks                          int
	tasksRunning                   time.Duration
	agentTaskCPU, serverTaskCPU    float64
	agentWarnings, serverWarnings  int
	firstAgentWarn, firstServerErr string
}

func (r result) print() {
	fmt.Printf("== %d sim instances\n", r.n)
	fmt.Printf("all registered after %s, all connected after %s\n", r.registered, r.connected)
	fmt.Printf("agent:  RSS %.0f MiB, goroutines %s, heap %s MiB, CPU %.0f%% of one core while idle (%s)\n",
		float64(r.agentRSS)/1024, r.goroutines, r.heapMiB, r.agentCPU*100, r.idle)
	fmt.Printf("server: RSS %.0f MiB, CPU %.0f%% of one core while idle\n", float64(r.serverRSS)/1024, r.serverCPU*100)
	if r.tasks > 0 {
		fmt.Printf("RunTask x%d (10 per call) -> all RUNNING in %s; CPU meanwhile: agent %.0f%%, server %.0f%% of one core\n",
			r.tasks, r.tasksRunning.Round(time.Millisecond), r.agentTaskCPU*100, r.serverTaskCPU*100)
	}
	fmt.Printf("warnings: agent %d, server %d\n", r.agentWarnings, r.serverWarnings)
	if r.firstAgentWarn != "" {
		fmt.Printf("  first agent warning: %s\n", r.firstAgentWarn)
	}
	if r.firstServerErr != "" {
		fmt.Printf("  first server warning: %s\n", r.firstServerErr)
	}
}

var (
	bannerRE = regexp.MustCompile(`Berth server ready on http://(\S+) `)
	gorRE    = regexp.MustCompile(`goroutines=(\d+)`)
	heapRE   = regexp.MustCompile(`heapMiB=(\d+)`)
)

func measure(ctx context.Context, bin, dir string, n, tasks int, idle time.Duration) (result, error) {
	r := result{n: n, idle: idle, tasks: tasks}
	check(os.MkdirAll(dir, 0o700))
	env := append(os.Environ(), "BERTH_ROOT_ACCESS_KEY_ID="+keyID, "BERTH_ROOT_SECRET_ACCESS_KEY="+secret,
		"AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_REGION=us-east-1")
	server, err := benchproc.Start(bin, env, filepath.Join(dir, "server.log"), "server", "--data-dir", filepath.Join(dir, "srv"), "--listen", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	defer server.Stop()
	addr, err := benchproc.WaitLine(ctx, filepath.Join(dir, "server.log"), bannerRE)
	if err != nil {
		return r, fmt.Errorf("server: %w", err)
	}
	conf := filepath.Join(dir, "ecs.config")
	check(os.WriteFile(conf, []byte("ECS_CLUSTER=default\n"), 0o600))
	agentLog := filepath.Join(dir, "agent.log")
	agent, err := benchproc.Start(bin, env, agentLog, "agent", "--endpoint", "http://"+addr, "--runtime", "sim",
		"--instances", strconv.Itoa(n), "--data-dir", filepath.Join(dir, "agent"), "--config", conf,
		"--cpu", "2048", "--memory", "4096")
	if err != nil {
		return r, err
	}
	defer agent.Stop()
	if r.registered, err = benchproc.WaitLine(ctx, agentLog, regexp.MustCompile(`all sim instances registered".*took=(\S+)`)); err != nil {
		return r, fmt.Errorf("registration: %w", err)
	}
	if r.connected, err = benchproc.WaitLine(ctx, agentLog, regexp.MustCompile(`all sim instances connected".*took=(\S+)`)); err != nil {
		return r, fmt.Errorf("connection: %w", err)
	}
	r.agentRSS, r.serverRSS = benchproc.RSS(agent.Pid()), benchproc.RSS(server.Pid())

	a0, s0 := benchproc.CPUTicks(agent.Pid()), benchproc.CPUTicks(server.Pid())
	time.Sleep(idle) // the sampling window itself, not a wait for state
	r.agentCPU = float64(benchproc.CPUTicks(agent.Pid())-a0) / 100 / idle.Seconds()
	r.serverCPU = float64(benchproc.CPUTicks(server.Pid())-s0) / 100 / idle.Seconds()

	if tasks > 0 {
		a0, s0 := benchproc.CPUTicks(agent.Pid()), benchproc.CPUTicks(server.Pid())
		if r.tasksRunning, err = runTasks(ctx, "http://"+addr, tasks); err != nil {
			return r, fmt.Errorf("tasks: %w", err)
		}
		secs := r.tasksRunning.Seconds()
		r.agentTaskCPU = float64(benchproc.CPUTicks(agent.Pid())-a0) / 100 / secs
		r.serverTaskCPU = float64(benchproc.CPUTicks(server.Pid())-s0) / 100 / secs
	}
	if m := benchproc.LastMatch(agentLog, gorRE); m != nil {
		r.goroutines = m[1]
	}
	if m := benchproc.LastMatch(agentLog, heapRE); m != nil {
		r.heapMiB = m[1]
	}
	r.agentWarnings, r.firstAgentWarn = benchproc.CountWarnings(agentLog)
	r.serverWarnings, r.firstServerErr = benchproc.CountWarnings(filepath.Join(dir, "server.log"))
	return r, nil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "simfleet:", err)
		os.Exit(1)
	}
}
