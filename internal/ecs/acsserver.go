package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/store"
)

var upgrader = websocket.Upgrader{
	// Agents are not browsers; every upgrade is SigV4-authenticated instead.
	CheckOrigin: func(*http.Request) bool { return true },
}

// ACSHandler serves agents' ACS websockets. It must be wrapped with SigV4
// authentication (service "ecs") by the listener.
func (s *Service) ACSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		cname, id, instArn, err := s.acsTarget(r.Context(), q.Get("clusterArn"), q.Get("containerInstanceArn"))
		if err != nil {
			awserr.WriteJSON(w, "", err)
			return
		}
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			s.log.Warn("acs upgrade", "instance", instArn, "err", err)
			return
		}
		s.serveACS(conn, cname, id, instArn)
	})
}

// acsTarget checks that the instance exists, is registered and in the cluster.
func (s *Service) acsTarget(ctx context.Context, clusterRef, instRef string) (cname, id, arn string, err error) {
	err = s.st.View(ctx, func(tx *store.Tx) error {
		c, err := s.getActiveCluster(tx, clusterRef)
		if err != nil {
			return err
		}
		cname = aws.ToString(c.Cluster.ClusterName)
		rec, err := s.getInstance(tx, cname, instRef)
		if errors.Is(err, store.ErrNotFound) || err == nil && aws.ToString(rec.Instance.Status) == "INACTIVE" {
			return awserr.InvalidParameter("%s", "The container instance "+instRef+" is not registered in cluster "+cname+".")
		}
		if err != nil {
			return fmt.Errorf("get instance: %w", err)
		}
		arn = aws.ToString(rec.Instance.ContainerInstanceArn)
		id = idFromARN(arn)
		return nil
	})
	return cname, id, arn, err
}

// serveACS runs one agent's socket: presence, payloads, heartbeats and the
// agent's messages, until either side fails, the instance is deregistered
// or the service closes.
func (s *Service) serveACS(conn *websocket.Conn, cname, id, instArn string) {
	// The request's context ends with the hijack; the socket lives as long as
	// the service, or until either side fails.
	ctx, cancel := context.WithCancel(s.life)
	defer cancel()
	defer conn.Close()
	log := s.log.With("instance", instArn)
	hb := s.cfg.HeartbeatInterval
	// The writer starts first: heartbeats flow while the session sets up.
	out := make(chan []byte, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.acsWriter(ctx, cancel, conn, out, hb)
	}()
	defer func() {
		cancel()
		<-done
	}()
	sess, rm, release, err := s.acsSetup(ctx, cname, id, instArn)
	if err != nil {
		log.Warn("acs: session setup failed; closing the socket", "err", err)
		return
	}
	defer s.acs.remove(sess)
	defer release()
	log.Debug("agent connected")
	defer log.Debug("agent disconnected")
	go s.acsPayloads(ctx, cancel, rm, sess, out)
	s.acsReader(ctx, conn, cname, hb, log)
}

// acsSetupTimeout bounds what a session does before its first payload.
const acsSetupTimeout = 20 * time.Second

// acsSetup joins the hub, makes sure the read model holds the instance's
// registration, and records the agent as connected.
func (s *Service) acsSetup(ctx context.Context, cname, id, instArn string) (*acsSession, *readModel, func(), error) {
	sctx, cancel := context.WithTimeout(ctx, acsSetupTimeout)
	defer cancel()
	rm, err := s.model(sctx)
	if err != nil {
		return nil, nil, nil, err
	}
	// From here on the session hears of every change; the instances cache
	// must first hold the registration acsTarget just read.
	sess := s.acs.add(cname+"/"+id, cname, instArn)
	if err := rm.instances.Sync(sctx); err != nil {
		s.acs.remove(sess)
		return nil, nil, nil, err
	}
	release, err := store.Present(sctx, s.st, agentSessions, id, agentSession{InstanceArn: instArn})
	if err != nil {
		s.acs.remove(sess)
		return nil, nil, nil, fmt.Errorf("record agent session: %w", err)
	}
	return sess, rm, release, nil
}

// acsReader handles what the agent sends until the socket fails.
func (s *Service) acsReader(ctx context.Context, conn *websocket.Conn, cname string, hb time.Duration, log *slog.Logger) {
	for {
		_ = conn.SetReadDeadline(time.Now().Add(3 * hb))
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		env, err := acs.Decode(data)
		if err != nil {
			log.Warn("acs: bad message", "err", err)
			continue
		}
		switch env.Type {
		case acs.TypeAck, acs.TypeHeartbeat:
			log.Debug("acs: " + env.Type)
		case acs.TypeHealth:
			var h acs.HealthMessage
			if err := json.Unmarshal(env.Message, &h); err != nil {
				log.Warn("acs: bad health message", "err", err)
				continue
			}
			for _, th := range h.Tasks {
				if err := s.applyHealth(ctx, cname, th); err != nil {
					log.Warn("acs: apply health", "task", th.TaskArn, "err", err)
				}
			}
		}
	}
}

// acsWriter is the socket's only writer: payloads and heartbeats.
func (s *Service) acsWriter(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn, out <-chan []byte, hb time.Duration) {
	defer cancel()
	tick := time.NewTicker(hb)
	defer tick.Stop()
	write := func(b []byte) bool {
		_ = conn.SetWriteDeadline(time.Now().Add(hb))
		return conn.WriteMessage(websocket.TextMessage, b) == nil
	}
	for {
		select {
		case <-ctx.Done():
			// Flush what is queued (e.g. an ErrorMessage saying why we close).
			for flushed := false; !flushed; {
				select {
				case b := <-out:
					if !write(b) {
						flushed = true
					}
				default:
					flushed = true
				}
			}
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			conn.Close() // unblocks the reader
			return
		case b := <-out:
			if !write(b) {
				conn.Close()
				return
			}
		case <-tick.C:
			b, _ := acs.Encode(acs.TypeHeartbeat, acs.HeartbeatMessage{MessageID: newUUID(), Healthy: true})
			if !write(b) {
				conn.Close()
				return
			}
		}
	}
}

// acsPayloads sends the instance's full task set now and whenever the read
// model says a task of the instance changed (level-triggered: a burst of
// changes yields one payload, and an unchanged set none). It ends the
// session, as ECS's ACS does with InactiveInstanceException, once the
// instance is deregistered.
func (s *Service) acsPayloads(ctx context.Context, cancel context.CancelFunc, rm *readModel, sess *acsSession, out chan<- []byte) {
	pb := &payloadBuilder{}
	for {
		if sess.isInactive(rm) {
			msg, _ := acs.Encode(acs.TypeError, acs.ErrorMessage{Code: "InactiveInstanceException", Message: "The container instance has been deregistered."})
			select {
			case out <- msg:
			case <-ctx.Done():
			}
			cancel()
			return
		}
		msg, err := s.nextPayload(ctx, rm, sess, pb)
		switch {
		case err != nil:
			s.log.Warn("acs: build payload", "instance", sess.instArn, "err", err)
			sess.poke() // try again after a pause
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		case msg != nil:
			select {
			case out <- msg:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-sess.wake:
		}
	}
}
