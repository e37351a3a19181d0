// Package benchproc owns what Berth's benchmark commands share: building
// the berth binary, starting and stopping its processes with their logs in
// files, waiting for a log line, and reading a process's RSS and CPU time.
package benchproc

import (
	"bufio"
	"context"
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

// Build builds ./cmd/berth (from the module root, the working directory of
// `go run ./bench/...`) into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-o", bin, "./cmd/berth")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/berth: %w", err)
	}
	return bin, nil
}

// Proc is a berth process a benchmark started.
type Proc struct {
	cmd  *exec.Cmd
	Log  string        // stdout and stderr
	done chan struct{} // closed once it has exited
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Start runs bin with args, its output in logPath; it dies with the caller.
func Start(bin string, env []string, logPath string, args ...string) (*Proc, error) {
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
	p := &Proc{cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		_ = cmd.Wait()
		f.Close()
	}()
	return p, nil
}

// Stop ends the process (SIGTERM, then SIGKILL after 30s) and waits for it.
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitLine polls a log until re matches a line and returns its first group.
func WaitLine(ctx context.Context, path string, re *regexp.Regexp) (string, error) {
	for {
		if m := LastMatch(path, re); m != nil {
			return m[1], nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no %q in %s: %w", re, path, ctx.Err())
		case <-time.After(200 * time.Millisecond): // polling pace
		}
	}
}

// LastMatch is the last line of the file that re matches, as submatches.
func LastMatch(path string, re *regexp.Regexp) []string {
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

// CountWarnings counts WARN and ERROR log lines and returns the first.
func CountWarnings(path string) (int, string) {
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

// RSS is the process's resident set in KiB.
func RSS(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kib, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kib
		}
	}
	return 0
}

// CPUTicks is the process's user+system CPU time in clock ticks (1/100 s).
func CPUTicks(pid int) int64 {
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

// LoadAvg is the machine's 1, 5 and 15 minute load averages ("?" when
// /proc/loadavg cannot be read): benchmarks print it before and after.
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// NumCPU is what nproc says (0 when it cannot be run).
func NumCPU() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscan(string(out), &n)
	return n
}
