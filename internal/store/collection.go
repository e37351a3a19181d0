package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Collection is a typed set of JSON values of one kind, keyed by id.
// The key of an id is Namespace/name/id; ids may contain '/' to nest
// (e.g. "<cluster>/<taskId>") and List can then select a sub-tree.
// No collection name may be another's name plus a '/'-separated suffix
// ("ecs" and "ecs/tasks"), or listing one would return the other's values.
type Collection[T any] struct {
	name string
}

// NewCollection names a collection, like "ecs/clusters". It panics on a name
// that is empty or starts or ends with '/': collections are declared once at
// package level, so a bad name is a programming error.
func NewCollection[T any](name string) Collection[T] {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		panic(fmt.Sprintf("store: invalid collection name %q", name))
	}
	return Collection[T]{name: name}
}

// Name returns the collection's name.
func (c Collection[T]) Name() string { return c.name }

var errEmptyID = errors.New("empty id")

// Get returns the value of id as of the transaction's snapshot, or as written
// earlier in the same transaction. It returns ErrNotFound (wrapped) if absent.
func Get[T any](tx *Tx, c Collection[T], id string) (T, error) {
	var v T
	key := tx.s.key(c.name, id)
	if id == "" {
		return v, fmt.Errorf("get %s: %w", key, errEmptyID)
	}
	raw, ok, err := tx.get(key)
	if err != nil {
		return v, fmt.Errorf("get %s: %w", key, err)
	}
	if !ok {
		return v, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", key, err)
	}
	return v, nil
}

// List returns the values of all ids starting with idPrefix ("" = the whole
// collection), sorted by id, including the transaction's own writes.
func List[T any](tx *Tx, c Collection[T], idPrefix string) ([]T, error) {
	return list(tx, c, idPrefix, true)
}

// ListUntracked is List without conflict detection: a change to the keys it
// returns does not make Update retry. Use it, to keep transactions small, for
// reads whose consistency a tracked key already guarantees — e.g. the tasks
// on an instance, when every placement and release also writes the instance.
func ListUntracked[T any](tx *Tx, c Collection[T], idPrefix string) ([]T, error) {
	return list(tx, c, idPrefix, false)
}

