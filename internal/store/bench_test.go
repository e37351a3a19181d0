package store_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/internal/store/storetest"
)

// BenchmarkUpdate measures read-modify-write transactions: serial on one key,
// and parallel on distinct keys. "reference-raw-put" is a bare etcd Put on
// the same store, the floor (one fsynced write) to read the others against.
func BenchmarkUpdate(b *testing.B) {
	b.Run("reference-raw-put", func(b *testing.B) {
		s := storetest.New(b)
		ctx := context.Background()
		for b.Loop() {
			if _, err := s.Client().Put(ctx, s.Namespace()+"/bench/raw", "{}"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("serial", func(b *testing.B) {
		s := storetest.New(b)
		ctx := context.Background()
		for b.Loop() {
			if err := increment(ctx, s, "counter"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel-distinct-keys", func(b *testing.B) {
		s := storetest.New(b)
		ctx := context.Background()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			id := "k" + strconv.FormatInt(next.Add(1), 10)
			for pb.Next() {
				if err := increment(ctx, s, id); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
