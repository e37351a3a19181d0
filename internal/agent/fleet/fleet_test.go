package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/agent/config"
)

// fakeServer answers the calls an idle agent makes (register, discover,
// the ACS websocket) and records what the fleet did.
type fakeServer struct {
	srv *httptest.Server

	mu        sync.Mutex
	zones     map[string]string // instance ARN -> availability zone
	names     map[string]string // instance ARN -> berth.sim.instance
	registers int
	reused    int // registrations that named a saved ARN

	inflight, maxInflight atomic.Int32 // register + discover calls at once
	connects              atomic.Int32 // websockets accepted, ever
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{zones: map[string]string{}, names: map[string]string{}}
	upgrader := websocket.Upgrader{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == acs.Path {
			conn, err := upgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			f.connects.Add(1)
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		}
		n := f.inflight.Add(1)
		defer f.inflight.Add(-1)
		for m := f.maxInflight.Load(); n > m && !f.maxInflight.CompareAndSwap(m, n); m = f.maxInflight.Load() {
		}
		time.Sleep(2 * time.Millisecond) // server latency, so concurrent calls overlap
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		var out any
		switch _, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), "."); op {
		case "RegisterContainerInstance":
			out = map[string]any{"containerInstance": map[string]any{"containerInstanceArn": f.register(in)}}
		case "DiscoverPollEndpoint":
			out = map[string]any{"endpoint": f.srv.URL}
		default:
			t.Errorf("unexpected call %q", op)
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) register(in map[string]any) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registers++
	arn, _ := in["containerInstanceArn"].(string)
	if arn != "" {
		f.reused++
	} else {
		arn = fmt.Sprintf("arn:aws:ecs:us-east-1:000000000000:container-instance/sim/%04d", len(f.zones)+1)
	}
	attrs, _ := in["attributes"].([]any)
	for _, a := range attrs {
		m, _ := a.(map[string]any)
		switch m["name"] {
		case "ecs.availability-zone":
			f.zones[arn], _ = m["value"].(string)
		case AttrInstanceName:
			f.names[arn], _ = m["value"].(string)
		}
	}
	return arn
}

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runFleet runs n instances against f until they are all connected, then
// stops them and returns the log.
func runFleet(t *testing.T, f *fakeServer, dataDir string, n int) string {
	t.Helper()
	logs := &lockedBuffer{}
	base := baseConfig()
	base.ReservedPorts = []uint16{22}
	// Count this run's connections only: the server may not have noticed
	// yet that an earlier run's sockets closed.
	before := f.connects.Load()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Config{
			Instances: n,
			Agent: agent.Options{
				Endpoint: f.srv.URL, Region: "us-east-1",
				Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
				Config:      base, DataDir: dataDir,
				Logger: slog.New(slog.NewTextHandler(logs, nil)),
			},
			RegisterConcurrency: 3,
			MaxConns:            4,
			ProgressEvery:       10 * time.Millisecond,
		})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for f.connects.Load()-before < int32(n) || !strings.Contains(logs.String(), "all sim instances connected") {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d instances connected; log:\n%s", f.connects.Load()-before, n, logs.String())
		}
		time.Sleep(5 * time.Millisecond) // polling pace, not a wait for state
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	return logs.String()
}

func TestRunRegistersDistinctInstances(t *testing.T) {
	const n = 12
	f := newFakeServer(t)
	dir := t.TempDir()
	logs := runFleet(t, f, dir, n)

	f.mu.Lock()
	arns := make([]string, 0, len(f.zones))
	perZone := map[string]int{}
	for arn, zone := range f.zones {
		arns = append(arns, arn)
		perZone[zone]++
	}
	names := f.names
	f.mu.Unlock()
	if len(arns) != n {
		t.Fatalf("%d distinct instances registered, want %d", len(arns), n)
	}
	for _, zone := range []string{"us-east-1a", "us-east-1b", "us-east-1c"} {
		if perZone[zone] != n/3 {
			t.Errorf("zone %s has %d instances, want %d (%v)", zone, perZone[zone], n/3, perZone)
		}
	}
	for i := range n {
		if _, err := os.Stat(filepath.Join(dir, Name(i), "state.json")); err != nil {
			t.Errorf("instance %s has no saved identity: %v", Name(i), err)
		}
	}
	if got := f.maxInflight.Load(); got > 3 {
		t.Errorf("%d registrations/connects at once, want at most 3", got)
	}
	if !strings.Contains(logs, "all sim instances registered") || !strings.Contains(logs, "all sim instances connected") {
		t.Errorf("no summary lines in the log:\n%s", logs)
	}
	if strings.Contains(logs, "registered container instance") || strings.Contains(logs, "acs connected") {
		t.Errorf("per-instance info lines at info level:\n%s", logs)
	}

	// A restart re-registers every instance under its saved ARN.
	runFleet(t, f, dir, n)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.zones) != n || f.reused != n || f.registers != 2*n {
		t.Errorf("after a restart: %d instances, %d of %d registrations reused a saved ARN; want %d, %d of %d",
			len(f.zones), f.reused, f.registers, n, n, 2*n)
	}
	seen := slices.Sorted(func(yield func(string) bool) {
		for _, name := range names {
			if !yield(name) {
				return
			}
		}
	})
	if len(seen) != n || seen[0] != "sim-0001" || seen[n-1] != fmt.Sprintf("sim-%04d", n) {
		t.Errorf("instance names %v", seen)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	base := agent.Options{Config: baseConfig(), DataDir: t.TempDir(), Region: "us-east-1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no instances", Config{Agent: base}, "--instances"},
		{"no data dir", Config{Instances: 1, Agent: agent.Options{Config: config.Config{}}}, "data directory"},
		{"bad spec", Config{Instances: 1, Agent: base, Spec: Spec{Failures: FailureSpec{Pull: 3}}}, "probability"},
		{"memory below reservation", Config{Instances: 1, Agent: withReserved(base, 8192)}, "reserved memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func withReserved(o agent.Options, mib int64) agent.Options {
	o.Config.ReservedMemoryMiB = mib
	return o
}
