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

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// pollAPI is the ECS call that finds the ACS and TCS endpoints.
type pollAPI interface {
	DiscoverPollEndpoint(ctx context.Context, in *ecs.DiscoverPollEndpointInput, optFns ...func(*ecs.Options)) (*ecs.DiscoverPollEndpointOutput, error)
}

var _ pollAPI = (*ecs.Client)(nil)

// taskEngine is what the ACS client needs of the task engine.
type taskEngine interface {
	// Upsert takes a payload's tasks; Stop the tasks the server confirmed
	// it no longer wants.
	Upsert(tasks []engine.Task)
	Stop(arns []string)
	// Running lists the tasks the engine runs with desired status RUNNING
	// (adopted ones no payload claimed included): what a manifest is
	// compared with. ForgetUnlisted takes every task a manifest lists.
	Running() []string
	ForgetUnlisted(listed map[string]bool)
	Snapshot() []engine.TaskStateChange
}

var _ taskEngine = (*engine.Engine)(nil)

// acsClient holds the ACS websocket: it connects, serves one connection until
// it fails, and reconnects with backoff until its context is done. Tasks keep
// running while it is disconnected.
type acsClient struct {
	api         pollAPI
	dialer      signedDialer
	cluster     string // as configured, for DiscoverPollEndpoint
	clusterARN  string
	instanceARN string
	version     versionInfo
	engine      taskEngine
	reporter    *reporter
	// heartbeat is the interval the server sends heartbeats at, and the
	// agent pings at; a socket silent for three is given up on.
	heartbeat time.Duration
	reconnect backoff
	throttle  *Throttle // nil: connect at once
	observer  Observer  // nil: none
	log       *slog.Logger
	// sleep waits between connections; nil means sleepCtx.
	sleep func(ctx context.Context, d time.Duration) bool

	// seq is the highest seqNum or timeline the server sent, across
	// sessions: a manifest not past it is stale. Only the goroutine
	// running run touches it.
	seq int64
}

// inactiveHint is logged when the server says the instance is not (or no
// longer) registered: the agent keeps its tasks and redials at the backoff
// maximum, as the ECS agent waits before it redials, in case the instance
// is registered again.
const inactiveHint = "the server says this container instance is not registered (deregistered?); retrying at the slowest pace"

// run connects and reconnects until ctx is done.
func (c *acsClient) run(ctx context.Context) {
	redial(ctx, c.heartbeat, c.reconnect, c.sleep, c.session, func(err error, d time.Duration) time.Duration {
		if isServerError(err, acs.ErrorTypeInactiveInstance) {
			d = c.reconnect.max
			c.log.Error(inactiveHint, "err", err, "retryIn", d)
			return d
		}
		c.log.Warn("acs disconnected; reconnecting", "err", err, "retryIn", d)
		return d
	})
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
	s := &acsConn{client: c, conn: conn, w: &wsWriter{conn: conn}}
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
	if aws.ToString(out.Endpoint) == "" {
		return nil, errors.New("discover poll endpoint: empty endpoint")
	}
	u, err := connectURL(*out.Endpoint, c.query())
	if err != nil {
		return nil, err
	}
	conn, err := c.dialer.dial(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("acs: %w", err)
	}
	return conn, nil
}

// query is the upgrade's query, as the ECS agent sends it.
func (c *acsClient) query() url.Values {
	q := url.Values{
		acs.QueryClusterArn:           {c.clusterARN},
		acs.QueryContainerInstanceArn: {c.instanceARN},
		acs.QueryAgentVersion:         {c.version.agentVersion},
		acs.QueryAgentHash:            {c.version.agentHash},
		acs.QueryProtocolVersion:      {"2"},
		acs.QuerySendCredentials:      {"true"},
		acs.QuerySeqNum:               {"1"},
	}
	if c.version.dockerVersion != "" {
		q.Set(acs.QueryDockerVersion, c.version.dockerVersion)
	}
	return q
}

