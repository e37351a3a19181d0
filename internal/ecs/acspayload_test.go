package ecs

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// payloadFixture is a service with cluster "prod", two instances (the
// second to hold tasks of another instance) and a session of the first, as
// the socket would hold it, without a socket.
type payloadFixture struct {
	s           *Service
	inst, other string
	sess        *acsSession
	st          *sessionState
	tiny        string
}

func newPayloadFixture(t *testing.T) *payloadFixture {
	t.Helper()
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 4096, 4096)
	other := registerInstance(t, s, "prod", 4096, 4096)
	return &payloadFixture{
		s: s, inst: inst, other: other,
		sess: &acsSession{key: "prod/" + idFromARN(inst), cname: "prod", instArn: inst},
		st:   newSessionState(),
		tiny: registerTaskDef(t, s, tinyTaskDef),
	}
}

// start starts count tasks on the instance (StartTask, so placement does
// not choose) and returns their ARNs.
func (f *payloadFixture) start(t *testing.T, inst string, count int) []string {
	t.Helper()
	var arns []string
	for count > 0 {
		n := min(count, 10)
		instances := make([]string, n)
		for i := range instances {
			instances[i] = inst
		}
		out, err := f.s.StartTask(t.Context(), &ecstypes.StartTaskRequest{
			Cluster: aws.String("prod"), TaskDefinition: aws.String(f.tiny), ContainerInstances: instances,
		})
		if err != nil || len(out.Tasks) != n {
			t.Fatalf("StartTask: %v, %v", err, out)
		}
		for _, task := range out.Tasks {
			arns = append(arns, aws.ToString(task.TaskArn))
		}
		count -= n
	}
	return arns
}

// payloads runs nextPayloads on a read model that has seen every write so
// far, and decodes what it returns, checked against the model.
func (f *payloadFixture) payloads(t *testing.T) []acs.PayloadMessage {
	t.Helper()
	rm, err := f.s.freshModel(t.Context(), tasksPart|instancesPart)
	if err != nil {
		t.Fatal(err)
	}
	raws, err := f.s.nextPayloads(t.Context(), rm, f.sess, f.st)
	if err != nil {
		t.Fatal(err)
	}
	var out []acs.PayloadMessage
	for _, raw := range raws {
		out = append(out, decodeAs[acs.PayloadMessage](t, checkedMessage(t, raw, acs.TypePayload)))
	}
	return out
}

// checkedMessage decodes one frame the server would send and fails the test
// unless it has the given type and the model's shape.
func checkedMessage(t *testing.T, raw []byte, typ string) acsMessage {
	t.Helper()
	m, problems := decodeACS(raw)
	for _, p := range problems {
		t.Errorf("%s", p)
	}
	if m.Type != typ {
		t.Fatalf("message type %q, want %s: %s", m.Type, typ, raw)
	}
	return m
}

// Payloads come in chunks of ten tasks, numbered in order; a task is sent
// again only when its desired state changes, and forgotten once it leaves
// the instance.
func TestNextPayloads(t *testing.T) {
	f := newPayloadFixture(t)
	if got := f.payloads(t); len(got) != 0 {
		t.Fatalf("an instance without tasks was sent %d payloads", len(got))
	}
	arns := f.start(t, f.inst, 23)
	f.start(t, f.other, 2) // never sent to this instance

	got := f.payloads(t)
	var sizes []int
	var sent []string
	var lastSeq int64
	for _, p := range got {
		sizes = append(sizes, len(p.Tasks))
		if p.SeqNum <= lastSeq || p.ClusterArn != f.s.arns.cluster("prod") || p.ContainerInstanceArn != f.inst || p.MessageID == "" {
			t.Fatalf("payload header: seq %d (after %d) cluster %s instance %s id %q", p.SeqNum, lastSeq, p.ClusterArn, p.ContainerInstanceArn, p.MessageID)
		}
		lastSeq = p.SeqNum
		for _, task := range p.Tasks {
			sent = append(sent, task.Arn)
			if task.DesiredStatus != "RUNNING" {
				t.Errorf("task %s sent with desiredStatus %s", task.Arn, task.DesiredStatus)
			}
		}
	}
	if !slices.Equal(sizes, []int{10, 10, 3}) {
		t.Fatalf("payload sizes %v, want [10 10 3]", sizes)
	}
	if !slices.Equal(sorted(sent...), sorted(arns...)) {
		t.Fatalf("sent %d tasks %v, want the instance's %d", len(sent), sent, len(arns))
	}
	if again := f.payloads(t); len(again) != 0 {
		t.Fatalf("unchanged tasks sent again: %d payloads", len(again))
	}

	stopTask(t, f.s, "prod", arns[4], "")
	reportTask(t, f.s, "prod", arns[7], "RUNNING", "") // no change to what the agent is sent
	got = f.payloads(t)
	if len(got) != 1 || len(got[0].Tasks) != 1 || got[0].Tasks[0].Arn != arns[4] || got[0].Tasks[0].DesiredStatus != "STOPPED" ||
		got[0].SeqNum <= lastSeq {
		t.Fatalf("after StopTask: %+v, want one payload with %s STOPPED", got, arns[4])
	}

	// Stopped, the task leaves the instance: nothing is sent, and the
	// session forgets it.
	reportTask(t, f.s, "prod", arns[4], "STOPPED", "")
	if got := f.payloads(t); len(got) != 0 {
		t.Fatalf("a task that left the instance was sent: %+v", got)
	}
	if _, ok := f.st.sent[arns[4]]; ok || len(f.st.sent) != 22 {
		t.Fatalf("session remembers %d tasks (stopped one: %t), want the 22 left", len(f.st.sent), ok)
	}
}

