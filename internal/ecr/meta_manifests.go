package ecr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/store"
)

// Bounds that keep each transaction well under an external etcd's 128
// operations.
const (
	// maxTagsPerPut bounds the tags one put names: each costs a tag key,
	// and maybe the image it leaves and that image's status entry (two
	// writes): 4+4*24 writes at most.
	maxTagsPerPut = 24
	// tagBatch is how many tags one transaction of an image's deletion
	// removes.
	tagBatch = 50
	// maxManifestRead bounds the manifest bytes read to size an image (the
	// registry refuses larger manifests anyway).
	maxManifestRead = registry.DefaultMaxManifestSize
)

// errTooManyTags refuses a put naming more than maxTagsPerPut tags.
var errTooManyTags = fmt.Errorf("at most %d tags can be put at once", maxTagsPerPut)

// recordFrom is the image record of manifest m, without tags; size is
// ECR's imageSizeInBytes of an image manifest (an index's is computed from
// its children when put).
func recordFrom(m registry.Manifest, size int64) imageRecord {
	r := imageRecord{
		Digest:       m.Digest.String(),
		MediaType:    m.MediaType,
		ArtifactType: m.ArtifactType,
		ManifestSize: m.Size,
		Size:         size,
		Subject:      m.Subject.String(),
		Annotations:  maps.Clone(m.Annotations),
		PushedAt:     m.Pushed.UTC(),
	}
	for _, b := range m.Blobs {
		r.Blobs = append(r.Blobs, b.String())
	}
	for _, c := range m.Manifests {
		r.Manifests = append(r.Manifests, c.String())
	}
	return r
}

// manifestOf is the registry's view of an image record.
func manifestOf(r imageRecord) registry.Manifest {
	m := registry.Manifest{
		Digest:       digest.Digest(r.Digest),
		MediaType:    r.MediaType,
		Size:         r.ManifestSize,
		ArtifactType: r.ArtifactType,
		Subject:      digest.Digest(r.Subject),
		Annotations:  maps.Clone(r.Annotations),
		Pushed:       r.PushedAt,
	}
	for _, b := range r.Blobs {
		m.Blobs = append(m.Blobs, digest.Digest(b))
	}
	for _, c := range r.Manifests {
		m.Manifests = append(m.Manifests, digest.Digest(c))
	}
	return m
}

