package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/registry/blob"
)

// The subtests here load a store: concurrency (run them under -race),
// cancelled contexts and a blob of several MiB.

func testConcurrentSame(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := pattern(3, 300_000)
	d := digest.FromBytes(data)
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- upload(ctx, s, fmt.Sprintf("same%d", i), data, d, 4096+i)
		}(i)
	}
	// Readers and Stats race the commits: each sees the whole blob or none.
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				rc, err := s.Open(ctx, d, 0)
				if errors.Is(err, blob.ErrNotFound) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, data) {
					errs <- fmt.Errorf("a reader racing the commits read %d bytes, err %v", len(got), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := walk(t, s); len(got) != 1 || got[d].Size != int64(len(data)) {
		t.Errorf("Walk = %v, want one blob of %d bytes", got, len(data))
	}
	if got := read(t, s, d, 0); !bytes.Equal(got, data) {
		t.Errorf("read %d bytes, not the blob", len(got))
	}
	if ups := uploads(t, s); len(ups) != 0 {
		t.Errorf("Uploads = %v, want none", ups)
	}
}

func testConcurrentDifferent(t *testing.T, s blob.Store) {
	ctx := context.Background()
	const n = 8
	blobs := make([][]byte, n)
	for i := range blobs {
		blobs[i] = pattern(byte(100+i), 50_000+i)
	}
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- upload(ctx, s, fmt.Sprintf("diff%d", i), blobs[i], digest.FromBytes(blobs[i]), 1000+i)
		}(i)
		// A doomed upload alongside each: cancelled halfway.
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("doomed%d", i)
			u, err := s.Create(ctx, id)
			if err != nil {
				errs <- err
				return
			}
			u.Write(blobs[i][:100])
			u.Close()
			errs <- s.Cancel(ctx, id)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	got := walk(t, s)
	if len(got) != n {
		t.Errorf("Walk found %d blobs, want %d", len(got), n)
	}
	for _, b := range blobs {
		if r := read(t, s, digest.FromBytes(b), 0); !bytes.Equal(r, b) {
			t.Errorf("blob %s reads back wrong", digest.FromBytes(b))
		}
	}
	if ups := uploads(t, s); len(ups) != 0 {
		t.Errorf("Uploads = %v, want none", ups)
	}
}

// upload writes data under id in chunks of chunk bytes, over two sessions,
// and commits it as d.
func upload(ctx context.Context, s blob.Store, id string, data []byte, d digest.Digest, chunk int) error {
	u, err := s.Create(ctx, id)
	if err != nil {
		return err
	}
	half := len(data) / 2
	if err := writeChunks(u, data[:half], chunk); err != nil {
		return err
	}
	if err := u.Close(); err != nil {
		return err
	}
	if u, err = s.Resume(ctx, id); err != nil {
		return err
	}
	if u.Size() != int64(half) {
		return fmt.Errorf("upload %s: Size after Resume = %d, want %d", id, u.Size(), half)
	}
	if err := writeChunks(u, data[half:], chunk); err != nil {
		return err
	}
	info, err := u.Commit(ctx, d)
	if err != nil {
		return fmt.Errorf("upload %s: %w", id, err)
	}
	if info.Digest != d || info.Size != int64(len(data)) {
		return fmt.Errorf("upload %s: Commit = %+v", id, info)
	}
	return nil
}

func writeChunks(w io.Writer, data []byte, chunk int) error {
	for len(data) > 0 {
		n := min(chunk, len(data))
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func testContextCancelled(t *testing.T, s blob.Store) {
	bg := context.Background()
	info := put(t, s, "existing", []byte("existing"))
	u, err := s.Create(bg, "pending")
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("pending bytes"))
	u.Close()

	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) { return context.WithCancel(bg) }, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) { return context.WithDeadline(bg, time.Unix(1, 0)) }, context.DeadlineExceeded},
	} {
		ctx, cancel := tc.ctx()
		cancel()
		check := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %s with a done context: err = %v, want %v", tc.name, what, err, tc.want)
			}
		}
		_, err := s.Stat(ctx, info.Digest)
		check("Stat", err)
		rc, err := s.Open(ctx, info.Digest, 0)
		if err == nil {
			rc.Close()
		}
		check("Open", err)
		check("Delete", s.Delete(ctx, info.Digest))
		check("Walk", s.Walk(ctx, func(blob.Info) error { return nil }))
		check("Uploads", s.Uploads(ctx, func(string, time.Time) error { return nil }))
		nu, err := s.Create(ctx, "never")
		if err == nil {
			nu.Close()
		}
		check("Create", err)
		ru, err := s.Resume(ctx, "pending")
		if err == nil {
			ru.Close()
		}
		check("Resume", err)
		check("Cancel", s.Cancel(ctx, "pending"))

		// Commit with a done context commits nothing and keeps the upload.
		cu, err := s.Resume(bg, "pending")
		if err != nil {
			t.Fatalf("Resume: %v", err)
		}
		_, err = cu.Commit(ctx, digest.FromString("pending bytes"))
		check("Commit", err)
		_, err = s.Stat(bg, digest.FromString("pending bytes"))
		wantErr(t, tc.name+": Stat after a Commit with a done context", err, blob.ErrNotFound)
	}
	// Nothing above took effect.
	if _, err := s.Stat(bg, info.Digest); err != nil {
		t.Errorf("Stat: %v", err)
	}
	if _, err := s.Create(bg, "never"); err != nil {
		t.Errorf("Create of the id a done context refused: %v", err)
	}
	u, err = s.Resume(bg, "pending")
	if err != nil {
		t.Fatalf("Resume after Commit with a done context: %v", err)
	}
	if _, err := u.Commit(bg, digest.FromString("pending bytes")); err != nil {
		t.Errorf("Commit: %v", err)
	}
}

func testLargeBlob(t *testing.T, s blob.Store) {
	ctx := context.Background()
	const size = 5<<20 + 17
	data := pattern(42, size)
	d := digest.FromBytes(data)
	u, err := s.Create(ctx, "large")
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes over three sessions, as a chunked push sends them.
	sizes := []int{1, 4093, 65537, 7, 131071, 333333}
	off, i := 0, 0
	for session := 0; session < 3; session++ {
		if session > 0 {
			u.Close()
			if u, err = s.Resume(ctx, "large"); err != nil {
				t.Fatal(err)
			}
			if u.Size() != int64(off) {
				t.Fatalf("Size after Resume = %d, want %d", u.Size(), off)
			}
		}
		end := size * (session + 1) / 3
		for off < end {
			n := min(sizes[i%len(sizes)], end-off)
			i++
			if _, err := u.Write(data[off : off+n]); err != nil {
				t.Fatal(err)
			}
			off += n
		}
	}
	info, err := u.Commit(ctx, d)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if info.Size != size {
		t.Errorf("Size = %d, want %d", info.Size, size)
	}
	for _, off := range []int64{0, size / 2, size - 1} {
		rc, err := s.Open(ctx, d, off)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil || n != size-off || !bytes.Equal(h.Sum(nil), sha256Sum(data[off:])) {
			t.Errorf("Open at %d: read %d bytes (err %v), want the blob's last %d", off, n, err, size-off)
		}
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