// The manifest lists every task the server has on the instance with its
// desired status, under a timeline past every number the session used.
func TestManifest(t *testing.T) {
	f := newPayloadFixture(t)
	arns := f.start(t, f.inst, 3)
	f.start(t, f.other, 1)
	stopTask(t, f.s, "prod", arns[1], "")
	reportTask(t, f.s, "prod", arns[2], "STOPPED", essentialExitReason) // off the instance
	payloads := f.payloads(t)
	rm, err := f.s.freshModel(t.Context(), tasksPart|instancesPart)
	if err != nil {
		t.Fatal(err)
	}
	m := checkedMessage(t, f.s.manifest(rm, f.sess, f.st), acs.TypeTaskManifest)
	mf := decodeAs[acs.TaskManifestMessage](t, m)
	if got, want := manifestTasks(t, m), map[string]string{arns[0]: "RUNNING", arns[1]: "STOPPED"}; !sameStatuses(got, want) {
		t.Fatalf("manifest tasks %v, want %v", got, want)
	}
	for _, p := range payloads {
		if mf.Timeline <= p.SeqNum {
			t.Fatalf("manifest timeline %d not past payload seqNum %d", mf.Timeline, p.SeqNum)
		}
	}
	if mf.MessageID == "" || mf.ClusterArn != f.s.arns.cluster("prod") || mf.ContainerInstanceArn != f.inst || mf.GeneratedAt != testNow.Unix() {
		t.Fatalf("manifest header: %s", m.Raw)
	}
	next := decodeAs[acs.TaskManifestMessage](t, checkedMessage(t, f.s.manifest(rm, f.sess, f.st), acs.TypeTaskManifest))
	if next.Timeline <= mf.Timeline || next.MessageID == mf.MessageID {
		t.Fatalf("second manifest: timeline %d after %d, id %s after %s", next.Timeline, mf.Timeline, next.MessageID, mf.MessageID)
	}
}

// The server confirms the stop of a candidate unless it wants that very
// task running on that very instance.
func TestVerifyStops(t *testing.T) {
	f := newPayloadFixture(t)
	s := f.s
	arns := f.start(t, f.inst, 3)
	running, stopping, stopped := arns[0], arns[1], arns[2]
	stopTask(t, s, "prod", stopping, "")
	reportTask(t, s, "prod", stopped, "STOPPED", essentialExitReason)
	elsewhere := f.start(t, f.other, 1)[0]
	createCluster(t, s, "dev")
	registerInstance(t, s, "dev", 1024, 1024)
	inDev := runOne(t, s, "dev", f.tiny)

	tests := []struct {
		name, arn string
		stop      bool
	}{
		{"wanted running here", running, false},
		{"desired STOPPED", stopping, true},
		{"already STOPPED", stopped, true},
		{"running on another instance", elsewhere, true},
		{"in another cluster", inDev, true},
		{"unknown in the cluster", s.arns.task("prod", "0123456789abcdef0123456789abcdef"), true},
		{"of another account", "arn:aws:ecs:us-east-1:111111111111:task/prod/" + idFromARN(running), true},
		{"not an ARN", "task/prod/../x", true},
	}
	var candidates []acs.TaskIdentifier
	var want []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := s.verifyStops(t.Context(), f.sess, acs.TaskStopVerificationMessage{
				MessageID: "manifest-1", StopCandidates: []acs.TaskIdentifier{{TaskArn: tc.arn, DesiredStatus: "STOPPED"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			ack := decodeAs[acs.TaskStopVerificationAck](t, checkedMessage(t, raw, acs.TypeTaskStopVerificationAck))
			if ack.MessageID != "manifest-1" {
				t.Fatalf("ack messageId %q, want the manifest's", ack.MessageID)
			}
			if got := len(ack.StopTasks) == 1 && ack.StopTasks[0].TaskArn == tc.arn; got != tc.stop {
				t.Fatalf("stopTasks %+v, want %s stopped: %t", ack.StopTasks, tc.arn, tc.stop)
			}
		})
		candidates = append(candidates, acs.TaskIdentifier{TaskArn: tc.arn})
		if tc.stop {
			want = append(want, tc.arn)
		}
	}
	// All at once, as the agent sends them.
	raw, err := s.verifyStops(t.Context(), f.sess, acs.TaskStopVerificationMessage{MessageID: "manifest-2", StopCandidates: candidates})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range decodeAs[acs.TaskStopVerificationAck](t, checkedMessage(t, raw, acs.TypeTaskStopVerificationAck)).StopTasks {
		got = append(got, id.TaskArn)
	}
	if !slices.Equal(sorted(got...), sorted(want...)) {
		t.Fatalf("stopTasks %v, want %v", got, want)
	}
	// An agent with nothing to stop is answered with an empty list, not null.
	raw, err = s.verifyStops(t.Context(), f.sess, acs.TaskStopVerificationMessage{MessageID: "manifest-3"})
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Message map[string]json.RawMessage }
	if err := json.Unmarshal(raw, &body); err != nil || string(body.Message["stopTasks"]) != "[]" {
		t.Fatalf("ack without candidates: %s", raw)
	}
}
