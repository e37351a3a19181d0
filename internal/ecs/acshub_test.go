package ecs

import (
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// Every payload used to open a watch that was never cancelled: goroutines
// and buffered events grew with each payload for as long as the agent
// stayed connected. 1,000 payloads later, the server must hold what it held
// after the first.
func TestACSSessionStaysFlat(t *testing.T) {
	h := newACSHarness(t, time.Second)
	s := h.s
	web := registerTaskDef(t, s, webTaskDef)
	agent := h.connect(t, "prod")
	agent.waitFor(t, acs.TypeTaskManifest, nil)
	// Two payloads per task: it starts, it is stopped. The agent's report
	// of the stop then takes it off the instance without a payload.
	cycle := func() {
		arn := runOne(t, s, "prod", web)
		agent.waitFor(t, acs.TypePayload, func(m acsMessage) bool { return payloadTasks(t, m)[arn] == "RUNNING" })
		stopTask(t, s, "prod", arn, "")
		agent.waitFor(t, acs.TypePayload, func(m acsMessage) bool { return payloadTasks(t, m)[arn] == "STOPPED" })
		reportTask(t, s, "prod", arn, "STOPPED", "")
	}
	// Let the first payloads' work settle, then take the baseline.
	cycle()
	before := runtime.NumGoroutine()
	for range 500 {
		cycle()
	}
	after := runtime.NumGoroutine()
	// A few goroutines come and go (timers, etcd client internals); a leak
	// per payload would be a thousand.
	if after > before+20 {
		t.Fatalf("goroutines grew from %d to %d over 1,000 payloads", before, after)
	}
	if n := s.acs.count(); n != 1 {
		t.Fatalf("hub holds %d sessions, want 1", n)
	}
}

// Only changes that can change what an instance is sent wake its sessions.
func TestPayloadChanged(t *testing.T) {
	view := func(instance, desired, last, reason string) *taskView {
		v := &taskView{InstanceID: instance}
		v.Task.DesiredStatus, v.Task.LastStatus = aws.String(desired), aws.String(last)
		if reason != "" {
			v.Task.StoppedReason = aws.String(reason)
		}
		return v
	}
	running := view("i-1", "RUNNING", "RUNNING", "")
	tests := []struct {
		name     string
		old, new *taskView
		want     bool
	}{
		{"created", nil, running, true},
		{"deleted", running, nil, true},
		{"lastStatus PENDING to RUNNING", view("i-1", "RUNNING", "PENDING", ""), running, false},
		{"desiredStatus STOPPED", running, view("i-1", "STOPPED", "RUNNING", "Task stopped by user"), true},
		{"stopped by its agent", view("i-1", "STOPPED", "RUNNING", "bye"), view("i-1", "STOPPED", "STOPPED", "bye"), true},
		{"stoppedReason only", view("i-1", "STOPPED", "RUNNING", "a"), view("i-1", "STOPPED", "RUNNING", "b"), true},
		{"moved to another instance", running, view("i-2", "RUNNING", "RUNNING", ""), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := payloadChanged(tc.old, tc.new); got != tc.want {
				t.Fatalf("payloadChanged = %t, want %t", got, tc.want)
			}
		})
	}
}

// The hub wakes the sessions of the instances a task was and is on, and of
// an instance that is deregistered, and no others.
func TestACSHubWakes(t *testing.T) {
	view := func(instance, desired string) *taskView {
		v := &taskView{InstanceID: instance}
		v.Task.DesiredStatus, v.Task.LastStatus = aws.String(desired), aws.String("RUNNING")
		return v
	}
	inactive := &instanceRecord{Instance: ecstypes.ContainerInstance{Status: aws.String("INACTIVE")}}
	active := &instanceRecord{Instance: ecstypes.ContainerInstance{Status: aws.String("ACTIVE")}}
	tests := []struct {
		name   string
		change func(h *acsHub)
		want   []string // the instances woken
	}{
		{"task placed", func(h *acsHub) { h.taskChanged("prod/t1", nil, view("i-1", "RUNNING")) }, []string{"i-1"}},
		{"task stopped", func(h *acsHub) { h.taskChanged("prod/t1", view("i-1", "RUNNING"), view("i-1", "STOPPED")) }, []string{"i-1"}},
		{"task moved", func(h *acsHub) { h.taskChanged("prod/t1", view("i-1", "RUNNING"), view("i-2", "RUNNING")) }, []string{"i-1", "i-2"}},
		{"unrelated task change", func(h *acsHub) { h.taskChanged("prod/t1", view("i-1", "RUNNING"), view("i-1", "RUNNING")) }, nil},
		{"instance deregistered", func(h *acsHub) { h.instanceChanged("prod/i-2", active, inactive) }, []string{"i-2"}},
		{"instance deleted", func(h *acsHub) { h.instanceChanged("prod/i-1", active, nil) }, []string{"i-1"}},
		{"instance updated", func(h *acsHub) { h.instanceChanged("prod/i-1", active, active) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newACSHub()
			sessions := map[string]*acsSession{}
			for _, id := range []string{"i-1", "i-2", "i-3"} {
				sessions[id] = h.add("prod/"+id, "prod", "arn:"+id)
			}
			tc.change(h)
			for id, sess := range sessions {
				woken := len(sess.wake) == 1
				if want := containsStr(tc.want, id); woken != want {
					t.Errorf("session of %s woken = %t, want %t", id, woken, want)
				}
			}
		})
	}
	h := newACSHub()
	a, b := h.add("prod/i-1", "prod", "arn:a"), h.add("prod/i-1", "prod", "arn:a")
	if h.count() != 2 {
		t.Fatalf("count = %d, want 2", h.count())
	}
	h.remove(a)
	h.remove(b)
	if h.count() != 0 || len(h.sessions) != 0 {
		t.Fatalf("after removing both: count %d, %d keys", h.count(), len(h.sessions))
	}
}
