package proxy

import (
	"sync"
	"testing"
)

// applyingReporter calls Apply from TargetDrained, as the elb service
// may: the target is dropped from the config once drained.
type applyingReporter struct {
	*fakeReporter
	mu    sync.Mutex
	e     *Engine
	after Config
	errs  chan error
}

func (r *applyingReporter) TargetDrained(group, key string) {
	r.fakeReporter.TargetDrained(group, key)
	r.mu.Lock()
	e, cfg := r.e, r.after
	r.mu.Unlock()
	r.errs <- e.Apply(cfg)
}

func TestReporterMayApplyFromTargetDrained(t *testing.T) {
	rep := &applyingReporter{fakeReporter: newFakeReporter(), errs: make(chan error, 1)}
	e := New(Options{Reporter: rep, Logger: quietLogger(), newProber: noProber})
	t.Cleanup(e.Close)
	g := group("G", hostPort(namedBackend(t, "a")), hostPort(namedBackend(t, "b")))
	l := httpListener("L", forward("G"))
	rep.mu.Lock()
	rep.e = e
	kept := group("G")
	kept.Targets = []Target{g.Targets[1]}
	rep.after = config([]Listener{l}, kept)
	rep.mu.Unlock()
	mustApply(t, e, config([]Listener{l}, g))
	g.Targets[0].Draining = true
	mustApply(t, e, config([]Listener{l}, g)) // nothing in flight: drained at once
	if err := <-rep.errs; err != nil {
		t.Fatalf("Apply from TargetDrained: %v", err)
	}
	if _, body := get(t, testClient(), baseURL(t, e, "L")+"/"); body != "b" {
		t.Errorf("after drain and removal: %q", body)
	}
}
