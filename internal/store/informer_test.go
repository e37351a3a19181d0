package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

// byName files items under their Name, and under "all".
var byName = map[string]store.IndexFunc[item]{
	"name": func(_ string, v *item) []string { return []string{v.Name} },
	"all":  func(string, *item) []string { return []string{"all"} },
}

func startInformer(t *testing.T, s *store.Store, cfg store.InformerConfig[item]) *store.Informer[item] {
	t.Helper()
	if cfg.Indexes == nil {
		cfg.Indexes = byName
	}
	inf := store.NewInformer(s, items, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := inf.Start(ctx); err != nil {
		t.Fatalf("start informer: %v", err)
	}
	return inf
}

func ascendIDs(inf *store.Informer[item], index, value, after string) []string {
	ids := []string{}
	inf.Ascend(index, value, after, func(id string, _ *item) bool {
		ids = append(ids, id)
		return true
	})
	return ids
}

func TestInformerListsThenWatches(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	put(t, s, "a", item{Name: "x"})
	put(t, s, "b", item{Name: "y"})
	inf := startInformer(t, s, store.InformerConfig[item]{})
	if got := ascendIDs(inf, "all", "all", ""); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after list: %v", got)
	}
	put(t, s, "c", item{Name: "x"})
	put(t, s, "b", item{Name: "x"})
	if err := s.Update(context.Background(), func(tx *store.Tx) error {
		store.Delete(tx, items, "a")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := inf.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		index, value, after string
		want                []string
	}{
		{"all", "all", "", []string{"b", "c"}},
		{"name", "x", "", []string{"b", "c"}},
		{"name", "x", "b", []string{"c"}},
		{"name", "x", "a", []string{"b", "c"}},
		{"name", "y", "", []string{}},
		{"nope", "x", "", []string{}},
	}
	for _, tt := range tests {
		if got := ascendIDs(inf, tt.index, tt.value, tt.after); !slices.Equal(got, tt.want) {
			t.Errorf("Ascend(%s=%s after %q) = %v, want %v", tt.index, tt.value, tt.after, got, tt.want)
		}
	}
	if n := inf.Count("name", "x"); n != 2 {
		t.Errorf("Count(name=x) = %d, want 2", n)
	}
	if v, ok := inf.Get("b"); !ok || v.Name != "x" {
		t.Errorf("Get(b) = %+v, %v", v, ok)
	}
	if _, ok := inf.Get("a"); ok {
		t.Error("deleted id still cached")
	}
}

// Sync must return once the cache has the writes committed before it, even
// when nothing in the informer's own prefix changed since (progress notify).
func TestInformerSyncWhenIdle(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	inf := startInformer(t, s, store.InformerConfig[item]{})
	put(t, s, "mine/1", item{Name: "x"})
	others := store.NewCollection[item]("test/others")
	for i := range 5 { // moves etcd's revision, not the informer's collection
		if err := s.Update(context.Background(), func(tx *store.Tx) error {
			store.Put(tx, others, fmt.Sprintf("other/%d", i), item{})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := inf.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := inf.Get("mine/1"); !ok {
		t.Fatal("Sync returned before the write it follows was cached")
	}
	if inf.Len() != 1 {
		t.Fatalf("informer caches %d objects, want 1", inf.Len())
	}
	// The marker Sync may have written is no object.
	if vs := list(t, s, ""); len(vs) != 1 {
		t.Fatalf("List sees %d objects, want 1", len(vs))
	}
}

func TestInformerOnChangeAndTransform(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	var mu sync.Mutex
	var seen []string
	inf := startInformer(t, s, store.InformerConfig[item]{
		Transform: func(_ string, v item) item { v.Count *= 10; return v },
		OnChange: []store.ChangeFunc[item]{func(id string, old, new *item) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case old == nil:
				seen = append(seen, fmt.Sprintf("add %s %d", id, new.Count))
			case new == nil:
				seen = append(seen, fmt.Sprintf("del %s %d", id, old.Count))
			default:
				seen = append(seen, fmt.Sprintf("mod %s %d->%d", id, old.Count, new.Count))
			}
		}},
	})
	put(t, s, "a", item{Count: 1})
	put(t, s, "a", item{Count: 2})
	if err := s.Update(context.Background(), func(tx *store.Tx) error {
		store.Delete(tx, items, "a")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := inf.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"add a 10", "mod a 10->20", "del a 20"}
	if !slices.Equal(seen, want) {
		t.Fatalf("changes = %v, want %v", seen, want)
	}
}

// When its watch breaks, the informer lists again: the cache then matches
// etcd, and OnChange hears of what the watch missed, and only that.
func TestInformerRelist(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	put(t, s, "a", item{Name: "x"})
	put(t, s, "keep", item{Name: "x"})
	var mu sync.Mutex
	var seen []string
	inf := startInformer(t, s, store.InformerConfig[item]{
		OnChange: []store.ChangeFunc[item]{func(id string, old, new *item) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, fmt.Sprintf("%s %v %v", id, old != nil, new != nil))
		}},
	})
	if err := s.Update(context.Background(), func(tx *store.Tx) error {
		store.Delete(tx, items, "a")
		store.Put(tx, items, "b", item{Name: "x"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := inf.Relist(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ascendIDs(inf, "name", "x", ""); !slices.Equal(got, []string{"b", "keep"}) {
		t.Fatalf("after re-list: %v", got)
	}
	if err := inf.Sync(context.Background()); err != nil { // the watch's copies of the same changes are no-ops
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(seen)
	if want := []string{"a false true", "a true false", "b false true", "keep false true"}; !slices.Equal(seen, want) {
		t.Fatalf("changes = %v, want %v", seen, want)
	}
}

func TestScanPages(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	var want []string
	for i := range 600 {
		id := fmt.Sprintf("c/%04d", i)
		want = append(want, id)
	}
	// Write in transactions small enough for an etcd with default limits.
	for i := 0; i < len(want); i += 100 {
		if err := s.Update(context.Background(), func(tx *store.Tx) error {
			for _, id := range want[i : i+100] {
				store.Put(tx, items, id, item{Name: id})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(t, s, "d/0", item{})
	scan := func(after string, desc bool, limit int) []string {
		var got []string
		err := s.View(context.Background(), func(tx *store.Tx) error {
			return store.Scan(tx, items, "c/", after, desc, func(id string, v item) (bool, error) {
				if v.Name != id {
					return false, fmt.Errorf("value of %s is %q", id, v.Name)
				}
				got = append(got, id)
				return len(got) < limit, nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := scan("", false, 1000); !slices.Equal(got, want) {
		t.Fatalf("full scan: %d ids, first %v", len(got), got[:3])
	}
	if got := scan("c/0299", false, 2); !slices.Equal(got, []string{"c/0300", "c/0301"}) {
		t.Fatalf("after c/0299: %v", got)
	}
	if got := scan("c/0300", true, 2); !slices.Equal(got, []string{"c/0299", "c/0298"}) {
		t.Fatalf("desc before c/0300: %v", got)
	}
	if got := scan("", true, 1); !slices.Equal(got, []string{"c/0599"}) {
		t.Fatalf("desc first: %v", got)
	}
}

// Closing the store stops its informers; a reader waiting for a revision
// that will never come is told so instead of waiting for ever.
func TestInformerStopsWithStore(t *testing.T) {
	t.Parallel()
	s := storetest.NewEmbedded(t, storetest.Options{})
	inf := store.NewInformer(s, items, store.InformerConfig[item]{})
	if err := inf.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := inf.WaitFor(ctx, inf.Revision()+1); err == nil || ctx.Err() != nil {
		t.Fatalf("WaitFor on a closed store: %v (context %v)", err, ctx.Err())
	}
}

// An informer started last watches from a revision etcd has not reached
// yet, and etcd answers no progress request on a stream that holds such a
// watcher: an older informer's SyncTo must not depend on it. (The dev
// server hung at start when the two shared a stream and nobody wrote.)
func TestInformerSyncBesideNewerInformer(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	older := startInformer(t, s, store.InformerConfig[item]{})
	others := store.NewCollection[item]("test/others")
	if err := s.Update(context.Background(), func(tx *store.Tx) error {
		store.Put(tx, others, "o", item{})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	newer := store.NewInformer(s, others, store.InformerConfig[item]{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := newer.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for !newer.Watching() { // etcd has the watcher that waits for the future
		if ctx.Err() != nil {
			t.Fatal("the newer informer's watch never opened")
		}
		time.Sleep(time.Millisecond) // polling pace
	}
	if err := older.SyncTo(ctx, newer.Revision()); err != nil {
		t.Fatalf("SyncTo the newest revision, with no write since: %v", err)
	}
	if older.Revision() < newer.Revision() {
		t.Fatalf("older informer at revision %d, want %d", older.Revision(), newer.Revision())
	}
}
