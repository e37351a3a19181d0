package proxy

import (
	"context"
	"sync"
	"time"
)

// acquire counts a request or connection in flight on a target.
func (e *Engine) acquire(ts *targetState) { ts.inflight.Add(1) }

// release ends one; the last one out of a draining target finishes its
// drain.
func (e *Engine) release(ts *targetState) {
	if ts.inflight.Add(-1) == 0 && ts.draining.Load() {
		e.drained(ts)
	}
}

// drained reports a finished drain, once per drain. The report goes out
// from the notifier's goroutine, so a Reporter may call Apply from it.
func (e *Engine) drained(ts *targetState) {
	if ts.gone.Load() || !ts.drainReported.CompareAndSwap(false, true) {
		return
	}
	rep := e.opts.Reporter
	if rep == nil {
		return
	}
	e.log.Debug("target drained", "group", ts.group, "target", ts.key)
	e.notify.post(func() { rep.TargetDrained(ts.group, ts.key) })
}

// syncDrain applies a target's Draining and DrainUntil from a snapshot.
// Runs under e.mu.
func (e *Engine) syncDrain(ts *targetState, t Target, now time.Time) {
	if !t.Draining {
		if ts.draining.Load() {
			// Registered again: a later deregistration drains afresh.
			ts.draining.Store(false)
			e.stopDrainTimer(ts)
			ts.drainReported.Store(false)
			if ts.cutter().ctx.Err() != nil {
				ts.cut.Store(newCutter())
			}
		}
		return
	}
	if !ts.draining.Load() {
		ts.drainReported.Store(false)
		ts.draining.Store(true)
	}
	if ts.inflight.Load() == 0 {
		e.drained(ts)
		return
	}
	if t.DrainUntil.IsZero() || t.DrainUntil.Equal(ts.drainUntil) {
		return
	}
	e.stopDrainTimer(ts)
	ts.drainUntil = t.DrainUntil
	ts.drainTimer = time.AfterFunc(max(t.DrainUntil.Sub(now), 0), func() {
		// The deregistration delay is over: what is still in flight is
		// cut, as ELB cuts it.
		ts.cutter().cancel()
		e.drained(ts)
	})
}

// stopDrainTimer cancels a pending DrainUntil. Runs under e.mu.
func (e *Engine) stopDrainTimer(ts *targetState) {
	if ts.drainTimer != nil {
		ts.drainTimer.Stop()
		ts.drainTimer = nil
	}
	ts.drainUntil = time.Time{}
}

// stopDrainTimers cancels every pending DrainUntil (Close).
func (e *Engine) stopDrainTimers() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.states.mu.Lock()
	defer e.states.mu.Unlock()
	for _, ts := range e.states.targets {
		e.stopDrainTimer(ts)
	}
}

// notifier runs Reporter callbacks in order on one goroutine, off every
// lock of the engine.
type notifier struct {
	mu   sync.Mutex
	q    []func()
	wake chan struct{}
}

func newNotifier() *notifier { return &notifier{wake: make(chan struct{}, 1)} }

// post queues f; it never blocks.
func (n *notifier) post(f func()) {
	n.mu.Lock()
	n.q = append(n.q, f)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// run delivers queued callbacks until ctx ends.
func (n *notifier) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		}
		n.mu.Lock()
		q := n.q
		n.q = nil
		n.mu.Unlock()
		for _, f := range q {
			f()
		}
	}
}

// cutter cancels a target's requests and connections in flight when its
// drain's DrainUntil passes. It does not descend from the engine's
// context, so targets coming and going leave nothing registered there.
type cutter struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newCutter() *cutter {
	ctx, cancel := context.WithCancel(context.Background())
	return &cutter{ctx: ctx, cancel: cancel}
}

// cutter is the target's current cutter.
func (ts *targetState) cutter() *cutter { return ts.cut.Load() }

// onCut runs f if the target's drain is cut while the returned stop has
// not been called.
func (ts *targetState) onCut(f func()) (stop func() bool) {
	return context.AfterFunc(ts.cutter().ctx, f)
}
