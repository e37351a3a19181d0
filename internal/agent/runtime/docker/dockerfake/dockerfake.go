// Package dockerfake owns a fake Docker daemon for tests of what the agent
// sends to the Engine API without a real engine: it records image pulls
// (the reference and the decoded X-Registry-Auth), lists no containers and
// answers every other call with a 404, as a daemon with no images or
// containers would.
package dockerfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
)

// APIVersion is the Engine API version the fake's clients speak.
const APIVersion = "1.47"

// Pull is one recorded ImagePull.
type Pull struct {
	Ref string
	// Auth is the decoded X-Registry-Auth; nil when the pull was anonymous.
	Auth *registry.AuthConfig
}

// Daemon is a fake Docker daemon; every pull succeeds unless OnPull says
// otherwise.
type Daemon struct {
	srv      *httptest.Server
	mu       sync.Mutex
	pulls    []Pull
	pullFunc func(p Pull) (errMessage string)
}

// OnPull makes f decide each later pull's outcome: an empty message
// succeeds, any other is reported inside the progress stream, as the daemon
// reports a refused or unknown image.
func (d *Daemon) OnPull(f func(p Pull) (errMessage string)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pullFunc = f
}

var versioned = regexp.MustCompile(`^/v[0-9.]+`)

// New starts a Daemon on 127.0.0.1 and returns it with a client for it;
// the test's cleanup stops both.
func New(t testing.TB) (*Daemon, *client.Client) {
	t.Helper()
	d := &Daemon{}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	cli, err := client.NewClientWithOpts(
		client.WithHost("tcp://"+strings.TrimPrefix(d.srv.URL, "http://")),
		client.WithVersion(APIVersion),
	)
	if err != nil {
		t.Fatalf("docker client for the fake daemon: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return d, cli
}

// Pulls returns the pulls made so far, in order.
func (d *Daemon) Pulls() []Pull {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Pull(nil), d.pulls...)
}

func (d *Daemon) serve(w http.ResponseWriter, r *http.Request) {
	path := versioned.ReplaceAllString(r.URL.Path, "")
	if r.Method == http.MethodGet && path == "/containers/json" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("[]\n"))
		return
	}
	if r.Method != http.MethodPost || path != "/images/create" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "fake daemon: no such object: " + path})
		return
	}
	p := Pull{Ref: r.URL.Query().Get("fromImage")}
	if tag := r.URL.Query().Get("tag"); tag != "" {
		p.Ref += ":" + tag
	}
	if h := r.Header.Get(registry.AuthHeader); h != "" {
		ac, err := registry.DecodeAuthConfig(h)
		if err != nil {
			http.Error(w, "bad "+registry.AuthHeader+": "+err.Error(), http.StatusBadRequest)
			return
		}
		p.Auth = ac
	}
	d.mu.Lock()
	d.pulls = append(d.pulls, p)
	pullFunc := d.pullFunc
	d.mu.Unlock()
	msg := ""
	if pullFunc != nil {
		msg = pullFunc(p)
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	_ = enc.Encode(map[string]string{"status": "Pulling from " + p.Ref})
	if msg != "" {
		_ = enc.Encode(map[string]any{"errorDetail": map[string]string{"message": msg}, "error": msg})
		return
	}
	_ = enc.Encode(map[string]string{"status": "Status: Downloaded newer image for " + p.Ref})
}
