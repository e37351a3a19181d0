package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/registry/blob/blobtest"
)

func TestFSConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newFS(t, t.TempDir()) })
}

func TestFSHashAtCommitConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := blob.NewFSHashAtCommit(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func newFS(t *testing.T, root string, opts ...blob.FSOption) *blob.FS {
	t.Helper()
	s, err := blob.NewFS(root, opts...)
	if err != nil {
		t.Fatalf("NewFS(%s): %v", root, err)
	}
	return s
}

func putFS(t *testing.T, s blob.Store, id string, data []byte) blob.Info {
	t.Helper()
	ctx := context.Background()
	u, err := s.Create(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(data); err != nil {
		t.Fatal(err)
	}
	info, err := u.Commit(ctx, digest.FromBytes(data))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

func blobFile(root string, d digest.Digest) string {
	return filepath.Join(root, "blobs", string(d.Algorithm()), d.Encoded()[:2], d.Encoded())
}

// TestFSCrashLeftovers plants what a crash (or a stray hand) can leave in
// a root, opens a fresh FS on it, and checks that only whole blobs show.
func TestFSCrashLeftovers(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	real := putFS(t, newFS(t, root), "real", []byte("a whole, verified blob"))

	partial := digest.FromString("the whole of a blob that never finished")
	wrongDir := digest.FromString("in the wrong prefix directory")
	flat := digest.FromString("without a prefix directory")
	asDir := digest.FromString("a directory, not a file")
	pdir := filepath.Dir(blobFile(root, partial))
	// Temp and half-written files beside the blob paths.
	writeFile(t, filepath.Join(pdir, partial.Encoded()+".tmp"), []byte("the whole of a"))
	writeFile(t, filepath.Join(pdir, "."+partial.Encoded()), []byte("the whole"))
	writeFile(t, filepath.Join(pdir, partial.Encoded()+"~"), []byte("the"))
	writeFile(t, filepath.Join(pdir, partial.Encoded()[:63]), []byte("the"))
	writeFile(t, filepath.Join(root, "blobs", "sha256", "zz", wrongDir.Encoded()), []byte("in the wrong prefix directory"))
	other := "00"
	if strings.HasPrefix(wrongDir.Encoded(), "00") {
		other = "01"
	}
	writeFile(t, filepath.Join(root, "blobs", "sha256", other, wrongDir.Encoded()), []byte("in the wrong prefix directory"))
	writeFile(t, filepath.Join(root, "blobs", "sha256", flat.Encoded()), []byte("without a prefix directory"))
	writeFile(t, filepath.Join(root, "blobs", "md5", "aa", strings.Repeat("a", 32)), []byte("x"))
	if err := os.MkdirAll(blobFile(root, asDir), 0o750); err != nil {
		t.Fatal(err)
	}
	// A symlink in a blob's place, to a file outside the store.
	link := digest.FromString("a symlink, not a blob")
	outside := filepath.Join(t.TempDir(), "outside")
	writeFile(t, outside, []byte("a symlink, not a blob"))
	os.MkdirAll(filepath.Dir(blobFile(root, link)), 0o750)
	if err := os.Symlink(outside, blobFile(root, link)); err != nil {
		t.Fatal(err)
	}
	// Uploads: in progress; committed but not cleaned up (no data); created
	// but stamped by nothing; and trash.
	inflight := []byte("bytes of an upload in progress")
	writeFile(t, filepath.Join(root, "uploads", "inflight", "data"), inflight)
	writeFile(t, filepath.Join(root, "uploads", "inflight", "startedat"), []byte("2026-01-02T03:04:05Z\n"))
	writeFile(t, filepath.Join(root, "uploads", "nodata", "startedat"), []byte("2026-01-02T03:04:05Z\n"))
	if err := os.MkdirAll(filepath.Join(root, "uploads", "bare"), 0o750); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "uploads", ".trash-123", "upload", "data"), []byte("trash"))

	s := newFS(t, root)
	var walked []digest.Digest
	if err := s.Walk(ctx, func(i blob.Info) error { walked = append(walked, i.Digest); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(walked) != 1 || walked[0] != real.Digest {
		t.Errorf("Walk = %v, want only %s", walked, real.Digest)
	}
	for _, d := range []digest.Digest{partial, wrongDir, flat, asDir, link} {
		if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat(%s) = %v, want ErrNotFound", d, err)
		}
		if rc, err := s.Open(ctx, d, 0); !errors.Is(err, blob.ErrNotFound) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Open(%s) = %v, want ErrNotFound", d, err)
		}
		if err := s.Delete(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Delete(%s) = %v, want ErrNotFound", d, err)
		}
	}
	if _, err := os.Stat(blobFile(root, asDir)); err != nil {
		t.Errorf("Delete removed a directory in a blob's place: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "uploads", ".trash-123")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("trash survived NewFS: %v", err)
	}
	ups := map[string]time.Time{}
	s.Uploads(ctx, func(id string, created time.Time) error { ups[id] = created; return nil })
	if len(ups) != 3 || ups["inflight"] != time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) || ups["bare"].IsZero() {
		t.Errorf("Uploads = %v, want inflight (2026-01-02T03:04:05Z), nodata and bare (its directory's time)", ups)
	}
	// The upload in progress resumes and commits (hashed afresh: this FS
	// never saw its bytes); the others can only be cancelled.
	u, err := s.Resume(ctx, "inflight")
	if err != nil {
		t.Fatal(err)
	}
	if u.Size() != int64(len(inflight)) {
		t.Errorf("Size = %d, want %d", u.Size(), len(inflight))
	}
	if _, err := u.Commit(ctx, digest.FromBytes(inflight)); err != nil {
		t.Fatalf("Commit of a leftover upload: %v", err)
	}
	if _, err := s.Resume(ctx, "nodata"); !errors.Is(err, blob.ErrUploadNotFound) {
		t.Errorf("Resume of an upload without data = %v, want ErrUploadNotFound", err)
	}
	for _, id := range []string{"nodata", "bare"} {
		if err := s.Cancel(ctx, id); err != nil {
			t.Errorf("Cancel(%s): %v", id, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(root, "uploads"))
	if len(entries) != 0 {
		t.Errorf("uploads/ holds %v after Commit and Cancels", entries)
	}
}

// TestFSPathSafety: ids and digests shaped like paths touch nothing.
func TestFSPathSafety(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	root := filepath.Join(base, "store")
	s := newFS(t, root)
	victim := filepath.Join(base, "victim")
	writeFile(t, victim, []byte("keep"))
	ids := []string{"..", "../victim", "../../x", "%2e%2e", "%2e%2e%2fvictim", "a/b", "/tmp/x", "a\x00b", "\x00", `..\victim`, ".trash-x"}
	for _, id := range ids {
		if u, err := s.Create(ctx, id); err == nil {
			u.Close()
			t.Errorf("Create(%q) succeeded", id)
		}
		if _, err := s.Resume(ctx, id); !errors.Is(err, blob.ErrUploadNotFound) {
			t.Errorf("Resume(%q) = %v", id, err)
		}
		if err := s.Cancel(ctx, id); !errors.Is(err, blob.ErrUploadNotFound) {
			t.Errorf("Cancel(%q) = %v", id, err)
		}
	}
	hex := digest.FromString("x").Encoded()
	digests := []digest.Digest{
		"sha256:../../../victim",
		digest.Digest("sha256:../../../../" + hex[:52]),
		digest.Digest("sha256/../../..:" + hex),
		digest.Digest("../victim:" + hex),
		digest.Digest("sha256:%2e%2e%2f" + hex[:55]),
		digest.Digest("sha256:" + hex[:63] + "\x00"),
		digest.Digest("sha256:" + hex[:31] + "/" + hex[:32]),
	}
	for _, d := range digests {
		if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrUnsupportedDigest) {
			t.Errorf("Stat(%q) = %v", d, err)
		}
		if err := s.Delete(ctx, d); !errors.Is(err, blob.ErrUnsupportedDigest) {
			t.Errorf("Delete(%q) = %v", d, err)
		}
		u, err := s.Create(ctx, "u")
		if err != nil {
			t.Fatal(err)
		}
		u.Write([]byte("x"))
		if _, err := u.Commit(ctx, d); !errors.Is(err, blob.ErrUnsupportedDigest) {
			t.Errorf("Commit(%q) = %v", d, err)
		}
		if err := s.Cancel(ctx, "u"); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep" {
		t.Errorf("victim: %q, %v", b, err)
	}
	var stray []string
	filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(base, p); rel != "." && rel != "victim" && rel != "store" &&
			rel != filepath.Join("store", "blobs") && rel != filepath.Join("store", "uploads") {
			stray = append(stray, rel)
		}
		return nil
	})
	if len(stray) != 0 {
		t.Errorf("files left behind: %v", stray)
	}
}

