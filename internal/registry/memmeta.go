package registry

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MemMeta is a Meta in memory, for tests and fakes. Make it with
// NewMemMeta; create repositories with CreateRepository.
type MemMeta struct {
	now func() time.Time

	mu      sync.Mutex
	repos   map[string]*memRepo
	uploads map[string]UploadSession
}

type memRepo struct {
	immutable bool
	blobs     map[digest.Digest]bool
	manifests map[digest.Digest]Manifest
	tags      map[string]digest.Digest
}

// NewMemMeta returns an empty MemMeta; now, if not nil, is its clock.
func NewMemMeta(now func() time.Time) *MemMeta {
	if now == nil {
		now = time.Now
	}
	return &MemMeta{now: now, repos: map[string]*memRepo{}, uploads: map[string]UploadSession{}}
}

// CreateRepository creates repository name (the ECR API's job in
// production); immutable makes its tags immutable. Creating an existing
// repository only sets its mutability.
func (m *MemMeta) CreateRepository(name string, immutable bool) error {
	if !ValidName(name) {
		return fmt.Errorf("create repository %q: invalid name", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.repos[name]; ok {
		r.immutable = immutable
		return nil
	}
	m.repos[name] = &memRepo{
		immutable: immutable,
		blobs:     map[digest.Digest]bool{},
		manifests: map[digest.Digest]Manifest{},
		tags:      map[string]digest.Digest{},
	}
	return nil
}

// repo returns repository name (the caller holds m.mu).
func (m *MemMeta) repo(ctx context.Context, name string) (*memRepo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, ok := m.repos[name]
	if !ok {
		return nil, fmt.Errorf("repository %s: %w", name, ErrNameUnknown)
	}
	return r, nil
}

// RepositoryExists implements Meta.
func (m *MemMeta) RepositoryExists(ctx context.Context, repo string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.repos[repo]
	return ok, nil
}

// Repositories implements Meta.
func (m *MemMeta) Repositories(ctx context.Context, last string, n int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return page(slices.Collect(maps.Keys(m.repos)), last, n), nil
}

// page sorts names and returns at most n of those after last.
func page(names []string, last string, n int) []string {
	sort.Strings(names)
	i := sort.SearchStrings(names, last)
	if i < len(names) && names[i] == last {
		i++
	}
	names = names[i:]
	if n >= 0 && len(names) > n {
		names = names[:n]
	}
	return slices.Clone(names)
}

// LinkBlob implements Meta.
func (m *MemMeta) LinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.repo(ctx, repo)
	if err != nil {
		return err
	}
	r.blobs[d] = true
	return nil
}

// BlobLinked implements Meta.
func (m *MemMeta) BlobLinked(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.repo(ctx, repo)
	if err != nil {
		return false, err
	}
	return r.blobs[d], nil
}

// UnlinkBlob implements Meta.
func (m *MemMeta) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.repo(ctx, repo)
	if err != nil {
		return err
	}
	if !r.blobs[d] {
		return fmt.Errorf("unlink %s from %s: %w", d, repo, ErrBlobUnknown)
	}
	delete(r.blobs, d)
	return nil
}

// PutManifest implements Meta.
func (m *MemMeta) PutManifest(ctx context.Context, repo string, man Manifest, tags ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.repo(ctx, repo)
	if err != nil {
		return err
	}
	if r.immutable {
		for _, t := range tags {
			if old, ok := r.tags[t]; ok && old != man.Digest {
				return fmt.Errorf("put manifest %s in %s: tag %s names %s: %w", man.Digest, repo, t, old, ErrTagImmutable)
			}
		}
	}
	if old, ok := r.manifests[man.Digest]; ok {
		man.Pushed = old.Pushed
	} else if man.Pushed.IsZero() {
		man.Pushed = m.now()
	}
	man.Annotations = maps.Clone(man.Annotations)
	man.Blobs = slices.Clone(man.Blobs)
	man.Manifests = slices.Clone(man.Manifests)
	r.manifests[man.Digest] = man
	for _, t := range tags {
		r.tags[t] = man.Digest
	}
	return nil
}

// Manifest implements Meta.
func (m *MemMeta) Manifest(ctx context.Context, repo string, d digest.Digest) (Manifest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.repo(ctx, repo)
	if err != nil {
		return Manifest{}, err
	}
	man, ok := r.manifests[d]
	if !ok {
		return Manifest{}, fmt.Errorf("manifest %s in %s: %w", d, repo, ErrManifestUnknown)
	}
	man.Annotations = maps.Clone(man.Annotations)
	man.Blobs = slices.Clone(man.Blobs)
	man.Manifests = slices.Clone(man.Manifests)
	return man, nil
}

// Resolve implements Meta.
func (m *MemMeta) Resolve(ctx context.Context, repo, tag string) (digest.Digest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.repo(ctx, repo)
	if err != nil {
		return "", err
	}
	d, ok := r.tags[tag]
	if !ok {
		return "", fmt.Errorf("tag %s in %s: %w", tag, repo, ErrManifestUnknown)
	}
	return d, nil
}

// DeleteManifest implements Meta.
func (m *MemMeta) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.repo(ctx, repo)
	if err != nil {
		return err
	}
	if _, ok := r.manifests[d]; !ok {
		return fmt.Errorf("delete manifest %s in %s: %w", d, repo, ErrManifestUnknown)
	}
	delete(r.manifests, d)
	maps.DeleteFunc(r.tags, func(_ string, td digest.Digest) bool { return td == d })
	return nil
}

// DeleteTag implements Meta.
func (m *MemMeta) DeleteTag(ctx context.Context, repo, tag string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.repo(ctx, repo)
	if err != nil {
		return err
	}
	if _, ok := r.tags[tag]; !ok {
		return fmt.Errorf("delete tag %s in %s: %w", tag, repo, ErrManifestUnknown)
	}
	delete(r.tags, tag)
	return nil
}

// Tags implements Meta.
func (m *MemMeta) Tags(ctx context.Context, repo, last string, n int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.repo(ctx, repo)
	if err != nil {
		return nil, err
	}
	return page(slices.Collect(maps.Keys(r.tags)), last, n), nil
}

// Referrers implements Meta.
func (m *MemMeta) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.repo(ctx, repo)
	if err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	for _, man := range r.manifests {
		if man.Subject != d || artifactType != "" && man.ArtifactType != artifactType {
			continue
		}
		desc := man.Descriptor()
		desc.Annotations = maps.Clone(desc.Annotations)
		out = append(out, desc)
	}
	slices.SortFunc(out, func(a, b ocispec.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return out, nil
}

// CreateUpload implements Meta.
func (m *MemMeta) CreateUpload(ctx context.Context, u UploadSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.repo(ctx, u.Repo); err != nil {
		return err
	}
	if _, ok := m.uploads[u.ID]; ok {
		return fmt.Errorf("upload %s: %w", u.ID, ErrUploadExists)
	}
	m.uploads[u.ID] = u
	return nil
}

// Upload implements Meta.
func (m *MemMeta) Upload(ctx context.Context, id string) (UploadSession, error) {
	if err := ctx.Err(); err != nil {
		return UploadSession{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.uploads[id]
	if !ok {
		return UploadSession{}, fmt.Errorf("upload %s: %w", id, ErrUploadUnknown)
	}
	return u, nil
}

// DeleteUpload implements Meta.
func (m *MemMeta) DeleteUpload(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.uploads[id]; !ok {
		return fmt.Errorf("upload %s: %w", id, ErrUploadUnknown)
	}
	delete(m.uploads, id)
	return nil
}

var _ Meta = (*MemMeta)(nil)
