// Package e2e owns Berth's end-to-end tests: the real berth binary (server
// and agents as separate processes), the real Docker engine and the real
// clients people use (the AWS CLI v2 and aws-sdk-go-v2). The harness here
// builds the binary once, starts and stops processes, captures their output
// (dumped when a test fails) and removes every container a test created.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/berth-dev/berth/internal/testutil/testimage"
)

const (
	region = "us-east-1"
	// dockerUnreachable is what a person sees when there is no engine.
	dockerUnreachable = "Docker engine not reachable: start dockerd, or run ./scripts/test which installs and starts it"
	// logTail bounds how much of each process log is dumped on failure.
	logTail = 64 << 10
)

// Set by TestMain.
var (
	berthBin     string // the berth binary under test
	awsCLIBin    string // the AWS CLI v2
	dockerCli    *client.Client
	appImage     string // berth-test/app:latest
	busyboxImage string // berth-test/busybox:latest
	raceBinary   bool   // berth was built with -race
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "berth-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := setup(ctx, tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer dockerCli.Close()
	return m.Run()
}

// setup checks the machine (Docker, the AWS CLI v2), builds the test images
// and the berth binary. Every missing piece is an error, never a skip: an
// end-to-end suite that skips proves nothing.
func setup(ctx context.Context, tmp string) error {
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cli, err := testimage.NewClient(pingCtx)
	if err != nil {
		return fmt.Errorf("%s (%v)", dockerUnreachable, err)
	}
	dockerCli = cli

	if awsCLIBin, err = findAWSCLIv2(ctx); err != nil {
		return err
	}
	if appImage, err = testimage.BuildApp(ctx); err != nil {
		return err
	}
	if busyboxImage, err = testimage.BuildBusybox(ctx); err != nil {
		return err
	}
	return buildBerth(ctx, tmp)
}

// findAWSCLIv2 returns BERTH_AWS_CLI, else /usr/bin/aws, after checking it
// is version 2 (a Python CLI v1 earlier on PATH is common and not enough).
func findAWSCLIv2(ctx context.Context) (string, error) {
	path := os.Getenv("BERTH_AWS_CLI")
	if path == "" {
		path = "/usr/bin/aws"
	}
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("AWS CLI v2 needed: %s --version: %v\n%s(install awscli v2, or set BERTH_AWS_CLI to its path)", path, err, out)
	}
	if !strings.HasPrefix(string(out), "aws-cli/2") {
		return "", fmt.Errorf("AWS CLI v2 needed: %s --version says %q; set BERTH_AWS_CLI to a v2 binary", path, strings.TrimSpace(string(out)))
	}
	return path, nil
}

// buildBerth builds ./cmd/berth from the module root. With BERTH_E2E_RACE=1
// (default: when these tests run under -race) the binary has the race
// detector too, and any race it reports fails the test that ran it.
func buildBerth(ctx context.Context, tmp string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	switch os.Getenv("BERTH_E2E_RACE") {
	case "1":
		raceBinary = true
	case "0":
		raceBinary = false
	default:
		raceBinary = raceEnabled
	}
	berthBin = filepath.Join(tmp, "berth")
	args := []string{"build", "-o", berthBin}
	if raceBinary {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/berth")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/berth: %w\n%s", err, out)
	}
	return nil
}

// waitFor polls cond until it holds or timeout passes, then fails t. cond
// may call t.Fatal itself to give up early (a process died, say).
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 50 * time.Millisecond
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			timedOut.Store(t.Name(), true)
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(interval) // polling pace, not a wait for state
		interval = min(interval*2, 500*time.Millisecond)
	}
}

// childEnv is the test's environment without settings that would change how
// berth or the CLI behave (ECS_*, BERTH_*, AWS_*), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "ECS_") || strings.HasPrefix(k, "BERTH_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	return append(env, extra...)
}

// proc is a child process whose stdout and stderr go to files.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr string
	done           chan struct{}
	err            error // set when done is closed
}

var procSeq struct {
	sync.Mutex
	n int
}

// startProc starts the berth binary with args. When t ends the process is
// killed, and its output is dumped if t failed (or if it reported a race).
func startProc(t *testing.T, logDir, name string, env []string, args ...string) *proc {
	t.Helper()
	procSeq.Lock()
	procSeq.n++
	base := filepath.Join(logDir, fmt.Sprintf("%02d-%s", procSeq.n, name))
	procSeq.Unlock()
	p := &proc{name: name, stdout: base + ".stdout", stderr: base + ".stderr", done: make(chan struct{})}
	outF, err := os.Create(p.stdout)
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(berthBin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = outF, errF
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		outF.Close()
		errF.Close()
		close(p.done)
	}()
	t.Logf("started %s (pid %d): berth %s", name, p.cmd.Process.Pid, strings.Join(args, " "))
	t.Cleanup(func() {
		_, gaveUp := timedOut.Load(t.Name())
		hung := gaveUp && !p.exited()
		if t.Failed() {
			p.dump(t)
		}
		if hung {
			// What it was doing when the test gave up on it.
			p.dumpGoroutines(t)
		}
		p.kill()
		if raced := p.raceReport(); raced != "" {
			t.Errorf("%s: the race detector reported a data race:\n%s", name, raced)
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// failIfExited fails t at once when the process died, instead of letting a
// poll run into its timeout.
func (p *proc) failIfExited(t testing.TB) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s exited unexpectedly: %v\nstderr (tail):\n%s", p.name, p.err, tail(p.stderr, 8<<10))
	}
}

// stop sends sig and waits for the process to end.
func (p *proc) stop(t testing.TB, sig syscall.Signal, timeout time.Duration) {
	t.Helper()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not exit within %v of %v", p.name, timeout, sig)
	}
}

func (p *proc) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) raceReport() string {
	b, _ := os.ReadFile(p.stderr)
	if i := bytes.Index(b, []byte("WARNING: DATA RACE")); i >= 0 {
		return string(b[i:min(len(b), i+8<<10)])
	}
	return ""
}

func (p *proc) dump(t testing.TB) {
	t.Logf("---- %s stdout (tail) ----\n%s", p.name, tail(p.stdout, logTail))
	t.Logf("---- %s stderr (tail) ----\n%s", p.name, tail(p.stderr, logTail))
}

// timedOut holds the names of the tests that gave up waiting (waitFor):
// their processes' goroutines are worth a look.
var timedOut sync.Map

// dumpGoroutines makes a live process print its goroutines (Go does on
// SIGQUIT, then exits) and logs those that run Berth's code.
func (p *proc) dumpGoroutines(t testing.TB) {
	before := len(readFile(p.stderr))
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Logf("%s did not exit on SIGQUIT", p.name)
		return
	}
	out := readFile(p.stderr)
	if len(out) < before {
		return
	}
	var ours []string
	for _, g := range strings.Split(out[before:], "\n\n") {
		if strings.Contains(g, "berth-dev/berth/") {
			ours = append(ours, g)
		}
	}
	dump := strings.Join(ours, "\n\n")
	if len(dump) > logTail {
		dump = dump[:logTail] + "\n..."
	}
	t.Logf("---- %s goroutines in Berth's code, at SIGQUIT ----\n%s", p.name, dump)
}

// tail returns the last n bytes of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	if len(b) > n {
		b = append([]byte("...\n"), b[len(b)-n:]...)
	}
	return string(b)
}

// readFile returns the file's content, or "" if it cannot be read (yet).
func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
