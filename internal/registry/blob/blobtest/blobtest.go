// Package blobtest is the conformance suite every blob.Store driver passes:
// one set of subtests, run against the in-memory fake and the real drivers
// alike, so that code written against the fake holds against the real.
package blobtest

import (
	"bytes"
	"context"
	_ "crypto/sha256" // digest.SHA256 for the suite's own digests
	_ "crypto/sha512" // digest.SHA512 for the suite's own digests
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/registry/blob"
)

// Run runs the conformance suite; newStore returns an empty store, a new
// one for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"CommitStatOpen", testCommitStatOpen},
		{"NotFound", testNotFound},
		{"DigestMismatch", testDigestMismatch},
		{"UnsupportedDigest", testUnsupportedDigest},
		{"SHA512", testSHA512},
		{"EmptyBlob", testEmptyBlob},
		{"Dedupe", testDedupe},
		{"ChunkedAcrossSessions", testChunked},
		{"SessionEnds", testSessionEnds},
		{"CreateInUse", testCreateInUse},
		{"InvalidIDs", testInvalidIDs},
		{"Cancel", testCancel},
		{"Walk", testWalk},
		{"Uploads", testUploads},
		{"Delete", testDelete},
		{"ReaderSurvivesDelete", testReaderSurvivesDelete},
		{"ConcurrentSameContent", testConcurrentSame},
		{"ConcurrentDifferentContent", testConcurrentDifferent},
		{"ContextCancelled", testContextCancelled},
		{"LargeBlob", testLargeBlob},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// put uploads data under id in one session and commits it.
func put(t *testing.T, s blob.Store, id string, data []byte) blob.Info {
	t.Helper()
	ctx := context.Background()
	u, err := s.Create(ctx, id)
	if err != nil {
		t.Fatalf("Create(%q): %v", id, err)
	}
	if _, err := u.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	d := digest.FromBytes(data)
	info, err := u.Commit(ctx, d)
	if err != nil {
		t.Fatalf("Commit(%s): %v", d, err)
	}
	if info.Digest != d || info.Size != int64(len(data)) {
		t.Fatalf("Commit = %+v, want digest %s size %d", info, d, len(data))
	}
	return info
}

// read returns the bytes of blob d from offset.
func read(t *testing.T, s blob.Store, d digest.Digest, offset int64) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), d, offset)
	if err != nil {
		t.Fatalf("Open(%s, %d): %v", d, offset, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", d, err)
	}
	return b
}

