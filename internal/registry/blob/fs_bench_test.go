package blob_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/registry/blob"
)

// BenchmarkFSCommit pushes a 64 MiB blob (1 MiB writes, then Commit) and,
// in the same run and on the same filesystem, times two references over
// the same bytes: os.WriteFile plus sha256 (ref), and the same with an
// fsync (ref+fsync), the least a durable verified store can do. It
// reports MB/s for each, FS's ratio to them, and how long Commit alone
// takes (what the running hash saves the push's last request); it asserts
// nothing.
func BenchmarkFSCommit(b *testing.B) {
	const size = 64 << 20
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < size; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	d := digest.FromBytes(data)
	for _, mode := range []struct {
		name string
		open func(string, ...blob.FSOption) (*blob.FS, error)
	}{
		{"running-hash", blob.NewFS},
		{"hash-at-commit", blob.NewFSHashAtCommit},
	} {
		b.Run(mode.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := mode.open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			refDir := b.TempDir()
			var ref, refSync, commit time.Duration
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				u, err := s.Create(ctx, fmt.Sprintf("u%d", i))
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < size; off += 1 << 20 {
					if _, err := u.Write(data[off : off+1<<20]); err != nil {
						b.Fatal(err)
					}
				}
				start := time.Now()
				if _, err := u.Commit(ctx, d); err != nil {
					b.Fatal(err)
				}
				commit += time.Since(start)

				b.StopTimer()
				if err := s.Delete(ctx, d); err != nil {
					b.Fatal(err)
				}
				ref += timeRef(b, filepath.Join(refDir, "ref"), data, false)
				refSync += timeRef(b, filepath.Join(refDir, "ref"), data, true)
				b.StartTimer()
			}
			mbps := func(d time.Duration) float64 { return float64(b.N) * size / 1e6 / d.Seconds() }
			fs := mbps(b.Elapsed())
			b.ReportMetric(mbps(ref), "ref-MB/s")
			b.ReportMetric(mbps(refSync), "ref+fsync-MB/s")
			b.ReportMetric(fs/mbps(ref), "fs/ref")
			b.ReportMetric(fs/mbps(refSync), "fs/ref+fsync")
			b.ReportMetric(float64(commit.Milliseconds())/float64(b.N), "commit-ms/op")
		})
	}
}

// timeRef writes data to path (os.WriteFile, or by hand with an fsync
// if sync) and hashes it.
func timeRef(b *testing.B, path string, data []byte, sync bool) time.Duration {
	os.Remove(path)
	start := time.Now()
	var err error
	if !sync {
		err = os.WriteFile(path, data, 0o640)
	} else {
		var f *os.File
		if f, err = os.Create(path); err == nil {
			_, err = f.Write(data)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	sum := sha256.Sum256(data)
	elapsed := time.Since(start)
	if err != nil || sum == [32]byte{} {
		b.Fatal(err)
	}
	return elapsed
}
