package health

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

const (
	reasonInternalError = "Elb.InternalError"
	descInternalError   = "Health checks failed due to an internal error"
)

// Prober probes targets; Update tells it which.
//
// Each probed target has one goroutine that owns its probing and counting;
// the Prober's lock guards only the table of targets and their Results.
type Prober struct {
	opts      Options
	log       *slog.Logger
	transport *http.Transport
	client    *http.Client

	// updating serialises Update and Close, so that the diff each one
	// computes is against a table nobody else is changing.
	updating sync.Mutex

	mu      sync.Mutex
	targets map[targetID]*probed
	closed  bool

	wg sync.WaitGroup
}

type targetID struct{ group, key string }

// probed is one target as its current probe goroutine sees it. A changed
// check or address replaces it with a new probed carrying the Results
// over, so a goroutine whose probed is no longer in the table knows it is
// stale.
type probed struct {
	check Check
	addr  string

	// Guarded by Prober.mu.
	cur          Result
	reported     Result
	everReported bool

	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Prober that probes nothing until Update.
func New(opts Options) *Prober {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := newTransport()
	return &Prober{
		opts:      opts,
		log:       log,
		transport: t,
		client:    newClient(t),
		targets:   map[targetID]*probed{},
	}
}

// Update makes the prober probe exactly these groups' targets: new ones
// start "initial", removed ones stop, unchanged ones keep their state
// (a changed Check restarts the counts but keeps the state).
func (p *Prober) Update(groups []Group) {
	p.updating.Lock()
	defer p.updating.Unlock()

	type want struct {
		check Check
		addr  string
	}
	wanted := map[targetID]want{}
	for _, g := range groups {
		for _, t := range g.Targets {
			wanted[targetID{g.ARN, t.Key}] = want{g.Check, t.Addr}
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for id, pr := range p.targets {
		if _, ok := wanted[id]; !ok {
			pr.cancel()
			delete(p.targets, id)
		}
	}
	for id, w := range wanted {
		old := p.targets[id]
		if old != nil && old.check == w.check && old.addr == w.addr {
			continue
		}
		pr := &probed{check: w.check, addr: w.addr, cur: registering, done: make(chan struct{})}
		var prev <-chan struct{}
		if old != nil {
			old.cancel()
			pr.cur, pr.reported, pr.everReported = old.cur, old.reported, old.everReported
			prev = old.done
		}
		if !w.check.Enabled {
			pr.cur = healthy
		}
		p.targets[id] = pr
		p.start(id, pr, prev)
	}
}

// start runs pr's goroutine. It waits for the goroutine it replaces (prev)
// so that one target's Reports never overtake each other.
func (p *Prober) start(id targetID, pr *probed, prev <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	pr.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(pr.done)
		defer cancel()
		if prev != nil {
			select {
			case <-prev:
			case <-ctx.Done():
				return
			}
		}
		p.run(ctx, id, pr)
	}()
}

// run reports the target's Result as it stands, then (check enabled)
// probes right away and every interval until ctx ends.
func (p *Prober) run(ctx context.Context, id targetID, pr *probed) {
	p.settle(id, pr, nil)
	if !pr.check.Enabled {
		return
	}
	check := normalize(pr.check)
	probe, err := newProbe(p.client, check, pr.addr)
	if err != nil {
		p.log.Error("health check cannot run", "target_group", id.group, "target", id.key, "err", err)
		probe = func(context.Context) outcome {
			return outcome{reason: reasonInternalError, description: descInternalError}
		}
	}
	c := &counter{healthyThreshold: check.HealthyThreshold, unhealthyThreshold: check.UnhealthyThreshold}
	tick := time.NewTicker(check.Interval)
	defer tick.Stop()
	for {
		o := probe(ctx)
		if ctx.Err() != nil {
			return
		}
		p.settle(id, pr, func(cur Result) Result { return c.observe(cur, o) })
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// settle applies next (if any) to pr's Result and reports the Result if it
// differs from the last one reported, outside the lock. A stale pr (removed
// or replaced) changes nothing.
func (p *Prober) settle(id targetID, pr *probed, next func(Result) Result) {
	p.mu.Lock()
	if p.targets[id] != pr {
		p.mu.Unlock()
		return
	}
	if next != nil {
		pr.cur = next(pr.cur)
	}
	r := pr.cur
	changed := !pr.everReported || r != pr.reported
	pr.reported, pr.everReported = r, true
	p.mu.Unlock()
	if changed {
		p.log.Debug("target health", "target_group", id.group, "target", id.key, "state", r.State, "reason", r.Reason)
	}
	if changed && p.opts.Report != nil {
		p.opts.Report(id.group, id.key, r)
	}
}

// Result is a target's current health; false when it is not probed.
func (p *Prober) Result(groupARN, targetKey string) (Result, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr, ok := p.targets[targetID{groupARN, targetKey}]
	if !ok {
		return Result{}, false
	}
	return pr.cur, true
}

// Close stops every probe and waits for them.
func (p *Prober) Close() {
	p.updating.Lock()
	defer p.updating.Unlock()
	p.mu.Lock()
	p.closed = true
	for id, pr := range p.targets {
		pr.cancel()
		delete(p.targets, id)
	}
	p.mu.Unlock()
	p.wg.Wait()
	p.transport.CloseIdleConnections()
}
