package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/agent/engine"
)

// emptyPayloadHash is the SigV4 payload hash of the body-less upgrade request.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// writeTimeout bounds one websocket write.
const writeTimeout = 10 * time.Second

// pollAPI is the ECS call that finds the websocket endpoint.
type pollAPI interface {
	DiscoverPollEndpoint(ctx context.Context, in *ecs.DiscoverPollEndpointInput, optFns ...func(*ecs.Options)) (*ecs.DiscoverPollEndpointOutput, error)
}

var _ pollAPI = (*ecs.Client)(nil)

// taskEngine is what the ACS client needs of the task engine.
type taskEngine interface {
	Apply(tasks []acs.Task)
	Snapshot() []engine.TaskStateChange
}

var _ taskEngine = (*engine.Engine)(nil)

// acsClient holds the ACS websocket: it connects, serves one connection until
// it fails, and reconnects with backoff until its context is done. Tasks keep
// running while it is disconnected.
type acsClient struct {
	api          pollAPI
	creds        aws.CredentialsProvider
	region       string
	cluster      string // as configured, for DiscoverPollEndpoint
	clusterARN   string
	instanceARN  string
	agentVersion string
	engine       taskEngine
	reporter     *reporter
	heartbeat    time.Duration
	reconnect    backoff
	dialer       *websocket.Dialer
	throttle     *Throttle // nil: connect at once
	observer     Observer  // nil: none
	log          *slog.Logger
	now          func() time.Time
}

// run connects and reconnects until ctx is done.
func (c *acsClient) run(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		began := time.Now()
		connected, err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected && time.Since(began) >= c.heartbeat {
			// A connection that lived restarts the backoff; one the server
			// drops at once (e.g. an ErrorMessage on connect) does not, so
			// the agent does not hammer it.
			attempt = 0
		}
		d := c.reconnect.delay(attempt)
		attempt++
		c.log.Warn("acs disconnected; reconnecting", "err", err, "retryIn", d)
		if !sleepCtx(ctx, d) {
			return
		}
	}
}

// session makes one connection and serves it until it fails. connected
// reports whether the websocket was established.
func (c *acsClient) session(ctx context.Context) (connected bool, err error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return false, err
	}
	c.log.Info("acs connected", "endpoint", conn.RemoteAddr().String())
	if c.observer != nil {
		c.observer.Connected(c.instanceARN)
		defer c.observer.Disconnected(c.instanceARN)
	}
	s := &acsConn{client: c, conn: conn}
	// The server may have missed reports while we were away: report all.
	c.reporter.Resync(c.engine.Snapshot())
	return true, s.serve(ctx)
}

// connect finds the endpoint and opens the websocket, holding a throttle
// slot meanwhile.
func (c *acsClient) connect(ctx context.Context) (*websocket.Conn, error) {
	release, err := c.throttle.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	out, err := c.api.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{
		Cluster:           aws.String(c.cluster),
		ContainerInstance: aws.String(c.instanceARN),
	})
	if err != nil {
		return nil, fmt.Errorf("discover poll endpoint: %w", err)
	}
	if out.Endpoint == nil || *out.Endpoint == "" {
		return nil, errors.New("discover poll endpoint: empty endpoint")
	}
	u, err := connectURL(*out.Endpoint, url.Values{
		"clusterArn":           {c.clusterARN},
		"containerInstanceArn": {c.instanceARN},
		"agentVersion":         {c.agentVersion},
	})
	if err != nil {
		return nil, err
	}
	header, err := c.sign(ctx, u)
	if err != nil {
		return nil, err
	}
	wsURL := *u
	wsURL.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	conn, resp, err := c.dialer.DialContext(ctx, wsURL.String(), header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			return nil, fmt.Errorf("dial acs %s: %w (HTTP %d: %s)", wsURL.Redacted(), err, resp.StatusCode, strings.TrimSpace(string(body)))
		}
		return nil, fmt.Errorf("dial acs %s: %w", wsURL.Redacted(), err)
	}
	return conn, nil
}

// connectURL appends acs.Path (unless the endpoint already ends with it) and
// the query to the endpoint DiscoverPollEndpoint returned.
func connectURL(endpoint string, query url.Values) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("parse poll endpoint %q: %w", endpoint, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("poll endpoint %q: unsupported scheme", endpoint)
	}
	if !strings.HasSuffix(u.Path, acs.Path) {
		u.Path = strings.TrimSuffix(u.Path, "/") + acs.Path
		u.RawPath = ""
	}
	u.RawQuery = query.Encode()
	return u, nil
}

// sign SigV4-signs the upgrade GET (service "ecs", empty payload) and returns
// the headers to send with it.
func (c *acsClient) sign(ctx context.Context, u *url.URL) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build acs request: %w", err)
	}
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieve credentials for acs: %w", err)
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptyPayloadHash, "ecs", c.region, c.now()); err != nil {
		return nil, fmt.Errorf("sign acs request: %w", err)
	}
	return req.Header, nil
}

// acsConn serves one websocket connection.
type acsConn struct {
	client *acsClient
	conn   *websocket.Conn

	writeMu sync.Mutex

	hbMu     sync.Mutex
	ownBeats []string // IDs of our recent heartbeats, so an echo is not answered
}