func list[T any](tx *Tx, c Collection[T], idPrefix string, track bool) ([]T, error) {
	prefix := tx.s.key(c.name, idPrefix)
	kvs, err := tx.list(prefix, tx.s.key(c.name, ""), track)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	out := make([]T, 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.value, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Put buffers a write of v under id; it is committed when Update's fn
// returns nil. Encoding errors and writes inside View make Update/View fail.
func Put[T any](tx *Tx, c Collection[T], id string, v T) {
	if key, raw, ok := encodeFor(tx, c, id, v); ok {
		tx.write(key, raw, false)
	}
}

// encodeFor is the key and JSON of a value to write; on a bad id or value
// it fails the transaction and reports false. It encodes at once: the
// caller may mutate v afterwards.
func encodeFor[T any](tx *Tx, c Collection[T], id string, v T) (string, []byte, bool) {
	key := tx.s.key(c.name, id)
	if id == "" {
		tx.fail(fmt.Errorf("put %s: %w", key, errEmptyID))
		return "", nil, false
	}
	raw, err := json.Marshal(v)
	if err != nil {
		tx.fail(fmt.Errorf("encode %s: %w", key, err))
		return "", nil, false
	}
	return key, raw, true
}

// Delete buffers a delete of id; deleting a missing id is not an error.
func Delete[T any](tx *Tx, c Collection[T], id string) {
	key := tx.s.key(c.name, id)
	if id == "" {
		tx.fail(fmt.Errorf("delete %s: %w", key, errEmptyID))
		return
	}
	tx.write(key, nil, true)
}

// Scan reads in batches that start small (a page of a list call is
// usually a few keys) and double up to scanBatchMax.
const (
	scanBatchMin = 16
	scanBatchMax = 256
)

// Scan calls fn, in id order (descending if desc), with each id under
// idPrefix that sorts after `after` (before it when desc; "" = from the
// first), until fn returns false or an error. It reads in small batches at
// the transaction's snapshot, so memory stays bounded however large the
// collection; the reads are untracked and do not see the transaction's own
// writes: use it from View, for paged list calls.
func Scan[T any](tx *Tx, c Collection[T], idPrefix, after string, desc bool, fn func(id string, v T) (bool, error)) error {
	base := tx.s.key(c.name, "")
	prefix := base + idPrefix
	end := clientv3.GetPrefixRangeEnd(prefix)
	from, to := prefix, end
	if after != "" {
		if desc {
			to = base + after
		} else {
			from = base + after + "\x00"
		}
	}
	for batch := scanBatchMin; ; batch = min(batch*2, scanBatchMax) {
		kvs, err := tx.rangeBatch(from, to, batch, desc)
		if err != nil {
			return fmt.Errorf("scan %s: %w", prefix, err)
		}
		for _, kv := range kvs {
			if kv.key == base {
				continue // the sync marker
			}
			var v T
			if err := json.Unmarshal(kv.value, &v); err != nil {
				return fmt.Errorf("decode %s: %w", kv.key, err)
			}
			more, err := fn(kv.key[len(base):], v)
			if err != nil || !more {
				return err
			}
		}
		if len(kvs) < batch {
			return nil
		}
		last := kvs[len(kvs)-1].key
		if desc {
			to = last
		} else {
			from = last + "\x00"
		}
	}
}

// GetMany is Get for several ids in one etcd round trip: it returns the
// values found, by id (absent ids are missing from the map), read tracked
// like Get's.
func GetMany[T any](tx *Tx, c Collection[T], ids []string) (map[string]T, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("get many %s: %w", c.name, errEmptyID)
		}
		keys[i] = tx.s.key(c.name, id)
	}
	raws, err := tx.getMany(keys)
	if err != nil {
		return nil, fmt.Errorf("get many %s: %w", c.name, err)
	}
	out := make(map[string]T, len(ids))
	for i, raw := range raws {
		if raw == nil {
			continue
		}
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", keys[i], err)
		}
		out[ids[i]] = v
	}
	return out, nil
}

// Ref names one id of one collection, for Prefetch.
type Ref struct{ key string }

// RefTo is the Ref of id in c.
func RefTo[T any](s *Store, c Collection[T], id string) Ref { return Ref{key: s.key(c.name, id)} }

// Prefetch reads several keys, of any collections, in one etcd round trip,
// so that the transaction's later Gets of them cost nothing. The reads are
// tracked as Get's are; absent and empty refs are fine.
func Prefetch(tx *Tx, refs ...Ref) error {
	keys := make([]string, 0, len(refs))
	for _, r := range refs {
		if r.key != "" && !strings.HasSuffix(r.key, "/") {
			keys = append(keys, r.key)
		}
	}
	if _, err := tx.getMany(keys); err != nil {
		return fmt.Errorf("prefetch: %w", err)
	}
	return nil
}

// Assume makes the transaction treat v as what it read of id at mod
// revision modRev (an Informer's GetRev), without asking etcd: the commit
// then compares that revision, so if the key changed since, the
// transaction conflicts and runs again (on a fresh snapshot, where the
// caller's cache has to catch up). It saves a round trip when the cache is
// usually current. Assuming a key the transaction already read is a no-op.
func Assume[T any](tx *Tx, c Collection[T], id string, v T, modRev int64) {
	key := tx.s.key(c.name, id)
	if _, ok := tx.reads[key]; ok {
		return
	}
	if _, ok := tx.writes[key]; ok {
		return
	}
	raw, err := json.Marshal(v)
	if err != nil {
		tx.fail(fmt.Errorf("encode %s: %w", key, err))
		return
	}
	tx.reads[key] = readResult{modRev: modRev, value: raw}
}