// connectURL appends acs.Path (unless the endpoint already ends with it) and
// the query to the endpoint DiscoverPollEndpoint returned.
func connectURL(endpoint string, query url.Values) (*url.URL, error) {
	u, err := endpointURL(endpoint)
	if err != nil {
		return nil, fmt.Errorf("poll endpoint: %w", err)
	}
	if !strings.HasSuffix(u.Path, acs.Path) {
		u.Path = strings.TrimSuffix(u.Path, "/") + acs.Path
		u.RawPath = ""
	}
	u.RawQuery = query.Encode()
	return u, nil
}

// acsConn serves one websocket connection.
type acsConn struct {
	client *acsClient
	conn   *websocket.Conn
	w      *wsWriter
	// manifestID is the message id of the latest manifest acted on, until
	// its stop verification is answered. Read loop only.
	manifestID string
}

// serve reads until the connection fails or ctx is done; a second goroutine
// pings. The socket is closed when either ends (no goroutine waits for
// that: thousands of idle connections in one process would each hold one).
func (s *acsConn) serve(ctx context.Context) error {
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	closed := make(chan struct{})
	context.AfterFunc(connCtx, func() {
		defer close(closed)
		s.conn.Close() // unblocks the reader
	})
	var pingErr error
	pinged := make(chan struct{})
	go func() {
		defer close(pinged)
		defer cancel()
		pingErr = pingLoop(connCtx, s.w, s.client.heartbeat)
	}()
	err := readEnvelopes(ctx, s.conn, s.client.heartbeat, "acs", s.client.log, s.handle)
	cancel()
	<-pinged
	<-closed
	if pingErr != nil && ctx.Err() == nil {
		return fmt.Errorf("acs: %w", pingErr) // the read failed because the pinger closed the socket
	}
	return err
}

