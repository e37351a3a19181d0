package blob

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// FS is a Store in a directory, Berth's default. Its layout:
//
//	<root>/blobs/<alg>/<first 2 hex>/<hex>   committed blobs, whole and verified
//	<root>/uploads/<id>/data                 an upload's bytes so far
//	<root>/uploads/<id>/startedat            when it was created (RFC 3339)
//	<root>/uploads/.trash-*                  uploads being removed
//
// A blob file only ever appears by an atomic rename of a complete, fsynced
// and verified upload into place, so a crash leaves no partial blob under
// blobs/; what it can leave in uploads/ is an upload in progress (the
// garbage collector cancels abandoned ones) or trash (NewFS removes it).
// Paths are only built from ids that pass ValidID and digests that pass
// checkDigest, so no caller-supplied string can leave the root.
//
// An FS keeps, in memory, the running sha256 of each upload's bytes so
// that Commit only hashes what no session of this FS saw being written;
// several FS values (or processes) may share a root, at the cost of
// re-hashing. The running hash is never written to disk: after a machine
// crash it could vouch for bytes the disk lost.
type FS struct {
	root    string
	now     func() time.Time
	noSum   bool // no running hash: Commit hashes the whole file (benchmarks compare)
	mu      sync.Mutex
	live    map[string]*fsSession // the open session of each upload, by id
	partial map[string]savedSum   // running sha256 of uploads between sessions, by id
}

// savedSum is a closed session's running sha256, valid while the data
// file is still the one it hashed, of the size and mtime it had.
type savedSum struct {
	h      hash.Hash
	hashed int64
	file   os.FileInfo
}

// FSOption configures NewFS.
type FSOption func(*FS)

// WithClock sets the clock FS stamps commits and uploads with (tests).
func WithClock(now func() time.Time) FSOption {
	return func(f *FS) { f.now = now }
}

// NewFS opens (creating it if need be) the store in directory root, and
// removes the trash a crash may have left.
func NewFS(root string, opts ...FSOption) (*FS, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", root, err)
	}
	f := &FS{root: abs, now: time.Now, live: map[string]*fsSession{}, partial: map[string]savedSum{}}
	for _, o := range opts {
		o(f)
	}
	for _, dir := range []string{f.path("blobs"), f.path("uploads")} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("blob store %s: %w", abs, err)
		}
	}
	// Commit makes what it creates under blobs/ durable; blobs/ itself is
	// made durable here.
	if err := syncDir(abs); err != nil {
		return nil, fmt.Errorf("blob store %s: %w", abs, err)
	}
	entries, err := os.ReadDir(f.path("uploads"))
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", abs, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), trashPrefix) {
			if err := os.RemoveAll(f.path("uploads", e.Name())); err != nil {
				return nil, fmt.Errorf("blob store %s: empty trash: %w", abs, err)
			}
		}
	}
	return f, nil
}

const trashPrefix = ".trash-"

// path joins elements under the root; callers pass only validated names.
func (f *FS) path(elem ...string) string {
	return filepath.Join(append([]string{f.root}, elem...)...)
}

// blobPath is where blob d lives, or ErrUnsupportedDigest.
func (f *FS) blobPath(d digest.Digest) (string, error) {
	if err := checkDigest(d); err != nil {
		return "", err
	}
	enc := d.Encoded()
	if !isHex(enc, d.Algorithm().Size()*2) { // checkDigest says so already; paths get a second look
		return "", ErrUnsupportedDigest
	}
	return f.path("blobs", string(d.Algorithm()), enc[:2], enc), nil
}

// uploadPath is upload id's directory; ok is false for an invalid id.
func (f *FS) uploadPath(id string) (dir string, ok bool) {
	if !ValidID(id) {
		return "", false
	}
	return f.path("uploads", id), true
}

// isHex reports whether s is n lowercase hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Stat implements Store.
func (f *FS) Stat(ctx context.Context, d digest.Digest) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	p, err := f.blobPath(d)
	if err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", d, err)
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("stat %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", d, err)
	}
	return Info{Digest: d, Size: fi.Size(), Committed: fi.ModTime()}, nil
}

// Open implements Store. The reader is the blob's file: it reads on after
// a Delete. Like Stat and Walk it takes only a regular file for a blob,
// never what a symlink points at.
func (f *FS) Open(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := f.blobPath(d)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d, err)
	}
	lfi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !lfi.Mode().IsRegular() {
		return nil, fmt.Errorf("open %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d, err)
	}
	file, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d, err)
	}
	fi, err := file.Stat()
	switch {
	case err != nil:
		err = fmt.Errorf("open %s: %w", d, err)
	case !os.SameFile(lfi, fi): // replaced between Lstat and Open
		err = fmt.Errorf("open %s: %w", d, ErrNotFound)
		err = fmt.Errorf("open %s: %w", d, ErrNotFound)
	case offset < 0 || offset > fi.Size():
		err = fmt.Errorf("open %s at %d of %d: %w", d, offset, fi.Size(), ErrInvalidOffset)
	default:
		_, err = file.Seek(offset, io.SeekStart)
	}
	if err != nil {
		file.Close()
		return nil, err
	}
	return file, nil
}

// Delete implements Store. Prefix directories stay: removing one could
// race a Commit renaming a blob into it.
func (f *FS) Delete(ctx context.Context, d digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := f.blobPath(d)
	if err != nil {
		return fmt.Errorf("delete %s: %w", d, err)
	}
	if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("delete %s: %w", d, ErrNotFound) // not a blob: leave it be
	}
	if err := os.Remove(p); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", d, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("delete %s: %w", d, err)
	}
	return nil
}

// walkAlgorithms are the blobs/ subdirectories Walk visits.
var walkAlgorithms = []digest.Algorithm{digest.SHA256, digest.SHA512}

