package agent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

func TestThrottle(t *testing.T) {
	th := NewThrottle(2)
	ctx := context.Background()
	r1, err1 := th.acquire(ctx)
	r2, err2 := th.acquire(ctx)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	// A third caller waits until a slot is released, or gives up with ctx.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := th.acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third acquire = %v, want DeadlineExceeded", err)
	}
	got := make(chan func(), 1)
	go func() {
		r3, err := th.acquire(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- r3
	}()
	r1()
	recv(t, got, "the third slot")()
	r2()

	var none *Throttle // nil does not throttle
	for range 10 {
		if _, err := none.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFirstBeat(t *testing.T) {
	const interval = 100 * time.Millisecond
	seen := map[bool]bool{} // first half, second half
	for range 200 {
		d := firstBeat(interval)
		if d <= 0 || d > interval {
			t.Fatalf("firstBeat = %s, want in (0, %s]", d, interval)
		}
		seen[d <= interval/2] = true
	}
	if len(seen) != 2 {
		t.Errorf("200 first beats all fell in one half of the interval")
	}
}

// events records Observer calls.
type events struct {
	mu  sync.Mutex
	log []string
	ch  chan string
}

func (e *events) add(ev string) {
	e.mu.Lock()
	e.log = append(e.log, ev)
	e.mu.Unlock()
	e.ch <- ev
}

func (e *events) Registered(arn string)   { e.add("registered " + arn) }
func (e *events) Connected(arn string)    { e.add("connected " + arn) }
func (e *events) Disconnected(arn string) { e.add("disconnected " + arn) }

var _ Observer = (*events)(nil)

// TestSharedClientThrottleAndObserver runs an agent the way a fleet does:
// the shared SDK client and dialer, a throttle, an observer.
func TestSharedClientThrottleAndObserver(t *testing.T) {
	creds := testCreds{id: "AKIDTEST", secret: "secret"}
	acsSrv := newFakeACS(t, creds)
	api := newFakeECSAPI(t, creds, acsSrv.srv.URL)
	provider := credentials.NewStaticCredentialsProvider(creds.id, creds.secret, "")
	ev := &events{ch: make(chan string, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Options{
			Endpoint: api.srv.URL, Region: "us-east-1", Credentials: provider,
			Config: testConfig(), Runtime: newAgentHost(t).rt, DataDir: t.TempDir(), Logger: testLogger(t),
			Client:   NewSharedClient(SharedClientOptions{Endpoint: api.srv.URL, Region: "us-east-1", Credentials: provider, MaxConns: 4}),
			Dialer:   NewSharedDialer(time.Second),
			Throttle: NewThrottle(1),
			Observer: ev,
		})
	}()
	for _, want := range []string{"registered ", "connected "} {
		if got := recv(t, ev.ch, want); got != want+api.instanceARN {
			t.Fatalf("event %q, want %q", got, want+api.instanceARN)
		}
	}
	sc := recv(t, acsSrv.conns, "the connection")
	sc.close() // the server drops the socket: the agent reconnects
	if got := recv(t, ev.ch, "disconnected"); got != "disconnected "+api.instanceARN {
		t.Fatalf("event %q", got)
	}
	if got := recv(t, ev.ch, "connected again"); got != "connected "+api.instanceARN {
		t.Fatalf("event %q", got)
	}
	cancel()
	if err := recv(t, errc, "Run to return"); err != nil {
		t.Fatal(err)
	}
}
