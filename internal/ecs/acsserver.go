package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

var upgrader = websocket.Upgrader{
	// Agents are not browsers; every upgrade is SigV4-authenticated instead.
	CheckOrigin: func(*http.Request) bool { return true },
}

// ACSHandler serves agents' ACS websockets (acs.Path), as ECS's Agent
// Communication Service does. It must be wrapped with SigV4 authentication
// (service "ecs") by the listener. A refused handshake answers with an
// ACS error envelope, which the agent reads from the HTTP body.
func (s *Service) ACSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		cname, id, instArn, ok := s.agentTarget(w, r, acs.QueryClusterArn, acs.QueryContainerInstanceArn)
		if !ok {
			return
		}
		if err := s.recordAgentVersion(r.Context(), cname, id, q); err != nil {
			s.log.Warn("acs: record agent version", "instance", instArn, "err", err)
		}
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			s.log.Warn("acs upgrade", "instance", instArn, "err", err)
			return
		}
		s.serveACS(conn, cname, id, instArn)
	})
}

// acsRefusal refuses a handshake with one of the error envelopes the agent
// recognises (acs.ErrorType*) and an HTTP status.
type acsRefusal struct {
	typ, message string
	status       int
}

func (e *acsRefusal) Error() string { return e.typ + ": " + e.message }

// writeACSRefusal answers a refused handshake: an ACS error envelope, which
// the agent decodes from the body of the failed upgrade.
func writeACSRefusal(w http.ResponseWriter, err error) {
	var ref *acsRefusal
	if !errors.As(err, &ref) {
		e, _ := awserr.Normalize(err)
		typ := acs.ErrorTypeServer
		switch e.Code {
		case awserr.CodeClusterNotFound:
			typ = acs.ErrorTypeInvalidCluster
		case awserr.CodeInvalidParameter, awserr.CodeClient:
			typ = acs.ErrorTypeBadRequest
		}
		ref = &acsRefusal{typ: typ, message: e.Message, status: e.Status}
	}
	body, _ := acs.Encode(ref.typ, acs.ErrorMessage{Message: ref.message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ref.status)
	_, _ = w.Write(body)
}

// writeAgentRouteError answers a handshake the API layer refused (its
// signature, its key, the caller's permission) with an error envelope as
// ACS and TCS send them, which the agent decodes from the body: an
// authentication or authorization failure is AccessDeniedException, another
// client error BadRequestException, anything else ServerException.
func writeAgentRouteError(w http.ResponseWriter, _ *http.Request, e *awserr.Error) {
	typ := acs.ErrorTypeServer
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		typ = acs.ErrorTypeAccessDenied
	case e.Status >= 400 && e.Status < 500:
		typ = acs.ErrorTypeBadRequest
	}
	writeACSRefusal(w, &acsRefusal{typ: typ, message: e.Message, status: e.Status})
}

