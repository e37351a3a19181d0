package proxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/elb/health"
)

// Defaults of Options.
const (
	defaultDrainTimeout   = 30 * time.Second
	defaultDialTimeout    = 10 * time.Second
	defaultUDPIdleTimeout = 120 * time.Second
	defaultAppIdleTimeout = 60 * time.Second
	defaultNetIdleTimeout = 350 * time.Second
)

// Options configure an Engine.
type Options struct {
	// Reporter hears target health changes and finished drains.
	Reporter Reporter
	Logger   *slog.Logger
	// DrainTimeout bounds how long a removed or rebound listener's
	// in-flight requests and connections may run before they are cut
	// (default 30s).
	DrainTimeout time.Duration
	// DialTimeout bounds every connection to a target (default 10s).
	DialTimeout time.Duration
	// UDPIdleTimeout expires a UDP flow with no datagram either way
	// (default 120s, NLB's).
	UDPIdleTimeout time.Duration
	// CookieKey signs stickiness cookies; random when empty, so cookies
	// do not outlive the process.
	CookieKey []byte
	// Now is the clock (slow start, cookie expiry, drains); time.Now when
	// nil.
	Now func() time.Time

	// newProber makes the engine's health source (health.New when nil);
	// tests replace it to decide health themselves through ObserveHealth.
	newProber func(health.Options) healthSource
}

// healthSource is what the engine needs of a health prober
// (*health.Prober).
type healthSource interface {
	Update(groups []health.Group)
	Result(groupARN, targetKey string) (health.Result, bool)
	Close()
}

// Engine is the running data plane: the bound listeners, the routing
// tables they serve, per-target state (in flight, health, drains) and
// the health prober. Its methods are safe for concurrent use.
type Engine struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	codec  cookieCodec
	tr     *transports
	states *stateStore
	prober healthSource
	notify *notifier

	// ctx ends on Close: background listener drains cut what is left.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	mu        sync.Mutex // serializes Apply and Close
	listeners map[string]*boundListener
	certNames certNames
	closed    bool
}

// listenerRuntime is one bound listener's serving side.
type listenerRuntime interface {
	// setTable swaps in the listener's routing for the next request or
	// connection.
	setTable(*table)
	// addr is where it listens.
	addr() net.Addr
	// stopAccepting closes its sockets; it returns promptly.
	stopAccepting()
	// finish lets in-flight work end until ctx is done, then cuts the
	// rest and waits for every goroutine it started.
	finish(ctx context.Context)
}

// boundListener is a listener the engine has bound.
type boundListener struct {
	l  Listener
	rt listenerRuntime
}

// New returns an Engine that serves nothing until Apply.
func New(opts Options) *Engine {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = defaultDrainTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = defaultDialTimeout
	}
	if opts.UDPIdleTimeout <= 0 {
		opts.UDPIdleTimeout = defaultUDPIdleTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	key := opts.CookieKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		opts:      opts,
		log:       opts.Logger.With("component", "elb-proxy"),
		now:       opts.Now,
		codec:     cookieCodec{key: key},
		states:    newStateStore(),
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[string]*boundListener{},
	}
	e.tr = newTransports(opts.DialTimeout, e.log)
	e.notify = newNotifier()
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		e.notify.run(ctx)
	}()
	newProber := opts.newProber
	if newProber == nil {
		newProber = func(o health.Options) healthSource { return health.New(o) }
	}
	e.prober = newProber(health.Options{Report: e.ObserveHealth, Logger: opts.Logger})
	return e
}

