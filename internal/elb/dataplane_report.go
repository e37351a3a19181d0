package elb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/elb/health"
	"github.com/berth-dev/berth/internal/elb/proxy"
	"github.com/berth-dev/berth/internal/store"
)

// healthReporter is the engine's proxy.Reporter. It never blocks the
// engine: reports are queued, the latest per target winning, and the data
// plane's writer (writeReports) records them.
type healthReporter struct {
	mu      sync.Mutex
	health  map[reportKey]health.Result
	drained map[reportKey]bool
	wake    chan struct{}
}

var _ proxy.Reporter = (*healthReporter)(nil)

// reportKey names a target: its group's ARN and "<id>:<port>".
type reportKey struct{ Group, Target string }

func newHealthReporter() *healthReporter {
	return &healthReporter{
		health:  map[reportKey]health.Result{},
		drained: map[reportKey]bool{},
		wake:    make(chan struct{}, 1),
	}
}

func (r *healthReporter) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// TargetHealth queues a target's new health.
func (r *healthReporter) TargetHealth(groupARN, targetKey string, res health.Result) {
	r.mu.Lock()
	r.health[reportKey{groupARN, targetKey}] = res
	r.mu.Unlock()
	r.signal()
}

// TargetDrained queues a finished drain.
func (r *healthReporter) TargetDrained(groupARN, targetKey string) {
	k := reportKey{groupARN, targetKey}
	r.mu.Lock()
	r.drained[k] = true
	delete(r.health, k)
	r.mu.Unlock()
	r.signal()
}

// take empties the queue.
func (r *healthReporter) take() (map[reportKey]health.Result, map[reportKey]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, d := r.health, r.drained
	r.health, r.drained = map[reportKey]health.Result{}, map[reportKey]bool{}
	return h, d
}

// requeue puts back reports that could not be written, unless a newer one
// came meanwhile.
func (r *healthReporter) requeue(h map[reportKey]health.Result, d map[reportKey]bool) {
	r.mu.Lock()
	for k, res := range h {
		if _, newer := r.health[k]; !newer && !r.drained[k] {
			r.health[k] = res
		}
	}
	for k := range d {
		r.drained[k] = true
	}
	r.mu.Unlock()
}

// reportRetry is how long the writer waits after a failed write before it
// tries the failed reports again.
const reportRetry = time.Second

// writeReports records the reporter's reports until ctx ends.
func (s *Service) writeReports(ctx context.Context, r *healthReporter) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		hs, ds := r.take()
		failedH, failedD := map[reportKey]health.Result{}, map[reportKey]bool{}
		for k := range ds {
			if err := s.recordDrained(ctx, k); err != nil {
				failedD[k] = true
				s.logReportError(ctx, k, err)
			}
		}
		for k, res := range hs {
			if err := s.recordHealth(ctx, k, res); err != nil {
				failedH[k] = res
				s.logReportError(ctx, k, err)
			}
		}
		if len(failedH)+len(failedD) == 0 {
			continue
		}
		r.requeue(failedH, failedD)
		t := time.NewTimer(reportRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
			r.signal()
		}
	}
}

func (s *Service) logReportError(ctx context.Context, k reportKey, err error) {
	if ctx.Err() == nil {
		s.log.Error("data plane: record target report", "targetGroup", k.Group, "target", k.Target, "err", err)
	}
}

// errNotOurGroup is a report about a group ARN this service does not own
// (dropped).
var errNotOurGroup = errors.New("not a target group of this account")

func (s *Service) reportedTargetID(k reportKey) (string, error) {
	p, ok := s.arns.parse(k.Group)
	if !ok || p.Kind != "targetgroup" {
		return "", errNotOurGroup
	}
	return targetID(p, k.Target), nil
}

// recordHealth writes a target's health record when it changed, and only
// while the target is registered.
func (s *Service) recordHealth(ctx context.Context, k reportKey, res health.Result) error {
	id, err := s.reportedTargetID(k)
	if err != nil {
		return nil // nothing to record it against
	}
	ctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
	defer cancel()
	return s.st.Update(ctx, func(tx *store.Tx) error {
		if _, err := store.Get(tx, targets, id); errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		old, err := store.Get(tx, targetHealth, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil && old.State == res.State && old.Reason == res.Reason && old.Description == res.Description {
			return nil
		}
		store.Put(tx, targetHealth, id, healthRecord{State: res.State, Reason: res.Reason, Description: res.Description, Since: s.now()})
		return nil
	})
}

// recordDrained deletes a target that finished draining, with its health;
// one registered again meanwhile stays.
func (s *Service) recordDrained(ctx context.Context, k reportKey) error {
	id, err := s.reportedTargetID(k)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
	defer cancel()
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		t, err := store.Get(tx, targets, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && t.DrainUntil.IsZero()) {
			return nil
		}
		if err != nil {
			return err
		}
		store.Delete(tx, targets, id)
		store.Delete(tx, targetHealth, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("drained %s: %w", id, err)
	}
	return nil
}
