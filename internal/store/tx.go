package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	maxAttempts = 20
	backoffBase = 2 * time.Millisecond
	backoffMax  = 100 * time.Millisecond
)

// Tx is one attempt of a transaction: reads at a single snapshot revision,
// buffered writes. It is not safe for concurrent use and must not be kept
// after the function it was passed to returns.
type Tx struct {
	ctx      context.Context
	s        *Store
	readOnly bool
	rev      int64                 // snapshot revision; 0 until the first read
	reads    map[string]readResult // every key read from etcd
	writes   map[string]pending
	err      error // first error from Put/Delete/Revision; fails the transaction
	// leases are the expiring writes' leases by TTL: every expiring key of
	// one transaction shares one, whatever the clock does meanwhile.
	leases map[time.Duration]clientv3.LeaseID
}

type readResult struct {
	modRev int64 // 0 = key was missing
	value  []byte
}

type pending struct {
	value []byte
	del   bool
	lease clientv3.LeaseID // 0: no lease
}

type keyValue struct {
	key   string
	value []byte
}

func newTx(ctx context.Context, s *Store, readOnly bool) *Tx {
	return &Tx{ctx: ctx, s: s, readOnly: readOnly, reads: map[string]readResult{}}
}

// Revision returns the snapshot revision the transaction reads at (for an
// Informer's SyncTo, say).
func (tx *Tx) Revision() int64 {
	if tx.rev == 0 {
		ctx, cancel := tx.s.callCtx(tx.ctx)
		defer cancel()
		resp, err := tx.s.client.Get(ctx, tx.s.ns+"/", clientv3.WithCountOnly())
		if err != nil {
			tx.fail(fmt.Errorf("read revision: %w", err))
			return 0
		}
		tx.rev = resp.Header.Revision
	}
	return tx.rev
}

func (tx *Tx) fail(err error) {
	if tx.err == nil {
		tx.err = err
	}
}

func (tx *Tx) write(key string, value []byte, del bool) {
	tx.writeLease(key, value, del, 0)
}

func (tx *Tx) writeLease(key string, value []byte, del bool, lease clientv3.LeaseID) {
	if tx.readOnly {
		tx.fail(fmt.Errorf("write %s: %w", key, ErrReadOnly))
		return
	}
	if tx.writes == nil {
		tx.writes = map[string]pending{}
	}
	tx.writes[key] = pending{value: value, del: del, lease: lease}
}

// rangeOpts pins a read to the snapshot revision once there is one.
func (tx *Tx) rangeOpts(opts ...clientv3.OpOption) []clientv3.OpOption {
	if tx.rev != 0 {
		opts = append(opts, clientv3.WithRev(tx.rev))
	}
	return opts
}

// get returns the value of key, preferring the transaction's own writes, then
// what it already read, then etcd at the snapshot revision.
func (tx *Tx) get(key string) ([]byte, bool, error) {
	if w, ok := tx.writes[key]; ok {
		return w.value, !w.del, nil
	}
	if r, ok := tx.reads[key]; ok {
		return r.value, r.modRev != 0, nil
	}
	ctx, cancel := tx.s.callCtx(tx.ctx)
	defer cancel()
	resp, err := tx.s.client.Get(ctx, key, tx.rangeOpts()...)
	if err != nil {
		return nil, false, err
	}
	if tx.rev == 0 {
		tx.rev = resp.Header.Revision
	}
	if len(resp.Kvs) == 0 {
		tx.reads[key] = readResult{}
		return nil, false, nil
	}
	kv := resp.Kvs[0]
	tx.reads[key] = readResult{modRev: kv.ModRevision, value: kv.Value}
	return kv.Value, true, nil
}

// getMany is get for several keys: what the transaction wrote or already
// read is answered from memory, the rest in one etcd request at the
// snapshot. A nil value means absent.
func (tx *Tx) getMany(keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	var ops []clientv3.Op
	var idx []int
	for i, key := range keys {
		if w, ok := tx.writes[key]; ok {
			if !w.del {
				out[i] = w.value
			}
			continue
		}
		if r, ok := tx.reads[key]; ok {
			if r.modRev != 0 {
				out[i] = r.value
			}
			continue
		}
		ops = append(ops, clientv3.OpGet(key, tx.rangeOpts()...))
		idx = append(idx, i)
	}
	if len(ops) == 0 {
		return out, nil
	}
	if len(ops) == 1 {
		v, ok, err := tx.get(keys[idx[0]])
		if err != nil {
			return nil, err
		}
		if ok {
			out[idx[0]] = v
		}
		return out, nil
	}
	// A read-only transaction answers all the gets at one revision; chunks
	// stay under an etcd's default --max-txn-ops (128), and after the first
	// they are pinned to the revision it read at.
	for start := 0; start < len(ops); start += getManyChunk {
		end := min(start+getManyChunk, len(ops))
		chunk := ops[start:end]
		if tx.rev != 0 && start > 0 {
			chunk = make([]clientv3.Op, 0, end-start)
			for _, i := range idx[start:end] {
				chunk = append(chunk, clientv3.OpGet(keys[i], tx.rangeOpts()...))
			}
		}
		ctx, cancel := tx.s.callCtx(tx.ctx)
		resp, err := tx.s.client.Txn(ctx).Then(chunk...).Commit()
		cancel()
		if err != nil {
			return nil, err
		}
		if tx.rev == 0 {
			tx.rev = resp.Header.Revision
		}
		for j, r := range resp.Responses {
			i := idx[start+j]
			key := keys[i]
			kvs := r.GetResponseRange().Kvs
			if len(kvs) == 0 {
				tx.reads[key] = readResult{}
				continue
			}
			tx.reads[key] = readResult{modRev: kvs[0].ModRevision, value: kvs[0].Value}
			out[i] = kvs[0].Value
		}
	}
	return out, nil
}