// Apply makes the data plane serve cfg: it binds new listeners, closes
// removed ones (letting their requests finish), and swaps rules, targets
// and certificates of the others in place. Listeners that cannot bind are
// named in the error; the rest of cfg applies all the same.
//
// A listener is kept (same sockets, same connections) while its ARN,
// Addr, Protocol and Type stay (and, for HTTP and HTTPS, its
// IdleTimeout); any of those changing rebinds it: the old sockets close
// first, their connections finish in the background (DrainTimeout), then
// the new ones bind.
func (e *Engine) Apply(cfg Config) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("apply proxy config: engine closed")
	}
	groups, probe := e.syncTargets(cfg.TargetGroups)

	want := make(map[string]Listener, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		want[l.ARN] = l
	}
	// Stop accepting on removed and changed listeners first, so a new
	// listener may take over their address.
	for arn, b := range e.listeners {
		if nl, ok := want[arn]; ok && !needsRebind(b.l, nl) {
			continue
		}
		delete(e.listeners, arn)
		e.retire(b)
	}
	var errs []error
	for _, l := range cfg.Listeners {
		tbl, err := newTable(l, groups, &e.certNames)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if b := e.listeners[l.ARN]; b != nil {
			b.l = l
			b.rt.setTable(tbl)
			continue
		}
		rt, err := e.bind(tbl)
		if err != nil {
			errs = append(errs, fmt.Errorf("bind listener %s (%s %s): %w", l.ARN, l.Protocol, l.Addr, err))
			continue
		}
		e.log.Info("listener bound", "listener", l.ARN, "protocol", l.Protocol, "addr", rt.addr().String())
		e.listeners[l.ARN] = &boundListener{l: l, rt: rt}
	}
	e.certNames.next()
	e.prober.Update(probe)
	return errors.Join(errs...)
}

// needsRebind reports whether moving from listener o to n needs new
// sockets: a new address, protocol or type, or (application listeners,
// whose http.Server reads it once) a new idle timeout.
func needsRebind(o, n Listener) bool {
	if n.Addr != o.Addr || !strings.EqualFold(n.Protocol, o.Protocol) || n.Type != o.Type {
		return true
	}
	app := strings.EqualFold(n.Protocol, "HTTP") || strings.EqualFold(n.Protocol, "HTTPS")
	return app && n.IdleTimeout != o.IdleTimeout
}

// retire stops a listener accepting and lets its in-flight work finish
// in the background, bounded by DrainTimeout (or Close).
func (e *Engine) retire(b *boundListener) {
	b.rt.stopAccepting()
	e.log.Info("listener closing", "listener", b.l.ARN, "addr", b.l.Addr)
	e.bg.Add(1)
	go func() {
		defer e.bg.Done()
		ctx, cancel := context.WithTimeout(e.ctx, e.opts.DrainTimeout)
		defer cancel()
		b.rt.finish(ctx)
	}()
}

// bind opens a listener's sockets and starts serving tbl.
func (e *Engine) bind(tbl *table) (listenerRuntime, error) {
	switch strings.ToUpper(tbl.l.Protocol) {
	case "HTTP", "HTTPS":
		return newAppListener(e, tbl)
	case "TCP", "TLS":
		return newTCPListener(e, tbl, tbl.l.Addr)
	case "UDP":
		return newUDPListener(e, tbl, tbl.l.Addr)
	case "TCP_UDP":
		t, err := newTCPListener(e, tbl, tbl.l.Addr)
		if err != nil {
			return nil, err
		}
		// Same port for both, even when Addr asked for any (":0").
		host, _, _ := net.SplitHostPort(tbl.l.Addr)
		_, port, _ := net.SplitHostPort(t.addr().String())
		u, err := newUDPListener(e, tbl, net.JoinHostPort(host, port))
		if err != nil {
			t.stopAccepting()
			t.finish(cancelledContext())
			return nil, err
		}
		return multiRuntime{t, u}, nil
	}
	return nil, fmt.Errorf("unknown protocol %q", tbl.l.Protocol)
}

// Addr is where a bound listener listens (its TCP side for TCP_UDP), nil
// when it is not bound. Useful when Addr asked for port 0.
func (e *Engine) Addr(listenerARN string) net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b := e.listeners[listenerARN]; b != nil {
		return b.rt.addr()
	}
	return nil
}

// Close closes every listener, cutting what is in flight (Apply an empty
// Config first for a graceful stop), stops health checks and waits for
// every goroutine the engine started.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	ls := e.listeners
	e.listeners = nil
	e.mu.Unlock()

	e.prober.Close()
	for _, b := range ls {
		b.rt.stopAccepting()
	}
	e.cancel()
	var wg sync.WaitGroup
	for _, b := range ls {
		wg.Go(func() { b.rt.finish(e.ctx) })
	}
	wg.Wait()
	e.bg.Wait()
	e.stopDrainTimers()
	e.tr.closeIdle()
}