// TestFSRunningHashHandoff: an upload written through two FS values on
// one root commits right, and a running hash saved for one data file
// never vouches for another that took its place.
func TestFSRunningHashHandoff(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	a, b := newFS(t, root), newFS(t, root)
	session := func(s blob.Store, id string, create bool, data string) blob.Upload {
		t.Helper()
		var u blob.Upload
		var err error
		if create {
			u, err = s.Create(ctx, id)
		} else {
			u, err = s.Resume(ctx, id)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
		return u
	}
	session(a, "x", true, "abc").Close()
	session(b, "x", false, "def").Close()
	u := session(a, "x", false, "ghi") // a's saved hash covers "abc" only
	if _, err := u.Commit(ctx, digest.FromString("abcdefghi")); err != nil {
		t.Fatalf("Commit after a handoff: %v", err)
	}

	// a saves the hash of "aaa"; b replaces the upload with "bbb".
	session(a, "y", true, "aaa").Close()
	if err := b.Cancel(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	session(b, "y", true, "bbb").Close()
	u, err := a.Resume(ctx, "y")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(ctx, digest.FromString("aaa")); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Commit of replaced bytes under the old bytes' digest = %v, want ErrDigestMismatch", err)
	}
	if _, err := a.Stat(ctx, digest.FromString("aaa")); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat = %v, want ErrNotFound", err)
	}
}