// Walk implements Store. It reads directories only, never a blob's bytes,
// and reports only files whose name and place are a blob's: whatever else
// a crash or a person left there is not a blob.
func (f *FS) Walk(ctx context.Context, fn func(Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, alg := range walkAlgorithms {
		algDir := f.path("blobs", string(alg))
		prefixes, err := os.ReadDir(algDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		for _, pre := range prefixes {
			if !pre.IsDir() || !isHex(pre.Name(), 2) {
				continue
			}
			err := readDirBatches(ctx, filepath.Join(algDir, pre.Name()), func(e fs.DirEntry) error {
				name := e.Name()
				if !e.Type().IsRegular() || !isHex(name, alg.Size()*2) || name[:2] != pre.Name() {
					return nil
				}
				fi, err := e.Info()
				if errors.Is(err, fs.ErrNotExist) {
					return nil // deleted since the directory was read
				}
				if err != nil {
					return fmt.Errorf("walk blobs: %w", err)
				}
				return fn(Info{Digest: digest.NewDigestFromEncoded(alg, name), Size: fi.Size(), Committed: fi.ModTime()})
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// readDirBatches calls fn for each entry of dir, reading it a batch at a
// time so a huge directory is never held in memory whole, and checking
// ctx between entries. A dir that does not exist has no entries.
func readDirBatches(ctx context.Context, dir string, fn func(fs.DirEntry) error) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	defer d.Close()
	for {
		entries, err := d.ReadDir(512)
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", dir, err)
		}
	}
}

// Uploads implements Store. An upload whose startedat a crash lost is
// dated by its directory.
func (f *FS) Uploads(ctx context.Context, fn func(string, time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return readDirBatches(ctx, f.path("uploads"), func(e fs.DirEntry) error {
		dir, ok := f.uploadPath(e.Name())
		if !ok || !e.IsDir() {
			return nil // trash, or not ours
		}
		created, err := readStartedAt(dir)
		if err != nil {
			fi, ierr := e.Info()
			if errors.Is(ierr, fs.ErrNotExist) {
				return nil // committed or cancelled since the directory was read
			}
			if ierr != nil {
				return fmt.Errorf("list uploads: %w", ierr)
			}
			created = fi.ModTime()
		}
		return fn(e.Name(), created)
	})
}

func readStartedAt(dir string) (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, "startedat"))
	if err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
}

// Create implements Store.
func (f *FS) Create(ctx context.Context, id string) (Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, ok := f.uploadPath(id)
	if !ok {
		return nil, fmt.Errorf("create upload %q: invalid id", id)
	}
	if err := os.Mkdir(dir, 0o750); errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create upload %s: %w", id, ErrUploadExists)
	} else if err != nil {
		return nil, fmt.Errorf("create upload %s: %w", id, err)
	}
	stamp := f.now().UTC().Format(time.RFC3339Nano) + "\n"
	err := os.WriteFile(filepath.Join(dir, "startedat"), []byte(stamp), 0o640)
	var file *os.File
	if err == nil {
		file, err = os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create upload %s: %w", id, err)
	}
	s := &fsSession{fs: f, id: id, dir: dir, file: file}
	if !f.noSum {
		s.sum = newSHA256()
	}
	f.mu.Lock()
	f.adopt(s)
	delete(f.partial, id)
	f.mu.Unlock()
	return s, nil
}

// Resume implements Store.
func (f *FS) Resume(ctx context.Context, id string) (Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, ok := f.uploadPath(id)
	if !ok {
		return nil, fmt.Errorf("resume upload %q: %w", id, ErrUploadNotFound)
	}
	file, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("resume upload %s: %w", id, ErrUploadNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("resume upload %s: %w", id, err)
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("resume upload %s: %w", id, err)
	}
	s := &fsSession{fs: f, id: id, dir: dir, file: file, size: fi.Size()}
	f.mu.Lock()
	f.adopt(s)
	saved, ok := f.partial[id]
	delete(f.partial, id)
	f.mu.Unlock()
	switch {
	case f.noSum:
	case ok && os.SameFile(saved.file, fi) && saved.file.Size() == fi.Size() && saved.file.ModTime().Equal(fi.ModTime()):
		s.sum, s.hashed = saved.h, saved.hashed
	default: // written by another FS, or by this one before a restart: Commit hashes what it must
		s.sum = newSHA256()
	}
	return s, nil
}

// adopt makes s the live session of its upload; an older one goes stale
// (f.mu held).
func (f *FS) adopt(s *fsSession) {
	if old := f.live[s.id]; old != nil {
		old.stale.Store(true)
	}
	f.live[s.id] = s
}

// Cancel implements Store.
func (f *FS) Cancel(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, ok := f.uploadPath(id)
	if !ok {
		return fmt.Errorf("cancel upload %q: %w", id, ErrUploadNotFound)
	}
	if err := f.discard(id, dir); err != nil {
		return fmt.Errorf("cancel upload %s: %w", id, err)
	}
	return nil
}

// discard removes upload id atomically (a rename into the trash, then
// the removal), and ends its live session (ErrUploadNotFound).
func (f *FS) discard(id, dir string) error {
	f.mu.Lock()
	if s := f.live[id]; s != nil {
		s.stale.Store(true)
		delete(f.live, id)
	}
	delete(f.partial, id)
	f.mu.Unlock()
	trash, err := os.MkdirTemp(f.path("uploads"), trashPrefix)
	if err != nil {
		return err
	}
	defer os.RemoveAll(trash)
	if err := os.Rename(dir, filepath.Join(trash, "upload")); errors.Is(err, fs.ErrNotExist) {
		return ErrUploadNotFound
	} else if err != nil {
		return err
	}
	return nil
}

var _ Store = (*FS)(nil)