// getManyChunk is how many gets one read-only transaction carries.
const getManyChunk = 64

// list returns all keys under prefix at the snapshot, overlaid with the
// transaction's own writes, sorted by key.
// The key skip (a collection's sync marker) is left out.
func (tx *Tx) list(prefix, skip string, track bool) ([]keyValue, error) {
	ctx, cancel := tx.s.callCtx(tx.ctx)
	defer cancel()
	resp, err := tx.s.client.Get(ctx, prefix, tx.rangeOpts(clientv3.WithPrefix())...)
	if err != nil {
		return nil, err
	}
	if tx.rev == 0 {
		tx.rev = resp.Header.Revision
	}
	out := make([]keyValue, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		if key == skip {
			continue
		}
		if track {
			tx.reads[key] = readResult{modRev: kv.ModRevision, value: kv.Value}
		}
		if _, ok := tx.writes[key]; !ok {
			out = append(out, keyValue{key: key, value: kv.Value})
		}
	}
	if len(tx.writes) == 0 {
		return out, nil // etcd returns keys sorted
	}
	for key, w := range tx.writes {
		if !w.del && strings.HasPrefix(key, prefix) {
			out = append(out, keyValue{key: key, value: w.value})
		}
	}
	slices.SortFunc(out, func(a, b keyValue) int { return strings.Compare(a.key, b.key) })
	return out, nil
}

// rangeBatch reads up to limit keys in [from, to) at the snapshot, in key
// order (descending if desc), untracked.
func (tx *Tx) rangeBatch(from, to string, limit int, desc bool) ([]keyValue, error) {
	order := clientv3.SortAscend
	if desc {
		order = clientv3.SortDescend
	}
	ctx, cancel := tx.s.callCtx(tx.ctx)
	defer cancel()
	resp, err := tx.s.client.Get(ctx, from, tx.rangeOpts(clientv3.WithRange(to), clientv3.WithLimit(int64(limit)),
		clientv3.WithSort(clientv3.SortByKey, order))...)
	if err != nil {
		return nil, err
	}
	if tx.rev == 0 {
		tx.rev = resp.Header.Revision
	}
	out := make([]keyValue, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = keyValue{key: string(kv.Key), value: kv.Value}
	}
	return out, nil
}

// commit writes the buffered writes if no key read has changed since the
// snapshot. It reports false on a conflict.
func (tx *Tx) commit() (bool, error) {
	cmps := make([]clientv3.Cmp, 0, len(tx.reads))
	for _, key := range sortedKeys(tx.reads) {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", tx.reads[key].modRev))
	}
	ops := make([]clientv3.Op, 0, len(tx.writes))
	for _, key := range sortedKeys(tx.writes) {
		switch w := tx.writes[key]; {
		case w.del:
			ops = append(ops, clientv3.OpDelete(key))
		case w.lease != 0:
			ops = append(ops, clientv3.OpPut(key, string(w.value), clientv3.WithLease(w.lease)))
		default:
			ops = append(ops, clientv3.OpPut(key, string(w.value)))
		}
	}
	ctx, cancel := tx.s.callCtx(tx.ctx)
	defer cancel()
	resp, err := tx.s.client.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Update runs fn in an optimistic read-write transaction and commits its
// writes atomically. If another writer changed a key fn read (or created a
// key fn read as missing) in between, fn is run again on a fresh snapshot,
// up to a bounded number of attempts, after which Update returns ErrConflict.
// fn must therefore have no side effects outside tx. If fn returns an error,
// nothing is written and that error is returned as is.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return fmt.Errorf("update: %w", err)
			}
		}
		tx := newTx(ctx, s, false)
		if err := fn(tx); err != nil {
			if tx.rev != 0 && errors.Is(err, rpctypes.ErrCompacted) {
				continue // snapshot compacted away under us: retry on a new one
			}
			return err
		}
		if tx.err != nil {
			return tx.err
		}
		if len(tx.writes) == 0 {
			return nil // reads alone were a consistent snapshot
		}
		ok, err := tx.commit()
		if err != nil {
			return fmt.Errorf("update: commit: %w", err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("update: %d attempts: %w", maxAttempts, ErrConflict)
}

// View runs fn in a read-only transaction on one snapshot. Put or Delete
// inside fn makes View return ErrReadOnly (wrapped).
func (s *Store) View(ctx context.Context, fn func(tx *Tx) error) error {
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("view: %w", err)
	}
	tx := newTx(ctx, s, true)
	if err := fn(tx); err != nil {
		return err
	}
	return tx.err
}

// backoff waits a jittered, exponentially growing delay so that contending
// writers spread out instead of colliding again.
func backoff(ctx context.Context, attempt int) error {
	return jitteredWait(ctx, backoffBase, backoffMax, attempt)
}

func jitteredWait(ctx context.Context, base, limit time.Duration, attempt int) error {
	d := min(base<<min(attempt, 16), limit)
	t := time.NewTimer(rand.N(d) + d/4)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
