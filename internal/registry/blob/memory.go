package blob

import (
	"bytes"
	"context"
	_ "crypto/sha256" // digest.SHA256 verifies
	_ "crypto/sha512" // digest.SHA512 verifies
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// Memory is a Store in memory, for tests and fakes. Its zero value is not
// usable: call NewMemory.
type Memory struct {
	now func() time.Time

	mu      sync.Mutex
	blobs   map[digest.Digest]memBlob
	uploads map[string]*memUpload
}

type memBlob struct {
	data      []byte
	committed time.Time
}

type memUpload struct {
	created time.Time
	data    []byte
	gen     int // moves on Cancel and on each new session: a stale session fails
}

// NewMemory returns an empty Memory store; now, if not nil, is its clock.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, blobs: map[digest.Digest]memBlob{}, uploads: map[string]*memUpload{}}
}

// Stat implements Store.
func (m *Memory) Stat(ctx context.Context, d digest.Digest) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	if err := checkDigest(d); err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", d, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[d]
	if !ok {
		return Info{}, fmt.Errorf("stat %s: %w", d, ErrNotFound)
	}
	return Info{Digest: d, Size: int64(len(b.data)), Committed: b.committed}, nil
}

// Open implements Store.
func (m *Memory) Open(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkDigest(d); err != nil {
		return nil, fmt.Errorf("open %s: %w", d, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[d]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", d, ErrNotFound)
	}
	if offset < 0 || offset > int64(len(b.data)) {
		return nil, fmt.Errorf("open %s at %d of %d: %w", d, offset, len(b.data), ErrInvalidOffset)
	}
	return io.NopCloser(bytes.NewReader(b.data[offset:])), nil // committed bytes are never written again
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, d digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkDigest(d); err != nil {
		return fmt.Errorf("delete %s: %w", d, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blobs[d]; !ok {
		return fmt.Errorf("delete %s: %w", d, ErrNotFound)
	}
	delete(m.blobs, d)
	return nil
}

// Walk implements Store. fn runs without the store's lock held.
func (m *Memory) Walk(ctx context.Context, fn func(Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	infos := make([]Info, 0, len(m.blobs))
	for d, b := range m.blobs {
		infos = append(infos, Info{Digest: d, Size: int64(len(b.data)), Committed: b.committed})
	}
	m.mu.Unlock()
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Create implements Store.
func (m *Memory) Create(ctx context.Context, id string) (Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !ValidID(id) {
		return nil, fmt.Errorf("create upload %q: invalid id", id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.uploads[id]; ok {
		return nil, fmt.Errorf("create upload %s: %w", id, ErrUploadExists)
	}
	u := &memUpload{created: m.now()}
	m.uploads[id] = u
	return &memSession{m: m, id: id, u: u, gen: u.gen}, nil
}

// Resume implements Store.
func (m *Memory) Resume(ctx context.Context, id string) (Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.uploads[id]
	if !ok {
		return nil, fmt.Errorf("resume upload %s: %w", id, ErrUploadNotFound)
	}
	u.gen++
	return &memSession{m: m, id: id, u: u, gen: u.gen}, nil
}

// Uploads implements Store. fn runs without the store's lock held.
func (m *Memory) Uploads(ctx context.Context, fn func(string, time.Time) error) error {
	type entry struct {
		id      string
		created time.Time
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	list := make([]entry, 0, len(m.uploads))
	for id, u := range m.uploads {
		list = append(list, entry{id, u.created})
	}
	m.mu.Unlock()
	for _, e := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e.id, e.created); err != nil {
			return err
		}
	}
	return nil
}

// Cancel implements Store.
func (m *Memory) Cancel(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.uploads[id]
	if !ok {
		return fmt.Errorf("cancel upload %s: %w", id, ErrUploadNotFound)
	}
	u.gen++
	delete(m.uploads, id)
	return nil
}

// memSession is one session of a Memory upload.
type memSession struct {
	m    *Memory
	id   string
	u    *memUpload
	gen  int
	done bool
}

// live returns an error unless the session may still write (the caller
// holds m.mu).
func (s *memSession) live() error {
	if s.done {
		return fmt.Errorf("upload %s: session ended", s.id)
	}
	if cur, ok := s.m.uploads[s.id]; !ok || cur != s.u || s.u.gen != s.gen {
		return fmt.Errorf("upload %s: %w", s.id, ErrUploadNotFound)
	}
	return nil
}

// ID implements Upload.
func (s *memSession) ID() string { return s.id }

// Size implements Upload.
func (s *memSession) Size() int64 {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return int64(len(s.u.data))
}

// Write implements Upload.
func (s *memSession) Write(p []byte) (int, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if err := s.live(); err != nil {
		return 0, err
	}
	s.u.data = append(s.u.data, p...)
	return len(p), nil
}

// Commit implements Upload.
func (s *memSession) Commit(ctx context.Context, d digest.Digest) (Info, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if err := s.live(); err != nil {
		return Info{}, err
	}
	s.done = true
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	if err := checkDigest(d); err != nil {
		return Info{}, fmt.Errorf("commit upload %s as %s: %w", s.id, d, err)
	}
	delete(s.m.uploads, s.id)
	if got := d.Algorithm().FromBytes(s.u.data); got != d {
		return Info{}, fmt.Errorf("commit upload %s: bytes are %s, not %s: %w", s.id, got, d, ErrDigestMismatch)
	}
	b, ok := s.m.blobs[d]
	if !ok {
		b.data = s.u.data
	}
	b.committed = s.m.now() // the last commit's time, so GC spares a re-push
	s.m.blobs[d] = b
	return Info{Digest: d, Size: int64(len(b.data)), Committed: b.committed}, nil
}

// Close implements Upload.
func (s *memSession) Close() error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.done = true
	return nil
}

var _ Store = (*Memory)(nil)
