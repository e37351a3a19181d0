package ecs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/store"
)

// payloadChunk bounds the tasks of one PayloadMessage.
const payloadChunk = 10

// sessionState is what one agent session remembers: what it sent of each
// task, and the sequence numbers of its messages.
type sessionState struct {
	mu   sync.Mutex
	sent map[string]sentTask // by task ARN
	seq  int64
}

// sentTask is the desired state the agent was last sent for a task.
type sentTask struct{ desired, reason string }

func newSessionState() *sessionState { return &sessionState{sent: map[string]sentTask{}} }

// nextSeq numbers payloads and manifests from one sequence the agent keeps
// across reconnects and restarts (it ignores a manifest whose timeline is
// not past the last number it saw), so it starts from the clock and only
// grows.
func (st *sessionState) nextSeq() int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.seq = max(st.seq+1, time.Now().UnixMilli())
	return st.seq
}

// nextPayloads returns the PayloadMessages for the tasks of the instance
// that are new to the agent, or whose desired state changed since they
// were sent; nothing when there are none. Tasks that left the instance's
// set (stopped, reaped) are forgotten; the agent is never told to stop a
// task by its absence.
func (s *Service) nextPayloads(ctx context.Context, rm *readModel, sess *acsSession, st *sessionState) ([][]byte, error) {
	type change struct {
		id   string
		view *taskView
	}
	var changes []change
	current := map[string]bool{}
	st.mu.Lock()
	rm.tasks.Ascend(idxTaskOnInstance, sess.key, "", func(id string, r *taskView) bool {
		arn := aws.ToString(r.Task.TaskArn)
		current[arn] = true
		want := sentTask{desired: agentDesired(aws.ToString(r.Task.DesiredStatus), r.Deactivating), reason: aws.ToString(r.Task.StoppedReason)}
		if st.sent[arn] != want {
			changes = append(changes, change{id, r})
		}
		return true
	})
	for arn := range st.sent {
		if !current[arn] {
			delete(st.sent, arn)
		}
	}
	st.mu.Unlock()
	if len(changes) == 0 {
		return nil, nil
	}
	// The full records (container ARNs) of what changed, in one round trip.
	ids := make([]string, len(changes))
	for i, c := range changes {
		ids[i] = c.id
	}
	var recs map[string]taskRecord
	if err := s.st.View(ctx, func(tx *store.Tx) error {
		var err error
		recs, err = store.GetMany(tx, tasks, ids)
		return err
	}); err != nil {
		return nil, fmt.Errorf("read tasks: %w", err)
	}
	var msgs [][]byte
	var batch []acs.Task
	var batchSent []sentTask
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		msg, err := acs.Encode(acs.TypePayload, acs.PayloadMessage{
			MessageID: newUUID(), ClusterArn: s.arns.cluster(sess.cname), ContainerInstanceArn: sess.instArn,
			SeqNum: st.nextSeq(), GeneratedAt: s.now().Unix(), Tasks: batch,
		})
		if err != nil {
			return err
		}
		msgs = append(msgs, msg)
		st.mu.Lock()
		for i, t := range batch {
			st.sent[t.Arn] = batchSent[i]
		}
		st.mu.Unlock()
		batch, batchSent = nil, nil
		return nil
	}
	for _, c := range changes {
		rec, ok := recs[c.id]
		if !ok {
			continue // gone since the read model saw it
		}
		t, err := s.acsTask(ctx, rec)
		if err != nil {
			return nil, err
		}
		batch = append(batch, t)
		batchSent = append(batchSent, sentTask{desired: t.DesiredStatus, reason: aws.ToString(rec.Task.StoppedReason)})
		if len(batch) == payloadChunk {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return msgs, nil
}

// acsTask is a task as ACS sends it: its definition, with its overrides
// applied, in the agent-facing shape.
func (s *Service) acsTask(ctx context.Context, rec taskRecord) (acs.Task, error) {
	t := rec.Task
	def, err := s.taskDefByARN(ctx, aws.ToString(t.TaskDefinitionArn))
	if err != nil {
		return acs.Task{}, fmt.Errorf("task %s: %w", aws.ToString(t.TaskArn), err)
	}
	arns := map[string]string{}
	for _, c := range t.Containers {
		arns[aws.ToString(c.Name)] = aws.ToString(c.ContainerArn)
	}
	out, err := acs.NewTask(acs.TaskInput{
		Arn: aws.ToString(t.TaskArn), ClusterArn: aws.ToString(t.ClusterArn), DesiredStatus: agentDesired(aws.ToString(t.DesiredStatus), rec.Deactivating),
		Definition: def.def, Overrides: t.Overrides, Zone: aws.ToString(t.AvailabilityZone), Group: aws.ToString(t.Group),
		LaunchType: aws.ToString(t.LaunchType), AccountID: s.cfg.AccountID, ContainerArns: arns,
	})
	if err != nil {
		return acs.Task{}, fmt.Errorf("task %s: %w", aws.ToString(t.TaskArn), err)
	}
	out.Associations = gpuAssociations(t.Containers)
	return out, nil
}

// manifest is the TaskManifestMessage of the instance: every task the
// server has on it, with its desired status.
func (s *Service) manifest(rm *readModel, sess *acsSession, st *sessionState) []byte {
	ids := []acs.TaskIdentifier{}
	rm.tasks.Ascend(idxTaskOnInstance, sess.key, "", func(_ string, r *taskView) bool {
		ids = append(ids, acs.TaskIdentifier{
			TaskArn: aws.ToString(r.Task.TaskArn), TaskClusterArn: s.arns.cluster(sess.cname), DesiredStatus: agentDesired(aws.ToString(r.Task.DesiredStatus), r.Deactivating),
		})
		return true
	})
	msg, _ := acs.Encode(acs.TypeTaskManifest, acs.TaskManifestMessage{
		MessageID: newUUID(), ClusterArn: s.arns.cluster(sess.cname), ContainerInstanceArn: sess.instArn,
		GeneratedAt: s.now().Unix(), Timeline: st.nextSeq(), Tasks: ids,
	})
	return msg
}

// verifyStops answers an agent's stop candidates: it may stop those the
// server does not have on the instance, or wants STOPPED. The answer
// carries the manifest's message id, as the agent checks.
func (s *Service) verifyStops(ctx context.Context, sess *acsSession, m acs.TaskStopVerificationMessage) ([]byte, error) {
	stop := []acs.TaskIdentifier{}
	ids := make([]string, 0, len(m.StopCandidates))
	byID := map[string]acs.TaskIdentifier{}
	for _, c := range m.StopCandidates {
		cname, id, ok := s.taskRef("", c.TaskArn)
		if !ok || cname != sess.cname {
			stop = append(stop, acs.TaskIdentifier{TaskArn: c.TaskArn, TaskClusterArn: c.TaskClusterArn, DesiredStatus: "STOPPED"})
			continue
		}
		ids = append(ids, cname+"/"+id)
		byID[cname+"/"+id] = c
	}
	var recs map[string]taskRecord
	if err := s.st.View(ctx, func(tx *store.Tx) error {
		var err error
		recs, err = store.GetMany(tx, tasks, ids)
		return err
	}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("read stop candidates: %w", err)
	}
	for _, id := range ids {
		rec, ok := recs[id]
		if ok && agentDesired(aws.ToString(rec.Task.DesiredStatus), rec.Deactivating) != "STOPPED" && aws.ToString(rec.Task.LastStatus) != "STOPPED" &&
			aws.ToString(rec.Task.ContainerInstanceArn) == sess.instArn {
			continue // the server still wants it there
		}
		c := byID[id]
		stop = append(stop, acs.TaskIdentifier{TaskArn: c.TaskArn, TaskClusterArn: c.TaskClusterArn, DesiredStatus: "STOPPED"})
	}
	return acs.Encode(acs.TypeTaskStopVerificationAck, acs.TaskStopVerificationAck{
		MessageID: m.MessageID, GeneratedAt: s.now().Unix(), StopTasks: stop,
	})
}

// agentDesired is the desired status an agent is told of a task: a
// Deactivating one runs on while its load balancer targets drain
// (services_ctl_lb.go).
func agentDesired(desired string, deactivating bool) string {
	if deactivating && desired == "STOPPED" {
		return "RUNNING"
	}
	return desired
}
