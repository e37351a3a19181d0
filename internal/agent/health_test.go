package agent

import (
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/tcs"
)

func TestHealthTracker(t *testing.T) {
	now := healthNow
	h := newHealthTracker(testClusterARN, func() time.Time { return now })
	ready := func() bool {
		select {
		case <-h.ready():
			return true
		default:
			return false
		}
	}
	web := func(health string) engine.TaskStateChange {
		return healthChange("t1", map[string]string{"web": health, "side": ""})
	}

	h.track(web(""))
	if ready() || len(h.take()) != 0 {
		t.Fatal("health queued for containers without a health check")
	}
	h.track(web("UNKNOWN"))
	if !ready() {
		t.Fatal("health change not signalled")
	}
	want := []tcs.TaskHealth{wantHealth("t1", ch("web", "UNKNOWN"))}
	if got := h.take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("take = %+v, want %+v", got, want)
	}
	now = now.Add(time.Minute)
	h.track(web("UNKNOWN"))
	if ready() {
		t.Fatal("unchanged health signalled")
	}
	h.track(web("HEALTHY"))
	ready()
	got := h.take()
	if since := got[0].Containers[0].StatusSince; since == nil || !since.Equal(now) {
		t.Errorf("statusSince = %v, want the change's time %v", since, now)
	}
	// A failed publish is queued again; what is taken is always the newest.
	h.track(web("UNHEALTHY"))
	h.requeue(got)
	if !ready() {
		t.Fatal("requeue not signalled")
	}
	if got := h.take(); len(got) != 1 || got[0].Containers[0].HealthStatus != "UNHEALTHY" {
		t.Fatalf("take after requeue = %+v", got)
	}
	// queueAll (after a reconnect) queues unchanged health too.
	h.queueAll()
	if !ready() || len(h.take()) != 1 {
		t.Fatal("queueAll did not queue the task's health")
	}
	// A stopped task's health is forgotten, and not requeued.
	h.track(web("HEALTHY"))
	h.track(engine.TaskStateChange{TaskARN: "t1", Status: "STOPPED"})
	if got := h.take(); len(got) != 0 {
		t.Fatalf("stopped task health still queued: %+v", got)
	}
	h.requeue(want)
	h.queueAll()
	if got := h.take(); len(got) != 0 {
		t.Fatalf("stopped task health requeued: %+v", got)
	}
}
