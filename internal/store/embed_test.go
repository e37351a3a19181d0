package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

type ports struct{ Client, Peer int }

func readPorts(t *testing.T, dir string) ports {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "etcd", "berth-ports.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p ports
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReopen checks data survives Close and Open on the same DataDir, both
// when the persisted ports are free and when another process took them.
func TestReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := func() *store.Store {
		s, err := store.Open(context.Background(), store.Config{DataDir: dir, Namespace: "/berth/test"})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return s
	}
	s := open()
	put(t, s, "a", item{Name: "a", Count: 1})
	first := readPorts(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open()
	if v, err := get(t, s, "a"); err != nil || v.Count != 1 {
		t.Fatalf("after reopen: %+v, %v", v, err)
	}
	if got := readPorts(t, dir); got != first {
		t.Errorf("ports changed from %+v to %+v though they were free", first, got)
	}
	put(t, s, "a", item{Name: "a", Count: 2})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Occupy both persisted ports: the member must come back on new ones.
	for _, p := range []int{first.Client, first.Peer} {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Skipf("cannot occupy port %d: %v", p, err)
		}
		defer l.Close()
	}
	s = open()
	defer s.Close()
	if got := readPorts(t, dir); got.Client == first.Client || got.Peer == first.Peer {
		t.Fatalf("ports %+v reused though occupied", got)
	}
	if v, err := get(t, s, "a"); err != nil || v.Count != 2 {
		t.Fatalf("after reopen on new ports: %+v, %v", v, err)
	}
	put(t, s, "b", item{Name: "b"})
	if n := len(list(t, s, "")); n != 2 {
		t.Fatalf("list has %d items, want 2", n)
	}
}

func TestOpenExternal(t *testing.T) {
	t.Parallel()
	embedded := storetest.NewEmbedded(t, storetest.Options{})
	s, err := store.Open(context.Background(), store.Config{
		Endpoints: embedded.Client().Endpoints(),
		Namespace: "/berth/other",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put(t, s, "a", item{Name: "ext"})
	// Namespaces are isolated.
	if n := len(list(t, embedded, "")); n != 0 {
		t.Fatalf("other namespace sees %d items", n)
	}
	if v, err := get(t, s, "a"); err != nil || v.Name != "ext" {
		t.Fatalf("get = %+v, %v", v, err)
	}
}

func TestOpenRequiresDataDir(t *testing.T) {
	t.Parallel()
	if _, err := store.Open(context.Background(), store.Config{}); err == nil {
		t.Fatal("Open with neither DataDir nor Endpoints succeeded")
	}
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	noop := func(*store.Tx) error { return nil }
	tests := []struct {
		name string
		call func() error
	}{
		{"update", func() error { return s.Update(ctx, noop) }},
		{"view", func() error { return s.View(ctx, noop) }},
		{"present", func() error {
			_, err := store.Present(ctx, s, items, "x", item{})
			return err
		}},
		{"close again", func() error {
			if err := s.Close(); err != nil {
				return err
			}
			return store.ErrClosed
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, store.ErrClosed) {
				t.Fatalf("err = %v, want ErrClosed", err)
			}
		})
	}
	if err := store.NewInformer(s, items, store.InformerConfig[item]{}).Start(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("informer on a closed store: %v, want ErrClosed", err)
	}
}
