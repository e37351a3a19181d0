package ecs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/tcs"
)

// TelemetryPrefix is where the telemetry endpoint lives under the server's
// URL: DiscoverPollEndpoint returns <url>/tcs and the agent dials
// <url>/tcs/ws, so ACS and TCS sockets never share a path.
const TelemetryPrefix = "/tcs"

// TelemetryPath is the TCS websocket's path.
const TelemetryPath = TelemetryPrefix + tcs.Path

// maxTelemetryFrame bounds one frame from an agent (a metrics publish of a
// busy instance is a few hundred kilobytes at most; the agent splits
// larger sets).
const maxTelemetryFrame = 4 << 20

// TCSHandler serves agents' telemetry sockets, as ECS's Telemetry Service
// does: container health (recorded on the task), metrics (kept for
// utilisation, see usage.go) and instance status, each acknowledged, with
// a HeartbeatMessage every heartbeat interval so the agent keeps the
// socket. The upgrade must be authenticated by the route; auth verifies
// the signature every frame carries.
func (s *Service) TCSHandler(auth api.Authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cname, id, instArn, ok := s.agentTarget(w, r, tcs.QueryCluster, tcs.QueryContainerInstance)
		if !ok {
			return
		}
		upgrade := &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		caller, _ := api.PrincipalFrom(r.Context())
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			s.log.Warn("tcs upgrade", "instance", instArn, "err", err)
			return
		}
		sess := &tcsSession{
			s: s, conn: conn, auth: auth, upgrade: upgrade, accessKey: caller.AccessKeyID,
			cname: cname, key: cname + "/" + id, instArn: instArn,
			log: s.log.With("instance", instArn, "socket", "tcs"), health: map[string]string{},
		}
		sess.serve()
	})
}

// tcsSession is one agent's telemetry socket.
type tcsSession struct {
	s         *Service
	conn      *websocket.Conn
	auth      api.Authenticator
	upgrade   *url.URL // what every frame's signature covers
	accessKey string   // the upgrade's signer; frames must be signed by it too
	cname     string
	key       string // the instance's store id
	instArn   string
	log       *slog.Logger
	// health is what the session last recorded of each task's health, so
	// the periodic republish of unchanged health writes nothing.
	health map[string]string
	usage  usageWindow
}

