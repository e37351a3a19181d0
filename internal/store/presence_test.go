package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

func present(t *testing.T, s *store.Store, id string, v item) func() {
	t.Helper()
	release, err := store.Present(context.Background(), s, items, id, v)
	if err != nil {
		t.Fatalf("present %s: %v", id, err)
	}
	return release
}

func TestPresentAndRelease(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	release := present(t, s, "a", item{Name: "one"})
	if v, err := get(t, s, "a"); err != nil || v.Name != "one" {
		t.Fatalf("get = %+v, %v", v, err)
	}
	release()
	release() // twice is fine
	if _, err := get(t, s, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after release: %v", err)
	}
}

// An agent that reconnects holds its session again before the old socket's
// release runs: the old release must leave the new key alone.
func TestPresentNewerHolderWins(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	old := present(t, s, "a", item{Name: "old"})
	newer := present(t, s, "a", item{Name: "new"})
	old()
	if v, err := get(t, s, "a"); err != nil || v.Name != "new" {
		t.Fatalf("after old release: %+v, %v", v, err)
	}
	newer()
	if _, err := get(t, s, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after new release: %v", err)
	}
}

// Thousands of sessions must not mean thousands of leases.
func TestPresentSharesOneLease(t *testing.T) {
	t.Parallel()
	s := storetest.NewEmbedded(t, storetest.Options{})
	for i := range 200 {
		present(t, s, fmt.Sprintf("k%d", i), item{})
	}
	resp, err := s.Client().Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Leases); n != 1 {
		t.Fatalf("%d leases for 200 present keys, want 1", n)
	}
}

// A lost lease (here revoked behind the store's back, as when etcd was
// unreachable for longer than its TTL) is replaced and the keys come back.
func TestPresentSurvivesLostLease(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	present(t, s, "a", item{Name: "one"})
	key := s.Namespace() + "/" + items.Name() + "/a"
	resp, err := s.Client().Get(context.Background(), key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %v", key, err)
	}
	if _, err := s.Client().Revoke(context.Background(), clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	storetest.WaitFor(t, 30*time.Second, "the key to be written again", func() bool {
		v, err := get(t, s, "a")
		return err == nil && v.Name == "one"
	})
}

func TestPresentEndsWithStore(t *testing.T) {
	t.Parallel()
	s := storetest.NewEmbedded(t, storetest.Options{})
	other, err := store.Open(context.Background(), store.Config{Endpoints: s.Client().Endpoints(), Namespace: s.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	present(t, other, "a", item{})
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, s, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key outlived its store: %v", err)
	}
}

// With etcd gone, a request fails within the call timeout instead of
// hanging.
func TestCallTimeoutWhenEtcdIsGone(t *testing.T) {
	t.Parallel()
	s := storetest.NewEmbedded(t, storetest.Options{})
	other, err := store.Open(context.Background(), store.Config{
		Endpoints: s.Client().Endpoints(), Namespace: s.Namespace(), CallTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := s.Close(); err != nil { // stops the etcd both use
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		errc <- other.Update(context.Background(), func(tx *store.Tx) error {
			_, err := store.Get(tx, items, "a")
			return err
		})
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("request still hanging a minute after etcd stopped")
	}
}

func TestPutExpiring(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	if err := s.Update(context.Background(), func(tx *store.Tx) error {
		store.PutExpiring(tx, items, "tok", item{Name: "t"}, time.Second)
		store.PutExpiring(tx, items, "tok2", item{Name: "t"}, time.Second)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if v, err := get(t, s, "tok"); err != nil || v.Name != "t" {
		t.Fatalf("get = %+v, %v", v, err)
	}
	key := s.Namespace() + "/" + items.Name() + "/"
	resp, err := s.Client().Get(context.Background(), key, clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 2 || resp.Kvs[0].Lease == 0 || resp.Kvs[0].Lease != resp.Kvs[1].Lease {
		t.Fatalf("expiring keys should share one lease: %v %v", resp.Kvs, err)
	}
	storetest.WaitFor(t, 30*time.Second, "the key to expire", func() bool {
		_, err := get(t, s, "tok")
		return errors.Is(err, store.ErrNotFound)
	})
}
