package elb

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/elb/proxy"
	"github.com/berth-dev/berth/internal/store"
)

// The data plane runs on the one server that holds the controllers'
// lease. It watches the load balancing records (informers), rebuilds the
// proxy's whole configuration on every change (debounced) and applies it.
// What the proxy learns flows back as records: target health
// (healthRecord, which DescribeTargetHealth and ECS read) and finished
// drains (the target and its health deleted). A sweep deletes targets
// whose drain deadline has passed, should the proxy never report them.

// applier is what RunDataPlane drives: *proxy.Engine, or a test's fake.
type applier interface {
	Apply(proxy.Config) error
	Close()
}

var _ applier = (*proxy.Engine)(nil)

// dataPlaneOptions tune runDataPlane; RunDataPlane uses the defaults.
type dataPlaneOptions struct {
	// NewEngine makes the engine, given the reporter it must report to.
	NewEngine func(proxy.Options) applier
	// Quiet is how long no change must come before a burst of changes is
	// applied; MaxDelay bounds how long a change waits in a long burst.
	Quiet, MaxDelay time.Duration
	// SweepEvery is how often expired drains are swept (and a failed
	// Apply retried).
	SweepEvery time.Duration
	// Retry is how long to wait before starting informers again after a
	// failure to list.
	Retry time.Duration
}

func defaultDataPlaneOptions() dataPlaneOptions {
	return dataPlaneOptions{
		NewEngine:  func(o proxy.Options) applier { return proxy.New(o) },
		Quiet:      100 * time.Millisecond,
		MaxDelay:   200 * time.Millisecond,
		SweepEvery: 5 * time.Second,
		Retry:      time.Second,
	}
}

// storeCallTimeout bounds each store transaction (and certificate load)
// the data plane makes.
const storeCallTimeout = 10 * time.Second

// sweepBatch is how many expired targets one sweep transaction deletes.
const sweepBatch = 50

// RunDataPlane serves every load balancer of the account until ctx ends
// (the server calls it on the server that holds the controllers' lease).
// The engine is closed when it returns.
func (s *Service) RunDataPlane(ctx context.Context) {
	s.runDataPlane(ctx, defaultDataPlaneOptions())
}

// dataPlaneInformers are the informers the data plane is built from.
type dataPlaneInformers struct {
	lbs       *store.Informer[lbRecord]
	listeners *store.Informer[listenerRecord]
	rules     *store.Informer[ruleRecord]
	groups    *store.Informer[tgRecord]
	targets   *store.Informer[targetRecord]
}

func (s *Service) runDataPlane(ctx context.Context, opts dataPlaneOptions) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := s.log.With("component", "dataplane")

	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	infs, ok := s.startInformers(ctx, opts.Retry, notify)
	if !ok {
		return
	}

	rep := newHealthReporter()
	engine := opts.NewEngine(proxy.Options{Reporter: rep, Logger: log})
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		engine.Close()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.writeReports(ctx, rep)
	}()

	apply := func() bool {
		cfg := s.translatorFor(ctx).build(infs.snapshot())
		if err := engine.Apply(cfg); err != nil {
			log.Error("data plane: apply", "err", err)
			return false
		}
		return true
	}
	applied := apply()

	sweep := time.NewTicker(opts.SweepEvery)
	defer sweep.Stop()
	changes := debouncer{Quiet: opts.Quiet, MaxDelay: opts.MaxDelay}
	defer changes.stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			changes.poke(time.Now())
		case <-changes.C():
			changes.fired()
			applied = apply()
		case <-sweep.C:
			s.sweepDrained(ctx, infs)
			if !applied {
				applied = apply()
			}
		}
	}
}

// debouncer coalesces a burst of changes into one: it fires Quiet after
// the last poke, or MaxDelay after the first, whichever comes first.
type debouncer struct {
	Quiet, MaxDelay time.Duration
	timer           *time.Timer
	deadline        time.Time
}

// poke notes a change at now.
func (d *debouncer) poke(now time.Time) {
	if d.timer == nil {
		d.deadline = now.Add(d.MaxDelay)
		d.timer = time.NewTimer(min(d.Quiet, d.MaxDelay))
		return
	}
	d.timer.Reset(max(0, min(d.Quiet, d.deadline.Sub(now))))
}

// C fires when the changes poked so far are due (nil: none pending).
func (d *debouncer) C() <-chan time.Time {
	if d.timer == nil {
		return nil
	}
	return d.timer.C
}

// fired starts afresh after C fired.
func (d *debouncer) fired() { d.timer = nil }

func (d *debouncer) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
}