// walk returns every blob Walk reports, failing on a digest reported twice.
func walk(t *testing.T, s blob.Store) map[digest.Digest]blob.Info {
	t.Helper()
	got := map[digest.Digest]blob.Info{}
	err := s.Walk(context.Background(), func(info blob.Info) error {
		if _, dup := got[info.Digest]; dup {
			t.Errorf("Walk reported %s twice", info.Digest)
		}
		got[info.Digest] = info
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

// uploads returns every upload Uploads reports.
func uploads(t *testing.T, s blob.Store) map[string]time.Time {
	t.Helper()
	got := map[string]time.Time{}
	err := s.Uploads(context.Background(), func(id string, created time.Time) error {
		got[id] = created
		return nil
	})
	if err != nil {
		t.Fatalf("Uploads: %v", err)
	}
	return got
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

func sameInfo(a, b blob.Info) bool {
	return a.Digest == b.Digest && a.Size == b.Size && a.Committed.Equal(b.Committed)
}

// pattern returns n bytes that differ with seed and do not repeat with a
// short period, so offsets and chunk boundaries are checked for real.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func testCommitStatOpen(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := []byte("hello, berth registry")
	info := put(t, s, "u1", data)
	if info.Committed.IsZero() {
		t.Errorf("Commit: Committed is zero")
	}
	st, err := s.Stat(ctx, info.Digest)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if !sameInfo(st, info) {
		t.Errorf("Stat = %+v, Commit said %+v", st, info)
	}
	for _, off := range []int64{0, 1, 7, int64(len(data)) - 1, int64(len(data))} {
		if got := read(t, s, info.Digest, off); !bytes.Equal(got, data[off:]) {
			t.Errorf("Open at %d read %q, want %q", off, got, data[off:])
		}
	}
	for _, off := range []int64{int64(len(data)) + 1, 1 << 40, -1} {
		rc, err := s.Open(ctx, info.Digest, off)
		if err == nil {
			rc.Close()
		}
		wantErr(t, fmt.Sprintf("Open at %d", off), err, blob.ErrInvalidOffset)
	}
}

func testNotFound(t *testing.T, s blob.Store) {
	ctx := context.Background()
	put(t, s, "other", []byte("another blob, so the store is not empty"))
	for _, d := range []digest.Digest{digest.FromString("absent"), digest.SHA512.FromString("absent")} {
		_, err := s.Stat(ctx, d)
		wantErr(t, "Stat of absent blob", err, blob.ErrNotFound)
		rc, err := s.Open(ctx, d, 0)
		if err == nil {
			rc.Close()
		}
		wantErr(t, "Open of absent blob", err, blob.ErrNotFound)
		wantErr(t, "Delete of absent blob", s.Delete(ctx, d), blob.ErrNotFound)
	}
	_, err := s.Resume(ctx, "nosuchupload")
	wantErr(t, "Resume of absent upload", err, blob.ErrUploadNotFound)
	wantErr(t, "Cancel of absent upload", s.Cancel(ctx, "nosuchupload"), blob.ErrUploadNotFound)
	// The id of a committed upload is no upload any more.
	_, err = s.Resume(ctx, "other")
	wantErr(t, "Resume of committed upload", err, blob.ErrUploadNotFound)
	wantErr(t, "Cancel of committed upload", s.Cancel(ctx, "other"), blob.ErrUploadNotFound)
}

func testDigestMismatch(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := []byte("the bytes")
	claimed := digest.FromString("other bytes")
	for _, tc := range []struct {
		name string
		d    digest.Digest
	}{
		{"sha256", claimed},
		{"sha512", digest.SHA512.FromString("other bytes")},
	} {
		u, err := s.Create(ctx, "mismatch")
		if err != nil {
			t.Fatalf("%s: Create: %v", tc.name, err)
		}
		if _, err := u.Write(data); err != nil {
			t.Fatalf("%s: Write: %v", tc.name, err)
		}
		_, err = u.Commit(ctx, tc.d)
		wantErr(t, tc.name+": Commit", err, blob.ErrDigestMismatch)
		for _, d := range []digest.Digest{tc.d, digest.FromBytes(data), digest.SHA512.FromBytes(data)} {
			_, err := s.Stat(ctx, d)
			wantErr(t, tc.name+": Stat after mismatch", err, blob.ErrNotFound)
		}
		_, err = s.Resume(ctx, "mismatch")
		wantErr(t, tc.name+": Resume after mismatch", err, blob.ErrUploadNotFound)
		if ups := uploads(t, s); len(ups) != 0 {
			t.Errorf("%s: Uploads after mismatch = %v, want none", tc.name, ups)
		}
		if got := walk(t, s); len(got) != 0 {
			t.Errorf("%s: Walk after mismatch = %v, want nothing", tc.name, got)
		}
	}
	// A short upload whose digest is a prefix's is a mismatch too.
	u, err := s.Create(ctx, "prefix")
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("hello"))
	_, err = u.Commit(ctx, digest.FromString("hello, world"))
	wantErr(t, "Commit of a prefix", err, blob.ErrDigestMismatch)
}

// badDigests are digests no store verifies: malformed, or of an algorithm
// other than sha256 and sha512.
var badDigests = []digest.Digest{
	"",
	"sha256",
	"sha256:",
	"sha256:abc",
	digest.Digest("sha256:" + strings.Repeat("z", 64)),
	digest.Digest("sha256:" + strings.ToUpper(digest.FromString("x").Encoded())),
	digest.Digest("sha256:" + digest.FromString("x").Encoded() + "00"),
	digest.Digest("sha512:" + digest.FromString("x").Encoded()),
	digest.Digest("md5:" + strings.Repeat("a", 32)),
	digest.Digest("sha384:" + strings.Repeat("a", 96)),
	digest.Digest("sha256:../../" + strings.Repeat("a", 58)),
	digest.Digest("sha256/../../x:" + strings.Repeat("a", 64)),
	digest.Digest("sha256:" + strings.Repeat("a", 63) + "\x00"),
}

func testUnsupportedDigest(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := []byte("kept")
	for _, d := range badDigests {
		_, err := s.Stat(ctx, d)
		wantErr(t, fmt.Sprintf("Stat(%q)", d), err, blob.ErrUnsupportedDigest)
		rc, err := s.Open(ctx, d, 0)
		if err == nil {
			rc.Close()
		}
		wantErr(t, fmt.Sprintf("Open(%q)", d), err, blob.ErrUnsupportedDigest)
		wantErr(t, fmt.Sprintf("Delete(%q)", d), s.Delete(ctx, d), blob.ErrUnsupportedDigest)

		// Commit refuses it and keeps the upload for a better try.
		u, err := s.Create(ctx, "bad")
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		u.Write(data)
		_, err = u.Commit(ctx, d)
		wantErr(t, fmt.Sprintf("Commit(%q)", d), err, blob.ErrUnsupportedDigest)
		u, err = s.Resume(ctx, "bad")
		if err != nil {
			t.Fatalf("Resume after Commit(%q): %v (the upload should be kept)", d, err)
		}
		if u.Size() != int64(len(data)) {
			t.Errorf("Size after Commit(%q) = %d, want %d", d, u.Size(), len(data))
		}
		if err := u.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Cancel(ctx, "bad"); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
	}
	if got := walk(t, s); len(got) != 0 {
		t.Errorf("Walk = %v, want nothing", got)
	}
}

func testSHA512(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := []byte("sha512 bytes")
	u, err := s.Create(ctx, "u512")
	if err != nil {
		t.Fatal(err)
	}
	u.Write(data)
	d := digest.SHA512.FromBytes(data)
	info, err := u.Commit(ctx, d)
	if err != nil {
		t.Fatalf("Commit(%s): %v", d, err)
	}
	if info.Digest != d || info.Size != int64(len(data)) {
		t.Errorf("Commit = %+v", info)
	}
	if got := read(t, s, d, 3); !bytes.Equal(got, data[3:]) {
		t.Errorf("Open at 3 = %q", got)
	}
	_, err = s.Stat(ctx, digest.FromBytes(data))
	wantErr(t, "Stat of the sha256 of a sha512 blob", err, blob.ErrNotFound)
	if got := walk(t, s); len(got) != 1 || !sameInfo(got[d], info) {
		t.Errorf("Walk = %v, want only %+v", got, info)
	}
}

func testEmptyBlob(t *testing.T, s blob.Store) {
	ctx := context.Background()
	u, err := s.Create(ctx, "empty")
	if err != nil {
		t.Fatal(err)
	}
	if u.Size() != 0 {
		t.Errorf("Size of a new upload = %d", u.Size())
	}
	info, err := u.Commit(ctx, digest.FromBytes(nil))
	if err != nil {
		t.Fatalf("Commit of the empty blob: %v", err)
	}
	if info.Size != 0 {
		t.Errorf("Size = %d, want 0", info.Size)
	}
	if got := read(t, s, info.Digest, 0); len(got) != 0 {
		t.Errorf("read %q from the empty blob", got)
	}
	rc, err := s.Open(ctx, info.Digest, 1)
	if err == nil {
		rc.Close()
	}
	wantErr(t, "Open of the empty blob at 1", err, blob.ErrInvalidOffset)
	if got := walk(t, s); len(got) != 1 {
		t.Errorf("Walk = %v, want the empty blob", got)
	}
}

func testDedupe(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := []byte("the same bytes twice")
	first := put(t, s, "first", data)
	second := put(t, s, "second", data)
	if second.Committed.Before(first.Committed) {
		t.Errorf("second commit's Committed %v is before the first's %v", second.Committed, first.Committed)
	}
	st, err := s.Stat(ctx, first.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if !sameInfo(st, second) {
		t.Errorf("Stat = %+v, want the last commit's %+v", st, second)
	}
	if got := walk(t, s); len(got) != 1 {
		t.Errorf("Walk = %v, want one blob", got)
	}
	if got := read(t, s, first.Digest, 0); !bytes.Equal(got, data) {
		t.Errorf("read %q", got)
	}
	if ups := uploads(t, s); len(ups) != 0 {
		t.Errorf("Uploads = %v, want none", ups)
	}
	// A mismatching upload does not disturb the blob it claims to be.
	u, _ := s.Create(ctx, "liar")
	u.Write([]byte("not the same bytes"))
	_, err = u.Commit(ctx, first.Digest)
	wantErr(t, "Commit of other bytes as an existing digest", err, blob.ErrDigestMismatch)
	if got := read(t, s, first.Digest, 0); !bytes.Equal(got, data) {
		t.Errorf("after a mismatch, read %q", got)
	}
}

func testChunked(t *testing.T, s blob.Store) {
	ctx := context.Background()
	chunks := [][]byte{[]byte("chunk one;"), []byte("chunk two, longer;"), nil, []byte("3")}
	u, err := s.Create(ctx, "chunky")
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for i, c := range chunks {
		if i > 0 {
			if u, err = s.Resume(ctx, "chunky"); err != nil {
				t.Fatalf("Resume %d: %v", i, err)
			}
			if u.ID() != "chunky" {
				t.Errorf("ID = %q", u.ID())
			}
			if u.Size() != int64(len(all)) {
				t.Fatalf("Size after Resume %d = %d, want %d", i, u.Size(), len(all))
			}
		}
		n, err := u.Write(c)
		if err != nil || n != len(c) {
			t.Fatalf("Write %d = %d, %v", i, n, err)
		}
		all = append(all, c...)
		if u.Size() != int64(len(all)) {
			t.Errorf("Size after Write %d = %d, want %d", i, u.Size(), len(all))
		}
		if i < len(chunks)-1 {
			if err := u.Close(); err != nil {
				t.Fatalf("Close %d: %v", i, err)
			}
		}
	}
	info, err := u.Commit(ctx, digest.FromBytes(all))
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := read(t, s, info.Digest, 0); !bytes.Equal(got, all) {
		t.Errorf("read %q, want %q", got, all)
	}
}

// testSessionEnds: a session is over after Close and after Commit; ending
// it again does not bring the upload back.
func testSessionEnds(t *testing.T, s blob.Store) {
	ctx := context.Background()
	u, _ := s.Create(ctx, "closed")
	u.Write([]byte("x"))
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write([]byte("y")); err == nil {
		t.Errorf("Write after Close succeeded")
	}
	if _, err := u.Commit(ctx, digest.FromString("x")); err == nil {
		t.Errorf("Commit after Close succeeded")
	}
	u, err := s.Resume(ctx, "closed")
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if u.Size() != 1 {
		t.Errorf("Size = %d, want 1 (writes after Close must not land)", u.Size())
	}
	if _, err := u.Commit(ctx, digest.FromString("x")); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := u.Write([]byte("z")); err == nil {
		t.Errorf("Write after Commit succeeded")
	}
	u.Close() // what a deferred Close does; must not resurrect the upload
	_, err = s.Resume(ctx, "closed")
	wantErr(t, "Resume after Commit and Close", err, blob.ErrUploadNotFound)
	if got := read(t, s, digest.FromString("x"), 0); string(got) != "x" {
		t.Errorf("read %q", got)
	}
}

func testCreateInUse(t *testing.T, s blob.Store) {
	ctx := context.Background()
	u, err := s.Create(ctx, "taken")
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("first"))
	_, err = s.Create(ctx, "taken")
	wantErr(t, "Create of an open upload's id", err, blob.ErrUploadExists)
	u.Close()
	_, err = s.Create(ctx, "taken")
	wantErr(t, "Create of a closed upload's id", err, blob.ErrUploadExists)
	// The failed Create left the upload alone.
	u, err = s.Resume(ctx, "taken")
	if err != nil {
		t.Fatal(err)
	}
	if u.Size() != 5 {
		t.Errorf("Size = %d, want 5", u.Size())
	}
	if _, err := u.Commit(ctx, digest.FromString("first")); err != nil {
		t.Fatal(err)
	}
	// Commit freed the id; so does Cancel.
	u, err = s.Create(ctx, "taken")
	if err != nil {
		t.Fatalf("Create after Commit: %v", err)
	}
	if u.Size() != 0 {
		t.Errorf("a reused id starts with %d bytes", u.Size())
	}
	u.Close()
	if err := s.Cancel(ctx, "taken"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "taken"); err != nil {
		t.Fatalf("Create after Cancel: %v", err)
	}
}

func testInvalidIDs(t *testing.T, s blob.Store) {
	ctx := context.Background()
	bad := []string{"", ".", "..", "../x", "a/b", "/abs", `a\b`, "%2e%2e", "a b", "a\x00b", "a.b", "é", strings.Repeat("a", 129)}
	for _, id := range bad {
		if u, err := s.Create(ctx, id); err == nil {
			u.Close()
			t.Errorf("Create(%q) succeeded", id)
		}
		_, err := s.Resume(ctx, id)
		wantErr(t, fmt.Sprintf("Resume(%q)", id), err, blob.ErrUploadNotFound)
		wantErr(t, fmt.Sprintf("Cancel(%q)", id), s.Cancel(ctx, id), blob.ErrUploadNotFound)
	}
	if ups := uploads(t, s); len(ups) != 0 {
		t.Errorf("Uploads = %v, want none", ups)
	}
	for _, id := range []string{strings.Repeat("a", 128), "A-z_09", "-", "_"} {
		u, err := s.Create(ctx, id)
		if err != nil {
			t.Errorf("Create(%q): %v", id, err)
			continue
		}
		u.Close()
		if err := s.Cancel(ctx, id); err != nil {
			t.Errorf("Cancel(%q): %v", id, err)
		}
	}
}

func testCancel(t *testing.T, s blob.Store) {
	ctx := context.Background()
	u, _ := s.Create(ctx, "doomed")
	u.Write([]byte("some bytes"))
	if err := s.Cancel(ctx, "doomed"); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	_, err := u.Write([]byte("more"))
	wantErr(t, "Write on a cancelled upload", err, blob.ErrUploadNotFound)
	_, err = s.Resume(ctx, "doomed")
	wantErr(t, "Resume of a cancelled upload", err, blob.ErrUploadNotFound)
	wantErr(t, "second Cancel", s.Cancel(ctx, "doomed"), blob.ErrUploadNotFound)
	if ups := uploads(t, s); len(ups) != 0 {
		t.Errorf("Uploads = %v, want none", ups)
	}

	// Commit on a cancelled upload fails and commits nothing.
	u, _ = s.Create(ctx, "doomed2")
	u.Write([]byte("bytes"))
	if err := s.Cancel(ctx, "doomed2"); err != nil {
		t.Fatal(err)
	}
	_, err = u.Commit(ctx, digest.FromString("bytes"))
	wantErr(t, "Commit of a cancelled upload", err, blob.ErrUploadNotFound)
	_, err = s.Stat(ctx, digest.FromString("bytes"))
	wantErr(t, "Stat after a cancelled Commit", err, blob.ErrNotFound)

	// Cancel of a closed upload, and an id reused after Cancel starts empty.
	u, _ = s.Create(ctx, "doomed3")
	u.Write([]byte("abc"))
	u.Close()
	if err := s.Cancel(ctx, "doomed3"); err != nil {
		t.Fatal(err)
	}
	u, err = s.Create(ctx, "doomed3")
	if err != nil {
		t.Fatal(err)
	}
	if u.Size() != 0 {
		t.Errorf("Size of a re-created upload = %d", u.Size())
	}
}

func testWalk(t *testing.T, s blob.Store) {
	ctx := context.Background()
	if got := walk(t, s); len(got) != 0 {
		t.Errorf("Walk of an empty store = %v", got)
	}
	want := map[digest.Digest]blob.Info{}
	for i := 0; i < 5; i++ {
		info := put(t, s, fmt.Sprintf("w%d", i), pattern(byte(i), 100*i))
		want[info.Digest] = info
	}
	u, _ := s.Create(ctx, "inflight") // an upload in progress is no blob
	u.Write([]byte("not yet"))
	got := walk(t, s)
	if len(got) != len(want) {
		t.Errorf("Walk found %d blobs, want %d", len(got), len(want))
	}
	for d, w := range want {
		if !sameInfo(got[d], w) {
			t.Errorf("Walk: %s = %+v, want %+v", d, got[d], w)
		}
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.Walk(ctx, func(blob.Info) error { calls++; return stop })
	wantErr(t, "Walk with a failing fn", err, stop)
	if calls != 1 {
		t.Errorf("fn called %d times after failing", calls)
	}
}

func testUploads(t *testing.T, s blob.Store) {
	ctx := context.Background()
	before := time.Now()
	open, _ := s.Create(ctx, "open")
	open.Write([]byte("x"))
	closed, _ := s.Create(ctx, "closed")
	closed.Close()
	after := time.Now()
	got := uploads(t, s)
	if len(got) != 2 {
		t.Fatalf("Uploads = %v, want open and closed", got)
	}
	for id, created := range got {
		// A second's slack for drivers that keep coarse times.
		if created.Before(before.Add(-time.Second)) || created.After(after.Add(time.Second)) {
			t.Errorf("upload %s created %v, not within [%v, %v]", id, created, before, after)
		}
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.Uploads(ctx, func(string, time.Time) error { calls++; return stop })
	wantErr(t, "Uploads with a failing fn", err, stop)
	if calls != 1 {
		t.Errorf("fn called %d times after failing", calls)
	}
	if _, err := open.Commit(ctx, digest.FromString("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Cancel(ctx, "closed"); err != nil {
		t.Fatal(err)
	}
	if got := uploads(t, s); len(got) != 0 {
		t.Errorf("Uploads after Commit and Cancel = %v", got)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := context.Background()
	keep := put(t, s, "keep", []byte("keep me"))
	gone := put(t, s, "gone", []byte("delete me"))
	if err := s.Delete(ctx, gone.Digest); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := s.Stat(ctx, gone.Digest)
	wantErr(t, "Stat after Delete", err, blob.ErrNotFound)
	rc, err := s.Open(ctx, gone.Digest, 0)
	if err == nil {
		rc.Close()
	}
	wantErr(t, "Open after Delete", err, blob.ErrNotFound)
	wantErr(t, "second Delete", s.Delete(ctx, gone.Digest), blob.ErrNotFound)
	if got := walk(t, s); len(got) != 1 || !sameInfo(got[keep.Digest], keep) {
		t.Errorf("Walk after Delete = %v, want only %s", got, keep.Digest)
	}
	// The same bytes can be pushed again.
	put(t, s, "again", []byte("delete me"))
	if got := read(t, s, gone.Digest, 0); string(got) != "delete me" {
		t.Errorf("read %q after re-commit", got)
	}
}

func testReaderSurvivesDelete(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := pattern(7, 100_000)
	info := put(t, s, "r", data)
	rc, err := s.Open(ctx, info.Digest, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 10)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, info.Digest); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading after Delete: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, data[10:]) {
		t.Errorf("a reader open across Delete read %d bytes, want %d (or different bytes)", len(got), len(data)-10)
	}
}
