package ecs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// payloadBuilder builds one agent session's payloads from cached JSON: a
// task's entry is encoded once per desired state (task definitions once per
// server, in the task definition cache), so a payload costs a copy of its
// bytes rather than an encoding of every task on the instance.
type payloadBuilder struct {
	entries map[string]payloadEntry // by task ARN
	last    []byte                  // the tasks array last sent
	seq     int64
}

type payloadEntry struct {
	desired, reason string
	raw             []byte
}

// payloadEntryJSON is acs.Task with the task definition already encoded: the
// same JSON.
type payloadEntryJSON struct {
	Arn              string                 `json:"arn"`
	DesiredStatus    string                 `json:"desiredStatus"`
	StoppedReason    string                 `json:"stoppedReason,omitempty"`
	TaskDefinition   json.RawMessage        `json:"taskDefinition"`
	Overrides        *ecstypes.TaskOverride `json:"overrides,omitempty"`
	StartedBy        string                 `json:"startedBy,omitempty"`
	Group            string                 `json:"group,omitempty"`
	AvailabilityZone string                 `json:"availabilityZone,omitempty"`
}

// next returns the PayloadMessage envelope for the instance's current task
// set, or nil when the set is what was last sent.
func (s *Service) nextPayload(ctx context.Context, rm *readModel, sess *acsSession, pb *payloadBuilder) ([]byte, error) {
	// The cache's records are shared and never modified: keep pointers.
	var recs []*taskView
	rm.tasks.Ascend(idxTaskOnInstance, sess.key, "", func(_ string, r *taskView) bool {
		recs = append(recs, r)
		return true
	})
	seen := make(map[string]payloadEntry, len(recs))
	var tasks bytes.Buffer
	tasks.WriteByte('[')
	for i, r := range recs {
		t := &r.Task
		arn := aws.ToString(t.TaskArn)
		e, ok := pb.entries[arn]
		if !ok || e.desired != aws.ToString(t.DesiredStatus) || e.reason != aws.ToString(t.StoppedReason) {
			def, err := s.taskDefByARN(ctx, aws.ToString(t.TaskDefinitionArn))
			if err != nil {
				return nil, fmt.Errorf("task %s: %w", arn, err)
			}
			raw, err := json.Marshal(payloadEntryJSON{
				Arn: arn, DesiredStatus: aws.ToString(t.DesiredStatus), StoppedReason: aws.ToString(t.StoppedReason),
				TaskDefinition: def.raw, Overrides: t.Overrides, StartedBy: aws.ToString(t.StartedBy),
				Group: aws.ToString(t.Group), AvailabilityZone: aws.ToString(t.AvailabilityZone),
			})
			if err != nil {
				return nil, fmt.Errorf("encode task %s: %w", arn, err)
			}
			e = payloadEntry{desired: aws.ToString(t.DesiredStatus), reason: aws.ToString(t.StoppedReason), raw: raw}
		}
		seen[arn] = e
		if i > 0 {
			tasks.WriteByte(',')
		}
		tasks.Write(e.raw)
	}
	tasks.WriteByte(']')
	pb.entries = seen
	if bytes.Equal(tasks.Bytes(), pb.last) {
		return nil, nil
	}
	pb.last = tasks.Bytes()
	pb.seq++
	// The envelope by hand: encoding/json would re-validate the tasks.
	var msg bytes.Buffer
	msg.WriteString(`{"type":"` + acs.TypePayload + `","message":{"messageId":`)
	msg.WriteString(strconv.Quote(newUUID()))
	msg.WriteString(`,"clusterArn":`)
	writeJSONString(&msg, s.arns.cluster(sess.cname))
	msg.WriteString(`,"containerInstanceArn":`)
	writeJSONString(&msg, sess.instArn)
	msg.WriteString(`,"seqNum":` + strconv.FormatInt(pb.seq, 10) + `,"tasks":`)
	msg.Write(pb.last)
	msg.WriteString(`}}`)
	return msg.Bytes(), nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	raw, _ := json.Marshal(s) // a string always encodes
	b.Write(raw)
}