// layersSize is the sum of the layers' sizes an image manifest's body
// lists: ECR's imageSizeInBytes (the config is not counted, as in ECR).
func layersSize(body []byte) int64 {
	var raw struct {
		Layers []struct {
			Size int64 `json:"size"`
		} `json:"layers"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return 0
	}
	var n int64
	for _, l := range raw.Layers {
		if l.Size > 0 {
			n += l.Size
		}
	}
	return n
}

// manifestBytes reads manifest d from the blob store (nil, nil when the
// service has no blob store or the blob is absent).
func (s *Service) manifestBytes(ctx context.Context, d digest.Digest) ([]byte, error) {
	if s.cfg.Blobs == nil {
		return nil, nil
	}
	rc, err := s.cfg.Blobs.Open(ctx, d, 0)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", d, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestRead+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", d, err)
	}
	return b, nil
}

// putImage records img in repo (whose record is rec) and points tags at
// it, in tx: a tag naming another image moves (ErrTagImmutable, wrapped,
// when rec's tags are immutable), an image put again keeps its push and
// pull times. It reads and writes a few keys per tag (at most
// maxTagsPerPut), whatever the image's layers or an index's manifests,
// so that it stays within an etcd transaction's 128 compares and 128
// operations.
func putImage(tx *store.Tx, repo string, rec repoRecord, img imageRecord, tags []string, now time.Time) error {
	if len(tags) > maxTagsPerPut {
		return fmt.Errorf("put %s in %s: %w", img.Digest, repo, errTooManyTags)
	}
	id := imageID(repo, img.Digest)
	old, err := store.Get(tx, images, id)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("put %s in %s: %w", img.Digest, repo, err)
	}
	ids := make([]string, len(tags))
	for i, t := range tags {
		ids[i] = tagID(repo, t)
	}
	cur, err := store.GetMany(tx, imageTags, ids)
	if err != nil {
		return fmt.Errorf("put %s in %s: %w", img.Digest, repo, err)
	}
	moved := map[string][]string{} // digest -> the tags it loses
	for i, t := range tags {
		c, ok := cur[ids[i]]
		if !ok || c.Digest == img.Digest || slices.Contains(moved[c.Digest], t) {
			continue
		}
		if immutable(rec) {
			return fmt.Errorf("put %s in %s: tag %s names %s: %w", img.Digest, repo, t, c.Digest, registry.ErrTagImmutable)
		}
		moved[c.Digest] = append(moved[c.Digest], t)
	}
	var was *bool
	if exists {
		img.PushedAt, img.LastPulledAt, img.Tags = old.PushedAt, old.LastPulledAt, old.Tags
		t := old.tagged()
		was = &t
	} else if img.PushedAt.IsZero() {
		img.PushedAt = now
	}
	for i, t := range tags {
		img.addTag(t)
		if c, ok := cur[ids[i]]; !ok || c.Digest != img.Digest {
			store.Put(tx, imageTags, ids[i], tagRecord{Digest: img.Digest})
		}
	}
	store.Put(tx, images, id, img)
	now2 := img.tagged()
	setStatus(tx, repo, img.Digest, was, &now2)
	if img.Subject != "" && !exists {
		store.Put(tx, referrers, referrerPrefix(repo, img.Subject)+img.Digest, referrerRecord{
			MediaType: img.MediaType, Digest: img.Digest, Size: img.ManifestSize,
			ArtifactType: img.ArtifactType, Annotations: img.Annotations,
		})
	}
	if len(moved) == 0 {
		return nil
	}
	leaving := slices.Sorted(maps.Keys(moved))
	oldIDs := make([]string, len(leaving))
	for i, d := range leaving {
		oldIDs[i] = imageID(repo, d)
	}
	olds, err := store.GetMany(tx, images, oldIDs)
	if err != nil {
		return fmt.Errorf("put %s in %s: %w", img.Digest, repo, err)
	}
	for i, d := range leaving {
		o, ok := olds[oldIDs[i]]
		if !ok {
			continue // a dangling tag: overwritten above
		}
		before := o.tagged()
		for _, t := range moved[d] {
			o.removeTag(t)
		}
		after := o.tagged()
		store.Put(tx, images, oldIDs[i], o)
		setStatus(tx, repo, d, &before, &after)
	}
	return nil
}

// sizeIndex sets an index's size to its largest image's (ECR's
// imageSizeInBytes of a manifest list), read before the transaction that
// puts it: an index may list more images than a transaction may read.
func (s *Service) sizeIndex(ctx context.Context, repo string, img *imageRecord) error {
	if len(img.Manifests) == 0 {
		return nil
	}
	st, _, err := s.regional(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, len(img.Manifests))
	for i, c := range img.Manifests {
		ids[i] = imageID(repo, c)
	}
	return st.View(ctx, func(tx *store.Tx) error {
		children, err := store.GetMany(tx, images, ids)
		if err != nil {
			return fmt.Errorf("size index %s in %s: %w", img.Digest, repo, err)
		}
		img.Size = 0
		for _, c := range children {
			img.Size = max(img.Size, c.Size)
		}
		return nil
	})
}

// deleteImageStep removes image img of repo in tx: its tags (at most
// tagBatch of them a step; done is false when more steps are needed),
// then its record, index entries and referrer entry.
func deleteImageStep(tx *store.Tx, repo string, img imageRecord) (done bool) {
	id := imageID(repo, img.Digest)
	if len(img.Tags) > tagBatch {
		for _, t := range img.Tags[:tagBatch] {
			store.Delete(tx, imageTags, tagID(repo, t))
		}
		img.Tags = slices.Clone(img.Tags[tagBatch:])
		store.Put(tx, images, id, img)
		return false
	}
	for _, t := range img.Tags {
		store.Delete(tx, imageTags, tagID(repo, t))
	}
	store.Delete(tx, images, id)
	store.Delete(tx, imageScans, id)
	was := img.tagged()
	setStatus(tx, repo, img.Digest, &was, nil)
	if img.Subject != "" {
		store.Delete(tx, referrers, referrerPrefix(repo, img.Subject)+img.Digest)
	}
	return true
}

// getImage reads image d of repo (registry.ErrManifestUnknown).
func getImage(tx *store.Tx, repo, d string) (imageRecord, error) {
	img, err := store.Get(tx, images, imageID(repo, d))
	if errors.Is(err, store.ErrNotFound) {
		return imageRecord{}, fmt.Errorf("manifest %s in %s: %w", d, repo, registry.ErrManifestUnknown)
	}
	if err != nil {
		return imageRecord{}, fmt.Errorf("manifest %s in %s: %w", d, repo, err)
	}
	return img, nil
}

// PutManifest implements registry.Meta.
func (m meta) PutManifest(ctx context.Context, repo string, man registry.Manifest, tags ...string) error {
	var size int64
	if len(man.Manifests) == 0 {
		body, err := m.s.manifestBytes(ctx, man.Digest)
		if err != nil {
			return fmt.Errorf("put manifest %s in %s: %w", man.Digest, repo, err)
		}
		size = layersSize(body)
	}
	img := recordFrom(man, size)
	if err := m.s.sizeIndex(ctx, repo, &img); err != nil {
		return err
	}
	st, err := m.store(ctx)
	if err != nil {
		return err
	}
	if err := m.s.linkParents(ctx, st, repo, img); err != nil {
		return err
	}
	var rec repoRecord
	err = st.Update(ctx, func(tx *store.Tx) error {
		var err error
		if rec, err = repoFor(tx, repo); err != nil {
			return err
		}
		return putImage(tx, repo, rec, img, tags, m.s.now())
	})
	if err != nil {
		return err
	}
	m.s.scanOnPush(ctx, st, repo, rec, img)
	return nil
}

// Manifest implements registry.Meta. It is what a pull reads, so it
// records the pull (lastRecordedPullTime), at most every pullRecordEvery.
func (m meta) Manifest(ctx context.Context, repo string, d digest.Digest) (registry.Manifest, error) {
	var img imageRecord
	ref := func(st *store.Store) store.Ref { return store.RefTo(st, images, imageID(repo, d.String())) }
	err := m.viewRepo(ctx, repo, ref, func(tx *store.Tx) error {
		var err error
		img, err = getImage(tx, repo, d.String())
		return err
	})
	if err != nil {
		return registry.Manifest{}, err
	}
	m.s.recordPull(ctx, repo, img)
	return manifestOf(img), nil
}

// recordPull sets img's LastPulledAt to now when it is older than
// pullRecordEvery. A failure is logged, not returned: the pull goes on.
func (s *Service) recordPull(ctx context.Context, repo string, img imageRecord) {
	now := s.now()
	if now.Sub(img.LastPulledAt) < pullRecordEvery {
		return
	}
	st, _, err := s.regional(ctx)
	if err != nil {
		return
	}
	err = st.Update(ctx, func(tx *store.Tx) error {
		if _, err := repoFor(tx, repo); err != nil {
			return err
		}
		cur, err := getImage(tx, repo, img.Digest)
		if err != nil {
			return err
		}
		if now.Sub(cur.LastPulledAt) < pullRecordEvery {
			return nil
		}
		cur.LastPulledAt = now
		store.Put(tx, images, imageID(repo, img.Digest), cur)
		return nil
	})
	if err != nil && !errors.Is(err, registry.ErrManifestUnknown) && !errors.Is(err, registry.ErrNameUnknown) {
		s.log.WarnContext(ctx, "record an image pull", "repository", repo, "digest", img.Digest, "err", err)
	}
}

// Resolve implements registry.Meta.
func (m meta) Resolve(ctx context.Context, repo, tag string) (digest.Digest, error) {
	var d digest.Digest
	ref := func(st *store.Store) store.Ref { return store.RefTo(st, imageTags, tagID(repo, tag)) }
	err := m.viewRepo(ctx, repo, ref, func(tx *store.Tx) error {
		t, err := getTag(tx, repo, tag)
		d = digest.Digest(t.Digest)
		return err
	})
	return d, err
}

// getTag reads tag of repo (registry.ErrManifestUnknown).
func getTag(tx *store.Tx, repo, tag string) (tagRecord, error) {
	if tag == "" {
		return tagRecord{}, fmt.Errorf("tag %q in %s: %w", tag, repo, registry.ErrManifestUnknown)
	}
	t, err := store.Get(tx, imageTags, tagID(repo, tag))
	if errors.Is(err, store.ErrNotFound) {
		return tagRecord{}, fmt.Errorf("tag %s in %s: %w", tag, repo, registry.ErrManifestUnknown)
	}
	if err != nil {
		return tagRecord{}, fmt.Errorf("tag %s in %s: %w", tag, repo, err)
	}
	return t, nil
}

// DeleteManifest implements registry.Meta.
func (m meta) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	st, err := m.store(ctx)
	if err != nil {
		return err
	}
	for {
		done := false
		var img imageRecord
		err := st.Update(ctx, func(tx *store.Tx) error {
			if _, err := repoFor(tx, repo); err != nil {
				return err
			}
			var err error
			if img, err = getImage(tx, repo, d.String()); err != nil {
				return err
			}
			done = deleteImageStep(tx, repo, img)
			return nil
		})
		if err != nil {
			return err
		}
		if done {
			m.s.unlinkParents(ctx, st, repo, img)
			return nil
		}
	}
}

// DeleteTag implements registry.Meta.
func (m meta) DeleteTag(ctx context.Context, repo, tag string) error {
	return m.update(ctx, func(tx *store.Tx) error {
		if _, err := repoFor(tx, repo); err != nil {
			return err
		}
		_, err := untag(tx, repo, tag)
		return err
	})
}

// untag removes tag from repo in tx and returns the image it named, as
// written (registry.ErrManifestUnknown when there is no such tag; a tag
// whose image is gone, which no write leaves, is just removed).
func untag(tx *store.Tx, repo, tag string) (imageRecord, error) {
	t, err := getTag(tx, repo, tag)
	if err != nil {
		return imageRecord{}, err
	}
	store.Delete(tx, imageTags, tagID(repo, tag))
	img, err := getImage(tx, repo, t.Digest)
	if errors.Is(err, registry.ErrManifestUnknown) {
		return imageRecord{Digest: t.Digest}, nil // a dangling tag: just removed
	}
	if err != nil {
		return imageRecord{}, err
	}
	was := img.tagged()
	img.removeTag(tag)
	now := img.tagged()
	store.Put(tx, images, imageID(repo, img.Digest), img)
	setStatus(tx, repo, img.Digest, &was, &now)
	return img, nil
}

// Tags implements registry.Meta.
func (m meta) Tags(ctx context.Context, repo, last string, n int) ([]string, error) {
	out := []string{}
	err := m.view(ctx, func(tx *store.Tx) error {
		if _, err := repoFor(tx, repo); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		prefix := imagePrefix(repo)
		after := ""
		if last != "" {
			after = prefix + last
		}
		return store.Scan(tx, imageTags, prefix, after, false, func(id string, _ tagRecord) (bool, error) {
			out = append(out, id[len(prefix):])
			return n < 0 || len(out) < n, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Referrers implements registry.Meta.
func (m meta) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	err := m.view(ctx, func(tx *store.Tx) error {
		if _, err := repoFor(tx, repo); err != nil {
			return err
		}
		return store.Scan(tx, referrers, referrerPrefix(repo, d.String()), "", false, func(_ string, r referrerRecord) (bool, error) {
			if artifactType == "" || r.ArtifactType == artifactType {
				out = append(out, ocispec.Descriptor{
					MediaType: r.MediaType, Digest: digest.Digest(r.Digest), Size: r.Size,
					ArtifactType: r.ArtifactType, Annotations: r.Annotations,
				})
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
