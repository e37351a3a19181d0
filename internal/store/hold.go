package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Hold puts v under id with a lease of ttl and keeps the lease alive until
// ctx is done or the store is closed, then revokes it, deleting the key. It
// returns once the key is written; keep-alive runs in a goroutine. If the
// lease is lost while ctx is still live (e.g. etcd unreachable for longer
// than ttl), the key is written again under a new lease. The last Hold of an
// id wins; ending an older Hold does not delete the newer owner's key.
func Hold[T any](ctx context.Context, s *Store, c Collection[T], id string, v T, ttl time.Duration) error {
	key := s.key(c.name, id)
	if id == "" {
		return fmt.Errorf("hold %s: %w", key, errEmptyID)
	}
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("hold %s: %w", key, err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	h := &holder{s: s, key: key, value: string(raw), ttl: leaseSeconds(ttl)}
	lease, err := h.acquire(ctx)
	if err != nil {
		return err
	}
	// The keep-alive outlives this call, so it must end with ctx or Close.
	hctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.done, cancel)
	started := s.goBackground(func() {
		defer stop()
		defer cancel()
		h.keep(hctx, lease)
	})
	if !started {
		stop()
		cancel()
		h.revoke(lease)
		return fmt.Errorf("hold %s: %w", key, ErrClosed)
	}
	return nil
}

const (
	holdRetryBase = 100 * time.Millisecond
	holdRetryMax  = 5 * time.Second
)

func leaseSeconds(ttl time.Duration) int64 {
	return max(1, int64(math.Ceil(ttl.Seconds())))
}

type holder struct {
	s     *Store
	key   string
	value string
	ttl   int64
}

// acquire grants a lease and writes the key under it.
func (h *holder) acquire(ctx context.Context) (clientv3.LeaseID, error) {
	g, err := h.s.client.Grant(ctx, h.ttl)
	if err != nil {
		return 0, fmt.Errorf("hold %s: grant lease: %w", h.key, err)
	}
	if _, err := h.s.client.Put(ctx, h.key, h.value, clientv3.WithLease(g.ID)); err != nil {
		h.revoke(g.ID)
		return 0, fmt.Errorf("hold %s: put: %w", h.key, err)
	}
	return g.ID, nil
}

// keep renews the lease until ctx is done, re-acquiring it if it is lost,
// then revokes it.
func (h *holder) keep(ctx context.Context, lease clientv3.LeaseID) {
	for attempt := 0; ; {
		if lease != 0 {
			ch, err := h.s.client.KeepAlive(ctx, lease)
			if err == nil {
				for range ch {
					attempt = 0
				}
			}
			if ctx.Err() != nil {
				h.revoke(lease)
				return
			}
			h.s.log.Warn("presence lease lost, re-acquiring", "key", h.key, "lease", int64(lease))
			lease = 0
		}
		attempt++
		if jitteredWait(ctx, holdRetryBase, holdRetryMax, attempt) != nil {
			return
		}
		var err error
		if lease, err = h.acquire(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			h.s.log.Warn("presence re-acquire failed", "key", h.key, "err", err)
		}
	}
}

// revoke ends the lease, deleting the key if it is still attached to it.
func (h *holder) revoke(lease clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
	defer cancel()
	if _, err := h.s.client.Revoke(ctx, lease); err != nil {
		h.s.log.Warn("presence revoke failed; key expires with its lease", "key", h.key, "err", err)
	}
}
