package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// PutExpiring is Put for a value that etcd deletes on its own at least ttl
// after the write (at most ttl/16 later). Writes of one transaction, and
// writes in the same stretch of time, share one lease, so an expiring key costs no lease of its own: idempotency
// tokens and the like expire without a sweeper.
func PutExpiring[T any](tx *Tx, c Collection[T], id string, v T, ttl time.Duration) {
	key, raw, ok := encodeFor(tx, c, id, v)
	if !ok {
		return
	}
	lease, ok := tx.leases[ttl]
	if !ok {
		var err error
		if lease, err = tx.s.leases.get(tx.ctx, ttl); err != nil {
			tx.fail(fmt.Errorf("put %s: %w", key, err))
			return
		}
		if tx.leases == nil {
			tx.leases = map[time.Duration]clientv3.LeaseID{}
		}
		tx.leases[ttl] = lease
	}
	tx.writeLease(key, raw, false, lease)
}

// leaseCache hands out shared leases for expiring keys, one per TTL and
// time bucket.
type leaseCache struct {
	c   *core
	now func() time.Time

	mu     sync.Mutex
	leases map[time.Duration]bucketLease
}

type bucketLease struct {
	bucket time.Time
	id     clientv3.LeaseID
}

func newLeaseCache(c *core) *leaseCache {
	return &leaseCache{c: c, now: time.Now, leases: map[time.Duration]bucketLease{}}
}

// get returns the lease for keys written now that must live ttl: it expires
// one bucket (ttl/16, at least a second) after the bucket's end.
func (l *leaseCache) get(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	step := max(ttl/16, time.Second)
	bucket := l.now().Truncate(step)
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.leases[ttl]; ok && b.bucket.Equal(bucket) {
		return b.id, nil
	}
	cctx, cancel := l.c.callCtx(ctx)
	defer cancel()
	secs := int64((ttl + 2*step + time.Second - 1) / time.Second)
	g, err := l.c.client.Grant(cctx, secs)
	if err != nil {
		return 0, fmt.Errorf("grant lease: %w", err)
	}
	l.leases[ttl] = bucketLease{bucket: bucket, id: g.ID}
	return g.ID, nil
}
