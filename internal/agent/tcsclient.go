package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/tcs"
)

// healthPerPublish bounds the tasks of one PublishHealthRequest; a larger
// set goes out in several, the last marked fin.
const healthPerPublish = 100

// tcsClient holds the telemetry (TCS) websocket, over which the agent
// publishes its tasks' container health and metrics. It dials only once
// there is health or metrics to publish, so an instance that runs no task
// and has no health checks holds no second socket (a process simulating
// thousands of instances would otherwise hold thousands of descriptors for
// nothing); from then on it keeps the socket, redialling with backoff when
// it fails or stays silent for three heartbeat intervals, and publishes
// all current health, and the metrics waiting, after every connect.
type tcsClient struct {
	api         pollAPI
	dialer      signedDialer
	cluster     string // as configured, for DiscoverPollEndpoint
	clusterARN  string
	instanceARN string
	version     versionInfo
	health      *healthTracker
	metrics     *metricsCollector // nil: metrics are disabled
	heartbeat   time.Duration
	reconnect   backoff
	throttle    *Throttle // nil: connect at once
	log         *slog.Logger
	// sleep waits between connections; nil means sleepCtx.
	sleep func(ctx context.Context, d time.Duration) bool
}

// run waits for health or metrics to publish, then connects and
// reconnects until ctx is done.
func (c *tcsClient) run(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-c.health.ready():
	case <-c.metrics.ready():
		// Either consumed here; each session queues all health and
		// signals waiting metrics when it connects.
	}
	redial(ctx, c.heartbeat, c.reconnect, c.sleep, c.session, func(err error, d time.Duration) time.Duration {
		c.log.Warn("tcs disconnected; reconnecting", "err", err, "retryIn", d)
		return d
	})
}

// session makes one connection and serves it until it fails.
func (c *tcsClient) session(ctx context.Context) (connected bool, err error) {
	conn, u, err := c.connect(ctx)
	if err != nil {
		return false, err
	}
	c.log.Info("tcs connected", "endpoint", conn.RemoteAddr().String())
	// The server may have missed any of it while we were away.
	c.health.queueAll()
	c.metrics.renotify()
	s := &tcsConn{client: c, conn: conn, w: &wsWriter{conn: conn}, url: u.String()}
	return true, s.serve(ctx)
}

// connect finds the telemetry endpoint and opens the websocket, holding a
// throttle slot meanwhile. It returns the URL the frames are signed for.
func (c *tcsClient) connect(ctx context.Context) (*websocket.Conn, *url.URL, error) {
	release, err := c.throttle.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	out, err := c.api.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{
		Cluster:           aws.String(c.cluster),
		ContainerInstance: aws.String(c.instanceARN),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("discover telemetry endpoint: %w", err)
	}
	if aws.ToString(out.TelemetryEndpoint) == "" {
		return nil, nil, errors.New("discover telemetry endpoint: the server named none")
	}
	u, err := telemetryURL(*out.TelemetryEndpoint, c.query())
	if err != nil {
		return nil, nil, err
	}
	conn, err := c.dialer.dial(ctx, u)
	if err != nil {
		return nil, nil, fmt.Errorf("tcs: %w", err)
	}
	return conn, u, nil
}

// query is the upgrade's query, as the ECS agent sends it.
func (c *tcsClient) query() url.Values {
	q := url.Values{
		tcs.QueryCluster:           {c.clusterARN},
		tcs.QueryContainerInstance: {c.instanceARN},
		tcs.QueryAgentVersion:      {c.version.agentVersion},
		tcs.QueryAgentHash:         {c.version.agentHash},
	}
	if c.version.dockerVersion != "" {
		q.Set(tcs.QueryDockerVersion, c.version.dockerVersion)
	}
	return q
}

