package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// errInformerStopped is returned to readers waiting on a stopped informer.
var errInformerStopped = errors.New("informer stopped")

// Get returns the cached value of id.
func (inf *Informer[T]) Get(id string) (*T, bool) {
	inf.mu.RLock()
	defer inf.mu.RUnlock()
	e, ok := inf.items[id]
	if !ok {
		return nil, false
	}
	return e.v, true
}

// GetRev returns the cached value of id and the etcd mod revision it was
// cached at, for Assume.
func (inf *Informer[T]) GetRev(id string) (*T, int64, bool) {
	inf.mu.RLock()
	defer inf.mu.RUnlock()
	e, ok := inf.items[id]
	if !ok {
		return nil, 0, false
	}
	return e.v, e.modRev, true
}

// Count is how many objects are filed under value in the named index.
func (inf *Informer[T]) Count(index, value string) int {
	inf.mu.RLock()
	defer inf.mu.RUnlock()
	if t := inf.indexes[index][value]; t != nil {
		return t.Len()
	}
	return 0
}

// Ascend calls fn, in id order, for the objects filed under value in the
// named index whose id sorts after `after` ("" = from the first), until fn
// returns false. The cache is read-locked meanwhile: fn must be quick and
// must not call back into the informer.
func (inf *Informer[T]) Ascend(index, value, after string, fn func(id string, v *T) bool) {
	inf.mu.RLock()
	defer inf.mu.RUnlock()
	t := inf.indexes[index][value]
	if t == nil {
		return
	}
	visit := func(id string) bool {
		if id == after {
			return true
		}
		return fn(id, inf.items[id].v)
	}
	if after == "" {
		t.Ascend(visit)
		return
	}
	t.AscendGreaterOrEqual(after, visit)
}

// Each calls fn for every cached object, in no particular order, until fn
// returns false. The same rules as for Ascend apply.
func (inf *Informer[T]) Each(fn func(id string, v *T) bool) {
	inf.mu.RLock()
	defer inf.mu.RUnlock()
	for id, e := range inf.items {
		if !fn(id, e.v) {
			return
		}
	}
}

// Len is the number of cached objects.
func (inf *Informer[T]) Len() int {
	inf.mu.RLock()
	defer inf.mu.RUnlock()
	return len(inf.items)
}

// Revision is the etcd revision the cache reflects.
func (inf *Informer[T]) Revision() int64 {
	inf.mu.RLock()
	defer inf.mu.RUnlock()
	return inf.rev
}

// syncGrace is how long SyncTo waits for the watch to catch up on its own
// before it writes the sync marker.
const syncGrace = 2 * time.Millisecond

// Sync waits until the cache reflects every write etcd had committed when
// Sync was called, so a reader sees its own (and everyone's) earlier writes.
// It costs one etcd read, plus what SyncTo costs.
func (inf *Informer[T]) Sync(ctx context.Context) error {
	cctx, cancel := inf.s.callCtx(ctx)
	resp, err := inf.s.client.Get(cctx, inf.s.key(inf.c.name, ""), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return fmt.Errorf("sync %s: read revision: %w", inf.c.name, err)
	}
	return inf.SyncTo(ctx, resp.Header.Revision)
}

// SyncTo waits until the cache reflects etcd revision rev (a revision a
// transaction read at, say). When the collection is idle the watch has
// nothing to deliver and its revision lags etcd's, so SyncTo makes etcd say
// how far the watch is: with a progress request where etcd answers those
// correctly (3.4.25, 3.5.8 and later: before, a progress notification could
// overtake pending events), else by writing the collection's sync marker
// (its empty id, which no object can have) and waiting for the watch to
// deliver it, after every earlier change of the collection.
func (inf *Informer[T]) SyncTo(ctx context.Context, rev int64) error {
	if inf.caughtUp(rev) {
		return nil
	}
	if inf.s.progressOK {
		return inf.waitFor(ctx, rev, true)
	}
	gctx, gcancel := context.WithTimeout(ctx, syncGrace)
	err := inf.WaitFor(gctx, rev)
	gcancel()
	if err == nil || ctx.Err() != nil {
		return err
	}
	cctx, cancel := inf.s.callCtx(ctx)
	put, err := inf.s.client.Put(cctx, inf.s.key(inf.c.name, ""), "")
	cancel()
	if err != nil {
		return fmt.Errorf("sync %s: write marker: %w", inf.c.name, err)
	}
	return inf.WaitFor(ctx, put.Header.Revision)
}

func (inf *Informer[T]) caughtUp(rev int64) bool {
	inf.mu.RLock()
	defer inf.mu.RUnlock()
	return inf.rev >= rev
}

// WaitFor waits until the cache reflects revision rev.
func (inf *Informer[T]) WaitFor(ctx context.Context, rev int64) error {
	return inf.waitFor(ctx, rev, false)
}

// progressEvery is how often a waiting SyncTo repeats its progress request.
const progressEvery = 5 * time.Millisecond

func (inf *Informer[T]) waitFor(ctx context.Context, rev int64, progress bool) error {
	select {
	case <-inf.ready:
	case <-ctx.Done():
		return fmt.Errorf("wait for %s cache: %w", inf.c.name, ctx.Err())
	}
	// Once stopped, the cache never moves again.
	stopped := inf.stopped
	var tick <-chan time.Time
	if progress {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		tick = t.C
		inf.requestProgress()
	}
	for {
		inf.mu.RLock()
		cur, ch := inf.rev, inf.revCh
		inf.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-tick:
			inf.requestProgress()
		case <-stopped:
			return fmt.Errorf("wait for %s cache at revision %d (have %d): %w", inf.c.name, rev, cur, errInformerStopped)
		case <-ctx.Done():
			return fmt.Errorf("wait for %s cache at revision %d (have %d): %w", inf.c.name, rev, cur, ctx.Err())
		}
	}
}

// requestProgress asks etcd to tell the watch how far it is. It does
// nothing while no watch runs (a re-list moves the revision then).
func (inf *Informer[T]) requestProgress() {
	inf.mu.RLock()
	wctx := inf.watchCtx
	inf.mu.RUnlock()
	if wctx == nil || wctx.Err() != nil {
		return
	}
	// RequestProgress only queues the request on the watch stream.
	if err := inf.s.client.RequestProgress(wctx); err != nil && wctx.Err() == nil {
		inf.s.log.Debug("informer: request progress", "collection", inf.c.name, "err", err)
	}
}