// ObserveHealth records a target's health, in effect for the next
// request, and forwards it to the Reporter. The engine's prober reports
// through it; tests and other health sources may call it too.
//
// Reporter calls (TargetHealth and TargetDrained) are made in order from
// one goroutine of the engine's, never from the prober's nor under a
// lock, so a Reporter may call Apply.
func (e *Engine) ObserveHealth(groupARN, targetKey string, r health.Result) {
	if ts := e.states.lookup(groupARN, targetKey); ts != nil {
		ts.setHealth(r, e.now())
	}
	if rep := e.opts.Reporter; rep != nil {
		e.notify.post(func() { rep.TargetHealth(groupARN, targetKey, r) })
	}
}

// syncTargets brings the per-target state in line with the snapshot's
// groups and builds their views; it returns what the prober should probe.
// Runs under e.mu.
func (e *Engine) syncTargets(tgs map[string]*TargetGroup) (map[string]*groupView, []health.Group) {
	s := e.states
	now := e.now()
	views := make(map[string]*groupView, len(tgs))
	probe := make([]health.Group, 0, len(tgs))
	seen := map[targetID]bool{}
	var fresh []*targetState

	s.mu.Lock()
	for arn, tg := range tgs {
		if tg == nil {
			continue
		}
		gs := s.groups[arn]
		if gs == nil {
			gs = &groupState{}
			s.groups[arn] = gs
		}
		gv := &groupView{cfg: *tg, st: gs}
		gv.cfg.ARN = arn
		gv.cfg.Targets = nil
		hg := health.Group{ARN: arn, Check: tg.HealthCheck}
		for _, t := range tg.Targets {
			id := targetID{arn, t.Key}
			if seen[id] {
				continue
			}
			seen[id] = true
			ts := s.targets[id]
			if ts == nil {
				ts = newTargetState(arn, t.Key)
				s.targets[id] = ts
				fresh = append(fresh, ts)
			}
			tv := &targetView{key: t.Key, addr: t.Addr, draining: t.Draining, st: ts}
			gv.targets = append(gv.targets, tv)
			e.syncDrain(ts, t, now)
			if !t.Draining {
				hg.Targets = append(hg.Targets, health.Target{Key: t.Key, Addr: t.Addr})
			}
		}
		views[arn] = gv
		probe = append(probe, hg)
	}
	for id, ts := range s.targets {
		if !seen[id] {
			delete(s.targets, id)
			ts.gone.Store(true)
			e.stopDrainTimer(ts)
		}
	}
	for arn := range s.groups {
		if views[arn] == nil {
			delete(s.groups, arn)
		}
	}
	s.mu.Unlock()

	// A target the prober already knows (re-added after removal) starts
	// from its last result rather than initial.
	for _, ts := range fresh {
		if r, ok := e.prober.Result(ts.group, ts.key); ok {
			ts.setHealth(r, now)
		}
	}
	return views, probe
}

// multiRuntime is a TCP_UDP listener: both runtimes on one port.
type multiRuntime []listenerRuntime

func (m multiRuntime) setTable(t *table) {
	for _, r := range m {
		r.setTable(t)
	}
}

func (m multiRuntime) addr() net.Addr { return m[0].addr() }

func (m multiRuntime) stopAccepting() {
	for _, r := range m {
		r.stopAccepting()
	}
}

func (m multiRuntime) finish(ctx context.Context) {
	var wg sync.WaitGroup
	for _, r := range m {
		wg.Go(func() { r.finish(ctx) })
	}
	wg.Wait()
}

func cancelledContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// forwardAction is a network listener's forward: its default rule's last
// action (network listeners have no other rule).
func (t *table) forwardAction() *Action {
	for i := len(t.rules) - 1; i >= 0; i-- {
		acts := t.rules[i].rule.Actions
		if len(acts) > 0 && acts[len(acts)-1].Type == ActionForward {
			return &acts[len(acts)-1]
		}
	}
	return nil
}
