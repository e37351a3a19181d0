package blob

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

// hashChunk is how much Commit reads between two looks at its ctx.
const hashChunk = 1 << 20

func newSHA256() hash.Hash { return sha256.New() }

// fsSession is one session of an FS upload.
type fsSession struct {
	fs   *FS
	id   string
	dir  string
	file *os.File // the upload's data, opened for append (and ReadAt)
	size int64
	// sum is the running sha256 of the data's first hashed bytes: every
	// Write feeds it while hashed == size; Commit catches up the rest.
	sum    hash.Hash
	hashed int64
	stale  atomic.Bool // cancelled, or a newer session took over
	done   bool
}

// ID implements Upload.
func (s *fsSession) ID() string { return s.id }

// Size implements Upload.
func (s *fsSession) Size() int64 { return s.size }

// check returns an error unless the session may still act.
func (s *fsSession) check() error {
	if s.done {
		return fmt.Errorf("upload %s: session ended", s.id)
	}
	if s.stale.Load() {
		return fmt.Errorf("upload %s: %w", s.id, ErrUploadNotFound)
	}
	return nil
}

// Write implements Upload.
func (s *fsSession) Write(p []byte) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	n, err := s.file.Write(p)
	if s.sum != nil && s.hashed == s.size {
		s.sum.Write(p[:n])
		s.hashed += int64(n)
	}
	s.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("upload %s: write: %w", s.id, err)
	}
	return n, nil
}

// Close implements Upload. The running hash stays in memory for Resume.
func (s *fsSession) Close() error {
	if s.done {
		return nil
	}
	s.end(true)
	return nil
}

// end closes the session; keep saves its running hash for the next one.
func (s *fsSession) end(keep bool) {
	s.done = true
	f := s.fs
	var fi os.FileInfo
	if keep && s.sum != nil {
		fi, _ = s.file.Stat()
	}
	f.mu.Lock()
	if f.live[s.id] == s {
		delete(f.live, s.id)
		if fi != nil && !s.stale.Load() {
			f.partial[s.id] = savedSum{h: s.sum, hashed: s.hashed, file: fi}
		}
	}
	f.mu.Unlock()
	s.file.Close()
}

// Commit implements Upload: verify, fsync, rename into place, fsync the
// directory. A blob already there is refreshed (its mtime is Committed)
// and the upload dropped.
func (s *fsSession) Commit(ctx context.Context, d digest.Digest) (Info, error) {
	if err := s.check(); err != nil {
		return Info{}, err
	}
	info, discard, err := s.commit(ctx, d)
	s.end(!discard)
	if discard {
		// What is left is at most startedat; should removing it fail, the
		// garbage collector cancels the upload later.
		s.fs.discard(s.id, s.dir)
	}
	if err != nil {
		return Info{}, fmt.Errorf("commit upload %s as %s: %w", s.id, d, err)
	}
	return info, nil
}

// commit does Commit's work; discard says whether the upload is over
// (committed, or mismatched) rather than kept for another try.
func (s *fsSession) commit(ctx context.Context, d digest.Digest) (info Info, discard bool, err error) {
	if err := ctx.Err(); err != nil {
		return Info{}, false, err
	}
	p, err := s.fs.blobPath(d)
	if err != nil {
		return Info{}, false, err
	}
	fi, err := s.file.Stat()
	if err != nil {
		return Info{}, false, err
	}
	size := fi.Size() // what is on disk, whoever wrote it
	got, err := s.digest(ctx, d.Algorithm(), size)
	if err != nil {
		return Info{}, false, err
	}
	if got != d {
		return Info{}, true, fmt.Errorf("bytes are %s: %w", got, ErrDigestMismatch)
	}
	if s.stale.Load() {
		return Info{}, false, ErrUploadNotFound
	}
	now := s.fs.now()

	// Already stored: refresh it and drop ours. If a Delete wins the race
	// to it, ours goes in place below.
	if old, err := os.Lstat(p); err == nil && old.Mode().IsRegular() && old.Size() == size {
		if err := os.Chtimes(p, now, now); err == nil {
			return s.fs.infoOf(p, d, size, now), true, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Info{}, false, err
		}
	}
	if err := ctx.Err(); err != nil { // the last moment to give up
		return Info{}, false, err
	}
	data := filepath.Join(s.dir, "data")
	if err := os.Chtimes(data, now, now); err != nil {
		return Info{}, false, upErr(err)
	}
	if err := s.file.Sync(); err != nil {
		return Info{}, false, err
	}
	prefixDir := filepath.Dir(p)
	if err := mkdirDurable(filepath.Dir(prefixDir), prefixDir); err != nil {
		return Info{}, false, err
	}
	if err := os.Rename(data, p); err != nil {
		return Info{}, false, upErr(err)
	}
	if err := syncDir(prefixDir); err != nil {
		// The blob is whole and in place, but may not survive a crash: say
		// so (a retry dedupes against it, and a crash loses it whole).
		return Info{}, true, fmt.Errorf("sync %s: %w", prefixDir, err)
	}
	return s.fs.infoOf(p, d, size, now), true, nil
}

// upErr says ErrUploadNotFound for an upload whose data vanished under
// it (cancelled by another process).
func upErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrUploadNotFound
	}
	return err
}

// infoOf describes the blob just committed at p, as Stat will (the
// filesystem may keep a coarser mtime than now).
func (f *FS) infoOf(p string, d digest.Digest, size int64, now time.Time) Info {
	if fi, err := os.Lstat(p); err == nil {
		return Info{Digest: d, Size: fi.Size(), Committed: fi.ModTime()}
	}
	return Info{Digest: d, Size: size, Committed: now}
}

// digest hashes the upload's first size bytes with alg: for sha256 from
// the running hash, reading only what it has not seen; otherwise reading
// it all. ctx is checked between chunks.
func (s *fsSession) digest(ctx context.Context, alg digest.Algorithm, size int64) (digest.Digest, error) {
	h, from := s.sum, s.hashed
	if alg != digest.SHA256 || h == nil || from > size {
		h, from = alg.Hash(), 0
		if alg == digest.SHA256 {
			s.sum, s.hashed = h, 0
		}
	}
	buf := make([]byte, min(hashChunk, max(size-from, 1)))
	for from < size {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := s.file.ReadAt(buf[:min(int64(len(buf)), size-from)], from)
		h.Write(buf[:n])
		from += int64(n)
		if h == s.sum {
			s.hashed = from
		}
		if err != nil && from < size {
			return "", fmt.Errorf("read upload: %w", err)
		}
	}
	return digest.NewDigest(alg, h), nil
}

// mkdirDurable makes dir (a child of parent, itself a child of blobs/)
// and, when it had to create one, fsyncs the directory holding it, so a
// rename into dir survives a crash.
func mkdirDurable(parent, dir string) error {
	for _, p := range []string{parent, dir} {
		err := os.Mkdir(p, 0o750)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
