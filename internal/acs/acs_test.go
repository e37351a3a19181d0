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

// A task's associations as ECS sends them (ecs-agent/acs/model/api/api-2.json:
// Association name, type, content {encoding, value}, containers): GPUs
// gives each container the ids of the gpu ones naming it, and refuses one
// that names no single container of the task.
func TestTaskGPUs(t *testing.T) {
	const payload = `{"arn":"t","containers":[{"name":"train"},{"name":"eval"}],"associations":[
		{"name":"GPU-1","type":"gpu","content":{"encoding":"base64","value":"val"},"containers":["train"]},
		{"name":"ei-1","type":"elastic-inference","containers":["train","eval"]},
		{"name":"GPU-0","type":"gpu","containers":["train"]},
		{"name":"GPU-2","type":"gpu","containers":["eval"]}]}`
	var task Task
	if err := json.Unmarshal([]byte(payload), &task); err != nil {
		t.Fatal(err)
	}
	gpus, err := task.GPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(gpus) != 2 || len(gpus["train"]) != 2 || gpus["train"][0] != "GPU-1" || gpus["train"][1] != "GPU-0" || gpus["eval"][0] != "GPU-2" {
		t.Fatalf("GPUs = %v", gpus)
	}
	if task.Associations[0].Content == nil || task.Associations[0].Content.Encoding != EncodingBase64 {
		t.Fatalf("content = %+v", task.Associations[0].Content)
	}
	for _, bad := range [][]string{{"train", "eval"}, {}, {"ghost"}} {
		task.Associations = []Association{{Name: "GPU-9", Type: AssociationTypeGPU, Containers: bad}}
		if _, err := task.GPUs(); err == nil {
			t.Errorf("containers %v: no error", bad)
		}
	}
	// No associations member at all when there are none.
	b, err := json.Marshal(Task{Arn: "t"})
	if err != nil || json.Valid(b) && containsKey(b, "associations") {
		t.Fatalf("a task without associations encodes as %s (%v)", b, err)
	}
}

func containsKey(b []byte, key string) bool {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	_, ok := m[key]
	return ok
}
