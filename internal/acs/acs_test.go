package acs

import (
	"encoding/json"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	in := PayloadMessage{
		MessageID: "m1", ClusterArn: "c", ContainerInstanceArn: "i", SeqNum: 3,
		Tasks: []Task{{Arn: "t", DesiredStatus: "RUNNING", Family: "web", Version: "2"}},
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
	if out.MessageID != "m1" || out.SeqNum != 3 || len(out.Tasks) != 1 || out.Tasks[0].Version != "2" {
		t.Fatalf("round trip = %+v", out)
	}
	for _, bad := range []string{`{`, `{"message":{}}`, `[]`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) succeeded", bad)
		}
	}
}
