package ecs

import (
	"runtime"
	"testing"

	"github.com/berth-dev/berth/internal/acs"
)

// Every payload used to open a watch that was never cancelled: goroutines
// and buffered events grew with each payload for as long as the agent
// stayed connected. 1,000 payloads later, the server must hold what it held
// after the first.
func TestACSSessionStaysFlat(t *testing.T) {
	s, srv, inst := acsFixture(t)
	web := registerTaskDef(t, s, webTaskDef)
	agent := dialAgent(t, srv, s.arns.cluster("prod"), inst)
	agent.waitPayload(t, "the first payload", func(acs.PayloadMessage) bool { return true })
	// Let the first payload's work settle, then take the baseline.
	arn := runOne(t, s, "prod", web)
	agent.waitPayload(t, "the warm-up task", func(p acs.PayloadMessage) bool { _, ok := payloadTask(p, arn); return ok })
	reportTask(t, s, "prod", arn, "STOPPED", essentialExitReason)
	agent.waitPayload(t, "the warm-up task gone", func(p acs.PayloadMessage) bool { return len(p.Tasks) == 0 })
	before := runtime.NumGoroutine()

	for range 500 { // two payloads each: the task added, the task gone
		arn := runOne(t, s, "prod", web)
		agent.waitPayload(t, "a new task", func(p acs.PayloadMessage) bool { _, ok := payloadTask(p, arn); return ok })
		reportTask(t, s, "prod", arn, "STOPPED", essentialExitReason)
		agent.waitPayload(t, "the task gone", func(p acs.PayloadMessage) bool { return len(p.Tasks) == 0 })
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
