package acs

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func TestEncodeDecode(t *testing.T) {
	in := PayloadMessage{
		MessageID: "m1", ClusterArn: "c", ContainerInstanceArn: "i", SeqNum: 3,
		Tasks: []Task{{Arn: "t", DesiredStatus: "RUNNING", TaskDefinition: ecstypes.TaskDefinition{Family: aws.String("web")}}},
	}
	b, err := Encode(TypePayload, in)
	if err != nil {
		t.Fatal(err)
	}
	env, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if env.Type != TypePayload {
		t.Fatalf("type = %q, want %q", env.Type, TypePayload)
	}
	var out PayloadMessage
	if err := json.Unmarshal(env.Message, &out); err != nil {
		t.Fatal(err)
	}
	if out.SeqNum != 3 || len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].TaskDefinition.Family) != "web" {
		t.Fatalf("round trip = %+v", out)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{`not json`, `{"message":{}}`, `[]`} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%s) succeeded, want an error", in)
		}
	}
}
