package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"
)

// IndexFunc returns the values an object is filed under in one index; an
// object may be filed under none, one or several.
type IndexFunc[T any] func(id string, v *T) []string

// ChangeFunc is told about every change an informer applies: old is nil for
// a new id, new is nil for a deleted one. It runs on the informer's
// goroutine, after the cache is updated, and must not block.
type ChangeFunc[T any] func(id string, old, new *T)

// InformerConfig configures NewInformer.
type InformerConfig[T any] struct {
	// Indexes name the secondary indexes to maintain.
	Indexes map[string]IndexFunc[T]
	// Transform, if set, turns each decoded value into what the cache keeps:
	// drop what no reader needs, precompute what every reader would.
	Transform func(id string, v T) T
	// OnChange, if set, is told about every applied change.
	OnChange []ChangeFunc[T]
}

// Informer keeps an in-memory copy of one collection, fed by one list and
// one watch, with secondary indexes, for the handlers and controllers of one
// process to read instead of scanning etcd. The etcd records stay the truth:
// the cache is rebuilt from them on start and whenever the watch breaks.
//
// Values handed out are shared with the cache: callers must not modify them
// (nor the slices and maps inside them).
type Informer[T any] struct {
	s   *Store
	c   Collection[T]
	cfg InformerConfig[T]

	mu      sync.RWMutex
	items   map[string]*entry[T]
	indexes map[string]map[string]*btree.BTreeG[string]
	rev     int64         // every change up to rev is applied
	ready   chan struct{} // closed after the first list
	stopped chan struct{} // closed when the informer stops for good
	revCh   chan struct{} // closed and replaced whenever rev moves
	// watchCtx is the running watch's context: progress requests must go
	// on the watch's own stream, which clientv3 finds by the context.
	watchCtx context.Context
	// stream names the informer's own gRPC watch stream (see watch).
	stream string
}

// informerStreams numbers the informers of a process, one watch stream each.
var informerStreams atomic.Uint64

type entry[T any] struct {
	v      *T
	modRev int64
	keys   map[string][]string // index name -> values the entry is filed under
}

// NewInformer returns an informer of c; Start it before reading.
func NewInformer[T any](s *Store, c Collection[T], cfg InformerConfig[T]) *Informer[T] {
	return &Informer[T]{
		s: s, c: c, cfg: cfg,
		items:   map[string]*entry[T]{},
		indexes: map[string]map[string]*btree.BTreeG[string]{},
		ready:   make(chan struct{}),
		stopped: make(chan struct{}),
		revCh:   make(chan struct{}),
		stream:  strconv.FormatUint(informerStreams.Add(1), 10),
	}
}

// Start lists the collection, then keeps the cache current from a watch
// until ctx is done or the store closes. It returns once the first list is
// applied, or with the error that kept it from listing.
func (inf *Informer[T]) Start(ctx context.Context) error {
	if err := inf.s.checkOpen(); err != nil {
		return err
	}
	rev, err := inf.list(ctx)
	if err != nil {
		return err
	}
	close(inf.ready)
	runCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(inf.s.done, cancel)
	started := inf.s.goBackground(func() {
		defer close(inf.stopped)
		defer stop()
		defer cancel()
		inf.run(runCtx, rev)
	})
	if !started {
		close(inf.stopped)
		stop()
		cancel()
		return ErrClosed
	}
	return nil
}

const (
	listBatch        = 1000
	relistMinBackoff = 50 * time.Millisecond
	relistMaxBackoff = 5 * time.Second
)

// run watches from rev and re-lists whenever the watch ends, until ctx is done.
func (inf *Informer[T]) run(ctx context.Context, rev int64) {
	for attempt := 0; ctx.Err() == nil; {
		if rev > 0 {
			if inf.watch(ctx, rev) {
				attempt = 0
			}
			if ctx.Err() != nil {
				return
			}
		}
		attempt++
		if jitteredWait(ctx, relistMinBackoff, relistMaxBackoff, attempt) != nil {
			return
		}
		var err error
		if rev, err = inf.list(ctx); err != nil {
			rev = 0
			if ctx.Err() == nil {
				inf.s.log.Warn("informer: re-list failed", "collection", inf.c.name, "err", err)
			}
		}
	}
}

