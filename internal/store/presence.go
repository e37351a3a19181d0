package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// PresenceTTL is how long the keys of a process that stopped renewing its
// presence lease outlive it (a crashed server's agent sessions, say).
const PresenceTTL = 20 * time.Second

// Present writes v under id for as long as this process keeps its presence
// lease, and returns a release function that deletes it again. A process has
// one presence lease, however many keys it holds, so thousands of holders
// cost one keep-alive stream. If the lease is lost while the process lives
// (etcd unreachable for longer than PresenceTTL), a new one is granted and
// every key still held is written again.
//
// The last writer of an id wins: releasing an older holder does not delete a
// newer holder's key, whichever process wrote it.
func Present[T any](ctx context.Context, s *Store, c Collection[T], id string, v T) (release func(), err error) {
	key := s.key(c.name, id)
	if id == "" {
		return nil, fmt.Errorf("present %s: %w", key, errEmptyID)
	}
	if err := s.checkOpen(); err != nil {
		return nil, fmt.Errorf("present %s: %w", key, err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	h, err := s.presence.hold(ctx, key, string(raw))
	if err != nil {
		return nil, fmt.Errorf("present %s: %w", key, err)
	}
	return func() { s.presence.release(h) }, nil
}

// presence owns a process's presence lease and the keys held under it.
type presence struct {
	c *core

	mu      sync.Mutex
	lease   clientv3.LeaseID // 0 until granted, and after it was lost
	held    map[*held]bool
	running bool
	closed  bool
}

// held is one key written under the lease; rev is the revision of our last
// write, so release deletes only what we wrote.
type held struct {
	key, value string
	rev        int64
}

func newPresence(c *core) *presence {
	return &presence{c: c, held: map[*held]bool{}}
}

// leaseLocked returns the current lease, granting one (and starting its
// keeper) if there is none. Callers hold p.mu.
func (p *presence) leaseLocked(ctx context.Context) (clientv3.LeaseID, error) {
	if p.lease != 0 {
		return p.lease, nil
	}
	cctx, cancel := p.c.callCtx(ctx)
	defer cancel()
	g, err := p.c.client.Grant(cctx, int64(PresenceTTL/time.Second))
	if err != nil {
		return 0, fmt.Errorf("grant presence lease: %w", err)
	}
	p.lease = g.ID
	if !p.running {
		p.running = p.c.goBackground(p.keep)
	}
	return p.lease, nil
}

// hold writes key under the lease. The lock covers only the bookkeeping:
// thousands of sessions connecting at once must not queue behind each
// other's round trips to etcd.
func (p *presence) hold(ctx context.Context, key, value string) (*held, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	lease, err := p.leaseLocked(ctx)
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	h := &held{key: key, value: value}
	p.held[h] = true
	p.mu.Unlock()
	rev, err := p.put(ctx, h, lease)
	if err != nil {
		p.mu.Lock()
		delete(p.held, h)
		p.mu.Unlock()
		return nil, err
	}
	p.setRev(h, rev) // h is not released before hold returns it
	return h, nil
}

func (p *presence) put(ctx context.Context, h *held, lease clientv3.LeaseID) (int64, error) {
	cctx, cancel := p.c.callCtx(ctx)
	defer cancel()
	resp, err := p.c.client.Put(cctx, h.key, h.value, clientv3.WithLease(lease))
	if err != nil {
		return 0, fmt.Errorf("put: %w", err)
	}
	return resp.Header.Revision, nil
}

// setRev records the revision of our latest write of h (the higher one, if
// a re-write raced with the first) and reports whether h is still held.
func (p *presence) setRev(h *held, rev int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	h.rev = max(h.rev, rev)
	return p.held[h]
}

// release forgets h and deletes its key unless someone wrote it since.
func (p *presence) release(h *held) {
	p.mu.Lock()
	if !p.held[h] {
		p.mu.Unlock()
		return
	}
	delete(p.held, h)
	rev := h.rev
	p.mu.Unlock()
	p.deleteIfRev(h.key, rev)
}

// deleteIfRev deletes key unless someone wrote it after revision rev.
func (p *presence) deleteIfRev(key string, rev int64) {
	ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
	defer cancel()
	_, err := p.c.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key)).Commit()
	if err != nil && !p.c.stopping.Load() {
		p.c.log.Warn("presence: release failed; the key expires with the lease", "key", key, "err", err)
	}
}

// keep renews the lease until the store closes; when it is lost it grants a
// new one and writes every held key again.
func (p *presence) keep() {
	ctx := p.c.done
	for attempt := 0; ctx.Err() == nil; {
		p.mu.Lock()
		lease := p.lease
		p.mu.Unlock()
		if lease != 0 {
			if ch, err := p.c.client.KeepAlive(ctx, lease); err == nil {
				for range ch {
					attempt = 0
				}
			}
			if ctx.Err() != nil {
				return
			}
			p.c.log.Warn("presence lease lost; granting a new one", "lease", int64(lease))
			p.mu.Lock()
			if p.lease == lease {
				p.lease = 0
			}
			p.mu.Unlock()
		}
		attempt++
		if jitteredWait(ctx, holdRetryBase, holdRetryMax, attempt) != nil {
			return
		}
		if err := p.rewrite(ctx); err != nil && ctx.Err() == nil {
			p.c.log.Warn("presence: re-acquire failed", "err", err)
		}
	}
}

// rewrite grants a lease if needed and writes every held key under it.
func (p *presence) rewrite(ctx context.Context) error {
	p.mu.Lock()
	lease, err := p.leaseLocked(ctx)
	hs := make([]*held, 0, len(p.held))
	for h := range p.held {
		hs = append(hs, h)
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	for _, h := range hs {
		rev, err := p.put(ctx, h, lease)
		if err != nil {
			p.mu.Lock()
			if p.lease == lease {
				p.lease = 0 // try again from a fresh lease
			}
			p.mu.Unlock()
			return fmt.Errorf("rewrite %s: %w", h.key, err)
		}
		if !p.setRev(h, rev) {
			p.deleteIfRev(h.key, rev) // released while we wrote it again
		}
	}
	return nil
}

// close revokes the lease, deleting every key still held. It runs after the
// keeper has stopped.
func (p *presence) close() {
	p.mu.Lock()
	p.closed = true
	lease := p.lease
	p.lease = 0
	clear(p.held)
	p.mu.Unlock()
	if lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
	defer cancel()
	if _, err := p.c.client.Revoke(ctx, lease); err != nil {
		p.c.log.Warn("presence: revoke failed; keys expire with the lease", "err", err)
	}
}

const (
	holdRetryBase = 100 * time.Millisecond
	holdRetryMax  = 5 * time.Second
)
