// Package storetest owns test fixtures for code built on package store: a
// real embedded etcd per test, cleaned up with the test.
package storetest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// Options tune New. The zero value is fine for most tests.
type Options struct {
	DataDir   string       // default t.TempDir()
	Namespace string       // default "/berth/000000000000/us-east-1"
	Logger    *slog.Logger // default discards
}

// New opens a store on its own embedded etcd and closes it when the test ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	return NewWith(t, Options{})
}

// NewWith is New with options.
func NewWith(t testing.TB, o Options) *store.Store {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.Namespace == "" {
		o.Namespace = "/berth/000000000000/us-east-1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
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
