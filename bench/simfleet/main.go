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
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
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
	bin := filepath.Join(tmp, "berth")
	build := exec.Command("go", "build", "-o", bin, "./cmd/berth")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	check(build.Run())

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
	server, err := start(bin, env, filepath.Join(dir, "server.log"), "server", "--data-dir", filepath.Join(dir, "srv"), "--listen", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	defer stop(server)
	addr, err := waitLine(ctx, filepath.Join(dir, "server.log"), bannerRE)
	if err != nil {
		return r, fmt.Errorf("server: %w", err)
	}
	conf := filepath.Join(dir, "ecs.config")
	check(os.WriteFile(conf, []byte("ECS_CLUSTER=default\n"), 0o600))
	agentLog := filepath.Join(dir, "agent.log")
	agent, err := start(bin, env, agentLog, "agent", "--endpoint", "http://"+addr, "--runtime", "sim",
		"--instances", strconv.Itoa(n), "--data-dir", filepath.Join(dir, "agent"), "--config", conf,
		"--cpu", "2048", "--memory", "4096")
	if err != nil {
		return r, err
	}
	defer stop(agent)
	if r.registered, err = waitLine(ctx, agentLog, regexp.MustCompile(`all sim instances registered".*took=(\S+)`)); err != nil {
		return r, fmt.Errorf("registration: %w", err)
	}
	if r.connected, err = waitLine(ctx, agentLog, regexp.MustCompile(`all sim instances connected".*took=(\S+)`)); err != nil {
		return r, fmt.Errorf("connection: %w", err)
	}
	r.agentRSS, r.serverRSS = rss(agent.pid()), rss(server.pid())

	a0, s0 := cpuTicks(agent.pid()), cpuTicks(server.pid())
	time.Sleep(idle) // the sampling window itself, not a wait for state
	r.agentCPU = float64(cpuTicks(agent.pid())-a0) / 100 / idle.Seconds()
	r.serverCPU = float64(cpuTicks(server.pid())-s0) / 100 / idle.Seconds()

	if tasks > 0 {
		a0, s0 := cpuTicks(agent.pid()), cpuTicks(server.pid())
		if r.tasksRunning, err = runTasks(ctx, "http://"+addr, tasks); err != nil {
			return r, fmt.Errorf("tasks: %w", err)
		}
		secs := r.tasksRunning.Seconds()
		r.agentTaskCPU = float64(cpuTicks(agent.pid())-a0) / 100 / secs
		r.serverTaskCPU = float64(cpuTicks(server.pid())-s0) / 100 / secs
	}
	if m := lastMatch(agentLog, gorRE); m != nil {
		r.goroutines = m[1]
	}
	if m := lastMatch(agentLog, heapRE); m != nil {
		r.heapMiB = m[1]
	}
	r.agentWarnings, r.firstAgentWarn = countWarnings(agentLog)
	r.serverWarnings, r.firstServerErr = countWarnings(filepath.Join(dir, "server.log"))
	return r, nil
}

// proc is a berth process this tool started.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func start(bin string, env []string, logPath string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start berth %s: %w", args[0], err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		_ = cmd.Wait()
		f.Close()
	}()
	return p, nil
}

// stop ends the process (SIGTERM, then SIGKILL after 30s) and waits for it.
func stop(p *proc) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitLine polls the log until re matches a line and returns its first group.
func waitLine(ctx context.Context, path string, re *regexp.Regexp) (string, error) {
	for {
		if m := lastMatch(path, re); m != nil {
			return m[1], nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no %q in %s: %w", re, path, ctx.Err())
		case <-time.After(200 * time.Millisecond): // polling pace
		}
	}
}

func lastMatch(path string, re *regexp.Regexp) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var last []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			last = m
		}
	}
	return last
}

func countWarnings(path string) (int, string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, ""
	}
	defer f.Close()
	n, first := 0, ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			if n++; first == "" {
				first = l[:min(len(l), 300)]
			}
		}
	}
	return n, first
}

// rss is the process's resident set in KiB.
func rss(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kib, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kib
		}
	}
	return 0
}

// cpuTicks is the process's user+system CPU time in clock ticks (1/100 s).
func cpuTicks(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	k, _ := strconv.ParseInt(fields[12], 10, 64)
	return u + k
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "simfleet:", err)
		os.Exit(1)
	}
}