// pingLoop pings every interval (first at a random point of it, so agents
// that connected together do not ping in lockstep) until ctx is done or a
// ping fails.
func pingLoop(ctx context.Context, w *wsWriter, interval time.Duration) error {
	t := time.NewTimer(firstBeat(interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			t.Reset(interval)
			if err := w.ping(); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
	}
}

// handle processes one message from the server; an error ends the session.
func (s *acsConn) handle(env acs.Envelope) error {
	c := s.client
	if se, ok := errorEnvelope(env); ok {
		return fmt.Errorf("acs: the server ended the session: %w", se)
	}
	decode := func(into any) bool {
		if err := json.Unmarshal(env.Message, into); err != nil {
			c.log.Warn("acs: ignoring malformed message", "type", env.Type, "err", err)
			return false
		}
		return true
	}
	switch env.Type {
	case acs.TypePayload:
		var msg acs.PayloadMessage
		if !decode(&msg) {
			return nil
		}
		return s.payload(msg)
	case acs.TypeHeartbeat:
		var msg acs.HeartbeatMessage
		if !decode(&msg) {
			return nil
		}
		return s.send(acs.TypeHeartbeatAck, acs.HeartbeatAckRequest{MessageID: msg.MessageID})
	case acs.TypeTaskManifest:
		var msg acs.TaskManifestMessage
		if !decode(&msg) {
			return nil
		}
		return s.manifest(msg)
	case acs.TypeTaskStopVerificationAck:
		var msg acs.TaskStopVerificationAck
		if !decode(&msg) {
			return nil
		}
		s.stopVerified(msg)
		return nil
	case acs.TypeCloseMessage:
		var msg acs.CloseMessage
		_ = json.Unmarshal(env.Message, &msg)
		return fmt.Errorf("acs: the server closed the session: %s", msg.Message)
	default:
		// IAMRoleCredentialsMessage among others: Berth's agent hands tasks
		// no credentials of the instance's.
		c.log.Debug("acs: ignoring message", "type", env.Type)
		return nil
	}
}

// payload applies a PayloadMessage and acknowledges it. As the ECS agent
// does, one without its ids is dropped unacknowledged.
func (s *acsConn) payload(msg acs.PayloadMessage) error {
	c := s.client
	if msg.MessageID == "" || msg.ClusterArn == "" || msg.ContainerInstanceArn == "" {
		c.log.Warn("acs: dropping a payload without messageId, clusterArn or containerInstanceArn", "messageId", msg.MessageID)
		return nil
	}
	c.log.Debug("acs payload", "messageId", msg.MessageID, "seq", msg.SeqNum, "tasks", len(msg.Tasks))
	c.seq = max(c.seq, msg.SeqNum)
	tasks := make([]engine.Task, 0, len(msg.Tasks))
	for _, t := range msg.Tasks {
		et := engineTask(t)
		if et.Problem != "" {
			c.log.Error("acs: cannot run a task as sent; failing it", "task", t.Arn, "err", et.Problem)
		}
		tasks = append(tasks, et)
	}
	c.engine.Upsert(tasks)
	return s.send(acs.TypeAck, acs.AckRequest{MessageID: msg.MessageID, Cluster: msg.ClusterArn, ContainerInstance: msg.ContainerInstanceArn})
}

// manifest compares a TaskManifestMessage with the tasks the engine runs,
// as the ECS agent does: a manifest not newer than every number the server
// sent is stale and dropped; a newer one is acknowledged, and the tasks
// running here that it does not want RUNNING go back as stop candidates.
func (s *acsConn) manifest(msg acs.TaskManifestMessage) error {
	c := s.client
	if msg.MessageID == "" {
		c.log.Warn("acs: dropping a task manifest without messageId")
		return nil
	}
	if msg.Timeline <= c.seq {
		c.log.Debug("acs: dropping a stale task manifest", "messageId", msg.MessageID, "timeline", msg.Timeline, "latest", c.seq)
		return nil
	}
	c.seq = msg.Timeline
	s.manifestID = msg.MessageID
	listed := make(map[string]bool, len(msg.Tasks))
	wanted := make(map[string]bool, len(msg.Tasks))
	for _, t := range msg.Tasks {
		listed[t.TaskArn] = true
		if t.DesiredStatus == ecstypes.DesiredStatusRUNNING {
			wanted[t.TaskArn] = true
		}
	}
	c.engine.ForgetUnlisted(listed)
	var candidates []acs.TaskIdentifier
	for _, arn := range c.engine.Running() {
		if !wanted[arn] {
			candidates = append(candidates, acs.TaskIdentifier{
				TaskArn: arn, TaskClusterArn: c.clusterARN, DesiredStatus: ecstypes.DesiredStatusSTOPPED,
			})
		}
	}
	if err := s.send(acs.TypeAck, acs.AckRequest{MessageID: msg.MessageID, Cluster: msg.ClusterArn, ContainerInstance: msg.ContainerInstanceArn}); err != nil {
		return err
	}
	if len(candidates) == 0 {
		return nil
	}
	c.log.Info("acs: asking the server to confirm stopping tasks it does not list", "messageId", msg.MessageID, "candidates", len(candidates))
	return s.send(acs.TypeTaskStopVerification, acs.TaskStopVerificationMessage{MessageID: msg.MessageID, StopCandidates: candidates})
}

// stopVerified stops the tasks a TaskStopVerificationAck names, if it
// answers the latest manifest (once).
func (s *acsConn) stopVerified(msg acs.TaskStopVerificationAck) {
	c := s.client
	if msg.MessageID == "" || msg.MessageID != s.manifestID {
		c.log.Warn("acs: ignoring a stop verification that answers no pending manifest", "messageId", msg.MessageID, "manifest", s.manifestID)
		return
	}
	s.manifestID = ""
	arns := make([]string, 0, len(msg.StopTasks))
	for _, t := range msg.StopTasks {
		arns = append(arns, t.TaskArn)
	}
	if len(arns) > 0 {
		c.log.Info("acs: stopping tasks the server no longer wants", "tasks", len(arns))
		c.engine.Stop(arns)
	}
}

// send writes one message.
func (s *acsConn) send(typ string, msg any) error {
	data, err := acs.Encode(typ, msg)
	if err != nil {
		return err
	}
	if err := s.w.write(data); err != nil {
		return fmt.Errorf("acs write %s: %w", typ, err)
	}
	return nil
}
