package agent

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gorilla/websocket"
)

// What agents running in one process (simulated instances) share.

// Throttle bounds how many agents of one process register or open their ACS
// websocket at the same time, so thousands of instances starting together,
// or reconnecting after a server restart, queue instead of storming the
// server. A nil *Throttle does not throttle.
type Throttle struct{ slots chan struct{} }

// NewThrottle returns a Throttle admitting n calls at a time (n >= 1).
func NewThrottle(n int) *Throttle { return &Throttle{slots: make(chan struct{}, max(n, 1))} }

// acquire waits for a slot or for ctx; release returns it.
func (t *Throttle) acquire(ctx context.Context) (release func(), err error) {
	if t == nil {
		return func() {}, nil
	}
	select {
	case t.slots <- struct{}{}:
		return func() { <-t.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Observer hears about an agent's milestones, so a process running many
// agents can aggregate them instead of logging each one. Methods must not
// block.
type Observer interface {
	Registered(instanceARN string)
	Connected(instanceARN string)
	Disconnected(instanceARN string)
}

// SharedClientOptions configures NewSharedClient.
type SharedClientOptions struct {
	Endpoint, Region string
	Credentials      aws.CredentialsProvider
	// MaxConns bounds the connections to the server (idle ones too);
	// calls beyond it wait for a free connection. Default 256.
	MaxConns int
}

// NewSharedClient returns one SDK client for many agents of one process:
// its transport keeps up to MaxConns connections to the server alive for
// reuse (the default transport keeps two). Client-side retry rate limiting
// is off: with thousands of agents behind one client, its token bucket would
// turn a brief server hiccup into "retry quota exceeded" for all of them,
// and each agent's loop already backs off on its own.
func NewSharedClient(o SharedClientOptions) *ecs.Client {
	conns := o.MaxConns
	if conns <= 0 {
		conns = 256
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = conns
	transport.MaxIdleConnsPerHost = conns
	transport.MaxConnsPerHost = conns
	transport.IdleConnTimeout = 90 * time.Second
	transport.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	cfg := aws.Config{
		Region:      o.Region,
		Credentials: o.Credentials,
		HTTPClient:  &http.Client{Transport: transport},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = 3
				so.RateLimiter = ratelimit.None
			})
		},
	}
	return ecs.NewFromConfig(cfg, func(eo *ecs.Options) { eo.BaseEndpoint = aws.String(o.Endpoint) })
}

// NewSharedDialer returns one websocket dialer for many agents of one
// process: write buffers come from a pool, since idle connections (nearly
// all of them) need none.
func NewSharedDialer(handshakeTimeout time.Duration) *websocket.Dialer {
	return &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: handshakeTimeout,
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		WriteBufferPool:  &sync.Pool{},
	}
}
