// Package storetest owns test fixtures for code built on package store: a
// real etcd per test, cleaned up with the test. By default each test gets its
// own embedded etcd; with BERTH_TEST_ETCD_ENDPOINTS set (comma-separated),
// tests share that external etcd instead, each under its own key prefix, so
// the same tests run against an etcd with default settings (max-txn-ops 128).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth-dev/berth/internal/store"
)

// EnvEndpoints names the variable that points the tests at an external etcd.
const EnvEndpoints = "BERTH_TEST_ETCD_ENDPOINTS"

// External returns the external etcd endpoints tests should use, if any.
func External() []string {
	v := strings.TrimSpace(os.Getenv(EnvEndpoints))
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// Options tune New. The zero value is fine for most tests.
type Options struct {
	DataDir   string       // default t.TempDir()
	Namespace string       // default "/berth/000000000000/us-east-1"
	Logger    *slog.Logger // default discards
}

// New opens a store for the test (see the package doc) and closes it when
// the test ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	return NewWith(t, Options{})
}

// NewWith is New with options. On an external etcd, the namespace is put
// under a prefix of the test's own, deleted when the test ends.
func NewWith(t testing.TB, o Options) *store.Store {
	t.Helper()
	if eps := External(); eps != nil && o.DataDir == "" {
		return openExternal(t, eps, o)
	}
	return NewEmbedded(t, o)
}

// NewEmbedded opens a store on its own embedded etcd whatever the
// environment says: for tests of embedded etcd itself, and of things that
// affect a whole etcd cluster (compaction).
func NewEmbedded(t testing.TB, o Options) *store.Store {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	o = defaults(o)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, store.Config{DataDir: o.DataDir, Namespace: o.Namespace, Logger: o.Logger})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

func defaults(o Options) Options {
	if o.Namespace == "" {
		o.Namespace = "/berth/000000000000/us-east-1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func openExternal(t testing.TB, eps []string, o Options) *store.Store {
	t.Helper()
	o = defaults(o)
	var b [6]byte
	_, _ = rand.Read(b[:])
	root := "/berth-test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, store.Config{Endpoints: eps, Namespace: root + o.Namespace, Logger: o.Logger})
	if err != nil {
		t.Fatalf("open store on external etcd %v: %v", eps, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
		// The test may have closed s itself: clean up on a connection of our own.
		c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 10 * time.Second})
		if err != nil {
			t.Errorf("clean up %s: %v", root, err)
			return
		}
		defer c.Close()
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		if _, err := c.Delete(dctx, root+"/", clientv3.WithPrefix()); err != nil {
			t.Errorf("clean up %s: %v", root, err)
		}
	})
	return s
}

// WaitFor polls cond until it holds or timeout passes, then fails the test.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}