// countdownCtx is a context whose Err turns Canceled after n calls: it
// proves that a long operation looks at ctx as it goes.
type countdownCtx struct {
	context.Context
	mu sync.Mutex
	n  int
}

func (c *countdownCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

func TestFSCommitHonoursCtxWhileHashing(t *testing.T) {
	bg := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16) // five hash chunks
	d := digest.FromBytes(data)
	s, err := blob.NewFSHashAtCommit(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := s.Create(bg, "slow")
	u.Write(data)
	if _, err := u.Commit(&countdownCtx{Context: bg, n: 3}, d); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with a ctx cancelled mid-hash = %v, want Canceled", err)
	}
	if _, err := s.Stat(bg, d); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat = %v, want ErrNotFound", err)
	}
	u, err = s.Resume(bg, "slow")
	if err != nil {
		t.Fatalf("Resume after a cancelled Commit: %v", err)
	}
	if _, err := u.Commit(bg, d); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// TestFSConcurrentCommitsAcrossFS: two FS values on one root (two
// processes, say) commit the same digest at once.
func TestFSConcurrentCommitsAcrossFS(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	stores := []blob.Store{newFS(t, root), newFS(t, root)}
	data := bytes.Repeat([]byte("same"), 100_000)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := stores[i%2]
			id := "c" + string(rune('a'+i))
			u, err := s.Create(ctx, id)
			if err != nil {
				t.Error(err)
				return
			}
			u.Write(data)
			if _, err := u.Commit(ctx, digest.FromBytes(data)); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	n := 0
	stores[0].Walk(ctx, func(blob.Info) error { n++; return nil })
	if n != 1 {
		t.Errorf("Walk found %d blobs, want 1", n)
	}
}

// TestCommittedRefresh: a commit of bytes already stored moves Committed
// to its own time, in every driver.
func TestCommittedRefresh(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T, now func() time.Time) blob.Store
	}{
		{"Memory", func(t *testing.T, now func() time.Time) blob.Store { return blob.NewMemory(now) }},
		{"FS", func(t *testing.T, now func() time.Time) blob.Store { return newFS(t, t.TempDir(), blob.WithClock(now)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clock := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
			s := tc.open(t, func() time.Time { return clock })
			first := putFS(t, s, "one", []byte("refresh me"))
			if !first.Committed.Equal(clock) {
				t.Errorf("first Committed = %v, want %v", first.Committed, clock)
			}
			clock = clock.Add(time.Hour)
			second := putFS(t, s, "two", []byte("refresh me"))
			st, err := s.Stat(ctx, first.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if !second.Committed.Equal(clock) || !st.Committed.Equal(clock) {
				t.Errorf("after a second commit: Commit says %v, Stat %v, want %v", second.Committed, st.Committed, clock)
			}
			var created time.Time
			u, _ := s.Create(ctx, "three")
			u.Close()
			s.Uploads(ctx, func(_ string, c time.Time) error { created = c; return nil })
			if !created.Equal(clock) {
				t.Errorf("upload created %v, want %v", created, clock)
			}
		})
	}
}
