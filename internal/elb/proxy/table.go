package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/elb/health"
	"github.com/berth-dev/berth/internal/lbtarget"
)

// Health as the balancer sees it; no result from the prober is initial.
const (
	healthInitial int32 = iota
	healthHealthy
	healthUnhealthy
)

// targetState is what outlives a Config snapshot for one registered
// target of one group: its in-flight count, health and drain progress.
// The engine keeps one per (group, key) for as long as the target is in
// the config; Apply and requests share it.
type targetState struct {
	group, key string
	inflight   atomic.Int64
	health     atomic.Int32
	// healthySince is the UnixNano the target last turned healthy (slow
	// start ramps from it).
	healthySince  atomic.Int64
	draining      atomic.Bool
	drainReported atomic.Bool
	// gone: the target left the config; a finishing request reports
	// nothing for it.
	gone atomic.Bool

	// cut ends what is in flight when DrainUntil passes.
	cut atomic.Pointer[cutter]

	// drainTimer fires at DrainUntil; guarded by Engine.mu.
	drainTimer *time.Timer
	drainUntil time.Time
}

// newTargetState is a fresh target's state: initial, nothing in flight.
func newTargetState(group, key string) *targetState {
	ts := &targetState{group: group, key: key}
	ts.cut.Store(newCutter())
	return ts
}

// groupState is what outlives a snapshot for one target group.
type groupState struct {
	rr atomic.Uint64
}

// targetView is one target in one snapshot.
type targetView struct {
	key, addr string
	draining  bool
	st        *targetState
}

// groupView is one target group in one snapshot; immutable.
type groupView struct {
	cfg     TargetGroup
	st      *groupState
	targets []*targetView
}

// table is one listener's routing at one moment; requests load it once
// and use it to the end. Immutable.
type table struct {
	l      Listener
	rules  []compiledRule
	groups map[string]*groupView
	certs  []certEntry
}

// certEntry is a certificate with the names SNI chooses it by.
type certEntry struct {
	cert  *tls.Certificate
	names []string // lower-case; may start with "*."
}

// newTable builds a listener's table over the snapshot's groups; names
// caches the SNI names of certificates by their DER so an Apply does not
// parse what the last one did.
func newTable(l Listener, groups map[string]*groupView, names *certNames) (*table, error) {
	rules, err := compileRules(l.Rules)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", l.ARN, err)
	}
	if p := strings.ToUpper(l.Protocol); (p == "HTTPS" || p == "TLS") && len(l.Certificates) == 0 {
		return nil, fmt.Errorf("listener %s: %s without a certificate", l.ARN, p)
	}
	t := &table{l: l, rules: rules, groups: groups}
	for i := range l.Certificates {
		c := &l.Certificates[i]
		ns, err := names.of(c)
		if err != nil {
			return nil, fmt.Errorf("listener %s: certificate %d: %w", l.ARN, i, err)
		}
		t.certs = append(t.certs, certEntry{cert: c, names: ns})
	}
	return t, nil
}

// certNames remembers certificates' SNI names across Applies: those used
// by the last Apply (prev) and by this one (cur).
type certNames struct{ prev, cur map[string][]string }

// of returns the lower-case names a certificate serves: its DNS SANs, or
// its common name when it has none.
func (cn *certNames) of(c *tls.Certificate) ([]string, error) {
	if len(c.Certificate) == 0 {
		return nil, nil
	}
	der := string(c.Certificate[0])
	if ns, ok := cn.cur[der]; ok {
		return ns, nil
	}
	ns, ok := cn.prev[der]
	if !ok {
		leaf := c.Leaf
		if leaf == nil {
			var err error
			if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				return nil, fmt.Errorf("parse: %w", err)
			}
		}
		for _, n := range leaf.DNSNames {
			ns = append(ns, strings.ToLower(n))
		}
		if len(ns) == 0 && leaf.Subject.CommonName != "" {
			ns = append(ns, strings.ToLower(leaf.Subject.CommonName))
		}
	}
	if cn.cur == nil {
		cn.cur = map[string][]string{}
	}
	cn.cur[der] = ns
	return ns, nil
}

// next starts the next Apply: what this one used is what it remembers.
func (cn *certNames) next() { cn.prev, cn.cur = cn.cur, nil }

// certificate chooses the certificate for a TLS handshake: an exact SNI
// name first, then a wildcard, then the default (first).
func (t *table) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if len(t.certs) == 0 {
		return nil, fmt.Errorf("listener %s has no certificate", t.l.ARN)
	}
	sni := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if sni != "" {
		var wild *tls.Certificate
		for _, ce := range t.certs {
			for _, n := range ce.names {
				if n == sni {
					return ce.cert, nil
				}
				if wild == nil && strings.HasPrefix(n, "*.") {
					if i := strings.IndexByte(sni, '.'); i > 0 && sni[i:] == n[1:] {
						wild = ce.cert
					}
				}
			}
		}
		if wild != nil {
			return wild, nil
		}
	}
	return t.certs[0].cert, nil
}

// targetID names a targetState.
type targetID struct{ group, key string }

// stateStore holds the per-target and per-group state that survives
// snapshots. The prober's reports read it concurrently with Apply.
type stateStore struct {
	mu      sync.RWMutex
	groups  map[string]*groupState
	targets map[targetID]*targetState
}

func newStateStore() *stateStore {
	return &stateStore{groups: map[string]*groupState{}, targets: map[targetID]*targetState{}}
}

// lookup returns a target's state, nil when it is not in the config.
func (s *stateStore) lookup(group, key string) *targetState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.targets[targetID{group, key}]
}

// setHealth records a prober result; it reports whether the state
// changed.
func (ts *targetState) setHealth(r health.Result, now time.Time) bool {
	var h int32
	switch r.State {
	case lbtarget.StateHealthy:
		h = healthHealthy
	case lbtarget.StateUnhealthy:
		h = healthUnhealthy
	default:
		h = healthInitial
	}
	old := ts.health.Swap(h)
	if h == healthHealthy && old != healthHealthy {
		ts.healthySince.Store(now.UnixNano())
	}
	return old != h
}
