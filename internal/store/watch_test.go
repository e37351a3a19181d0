package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

func revision(t *testing.T, s *store.Store) int64 {
	t.Helper()
	var rev int64
	if err := s.View(context.Background(), func(tx *store.Tx) error {
		rev = tx.Revision()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rev
}

func next(t *testing.T, ch <-chan store.Event[item]) store.Event[item] {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	panic("unreachable")
}

func waitClosed(t *testing.T, ch <-chan store.Event[item]) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("watch channel not closed within 10s")
		}
	}
}

func TestWatchAfterRevision(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	put(t, s, "c1/before", item{Name: "before"})
	rev := revision(t, s)
	put(t, s, "c1/a", item{Name: "a"})
	put(t, s, "c2/b", item{Name: "b"}) // outside the watched prefix
	if err := s.Update(context.Background(), func(tx *store.Tx) error {
		store.Delete(tx, items, "c1/a")
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ch := store.Watch(ctx, s, items, "c1/", rev)
	want := []struct {
		typ  store.EventType
		id   string
		name string
	}{
		{store.EventPut, "c1/a", "a"},
		{store.EventDelete, "c1/a", ""},
	}
	last := rev
	for _, w := range want {
		e := next(t, ch)
		if e.Type != w.typ || e.ID != w.id || e.Value.Name != w.name {
			t.Fatalf("event = %+v, want %s %s %q", e, w.typ, w.id, w.name)
		}
		if e.Revision <= last {
			t.Fatalf("event revision %d not after %d", e.Revision, last)
		}
		last = e.Revision
	}
	// Later writes keep flowing.
	put(t, s, "c1/c", item{Name: "c"})
	if e := next(t, ch); e.ID != "c1/c" || e.Type != store.EventPut {
		t.Fatalf("event = %+v, want put c1/c", e)
	}
	cancel()
	waitClosed(t, ch)
}

func TestWatchClosesWhenCompacted(t *testing.T) {
	t.Parallel()
	s := storetest.NewEmbedded(t, storetest.Options{})
	rev := revision(t, s)
	put(t, s, "a", item{})
	put(t, s, "a", item{Count: 1})
	now := revision(t, s)
	if _, err := s.Client().Compact(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, store.Watch(context.Background(), s, items, "", rev))
}

func TestWatchClosesOnStoreClose(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ch := store.Watch(context.Background(), s, items, "", revision(t, s))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch)
}
