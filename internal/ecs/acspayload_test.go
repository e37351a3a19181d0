package ecs

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// The hand-built payload must read back exactly as acs.Encode's would, and
// a set that did not change must not be sent again.
func TestPayloadBuilder(t *testing.T) {
	s, _, inst := acsFixture(t)
	connectAgent(t, s, inst)
	def := registerTaskDef(t, s, healthTaskDef)
	out, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{
		Cluster: aws.String("prod"), TaskDefinition: aws.String(def), Count: aws.Int32(2), StartedBy: aws.String("me"),
		Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{
			Name: aws.String("a"), Environment: []ecstypes.KeyValuePair{{Name: aws.String("K"), Value: aws.String("v \"q\"")}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	stopTask(t, s, "prod", aws.ToString(out.Tasks[1].TaskArn), "bye")
	rm, err := s.freshModel(t.Context(), tasksPart|instancesPart)
	if err != nil {
		t.Fatal(err)
	}
	sess := &acsSession{key: "prod/" + idFromARN(inst), cname: "prod", instArn: inst}
	pb := &payloadBuilder{}
	raw, err := s.nextPayload(t.Context(), rm, sess, pb)
	if err != nil || raw == nil {
		t.Fatalf("first payload: %s, %v", raw, err)
	}
	env, err := acs.Decode(raw)
	if err != nil || env.Type != acs.TypePayload {
		t.Fatalf("envelope %s: %v", raw, err)
	}
	var got acs.PayloadMessage
	if err := json.Unmarshal(env.Message, &got); err != nil {
		t.Fatalf("payload %s: %v", env.Message, err)
	}

	tdef := describeTaskDef(t, s, def)
	var want []acs.Task
	for _, task := range out.Tasks {
		d := describeTask(t, s, "prod", aws.ToString(task.TaskArn))
		want = append(want, acs.Task{
			Arn: aws.ToString(d.TaskArn), DesiredStatus: aws.ToString(d.DesiredStatus), StoppedReason: aws.ToString(d.StoppedReason),
			TaskDefinition: tdef, Overrides: d.Overrides, StartedBy: aws.ToString(d.StartedBy), Group: aws.ToString(d.Group),
			AvailabilityZone: aws.ToString(d.AvailabilityZone),
		})
	}
	// The payload lists tasks in ARN order. Compare through JSON, as the
	// agent reads it.
	slices.SortFunc(want, func(a, b acs.Task) int { return strings.Compare(a.Arn, b.Arn) })
	wantJSON, _ := json.Marshal(want)
	var wantBack []acs.Task
	_ = json.Unmarshal(wantJSON, &wantBack)
	if got.ClusterArn != s.arns.cluster("prod") || got.ContainerInstanceArn != inst || got.SeqNum != 1 || got.MessageID == "" {
		t.Fatalf("payload header = %+v", got)
	}
	if !reflect.DeepEqual(got.Tasks, wantBack) {
		gotJSON, _ := json.Marshal(got.Tasks)
		t.Fatalf("payload tasks differ:\ngot  %s\nwant %s", gotJSON, wantJSON)
	}
	if again, err := s.nextPayload(t.Context(), rm, sess, pb); err != nil || again != nil {
		t.Fatalf("unchanged set sent again: %s, %v", again, err)
	}
}

func describeTaskDef(t *testing.T, s *Service, arn string) ecstypes.TaskDefinition {
	t.Helper()
	out, err := s.DescribeTaskDefinition(t.Context(), &ecstypes.DescribeTaskDefinitionRequest{TaskDefinition: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	return *out.TaskDefinition
}