// serve runs the socket until either side fails or the service closes.
func (t *tcsSession) serve() {
	ctx, cancel := context.WithCancel(t.s.life)
	defer cancel()
	defer t.conn.Close()
	hb := t.s.cfg.HeartbeatInterval
	out := make(chan []byte, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		agentSocketWriter(ctx, cancel, t.conn, out, hb, func() []byte {
			b, _ := tcs.Encode(tcs.TypeHeartbeat, tcs.HeartbeatMessage{Healthy: true})
			return b
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	t.conn.SetReadLimit(maxTelemetryFrame)
	// The agent does not answer heartbeats; the writer's pings are answered
	// with pongs, which keep the socket alive while the agent is idle.
	t.conn.SetPongHandler(func(string) error { return t.conn.SetReadDeadline(time.Now().Add(3 * hb)) })
	t.log.Debug("telemetry connected")
	defer t.log.Debug("telemetry disconnected")
	defer t.flushUsage() // what the last minute measured still counts
	for {
		_ = t.conn.SetReadDeadline(time.Now().Add(3 * hb))
		_, frame, err := t.conn.ReadMessage()
		if err != nil {
			return
		}
		reply, err := t.handle(ctx, frame)
		if err != nil {
			var ref *acsRefusal
			if errors.As(err, &ref) {
				msg, _ := tcs.Encode(ref.typ, tcs.ErrorMessage{Message: ref.message})
				select {
				case out <- msg:
				case <-ctx.Done():
				}
				t.log.Warn("tcs: closing the socket", "err", err)
				return
			}
			t.log.Warn("tcs: message not handled", "err", err)
			continue
		}
		if reply == nil {
			continue
		}
		select {
		case out <- reply:
		case <-ctx.Done():
			return
		}
	}
}

// handle verifies one frame and acts on its message; it returns the
// acknowledgement to send. An *acsRefusal ends the session.
func (t *tcsSession) handle(ctx context.Context, frame []byte) ([]byte, error) {
	req, body, err := tcs.ParseFrame(frame, t.upgrade)
	if err != nil {
		return nil, &acsRefusal{typ: tcs.ErrorTypeBadRequest, message: err.Error()}
	}
	req = req.WithContext(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	id, err := t.auth.Authenticate(req)
	if err == nil {
		_, err = io.Copy(io.Discard, req.Body) // a streamed check ends with the body
	}
	if err != nil {
		e, _ := awserr.Normalize(err)
		return nil, &acsRefusal{typ: tcs.ErrorTypeBadRequest, message: "The frame's signature is not valid: " + e.Message}
	}
	if t.accessKey != "" && id.Principal.AccessKeyID != t.accessKey {
		return nil, &acsRefusal{typ: tcs.ErrorTypeBadRequest, message: "The frame is signed by another access key than the connection."}
	}
	env, err := tcs.Decode(body)
	if err != nil {
		return nil, &acsRefusal{typ: tcs.ErrorTypeBadRequest, message: err.Error()}
	}
	switch env.Type {
	case tcs.TypePublishHealth:
		var m tcs.PublishHealthRequest
		if err := json.Unmarshal(env.Message, &m); err != nil {
			return nil, &acsRefusal{typ: tcs.ErrorTypeBadRequest, message: "malformed PublishHealthRequest: " + err.Error()}
		}
		t.recordHealth(ctx, m)
		return tcs.Encode(tcs.TypeAckPublishHealth, tcs.Ack{})
	case tcs.TypePublishMetrics:
		var m tcs.PublishMetricsRequest
		if err := json.Unmarshal(env.Message, &m); err != nil {
			return nil, &acsRefusal{typ: tcs.ErrorTypeBadRequest, message: "malformed PublishMetricsRequest: " + err.Error()}
		}
		t.usage.add(t.s.now(), m)
		if t.usage.due(t.s.now()) {
			t.flushUsage()
		}
		return tcs.Encode(tcs.TypeAckPublishMetric, tcs.Ack{})
	case tcs.TypePublishInstanceStatus:
		// The instance's own checks (the runtime answering, ...). ECS shows
		// them in ListContainerInstances' health; Berth only acknowledges.
		return tcs.Encode(tcs.TypeAckPublishInstanceStatus, tcs.Ack{})
	default:
		t.log.Debug("tcs: ignoring message", "type", env.Type)
		return nil, nil
	}
}

// recordHealth records the health the agent reports for tasks of its
// instance, writing only what changed since this session last recorded.
func (t *tcsSession) recordHealth(ctx context.Context, m tcs.PublishHealthRequest) {
	for _, th := range m.Tasks {
		h := TaskHealth{TaskArn: th.TaskArn, InstanceArn: t.instArn}
		for _, c := range th.Containers {
			h.Containers = append(h.Containers, ContainerHealth{Name: c.ContainerName, Status: healthStatus(c.HealthStatus)})
		}
		slices.SortFunc(h.Containers, func(a, b ContainerHealth) int { return strings.Compare(a.Name, b.Name) })
		sum := fmt.Sprint(h.Containers)
		if t.health[th.TaskArn] == sum {
			continue
		}
		if err := t.s.ApplyHealth(ctx, t.cname, h); err != nil {
			// A task the server no longer has, or one on another instance:
			// nothing to record, and nothing the agent can do about it.
			t.log.Debug("tcs: health not recorded", "task", th.TaskArn, "err", err)
			continue
		}
		t.health[th.TaskArn] = sum
	}
}

// healthStatus maps TCS's health status to ECS's; anything unknown is
// UNKNOWN.
func healthStatus(s string) string {
	switch s {
	case "HEALTHY", "UNHEALTHY":
		return s
	default:
		return "UNKNOWN"
	}
}