// telemetryURL is the websocket's URL as the ECS agent builds it: the
// endpoint, a "/" unless it ends with one, "ws", and the query.
func telemetryURL(endpoint string, query url.Values) (*url.URL, error) {
	u, err := endpointURL(endpoint)
	if err != nil {
		return nil, fmt.Errorf("telemetry endpoint: %w", err)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.Path += strings.TrimPrefix(tcs.Path, "/")
	u.RawPath = ""
	u.RawQuery = query.Encode()
	return u, nil
}

// tcsConn serves one telemetry connection.
type tcsConn struct {
	client *tcsClient
	conn   *websocket.Conn
	w      *wsWriter
	url    string // what every frame is signed for
}

// serve reads until the connection fails or ctx is done; a second goroutine
// publishes health and pings.
func (s *tcsConn) serve(ctx context.Context) error {
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
	err := readEnvelopes(ctx, s.conn, s.client.heartbeat, "tcs", s.client.log, s.handle)
	cancel()
	<-written
	<-closed
	if writeErr != nil && ctx.Err() == nil {
		return writeErr
	}
	return err
}

// handle processes one message from the server: acknowledgements and
// heartbeats only prove it alive; an error ends the session.
func (s *tcsConn) handle(env tcs.Envelope) error {
	c := s.client
	if se, ok := errorEnvelope(env); ok {
		return fmt.Errorf("tcs: the server ended the session: %w", se)
	}
	switch env.Type {
	case tcs.TypeStopTelemetrySession:
		var msg struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(env.Message, &msg)
		return fmt.Errorf("tcs: the server stopped the session: %s", msg.Message)
	case tcs.TypeHeartbeat, tcs.TypeAckPublishHealth, tcs.TypeAckPublishMetric, tcs.TypeAckPublishInstanceStatus:
		// Liveness only: the read deadline moved.
	default:
		c.log.Debug("tcs: ignoring message", "type", env.Type)
	}
	return nil
}

// writeLoop publishes health as it changes and metrics as they are
// queued, and pings every heartbeat interval, until ctx is done or a
// write fails.
func (s *tcsConn) writeLoop(ctx context.Context) error {
	c := s.client
	t := time.NewTimer(firstBeat(c.heartbeat))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			t.Reset(c.heartbeat)
			if err := s.w.ping(); err != nil {
				return fmt.Errorf("tcs ping: %w", err)
			}
		case <-c.health.ready():
			ths := c.health.take()
			if len(ths) == 0 {
				continue
			}
			if err := s.publishHealth(ctx, ths); err != nil {
				c.health.requeue(ths)
				return err
			}
		case <-c.metrics.ready():
			tms := c.metrics.take()
			if len(tms) == 0 {
				continue
			}
			if err := s.publishMetrics(ctx, tms); err != nil {
				c.metrics.requeue(tms)
				return err
			}
		}
	}
}

// publishHealth sends ths in PublishHealthRequests of at most
// healthPerPublish tasks, each in a signed frame.
func (s *tcsConn) publishHealth(ctx context.Context, ths []tcs.TaskHealth) error {
	c := s.client
	for start := 0; start < len(ths); start += healthPerPublish {
		end := min(start+healthPerPublish, len(ths))
		now := c.dialer.now()
		env, err := tcs.Encode(tcs.TypePublishHealth, tcs.PublishHealthRequest{
			Metadata: &tcs.HealthMetadata{
				Cluster: c.clusterARN, ContainerInstance: c.instanceARN, MessageID: newMessageID(), Fin: end == len(ths),
			},
			Tasks:     ths[start:end],
			Timestamp: ecstypes.Time(now),
		})
		if err != nil {
			return err
		}
		if err := s.sendFrame(ctx, env, now); err != nil {
			return fmt.Errorf("tcs publish health: %w", err)
		}
	}
	return nil
}

// publishMetrics sends tms in PublishMetricsRequests of at most
// metricsPerPublish tasks, each in a signed frame.
func (s *tcsConn) publishMetrics(ctx context.Context, tms []tcs.TaskMetric) error {
	c := s.client
	for start := 0; start < len(tms); start += metricsPerPublish {
		end := min(start+metricsPerPublish, len(tms))
		now := c.dialer.now()
		env, err := tcs.Encode(tcs.TypePublishMetrics, tcs.PublishMetricsRequest{
			Metadata: &tcs.MetricsMetadata{
				Cluster: c.clusterARN, ContainerInstance: c.instanceARN, MessageID: newMessageID(), Fin: end == len(tms),
			},
			TaskMetrics: tms[start:end],
			Timestamp:   ecstypes.Time(now),
		})
		if err != nil {
			return err
		}
		if err := s.sendFrame(ctx, env, now); err != nil {
			return fmt.Errorf("tcs publish metrics: %w", err)
		}
	}
	return nil
}

// sendFrame signs envelope, as every message to TCS is, and writes it.
func (s *tcsConn) sendFrame(ctx context.Context, envelope []byte, now time.Time) error {
	c := s.client
	creds, err := c.dialer.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("retrieve credentials: %w", err)
	}
	frame, err := tcs.SignFrame(ctx, creds, c.dialer.region, s.url, envelope, now)
	if err != nil {
		return err
	}
	return s.w.write(frame)
}
