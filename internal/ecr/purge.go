package ecr

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-dev/berth/internal/store"
)

// deleteBatch bounds the keys one purge transaction removes, within an
// external etcd's default of 128 operations a transaction.
const deleteBatch = 100

// errRecreated stops a purge: the repository exists (again), and what is
// under its prefix is the new repository's.
var errRecreated = errors.New("repository exists")

// purgeRepository removes everything repository name owns (images, tags,
// index entries, blob links, referrers, scans, upload sessions, and the uploads'
// bytes in the blob store) once its record is gone. It runs after a
// forced DeleteRepository and before a CreateRepository of the same name
// (so that what a crashed purge left is never seen by a new repository).
// Every batch reads the repository's key, so it stops if the repository
// is created again meanwhile, and no push can add records while it is
// absent (they read that key too).
func (s *Service) purgeRepository(ctx context.Context, st *store.Store, name string) error {
	prefix := imagePrefix(name)
	steps := []func() (int, error){
		func() (int, error) { ids, err := purgePrefix(ctx, st, images, name, prefix, nil); return len(ids), err },
		func() (int, error) {
			ids, err := purgePrefix(ctx, st, imageTags, name, prefix, nil)
			return len(ids), err
		},
		func() (int, error) {
			ids, err := purgePrefix(ctx, st, imageStatus, name, prefix, nil)
			return len(ids), err
		},
		func() (int, error) {
			ids, err := purgePrefix(ctx, st, blobLinks, name, prefix, nil)
			return len(ids), err
		},
		func() (int, error) {
			ids, err := purgePrefix(ctx, st, referrers, name, prefix, nil)
			return len(ids), err
		},
		func() (int, error) {
			ids, err := purgePrefix(ctx, st, imageParents, name, prefix, nil)
			return len(ids), err
		},
		func() (int, error) {
			ids, err := purgePrefix(ctx, st, imageScans, name, prefix, nil)
			return len(ids), err
		},
		func() (int, error) {
			ids, err := purgePrefix(ctx, st, repoUploads, name, prefix, func(tx *store.Tx, id string) {
				store.Delete(tx, uploads, id[len(prefix):])
			})
			for _, id := range ids {
				s.cancelUpload(ctx, id[len(prefix):])
			}
			return len(ids), err
		},
	}
	for _, step := range steps {
		for {
			n, err := step()
			if errors.Is(err, errRecreated) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("purge repository %s: %w", name, err)
			}
			if n == 0 {
				break
			}
		}
	}
	return nil
}

// cancelUpload discards an upload's bytes, if the service has a blob
// store (best effort: the garbage collector removes abandoned uploads).
func (s *Service) cancelUpload(ctx context.Context, id string) {
	if s.cfg.Blobs != nil {
		_ = s.cfg.Blobs.Cancel(context.WithoutCancel(ctx), id)
	}
}

// purgePrefix deletes one batch of c's ids under prefix, in a transaction
// that checks that repository name is still absent, and returns the ids
// it deleted; also, if set, deletes the keys that go with an id in the
// same transaction (then batches are half of deleteBatch).
func purgePrefix[T any](ctx context.Context, st *store.Store, c store.Collection[T], name, prefix string, also func(tx *store.Tx, id string)) ([]string, error) {
	batch := deleteBatch
	if also != nil {
		batch = deleteBatch / 2
	}
	var ids []string
	err := st.View(ctx, func(tx *store.Tx) error {
		ids = ids[:0]
		return store.Scan(tx, c, prefix, "", false, func(id string, _ T) (bool, error) {
			ids = append(ids, id)
			return len(ids) < batch, nil
		})
	})
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	err = st.Update(ctx, func(tx *store.Tx) error {
		if _, err := store.Get(tx, repositories, name); err == nil {
			return errRecreated
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, id := range ids {
			store.Delete(tx, c, id)
			if also != nil {
				also(tx, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}