// serve reads until the connection fails or ctx is done; a second goroutine
// sends heartbeats and health. The socket is closed when either ends (no
// goroutine waits for that: thousands of idle connections in one process
// would each hold one).
func (s *acsConn) serve(ctx context.Context) error {
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	closed := make(chan struct{})
	context.AfterFunc(connCtx, func() {
		defer close(closed)
		s.conn.Close() // unblocks the reader
	})
	var writeErr error
	written := make(chan struct{})
	go func() {
		defer close(written)
		defer cancel()
		writeErr = s.writeLoop(connCtx)
	}()
	err := s.readLoop(ctx)
	cancel()
	<-written
	<-closed
	if writeErr != nil && ctx.Err() == nil {
		return writeErr // the read failed because the writer closed the socket
	}
	return err
}

// readLoop reads until the connection fails. Any message or pong extends
// the read deadline by three heartbeat intervals, so a server that neither
// sends heartbeats nor answers our pings is given up on.
func (s *acsConn) readLoop(ctx context.Context) error {
	c := s.client
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(3 * c.heartbeat))
	})
	for {
		if err := s.conn.SetReadDeadline(time.Now().Add(3 * c.heartbeat)); err != nil {
			return fmt.Errorf("acs read: %w", err)
		}
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("acs read: %w", err)
		}
		env, err := acs.Decode(data)
		if err != nil {
			c.log.Warn("acs: ignoring malformed message", "err", err)
			continue
		}
		if err := s.handle(env); err != nil {
			return err
		}
	}
}

// handle processes one message from the server.
func (s *acsConn) handle(env acs.Envelope) error {
	c := s.client
	switch env.Type {
	case acs.TypePayload:
		var msg acs.PayloadMessage
		if err := json.Unmarshal(env.Message, &msg); err != nil {
			c.log.Warn("acs: ignoring malformed payload", "err", err)
			return nil
		}
		c.log.Debug("acs payload", "messageId", msg.MessageID, "seq", msg.SeqNum, "tasks", len(msg.Tasks))
		c.engine.Apply(msg.Tasks)
		return s.send(acs.TypeAck, acs.AckRequest{MessageID: msg.MessageID})
	case acs.TypeHeartbeat:
		var msg acs.HeartbeatMessage
		if err := json.Unmarshal(env.Message, &msg); err != nil {
			c.log.Warn("acs: ignoring malformed heartbeat", "err", err)
			return nil
		}
		if s.isOwnBeat(msg.MessageID) {
			return nil // the server's answer to our heartbeat
		}
		return s.send(acs.TypeHeartbeat, acs.HeartbeatMessage{MessageID: msg.MessageID, Healthy: true})
	case acs.TypeError:
		var msg acs.ErrorMessage
		_ = json.Unmarshal(env.Message, &msg)
		c.log.Error("acs error from server", "code", msg.Code, "message", msg.Message)
		return fmt.Errorf("acs server error %s: %s", msg.Code, msg.Message)
	case acs.TypeAck:
		return nil
	default:
		c.log.Debug("acs: ignoring unknown message type", "type", env.Type)
		return nil
	}
}

// writeLoop sends our heartbeats and pending health until ctx is done or a
// write fails.
func (s *acsConn) writeLoop(ctx context.Context) error {
	c := s.client
	// The first beat comes at a random point of the interval, so agents
	// that connected together (thousands, in a simulated fleet) do not beat
	// in lockstep.
	t := time.NewTimer(firstBeat(c.heartbeat))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			t.Reset(c.heartbeat)
			id := newMessageID()
			s.rememberBeat(id)
			if err := s.send(acs.TypeHeartbeat, acs.HeartbeatMessage{MessageID: id, Healthy: true}); err != nil {
				return err
			}
			// A websocket ping too: its pong proves the server alive even if
			// it does not answer heartbeats.
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				return fmt.Errorf("acs ping: %w", err)
			}
		case <-c.reporter.healthReady():
			tasks := c.reporter.takeHealth()
			if len(tasks) == 0 {
				continue
			}
			if err := s.send(acs.TypeHealth, acs.HealthMessage{Tasks: tasks}); err != nil {
				c.reporter.requeueHealth(tasks)
				return err
			}
		}
	}
}

// send writes one message; gorilla allows one writer at a time.
func (s *acsConn) send(typ string, msg any) error {
	data, err := acs.Encode(typ, msg)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("acs write %s: %w", typ, err)
	}
	if err := s.conn.WriteMessage(websocket.TextMessage, data); err != nil {
		return fmt.Errorf("acs write %s: %w", typ, err)
	}
	return nil
}

const ownBeatsKept = 8

func (s *acsConn) rememberBeat(id string) {
	s.hbMu.Lock()
	defer s.hbMu.Unlock()
	s.ownBeats = append(s.ownBeats, id)
	if len(s.ownBeats) > ownBeatsKept {
		s.ownBeats = s.ownBeats[1:]
	}
}

func (s *acsConn) isOwnBeat(id string) bool {
	s.hbMu.Lock()
	defer s.hbMu.Unlock()
	for _, b := range s.ownBeats {
		if b == id {
			return true
		}
	}
	return false
}

func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
