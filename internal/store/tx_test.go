package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

type item struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

var items = store.NewCollection[item]("test/items")

func put(t *testing.T, s *store.Store, id string, v item) {
	t.Helper()
	if err := s.Update(context.Background(), func(tx *store.Tx) error {
		store.Put(tx, items, id, v)
		return nil
	}); err != nil {
		t.Fatalf("put %s: %v", id, err)
	}
}

func get(t *testing.T, s *store.Store, id string) (item, error) {
	t.Helper()
	var v item
	err := s.View(context.Background(), func(tx *store.Tx) error {
		var err error
		v, err = store.Get(tx, items, id)
		return err
	})
	return v, err
}

func list(t *testing.T, s *store.Store, prefix string) []item {
	t.Helper()
	var vs []item
	if err := s.View(context.Background(), func(tx *store.Tx) error {
		var err error
		vs, err = store.List(tx, items, prefix)
		return err
	}); err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return vs
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	for _, id := range []string{"c1/b", "c1/a", "c2/a", "c10/a"} {
		put(t, s, id, item{Name: id})
	}
	// A collection whose name extends ours past the '/' boundary is separate.
	other := store.NewCollection[item]("test/items-other")
	if err := s.Update(context.Background(), func(tx *store.Tx) error {
		store.Put(tx, other, "c1/z", item{Name: "other"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"c1/a", "c1/b", "c10/a", "c2/a"}},
		{"c1/", []string{"c1/a", "c1/b"}},
		{"c1", []string{"c1/a", "c1/b", "c10/a"}},
		{"c3/", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("list %q", tt.prefix), func(t *testing.T) {
			var got []string
			for _, v := range list(t, s, tt.prefix) {
				got = append(got, v.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("List(%q) = %v, want %v", tt.prefix, got, tt.want)
			}
		})
	}

	if v, err := get(t, s, "c1/a"); err != nil || v.Name != "c1/a" {
		t.Fatalf("Get c1/a = %+v, %v", v, err)
	}
	if err := s.Update(context.Background(), func(tx *store.Tx) error {
		store.Delete(tx, items, "c1/a")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, s, "c1/a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after delete: err = %v, want ErrNotFound", err)
	}
	if n := len(list(t, s, "c1/")); n != 1 {
		t.Fatalf("List c1/ after delete has %d items, want 1", n)
	}
}

func TestGetNotFound(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	_, err := get(t, s, "missing")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestOwnWrites(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	put(t, s, "a", item{Name: "a"})
	put(t, s, "b", item{Name: "b"})
	err := s.Update(context.Background(), func(tx *store.Tx) error {
		store.Put(tx, items, "c", item{Name: "c"})
		store.Put(tx, items, "a", item{Name: "a2"})
		store.Delete(tx, items, "b")
		if v, err := store.Get(tx, items, "a"); err != nil || v.Name != "a2" {
			return fmt.Errorf("get a = %+v, %v; want a2", v, err)
		}
		if _, err := store.Get(tx, items, "b"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("get deleted b: %v, want ErrNotFound", err)
		}
		vs, err := store.List(tx, items, "")
		if err != nil {
			return err
		}
		if want := []item{{Name: "a2"}, {Name: "c"}}; !reflect.DeepEqual(vs, want) {
			return fmt.Errorf("list = %+v, want %+v", vs, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := list(t, s, ""); len(got) != 2 || got[0].Name != "a2" || got[1].Name != "c" {
		t.Fatalf("after commit list = %+v", got)
	}
}

func TestUpdateAbortsOnError(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	errBoom := errors.New("boom")
	err := s.Update(context.Background(), func(tx *store.Tx) error {
		store.Put(tx, items, "x", item{Name: "x"})
		return fmt.Errorf("validate: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want errBoom", err)
	}
	if _, err := get(t, s, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("x written despite error: %v", err)
	}
}

func TestViewRejectsWrites(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	tests := []struct {
		name string
		fn   func(tx *store.Tx)
	}{
		{"put", func(tx *store.Tx) { store.Put(tx, items, "x", item{}) }},
		{"delete", func(tx *store.Tx) { store.Delete(tx, items, "x") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.View(context.Background(), func(tx *store.Tx) error {
				tt.fn(tx)
				return nil
			})
			if !errors.Is(err, store.ErrReadOnly) {
				t.Fatalf("err = %v, want ErrReadOnly", err)
			}
		})
	}
	if _, err := get(t, s, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("x written by View: %v", err)
	}
}

func increment(ctx context.Context, s *store.Store, id string) error {
	return s.Update(ctx, func(tx *store.Tx) error {
		v, err := store.Get(tx, items, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		v.Count++
		store.Put(tx, items, id, v)
		return nil
	})
}

func TestConcurrentIncrements(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	const workers, n = 2, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers*n)
	for range workers {
		wg.Go(func() {
			for range n {
				if err := increment(context.Background(), s, "counter"); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("increment: %v", err)
	}
	v, err := get(t, s, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if v.Count != workers*n {
		t.Fatalf("counter = %d, want %d", v.Count, workers*n)
	}
}

// TestConflictRetries checks that a key read (as missing, or via List) and
// changed by another writer before commit makes Update run fn again.
func TestConflictRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		seed bool                     // "k" exists before the transaction
		read func(tx *store.Tx) error // what the transaction reads
	}{
		{"missing key created", false, func(tx *store.Tx) error {
			if _, err := store.Get(tx, items, "k"); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("want not found, got %v", err)
			}
			return nil
		}},
		{"got key changed", true, func(tx *store.Tx) error {
			_, err := store.Get(tx, items, "k")
			return err
		}},
		{"listed key changed", true, func(tx *store.Tx) error {
			_, err := store.List(tx, items, "")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := storetest.New(t)
			if tt.seed {
				put(t, s, "k", item{Name: "old"})
			}
			attempts := 0
			err := s.Update(context.Background(), func(tx *store.Tx) error {
				attempts++
				if attempts == 1 {
					if err := tt.read(tx); err != nil {
						return err
					}
					// A concurrent writer commits between our read and commit.
					put(t, s, "k", item{Name: "concurrent"})
				} else if v, err := store.Get(tx, items, "k"); err != nil || v.Name != "concurrent" {
					return fmt.Errorf("retry sees %+v, %v; want the concurrent write", v, err)
				}
				store.Put(tx, items, "out", item{Count: attempts})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if attempts != 2 {
				t.Fatalf("fn ran %d times, want 2", attempts)
			}
			if v, err := get(t, s, "out"); err != nil || v.Count != 2 {
				t.Fatalf("out = %+v, %v; want the second attempt's write", v, err)
			}
		})
	}
}

func TestUpdateGivesUpWithErrConflict(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	attempts := 0
	err := s.Update(context.Background(), func(tx *store.Tx) error {
		attempts++
		if _, err := store.Get(tx, items, "k"); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		put(t, s, "k", item{Count: attempts}) // always invalidates our read
		store.Put(tx, items, "out", item{})
		return nil
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if _, err := get(t, s, "out"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("out written despite conflict: %v", err)
	}
}

func TestListUntrackedDoesNotConflict(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	put(t, s, "k", item{Name: "old"})
	attempts := 0
	err := s.Update(context.Background(), func(tx *store.Tx) error {
		attempts++
		got, err := store.ListUntracked(tx, items, "")
		if err != nil {
			return err
		}
		if attempts == 1 {
			if len(got) != 1 || got[0].Name != "old" {
				return fmt.Errorf("ListUntracked = %+v, want the snapshot", got)
			}
			put(t, s, "k", item{Name: "concurrent"}) // not compared at commit
		}
		store.Put(tx, items, "out", item{Count: attempts})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 1 {
		t.Fatalf("fn ran %d times, want 1: untracked reads must not cause retries", attempts)
	}
}

// GetMany reads several ids in one round trip, tracked like Get: a write to
// any of them by someone else makes the transaction run again.
func TestGetMany(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	put(t, s, "a", item{Name: "a"})
	put(t, s, "b", item{Name: "b"})
	runs := 0
	err := s.Update(context.Background(), func(tx *store.Tx) error {
		runs++
		store.Put(tx, items, "c", item{Name: "own write"})
		got, err := store.GetMany(tx, items, []string{"a", "b", "c", "missing"})
		if err != nil {
			return err
		}
		if len(got) != 3 || got["a"].Name != "a" || got["c"].Name != "own write" {
			return fmt.Errorf("GetMany = %+v", got)
		}
		if _, ok := got["missing"]; ok {
			return errors.New("a missing id was returned")
		}
		if runs == 1 { // someone else writes one of the keys read
			put(t, s, "b", item{Name: "b2"})
		}
		store.Put(tx, items, "d", item{Count: runs})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Fatalf("fn ran %d times, want 2 (the write to b must conflict)", runs)
	}
}

// More ids than an etcd with default limits takes in one transaction are
// read in chunks, all at one revision.
func TestGetManyChunks(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	var ids []string
	for i := range 150 {
		ids = append(ids, fmt.Sprintf("k%03d", i))
	}
	for i := 0; i < len(ids); i += 50 {
		if err := s.Update(context.Background(), func(tx *store.Tx) error {
			for _, id := range ids[i : i+50] {
				store.Put(tx, items, id, item{Name: id})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// In a View: a transaction that committed after 150 tracked reads would
	// itself exceed the limit with its compares.
	err := s.View(context.Background(), func(tx *store.Tx) error {
		got, err := store.GetMany(tx, items, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if got[id].Name != id {
				return fmt.Errorf("GetMany[%s] = %+v", id, got[id])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A transaction that assumes a value at a revision conflicts when the key
// has moved on, and runs again.
func TestAssume(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	put(t, s, "a", item{Name: "v1"})
	var rev1 int64
	if err := s.View(context.Background(), func(tx *store.Tx) error {
		rev1 = tx.Revision()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	put(t, s, "a", item{Name: "v2"}) // the "cache" below is now stale
	runs := 0
	err := s.Update(context.Background(), func(tx *store.Tx) error {
		runs++
		if runs == 1 {
			store.Assume(tx, items, "a", item{Name: "v1"}, rev1)
		}
		v, err := store.Get(tx, items, "a")
		if err != nil {
			return err
		}
		if runs == 1 && v.Name != "v1" {
			return fmt.Errorf("Get after Assume = %+v, want the assumed value", v)
		}
		store.Put(tx, items, "b", item{Name: v.Name})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := get(t, s, "b"); runs != 2 || b.Name != "v2" {
		t.Fatalf("runs %d, b = %+v; want a second run that saw v2", runs, b)
	}
}
