package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

func TestHold(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := store.Hold(ctx, s, items, "agent-1", item{Name: "here"}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if v, err := get(t, s, "agent-1"); err != nil || v.Name != "here" {
		t.Fatalf("held key = %+v, %v", v, err)
	}
	cancel()
	storetest.WaitFor(t, 10*time.Second, "held key deleted", func() bool {
		_, err := get(t, s, "agent-1")
		return errors.Is(err, store.ErrNotFound)
	})
}

// TestHoldOutlivesTTL checks the keep-alive: the key is still there after
// several TTLs have passed.
func TestHoldOutlivesTTL(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	if err := store.Hold(t.Context(), s, items, "agent-1", item{}, time.Second); err != nil {
		t.Fatal(err)
	}
	start := revision(t, s)
	// Wait on a watch (not a sleep) for 3x the TTL: no delete must arrive.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for e := range store.Watch(ctx, s, items, "agent-1", start) {
		t.Fatalf("unexpected event while held: %+v", e)
	}
	if _, err := get(t, s, "agent-1"); err != nil {
		t.Fatalf("held key gone: %v", err)
	}
}

func TestHoldEndsWithStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := storetest.NewWith(t, storetest.Options{DataDir: dir})
	if err := store.Hold(context.Background(), s, items, "agent-1", item{}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close revoked the lease: the key is gone at once, not after 30s.
	s2 := storetest.NewWith(t, storetest.Options{DataDir: dir})
	if _, err := get(t, s2, "agent-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("held key after Close: %v, want ErrNotFound", err)
	}
	if err := store.Hold(context.Background(), s, items, "x", item{}, time.Second); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Hold on a closed store: %v, want ErrClosed", err)
	}
}