// list reads the whole collection at one revision, in batches, and replaces
// the cache with it, telling OnChange what changed. It returns the revision.
func (inf *Informer[T]) list(ctx context.Context) (int64, error) {
	base := inf.s.key(inf.c.name, "")
	prefix := base
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	var rev int64
	seen := map[string]*entry[T]{}
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listBatch)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		cctx, cancel := inf.s.callCtx(ctx)
		resp, err := inf.s.client.Get(cctx, from, opts...)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("list %s: %w", prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			id := string(kv.Key[len(base):])
			if id == "" {
				continue // the sync marker
			}
			if e, ok := inf.decode(id, kv.Value, kv.ModRevision); ok {
				seen[id] = e
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	inf.replace(seen, rev)
	return rev, nil
}

// watch applies events after rev until the watch ends; it reports whether
// it delivered anything (so the caller resets its backoff).
func (inf *Informer[T]) watch(ctx context.Context, rev int64) bool {
	base := inf.s.key(inf.c.name, "")
	// clientv3 puts watches whose contexts carry the same metadata on one
	// gRPC stream, and etcd answers a progress request only when every
	// watcher of the stream is synced and none waits for a revision etcd
	// has not reached. A watch opened right after a list waits for the next
	// revision, so an informer sharing its stream with one just started
	// could not learn that it is current until someone wrote anything:
	// SyncTo waited for a write that might never come. Each informer
	// watches on a stream of its own, where its SyncTo always gets an
	// answer (see SyncTo).
	wctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(clientv3.WithRequireLeader(ctx), "berth-informer", inf.stream))
	defer cancel()
	wch := inf.s.client.Watch(wctx, base, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	inf.mu.Lock()
	inf.watchCtx = wctx
	inf.mu.Unlock()
	defer func() {
		inf.mu.Lock()
		inf.watchCtx = nil
		inf.mu.Unlock()
	}()
	delivered := false
	for resp := range wch {
		if err := resp.Err(); err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				inf.s.log.Info("informer: watch ended; re-listing", "collection", inf.c.name, "err", err)
			}
			return delivered
		}
		if resp.Canceled {
			return delivered
		}
		delivered = true
		if resp.IsProgressNotify() && inf.s.progressOK {
			inf.advance(resp.Header.Revision)
			continue
		}
		// The events of one revision (one transaction) come in one
		// response: the revision moves once they are all applied, or a
		// SyncTo could return with part of a transaction in the cache.
		var last int64
		for _, ev := range resp.Events {
			last = max(last, ev.Kv.ModRevision)
			id := string(ev.Kv.Key[len(base):])
			if id == "" { // the sync marker: only moves the revision
				continue
			}
			if ev.Type == mvccpb.DELETE {
				inf.apply(id, nil, ev.Kv.ModRevision)
				continue
			}
			if e, ok := inf.decode(id, ev.Kv.Value, ev.Kv.ModRevision); ok {
				inf.apply(id, e, ev.Kv.ModRevision)
			}
		}
		inf.advance(last)
	}
	return delivered
}

// decode builds the cache entry of one value; undecodable values are
// logged and left out.
func (inf *Informer[T]) decode(id string, raw []byte, modRev int64) (*entry[T], bool) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		inf.s.log.Warn("informer: skip undecodable value", "collection", inf.c.name, "id", id, "err", err)
		return nil, false
	}
	if inf.cfg.Transform != nil {
		v = inf.cfg.Transform(id, v)
	}
	e := &entry[T]{v: &v, modRev: modRev}
	if len(inf.cfg.Indexes) > 0 {
		e.keys = make(map[string][]string, len(inf.cfg.Indexes))
		for name, f := range inf.cfg.Indexes {
			if vals := f(id, e.v); len(vals) > 0 {
				e.keys[name] = vals
			}
		}
	}
	return e, true
}

// apply puts (e != nil) or deletes one id, then tells OnChange; the
// caller moves the revision once every event of the revision is applied
// and heard, so that a Sync that returns has the whole transaction it
// waited for, and every OnChange of it, behind it. Events the cache
// already reflects (a re-list got there first) are skipped. Only the
// informer's one run goroutine applies.
func (inf *Informer[T]) apply(id string, e *entry[T], rev int64) {
	inf.mu.Lock()
	old := inf.items[id]
	stale := old == nil && e == nil || old != nil && old.modRev >= rev
	if !stale {
		inf.setLocked(id, old, e)
	}
	inf.mu.Unlock()
	if !stale {
		inf.notify(id, old, e)
	}
}

// replace swaps the cache for a fresh list and tells OnChange what differs.
func (inf *Informer[T]) replace(fresh map[string]*entry[T], rev int64) {
	type change struct {
		id       string
		old, new *entry[T]
	}
	var changes []change
	inf.mu.Lock()
	for id, old := range inf.items {
		if _, ok := fresh[id]; !ok {
			inf.setLocked(id, old, nil)
			changes = append(changes, change{id, old, nil})
		}
	}
	for id, e := range fresh {
		old := inf.items[id]
		if old != nil && old.modRev == e.modRev {
			continue
		}
		inf.setLocked(id, old, e)
		changes = append(changes, change{id, old, e})
	}
	inf.mu.Unlock()
	for _, c := range changes {
		inf.notify(c.id, c.old, c.new)
	}
	inf.advance(rev) // after OnChange, as in apply
}

// setLocked replaces old with e (nil = delete) in the map and the indexes.
func (inf *Informer[T]) setLocked(id string, old, e *entry[T]) {
	if old != nil {
		for name, vals := range old.keys {
			for _, val := range vals {
				if t := inf.indexes[name][val]; t != nil {
					t.Delete(id)
					if t.Len() == 0 {
						delete(inf.indexes[name], val)
					}
				}
			}
		}
	}
	if e == nil {
		delete(inf.items, id)
		return
	}
	inf.items[id] = e
	for name, vals := range e.keys {
		byVal := inf.indexes[name]
		if byVal == nil {
			byVal = map[string]*btree.BTreeG[string]{}
			inf.indexes[name] = byVal
		}
		for _, val := range vals {
			t := byVal[val]
			if t == nil {
				t = btree.NewOrderedG[string](16)
				byVal[val] = t
			}
			t.ReplaceOrInsert(id)
		}
	}
}

func (inf *Informer[T]) notify(id string, old, e *entry[T]) {
	if len(inf.cfg.OnChange) == 0 {
		return
	}
	var ov, nv *T
	if old != nil {
		ov = old.v
	}
	if e != nil {
		nv = e.v
	}
	for _, f := range inf.cfg.OnChange {
		f(id, ov, nv)
	}
}

func (inf *Informer[T]) advance(rev int64) {
	inf.mu.Lock()
	inf.advanceLocked(rev)
	inf.mu.Unlock()
}

func (inf *Informer[T]) advanceLocked(rev int64) {
	if rev > inf.rev {
		inf.rev = rev
		close(inf.revCh)
		inf.revCh = make(chan struct{})
	}
}
