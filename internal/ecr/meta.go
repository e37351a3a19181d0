package ecr

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/store"
)

// meta is registry.Meta on etcd, over the ECR service's records: the
// repositories are ECR's (of the request's region), their tag mutability
// is the repository's imageTagMutability, and the images the registry
// pushes are those the image APIs list (images_records.go has the keys).
type meta struct{ s *Service }

var _ registry.Meta = meta{}

// RegistryMeta returns the registry's metadata on the service's store:
// what the registry handler of the same server is built on.
func (s *Service) RegistryMeta() registry.Meta { return meta{s: s} }

// repoFor reads repository name in tx, answering registry.ErrNameUnknown
// when it does not exist. The read is tracked: a write that depends on
// the repository conflicts with its deletion.
func repoFor(tx *store.Tx, name string) (repoRecord, error) {
	rec, err := store.Get(tx, repositories, name)
	if errors.Is(err, store.ErrNotFound) {
		return repoRecord{}, fmt.Errorf("repository %s: %w", name, registry.ErrNameUnknown)
	}
	if err != nil {
		return repoRecord{}, fmt.Errorf("get repository %s: %w", name, err)
	}
	return rec, nil
}

// immutable reports whether rec's tags may not move.
func immutable(rec repoRecord) bool {
	m := rec.Repository.ImageTagMutability
	return m != nil && *m == ecrtypes.ImageTagMutabilityIMMUTABLE
}

// store returns the regional store of ctx, after checking ctx.
func (m meta) store(ctx context.Context) (*store.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, _, err := m.s.regional(ctx)
	return st, err
}

// view runs fn in a read-only transaction on the request's region.
func (m meta) view(ctx context.Context, fn func(tx *store.Tx) error) error {
	st, err := m.store(ctx)
	if err != nil {
		return err
	}
	return st.View(ctx, fn)
}

// viewRepo runs fn in a read-only transaction on the request's region
// once repository repo is known to exist (registry.ErrNameUnknown). The
// repository's record and the key also names, if any, are read in one
// round trip: a pull's lookups cost one.
func (m meta) viewRepo(ctx context.Context, repo string, also func(st *store.Store) store.Ref, fn func(tx *store.Tx) error) error {
	st, err := m.store(ctx)
	if err != nil {
		return err
	}
	return st.View(ctx, func(tx *store.Tx) error {
		if also != nil {
			if err := store.Prefetch(tx, store.RefTo(st, repositories, repo), also(st)); err != nil {
				return err
			}
		}
		if _, err := repoFor(tx, repo); err != nil {
			return err
		}
		return fn(tx)
	})
}

// update runs fn in a transaction on the request's region.
func (m meta) update(ctx context.Context, fn func(tx *store.Tx) error) error {
	st, err := m.store(ctx)
	if err != nil {
		return err
	}
	return st.Update(ctx, fn)
}

// RepositoryExists implements registry.Meta.
func (m meta) RepositoryExists(ctx context.Context, repo string) (bool, error) {
	ok := false
	err := m.view(ctx, func(tx *store.Tx) error {
		_, err := store.Get(tx, repositories, repo)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get repository %s: %w", repo, err)
		}
		ok = true
		return nil
	})
	return ok, err
}

// Repositories implements registry.Meta.
func (m meta) Repositories(ctx context.Context, last string, n int) ([]string, error) {
	out := []string{}
	if n == 0 {
		return out, ctx.Err()
	}
	err := m.view(ctx, func(tx *store.Tx) error {
		out = out[:0]
		return store.Scan(tx, repositories, "", last, false, func(name string, _ repoRecord) (bool, error) {
			out = append(out, name)
			return n < 0 || len(out) < n, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	return out, nil
}

// LinkBlob implements registry.Meta.
func (m meta) LinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	return m.update(ctx, func(tx *store.Tx) error {
		if _, err := repoFor(tx, repo); err != nil {
			return err
		}
		id := imageID(repo, d.String())
		if _, err := store.Get(tx, blobLinks, id); err == nil {
			return nil // linked already: no write
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("link %s in %s: %w", d, repo, err)
		}
		store.Put(tx, blobLinks, id, linkRecord{LinkedAt: m.s.now()})
		return nil
	})
}

// BlobLinked implements registry.Meta.
func (m meta) BlobLinked(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	ok := false
	id := imageID(repo, d.String())
	link := func(st *store.Store) store.Ref { return store.RefTo(st, blobLinks, id) }
	err := m.viewRepo(ctx, repo, link, func(tx *store.Tx) error {
		_, err := store.Get(tx, blobLinks, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("blob %s in %s: %w", d, repo, err)
		}
		ok = true
		return nil
	})
	return ok, err
}

// UnlinkBlob implements registry.Meta.
func (m meta) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	return m.update(ctx, func(tx *store.Tx) error {
		if _, err := repoFor(tx, repo); err != nil {
			return err
		}
		id := imageID(repo, d.String())
		_, err := store.Get(tx, blobLinks, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("unlink %s from %s: %w", d, repo, registry.ErrBlobUnknown)
		}
		if err != nil {
			return fmt.Errorf("unlink %s from %s: %w", d, repo, err)
		}
		store.Delete(tx, blobLinks, id)
		return nil
	})
}

// CreateUpload implements registry.Meta.
func (m meta) CreateUpload(ctx context.Context, u registry.UploadSession) error {
	return m.update(ctx, func(tx *store.Tx) error {
		if _, err := repoFor(tx, u.Repo); err != nil {
			return err
		}
		_, err := store.Get(tx, uploads, u.ID)
		if err == nil {
			return fmt.Errorf("upload %s: %w", u.ID, registry.ErrUploadExists)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("upload %s: %w", u.ID, err)
		}
		store.Put(tx, uploads, u.ID, uploadRecord{ID: u.ID, Repo: u.Repo, Started: u.Started.UTC()})
		store.Put(tx, repoUploads, imagePrefix(u.Repo)+u.ID, statusRecord{})
		return nil
	})
}

// Upload implements registry.Meta.
func (m meta) Upload(ctx context.Context, id string) (registry.UploadSession, error) {
	var out registry.UploadSession
	err := m.view(ctx, func(tx *store.Tx) error {
		rec, err := getUpload(tx, id)
		if err != nil {
			return err
		}
		out = registry.UploadSession{ID: rec.ID, Repo: rec.Repo, Started: rec.Started}
		return nil
	})
	return out, err
}

// getUpload reads upload id (registry.ErrUploadUnknown).
func getUpload(tx *store.Tx, id string) (uploadRecord, error) {
	if id == "" {
		return uploadRecord{}, fmt.Errorf("upload %q: %w", id, registry.ErrUploadUnknown)
	}
	rec, err := store.Get(tx, uploads, id)
	if errors.Is(err, store.ErrNotFound) {
		return uploadRecord{}, fmt.Errorf("upload %s: %w", id, registry.ErrUploadUnknown)
	}
	if err != nil {
		return uploadRecord{}, fmt.Errorf("upload %s: %w", id, err)
	}
	return rec, nil
}

// DeleteUpload implements registry.Meta.
func (m meta) DeleteUpload(ctx context.Context, id string) error {
	return m.update(ctx, func(tx *store.Tx) error {
		rec, err := getUpload(tx, id)
		if err != nil {
			return err
		}
		store.Delete(tx, uploads, id)
		store.Delete(tx, repoUploads, imagePrefix(rec.Repo)+id)
		return nil
	})
}
