package ecr

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/internal/store"
)

// The image-parents index says which indexes of a repository list an
// image, so that BatchDeleteImage refuses, as ECR does, to delete an image
// a manifest list references (ImageReferencedByManifestList). An index
// may list more images than one transaction may write, so its entries are
// written in batches before the index's record, and removed after it; an
// entry whose index is absent (a put that failed, a removal cut short) is
// ignored by the check.

// maxParentCheck bounds the entries one check reads.
const maxParentCheck = 64

// linkParents records that index img of repo lists its manifests.
func (s *Service) linkParents(ctx context.Context, st *store.Store, repo string, img imageRecord) error {
	for start := 0; start < len(img.Manifests); start += deleteBatch {
		batch := img.Manifests[start:min(start+deleteBatch, len(img.Manifests))]
		err := st.Update(ctx, func(tx *store.Tx) error {
			if _, err := repoFor(tx, repo); err != nil {
				return err
			}
			for _, c := range batch {
				store.Put(tx, imageParents, parentPrefix(repo, c)+img.Digest, statusRecord{})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("record the images of index %s in %s: %w", img.Digest, repo, err)
		}
	}
	return nil
}

// unlinkParents removes index img's entries once it is deleted (a failure
// is logged: the entries left are ignored).
func (s *Service) unlinkParents(ctx context.Context, st *store.Store, repo string, img imageRecord) {
	for start := 0; start < len(img.Manifests); start += deleteBatch {
		batch := img.Manifests[start:min(start+deleteBatch, len(img.Manifests))]
		err := st.Update(ctx, func(tx *store.Tx) error {
			for _, c := range batch {
				store.Delete(tx, imageParents, parentPrefix(repo, c)+img.Digest)
			}
			return nil
		})
		if err != nil {
			s.log.WarnContext(ctx, "forget the images of a deleted index", "repository", repo, "index", img.Digest, "err", err)
			return
		}
	}
}

// referencedBy returns the indexes of repo that list image d, read in tx
// (the indexes' records tracked: one put meanwhile makes tx conflict).
func referencedBy(tx *store.Tx, repo, d string) ([]string, error) {
	prefix := parentPrefix(repo, d)
	var ids []string
	err := store.Scan(tx, imageParents, prefix, "", false, func(id string, _ statusRecord) (bool, error) {
		ids = append(ids, imageID(repo, strings.TrimPrefix(id, prefix)))
		return len(ids) < maxParentCheck, nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexes listing %s in %s: %w", d, repo, err)
	}
	found, err := store.GetMany(tx, images, ids)
	if err != nil {
		return nil, fmt.Errorf("indexes listing %s in %s: %w", d, repo, err)
	}
	var out []string
	for _, id := range ids {
		if p, ok := found[id]; ok {
			out = append(out, p.Digest)
		}
	}
	return out, nil
}