// startInformers starts the data plane's informers, each telling notify
// of every change, retrying until they list or ctx ends (false).
func (s *Service) startInformers(ctx context.Context, retry time.Duration, notify func()) (*dataPlaneInformers, bool) {
	for {
		infs, err := s.tryStartInformers(ctx, notify)
		if err == nil {
			return infs, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		s.log.Error("data plane: start informers", "err", err)
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, false
		case <-t.C:
		}
	}
}

// tryStartInformers starts every informer or none: on a failure the
// started ones stop with their own context.
func (s *Service) tryStartInformers(ctx context.Context, notify func()) (_ *dataPlaneInformers, err error) {
	ictx, icancel := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			icancel()
		}
	}()
	infs := &dataPlaneInformers{
		lbs:       store.NewInformer(s.st, loadBalancers, store.InformerConfig[lbRecord]{OnChange: []store.ChangeFunc[lbRecord]{func(string, *lbRecord, *lbRecord) { notify() }}}),
		listeners: store.NewInformer(s.st, listeners, store.InformerConfig[listenerRecord]{OnChange: []store.ChangeFunc[listenerRecord]{func(string, *listenerRecord, *listenerRecord) { notify() }}}),
		rules:     store.NewInformer(s.st, rules, store.InformerConfig[ruleRecord]{OnChange: []store.ChangeFunc[ruleRecord]{func(string, *ruleRecord, *ruleRecord) { notify() }}}),
		groups:    store.NewInformer(s.st, targetGroups, store.InformerConfig[tgRecord]{OnChange: []store.ChangeFunc[tgRecord]{func(string, *tgRecord, *tgRecord) { notify() }}}),
		targets:   store.NewInformer(s.st, targets, store.InformerConfig[targetRecord]{OnChange: []store.ChangeFunc[targetRecord]{func(string, *targetRecord, *targetRecord) { notify() }}}),
	}
	for _, start := range []func(context.Context) error{infs.lbs.Start, infs.listeners.Start, infs.rules.Start, infs.groups.Start, infs.targets.Start} {
		if err := start(ictx); err != nil {
			return nil, err
		}
	}
	return infs, nil
}

// snapshot copies the informers' contents (the values are shared with the
// caches and only read).
func (infs *dataPlaneInformers) snapshot() dataPlaneRecords {
	return dataPlaneRecords{
		LoadBalancers: informerContents(infs.lbs),
		Listeners:     informerContents(infs.listeners),
		Rules:         informerContents(infs.rules),
		TargetGroups:  informerContents(infs.groups),
		Targets:       informerContents(infs.targets),
	}
}

func informerContents[T any](inf *store.Informer[T]) map[string]*T {
	out := make(map[string]*T, inf.Len())
	inf.Each(func(id string, v *T) bool {
		out[id] = v
		return true
	})
	return out
}

// sweepDrained deletes targets whose drain deadline has passed (the
// engine reports drains, but may not have: a restart, a lost report), and
// targets whose group is gone, in transactions of at most sweepBatch
// targets that check each again.
func (s *Service) sweepDrained(ctx context.Context, infs *dataPlaneInformers) {
	now := s.now()
	var due []string
	infs.targets.Each(func(id string, t *targetRecord) bool {
		expired := !t.DrainUntil.IsZero() && !t.DrainUntil.After(now)
		if expired || !infs.hasGroupOf(id) {
			due = append(due, id)
		}
		return true
	})
	for len(due) > 0 {
		batch := due[:min(sweepBatch, len(due))]
		due = due[len(batch):]
		cctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
		err := s.st.Update(cctx, func(tx *store.Tx) error { return sweepBatchTx(tx, batch, now) })
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("data plane: sweep drained targets", "err", err)
			}
			return
		}
	}
}

// hasGroupOf: the group of the target with this id is in the cache.
func (infs *dataPlaneInformers) hasGroupOf(targetID string) bool {
	_, ok := infs.groups.Get(targetID[:strings.LastIndexByte(targetID, '/')])
	return ok
}

// sweepBatchTx deletes, with their health, the targets of ids whose drain
// has expired or whose group does not exist, as read in tx (the caches
// only suggest which).
func sweepBatchTx(tx *store.Tx, ids []string, now time.Time) error {
	ts, err := store.GetMany(tx, targets, ids)
	if err != nil {
		return err
	}
	groupIDs := map[string]bool{}
	for id := range ts {
		groupIDs[id[:strings.LastIndexByte(id, '/')]] = true
	}
	groups, err := store.GetMany(tx, targetGroups, sortedIDs(groupIDs))
	if err != nil {
		return err
	}
	for id, t := range ts {
		_, groupExists := groups[id[:strings.LastIndexByte(id, '/')]]
		if (!t.DrainUntil.IsZero() && !t.DrainUntil.After(now)) || !groupExists {
			store.Delete(tx, targets, id)
			store.Delete(tx, targetHealth, id)
		}
	}
	return nil
}
