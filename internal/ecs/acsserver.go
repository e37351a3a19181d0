package ecs

import (
	"bytes"
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

func (s *Service) serveACS(conn *websocket.Conn, cname, id, instArn string) {
	// The request's context ends with the hijack; the socket lives as long as
	// the service, or until either side fails.
	ctx, cancel := context.WithCancel(s.life)
	defer cancel()
	defer conn.Close()
	log := s.log.With("instance", instArn)
	hb := s.cfg.HeartbeatInterval
	if err := store.Hold(ctx, s.st, agentSessions, id, agentSession{InstanceArn: instArn}, 3*hb); err != nil {
		log.Error("acs: record agent session", "err", err)
		return
	}
	log.Info("agent connected")
	defer log.Info("agent disconnected")

	out := make(chan []byte, 16)
	go s.acsWriter(ctx, cancel, conn, out, hb)
	go s.acsPayloads(ctx, cname, instArn, out)
	go s.acsWatchInstance(ctx, cancel, cname, id, out)
	s.acsReader(ctx, conn, cname, hb, log)
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

// acsPayloads sends the instance's full task set now and after every change
// to the cluster's tasks (level-triggered: list, then watch from that revision).
func (s *Service) acsPayloads(ctx context.Context, cname, instArn string, out chan<- []byte) {
	var last []byte
	var seq int64
	for ctx.Err() == nil {
		var payload []acs.Task
		var rev int64
		err := s.st.View(ctx, func(tx *store.Tx) error {
			var err error
			payload, err = s.instanceTasks(tx, cname, instArn)
			rev = tx.Revision()
			return err
		})
		if err != nil {
			s.log.Warn("acs: build payload", "instance", instArn, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		body, _ := json.Marshal(payload)
		if !bytes.Equal(body, last) {
			last = body
			seq++
			msg, err := acs.Encode(acs.TypePayload, acs.PayloadMessage{
				MessageID: newUUID(), ClusterArn: s.arns.cluster(cname), ContainerInstanceArn: instArn, SeqNum: seq, Tasks: payload,
			})
			if err == nil {
				select {
				case out <- msg:
				case <-ctx.Done():
					return
				}
			}
		}
		events := store.Watch(ctx, s.st, tasks, cname+"/", rev)
		if !waitRelevant(ctx, events, instArn) {
			continue // watch ended: re-list
		}
	}
}

// waitRelevant blocks until a task event concerns the instance (true) or the
// watch ends (false). Events already queued are drained so a burst of
// changes yields one payload.
func waitRelevant(ctx context.Context, events <-chan store.Event[taskRecord], instArn string) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case ev, ok := <-events:
			if !ok {
				return false
			}
			if ev.Type == store.EventDelete || aws.ToString(ev.Value.Task.ContainerInstanceArn) == instArn {
				return true
			}
		}
	}
}

// instanceTasks is the desired task set of one instance: every task placed
// on it that is not yet known STOPPED.
func (s *Service) instanceTasks(tx *store.Tx, cname, instArn string) ([]acs.Task, error) {
	all, err := store.List(tx, tasks, cname+"/")
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	out := []acs.Task{}
	for _, r := range all {
		t := r.Task
		if aws.ToString(t.ContainerInstanceArn) != instArn || aws.ToString(t.LastStatus) == "STOPPED" {
			continue
		}
		def, err := s.resolveTaskDef(tx, aws.ToString(t.TaskDefinitionArn))
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", aws.ToString(t.TaskArn), err)
		}
		out = append(out, acs.Task{
			Arn:              aws.ToString(t.TaskArn),
			DesiredStatus:    aws.ToString(t.DesiredStatus),
			StoppedReason:    aws.ToString(t.StoppedReason),
			TaskDefinition:   def.TaskDefinition,
			Overrides:        t.Overrides,
			StartedBy:        aws.ToString(t.StartedBy),
			Group:            aws.ToString(t.Group),
			AvailabilityZone: aws.ToString(t.AvailabilityZone),
		})
	}
	return out, nil
}

// acsWatchInstance ends the session, as ECS's ACS does with
// InactiveInstanceException, once the instance is deregistered.
func (s *Service) acsWatchInstance(ctx context.Context, cancel context.CancelFunc, cname, id string, out chan<- []byte) {
	for ctx.Err() == nil {
		var rev int64
		inactive := false
		err := s.st.View(ctx, func(tx *store.Tx) error {
			rec, err := store.Get(tx, instances, cname+"/"+id)
			inactive = errors.Is(err, store.ErrNotFound) || err == nil && aws.ToString(rec.Instance.Status) == "INACTIVE"
			rev = tx.Revision()
			if inactive {
				return nil
			}
			return err
		})
		if err != nil {
			s.log.Warn("acs: watch instance", "instance", id, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if !inactive {
			for ev := range store.Watch(ctx, s.st, instances, cname+"/"+id, rev) {
				if ev.Type == store.EventDelete || aws.ToString(ev.Value.Instance.Status) == "INACTIVE" {
					inactive = true
					break
				}
			}
		}
		if inactive {
			msg, _ := acs.Encode(acs.TypeError, acs.ErrorMessage{Code: "InactiveInstanceException", Message: "The container instance has been deregistered."})
			select {
			case out <- msg:
			case <-ctx.Done():
			}
			cancel()
			return
		}
	}
}
