package agent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

// fakeACS is a test ACS server: it verifies the SigV4-signed upgrade,
// echoes the agent's heartbeats (as a server answering them would) and hands
// every other message, and every connection, to the test.
type fakeACS struct {
	t     *testing.T
	srv   *httptest.Server
	conns chan *serverConn
	// reject, when set, fails upgrades with this HTTP status.
	mu       sync.Mutex
	reject   int
	attempts int // upgrade requests seen
}

type serverConn struct {
	conn    *websocket.Conn
	query   map[string]string
	in      chan acs.Envelope // agent messages other than heartbeat echoes
	closed  chan struct{}
	writeMu sync.Mutex
	echoed  atomic.Int64 // agent heartbeats echoed back
}

func newFakeACS(t *testing.T, creds testCreds) *fakeACS {
	f := &fakeACS{t: t, conns: make(chan *serverConn, 16)}
	verifier := &sigv4.Verifier{
		Region: "us-east-1",
		Lookup: func(id string) (sigv4.Credential, bool) {
			return sigv4.Credential{AccessKeyID: creds.id, SecretAccessKey: creds.secret}, id == creds.id
		},
	}
	upgrader := websocket.Upgrader{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != acs.Path {
			http.Error(w, "wrong path "+r.URL.Path, http.StatusNotFound)
			return
		}
		if _, err := verifier.Verify(r, nil, "ecs"); err != nil {
			t.Errorf("upgrade request signature: %v", err)
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		f.mu.Lock()
		reject := f.reject
		f.attempts++
		f.mu.Unlock()
		if reject != 0 {
			http.Error(w, "rejected by test", reject)
			return
		}
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		sc := &serverConn{conn: conn, query: map[string]string{}, in: make(chan acs.Envelope, 100), closed: make(chan struct{})}
		for k := range r.URL.Query() {
			sc.query[k] = r.URL.Query().Get(k)
		}
		f.conns <- sc
		sc.readLoop()
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeACS) attemptCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

func (f *fakeACS) setReject(status int) {
	f.mu.Lock()
	f.reject = status
	f.mu.Unlock()
}

func (sc *serverConn) readLoop() {
	defer close(sc.closed)
	for {
		_, data, err := sc.conn.ReadMessage()
		if err != nil {
			return
		}
		env, err := acs.Decode(data)
		if err != nil {
			continue
		}
		if env.Type == acs.TypeHeartbeat {
			var hb acs.HeartbeatMessage
			_ = json.Unmarshal(env.Message, &hb)
			if !strings.HasPrefix(hb.MessageID, "srv-") {
				_ = sc.send(acs.TypeHeartbeat, hb) // echo the agent's own heartbeat
				sc.echoed.Add(1)
				continue
			}
		}
		sc.in <- env
	}
}

func (sc *serverConn) send(typ string, msg any) error {
	data, err := acs.Encode(typ, msg)
	if err != nil {
		return err
	}
	sc.writeMu.Lock()
	defer sc.writeMu.Unlock()
	return sc.conn.WriteMessage(websocket.TextMessage, data)
}

// expect returns the next agent message of type typ, skipping others.
func (sc *serverConn) expect(t *testing.T, typ string, into any) {
	t.Helper()
	for {
		env := recv(t, sc.in, typ)
		if env.Type != typ {
			continue
		}
		if err := json.Unmarshal(env.Message, into); err != nil {
			t.Fatalf("decode %s: %v", typ, err)
		}
		return
	}
}

func (sc *serverConn) close() {
	sc.conn.Close()
	<-sc.closed
}

type testCreds struct{ id, secret string }
