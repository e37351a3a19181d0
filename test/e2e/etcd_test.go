package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// etcdProc is an external etcd with default settings (Debian's etcd-server),
// for tests of several servers sharing one etcd.
type etcdProc struct {
	endpoint string
	cmd      *exec.Cmd
	done     chan struct{}
}

// startEtcd starts etcd on free loopback ports with its data in a temp dir
// and waits until it is healthy; it is killed when t ends. A missing etcd
// fails the test with how to get one: the suite never skips.
func startEtcd(t *testing.T) *etcdProc {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd not found (%v): install Debian's etcd-server, or run ./scripts/test which installs it", err)
	}
	dir := t.TempDir()
	client, peer := freePort(t), freePort(t)
	cu, pu := fmt.Sprintf("http://127.0.0.1:%d", client), fmt.Sprintf("http://127.0.0.1:%d", peer)
	log, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--data-dir", filepath.Join(dir, "data"), "--name", "e2e",
		"--listen-client-urls", cu, "--advertise-client-urls", cu,
		"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu, "--initial-cluster", "e2e="+pu)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	e := &etcdProc{endpoint: cu, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(e.done)
	}()
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("---- etcd log (tail) ----\n%s", tail(log.Name(), 8<<10))
		}
	})
	waitFor(t, startTimeout, "etcd to be healthy", func() bool {
		select {
		case <-e.done:
			t.Fatalf("etcd exited:\n%s", tail(log.Name(), 8<<10))
		default:
		}
		resp, err := http.Get(cu + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "true")
	})
	return e
}

// stop kills etcd and waits for it.
func (e *etcdProc) stop() {
	select {
	case <-e.done:
	default:
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// logLines counts the lines of a process's stderr that contain every one of
// parts (log lines of a server, say).
func logLines(p *proc, parts ...string) int {
	n := 0
	for _, line := range strings.Split(readFile(p.stderr), "\n") {
		all := true
		for _, part := range parts {
			all = all && strings.Contains(line, part)
		}
		if all {
			n++
		}
	}
	return n
}

// pollTimeout is how long a test polls for something that takes an etcd
// lease to expire.
const pollTimeout = 60 * time.Second
