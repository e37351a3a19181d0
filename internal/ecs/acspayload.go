package ecs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/acs"
)

// payloadBuilder builds one agent session's payloads. The task
// definitions come encoded from the server-wide cache and the rest of each
// task entry is small, so a payload costs a copy of its bytes rather than an
// encoding of every task definition; the session keeps only a digest of the
// last set it sent, so thousands of sessions hold no copies of their sets.
type payloadBuilder struct {
	last [sha256.Size]byte // digest of the tasks array last sent
	sent bool
	seq  int64
}

// nextPayload returns the PayloadMessage envelope for the instance's
// current task set, or nil when the set is what was last sent.
func (s *Service) nextPayload(ctx context.Context, rm *readModel, sess *acsSession, pb *payloadBuilder) ([]byte, error) {
	// The cache's records are shared and never modified: keep pointers.
	var recs []*taskView
	rm.tasks.Ascend(idxTaskOnInstance, sess.key, "", func(_ string, r *taskView) bool {
		recs = append(recs, r)
		return true
	})
	var tasks bytes.Buffer
	tasks.WriteByte('[')
	for i, r := range recs {
		if i > 0 {
			tasks.WriteByte(',')
		}
		if err := s.writePayloadTask(ctx, &tasks, &r.Task); err != nil {
			return nil, err
		}
	}
	tasks.WriteByte(']')
	sum := sha256.Sum256(tasks.Bytes())
	if pb.sent && sum == pb.last {
		return nil, nil
	}
	pb.last, pb.sent = sum, true
	pb.seq++
	// The envelope by hand: encoding/json would re-validate the tasks.
	var msg bytes.Buffer
	msg.Grow(tasks.Len() + 256)
	msg.WriteString(`{"type":"` + acs.TypePayload + `","message":{"messageId":`)
	writeJSONString(&msg, newUUID())
	msg.WriteString(`,"clusterArn":`)
	writeJSONString(&msg, s.arns.cluster(sess.cname))
	msg.WriteString(`,"containerInstanceArn":`)
	writeJSONString(&msg, sess.instArn)
	msg.WriteString(`,"seqNum":` + strconv.FormatInt(pb.seq, 10) + `,"tasks":`)
	msg.Write(tasks.Bytes())
	msg.WriteString(`}}`)
	return msg.Bytes(), nil
}

// writePayloadTask writes one task as acs.Task encodes (the task
// definition from the cache's JSON).
func (s *Service) writePayloadTask(ctx context.Context, b *bytes.Buffer, t *taskViewTask) error {
	arn := aws.ToString(t.TaskArn)
	def, err := s.taskDefByARN(ctx, aws.ToString(t.TaskDefinitionArn))
	if err != nil {
		return fmt.Errorf("task %s: %w", arn, err)
	}
	b.WriteString(`{"arn":`)
	writeJSONString(b, arn)
	b.WriteString(`,"desiredStatus":`)
	writeJSONString(b, aws.ToString(t.DesiredStatus))
	optional := func(name string, v *string) {
		if aws.ToString(v) != "" {
			b.WriteString(`,"` + name + `":`)
			writeJSONString(b, *v)
		}
	}
	optional("stoppedReason", t.StoppedReason)
	b.WriteString(`,"taskDefinition":`)
	b.Write(def.raw)
	if t.Overrides != nil {
		raw, err := json.Marshal(t.Overrides)
		if err != nil {
			return fmt.Errorf("encode overrides of %s: %w", arn, err)
		}
		b.WriteString(`,"overrides":`)
		b.Write(raw)
	}
	optional("startedBy", t.StartedBy)
	optional("group", t.Group)
	optional("availabilityZone", t.AvailabilityZone)
	b.WriteByte('}')
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	raw, _ := json.Marshal(s) // a string always encodes
	b.Write(raw)
}