// agentTarget reads the cluster and the instance an agent socket's query
// names (under clusterKey and instanceKey) and checks the instance is
// registered there; otherwise it answers the refusal and ok is false. A
// socket that names neither is a malformed request, not a deregistered
// instance: after InactiveInstanceException the agent stops its telemetry
// and waits an hour before it dials again.
func (s *Service) agentTarget(w http.ResponseWriter, r *http.Request, clusterKey, instanceKey string) (cname, id, instArn string, ok bool) {
	q := r.URL.Query()
	if q.Get(clusterKey) == "" || q.Get(instanceKey) == "" {
		writeACSRefusal(w, &acsRefusal{typ: acs.ErrorTypeBadRequest, status: http.StatusBadRequest,
			message: "The request must name the cluster (" + clusterKey + ") and the container instance (" + instanceKey + ")."})
		return "", "", "", false
	}
	cname, id, instArn, err := s.acsTarget(r.Context(), q.Get(clusterKey), q.Get(instanceKey))
	if err != nil {
		writeACSRefusal(w, err)
		return "", "", "", false
	}
	return cname, id, instArn, true
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
			return &acsRefusal{typ: acs.ErrorTypeInactiveInstance, status: http.StatusBadRequest,
				message: "The container instance " + instRef + " is not registered in cluster " + cname + "."}
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

// recordAgentVersion fills the instance's versionInfo from the websocket's
// query, as ECS does: the official agent registers without one.
func (s *Service) recordAgentVersion(ctx context.Context, cname, id string, q url.Values) error {
	agentVersion, dockerVersion := q.Get(acs.QueryAgentVersion), q.Get(acs.QueryDockerVersion)
	if agentVersion == "" && dockerVersion == "" {
		return nil
	}
	return s.st.Update(ctx, func(tx *store.Tx) error {
		rec, err := store.Get(tx, instances, cname+"/"+id)
		if err != nil {
			return err
		}
		vi := ecstypes.VersionInfo{AgentVersion: optString(agentVersion), AgentHash: optString(q.Get(acs.QueryAgentHash)), DockerVersion: optString(dockerVersion)}
		if old := rec.Instance.VersionInfo; old != nil && aws.ToString(old.AgentVersion) == agentVersion &&
			aws.ToString(old.AgentHash) == q.Get(acs.QueryAgentHash) && aws.ToString(old.DockerVersion) == dockerVersion {
			return nil
		}
		rec.Instance.VersionInfo = &vi
		rec.Instance.Version = aws.Int64(aws.ToInt64(rec.Instance.Version) + 1)
		store.Put(tx, instances, cname+"/"+id, rec)
		return nil
	})
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// serveACS runs one agent's socket: presence, payloads, manifests,
// heartbeats and the agent's messages, until either side fails, the
// instance is deregistered or the service closes.
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
		agentSocketWriter(ctx, cancel, conn, out, hb, func() []byte {
			b, _ := acs.Encode(acs.TypeHeartbeat, acs.HeartbeatMessage{MessageID: newUUID(), Healthy: true})
			return b
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	sess, rm, release, err := s.acsSetup(ctx, cname, id, instArn, remoteIP(conn.RemoteAddr()))
	if err != nil {
		log.Warn("acs: session setup failed; closing the socket", "err", err)
		return
	}
	defer s.acs.remove(sess)
	defer release()
	log.Debug("agent connected")
	defer log.Debug("agent disconnected")
	st := newSessionState()
	go s.acsSend(ctx, cancel, rm, sess, st, out)
	s.acsReader(ctx, conn, sess, st, out, hb, log)
}

// acsSetupTimeout bounds what a session does before its first payload.
const acsSetupTimeout = 20 * time.Second

// acsSetup joins the hub, makes sure the read model holds the instance's
// registration, and records the agent as connected.
func (s *Service) acsSetup(ctx context.Context, cname, id, instArn, addr string) (*acsSession, *readModel, func(), error) {
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
	release, err := store.Present(sctx, s.st, agentSessions, id, agentSession{InstanceArn: instArn, Address: addr})
	if err != nil {
		s.acs.remove(sess)
		return nil, nil, nil, fmt.Errorf("record agent session: %w", err)
	}
	return sess, rm, release, nil
}

// acsReader handles what the agent sends until the socket fails. The agent
// answers every heartbeat, so a silent socket is a dead one.
func (s *Service) acsReader(ctx context.Context, conn *websocket.Conn, sess *acsSession, st *sessionState, out chan<- []byte, hb time.Duration, log *slog.Logger) {
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
		case acs.TypeAck, acs.TypeHeartbeatAck, acs.TypeIAMRoleCredentialsAck:
			// Nothing waits for these: a payload the agent missed is sent
			// again by the next session, and the manifest catches the rest.
		case acs.TypeTaskStopVerification:
			var m acs.TaskStopVerificationMessage
			if err := json.Unmarshal(env.Message, &m); err != nil {
				log.Warn("acs: bad stop verification", "err", err)
				continue
			}
			ack, err := s.verifyStops(ctx, sess, m)
			if err != nil {
				log.Warn("acs: stop verification", "err", err)
				continue
			}
			select {
			case out <- ack:
			case <-ctx.Done():
				return
			}
		default:
			log.Debug("acs: ignoring message", "type", env.Type)
		}
	}
}

// manifestInterval is how often a session sends the instance's task
// manifest, the reconciliation that stops tasks the server no longer has.
const manifestInterval = time.Minute

// acsSend sends the tasks the instance has not been sent in their current
// desired state, now and whenever the read model says a task of the
// instance changed (level-triggered: a burst of changes yields one
// payload), and the task manifest every manifestInterval. It ends the
// session, as ECS's ACS does with InactiveInstanceException, once the
// instance is deregistered.
func (s *Service) acsSend(ctx context.Context, cancel context.CancelFunc, rm *readModel, sess *acsSession, st *sessionState, out chan<- []byte) {
	manifest := time.NewTicker(manifestInterval)
	defer manifest.Stop()
	send := func(msgs [][]byte) bool {
		for _, msg := range msgs {
			select {
			case out <- msg:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	first := true
	for {
		if sess.isInactive(rm) {
			msg, _ := acs.Encode(acs.ErrorTypeInactiveInstance, acs.ErrorMessage{Message: "The container instance has been deregistered."})
			send([][]byte{msg})
			cancel()
			return
		}
		msgs, err := s.nextPayloads(ctx, rm, sess, st)
		if err != nil {
			s.log.Warn("acs: build payload", "instance", sess.instArn, "err", err)
			sess.poke() // try again after a pause
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		} else if !send(msgs) {
			return
		}
		if first { // reconcile at once: a restarted agent may run tasks the server dropped
			first = false
			if !send([][]byte{s.manifest(rm, sess, st)}) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-sess.wake:
		case <-manifest.C:
			if !send([][]byte{s.manifest(rm, sess, st)}) {
				return
			}
		}
	}
}
