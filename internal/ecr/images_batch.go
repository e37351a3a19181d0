package ecr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/store"
)

// resolved is one image id of a batch call: the image it names, or why
// it names none.
type resolved struct {
	id      ecrtypes.ImageIdentifier
	img     imageRecord
	failure *ecrtypes.ImageFailure
}

// Failure reasons, as ECR words them.
const (
	reasonNotFound    = "Requested image not found"
	reasonMissing     = "Invalid request parameters: both tag and digest cannot be null"
	reasonBadDigest   = "Invalid image digest"
	reasonBadTag      = "Invalid image tag"
	reasonTagMismatch = "Invalid image tag and digest combination"
)

// resolveImages finds the images ids name in repo, in two reads whatever
// their number: the tags, then the images.
func resolveImages(tx *store.Tx, repo string, ids []ecrtypes.ImageIdentifier) ([]resolved, error) {
	out := make([]resolved, len(ids))
	var tagIDs []string
	for i, id := range ids {
		out[i].id = id
		fail := func(code, reason string) {
			f := failure(id, code, reason)
			out[i].failure = &f
		}
		switch {
		case id.ImageDigest == nil && id.ImageTag == nil:
			fail(ecrtypes.ImageFailureCodeMissingDigestAndTag, reasonMissing)
		case id.ImageDigest != nil && !validDigest(*id.ImageDigest):
			fail(ecrtypes.ImageFailureCodeInvalidImageDigest, reasonBadDigest)
		case id.ImageTag != nil && !registry.ValidTag(*id.ImageTag):
			fail(ecrtypes.ImageFailureCodeInvalidImageTag, reasonBadTag)
		case id.ImageTag != nil:
			tagIDs = append(tagIDs, tagID(repo, *id.ImageTag))
		}
	}
	tags, err := store.GetMany(tx, imageTags, tagIDs)
	if err != nil {
		return nil, fmt.Errorf("resolve images of %s: %w", repo, err)
	}
	digests := make([]string, len(ids))
	var imageIDs []string
	for i, r := range out {
		if r.failure != nil {
			continue
		}
		d := aws.ToString(r.id.ImageDigest)
		if r.id.ImageTag != nil {
			t, ok := tags[tagID(repo, *r.id.ImageTag)]
			switch {
			case !ok:
				f := failure(r.id, ecrtypes.ImageFailureCodeImageNotFound, reasonNotFound)
				out[i].failure = &f
				continue
			case d != "" && d != t.Digest:
				f := failure(r.id, ecrtypes.ImageFailureCodeImageTagDoesNotMatchDigest, reasonTagMismatch)
				out[i].failure = &f
				continue
			}
			d = t.Digest
		}
		digests[i] = d
		imageIDs = append(imageIDs, imageID(repo, d))
	}
	found, err := store.GetMany(tx, images, imageIDs)
	if err != nil {
		return nil, fmt.Errorf("resolve images of %s: %w", repo, err)
	}
	for i, r := range out {
		if r.failure != nil {
			continue
		}
		img, ok := found[imageID(repo, digests[i])]
		if !ok {
			f := failure(r.id, ecrtypes.ImageFailureCodeImageNotFound, reasonNotFound)
			out[i].failure = &f
			continue
		}
		out[i].img = img
	}
	return out, nil
}

// validDigest reports whether s is a digest the registry verifies.
func validDigest(s string) bool {
	_, ok := registry.ParseDigest(s)
	return ok
}

// BatchGetImage returns the manifests of the images imageIds name, each
// with a failure instead when it names none, or when its media type is
// not among acceptedMediaTypes (Berth does not convert manifests between
// formats, as ECR does to Docker schema 1). It records the pulls.
func (s *Service) BatchGetImage(ctx context.Context, in *ecrtypes.BatchGetImageRequest) (*ecrtypes.BatchGetImageResponse, error) {
	st, err := s.imageStore(ctx, in.RegistryId)
	if err != nil {
		return nil, err
	}
	if s.cfg.Blobs == nil {
		return nil, blobsMissing("BatchGetImage")
	}
	name := aws.ToString(in.RepositoryName)
	var found []resolved
	err = st.View(ctx, func(tx *store.Tx) error {
		if _, err := s.getRepository(tx, name); err != nil {
			return err
		}
		var err error
		found, err = resolveImages(tx, name, in.ImageIds)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &ecrtypes.BatchGetImageResponse{Images: []ecrtypes.Image{}, Failures: []ecrtypes.ImageFailure{}}
	pulled := map[string]bool{}
	for _, r := range found {
		if r.failure != nil {
			out.Failures = append(out.Failures, *r.failure)
			continue
		}
		if len(in.AcceptedMediaTypes) > 0 && !slices.Contains(in.AcceptedMediaTypes, r.img.MediaType) {
			out.Failures = append(out.Failures, failure(r.id, ecrtypes.ImageFailureCodeImageNotFound,
				reasonNotFound+": its manifest media type "+r.img.MediaType+" is not among the accepted media types"))
			continue
		}
		body, err := s.readManifest(ctx, r.img)
		if errors.Is(err, blob.ErrNotFound) {
			out.Failures = append(out.Failures, failure(r.id, ecrtypes.ImageFailureCodeImageNotFound,
				reasonNotFound+": its manifest is missing from the blob store"))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("batch get image %s in %s: %w", r.img.Digest, name, err)
		}
		id := ecrtypes.ImageIdentifier{ImageDigest: aws.String(r.img.Digest), ImageTag: r.id.ImageTag}
		out.Images = append(out.Images, ecrtypes.Image{
			RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name), ImageId: &id,
			ImageManifest: aws.String(string(body)), ImageManifestMediaType: aws.String(r.img.MediaType),
		})
		if !pulled[r.img.Digest] {
			pulled[r.img.Digest] = true
			s.recordPull(ctx, name, r.img)
		}
	}
	return out, nil
}

// readManifest reads img's manifest bytes from the blob store.
func (s *Service) readManifest(ctx context.Context, img imageRecord) ([]byte, error) {
	rc, err := s.cfg.Blobs.Open(ctx, digest.Digest(img.Digest), 0)
	if err != nil {
		return nil, fmt.Errorf("open manifest %s: %w", img.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestRead+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", img.Digest, err)
	}
	return b, nil
}

// BatchDeleteImage deletes images, each in its own transaction: by tag it
// removes the tag, and the image with its last tag; by digest the image
// with all its tags (by both, the tag must name the digest). Ids that
// name no image come back as failures.
func (s *Service) BatchDeleteImage(ctx context.Context, in *ecrtypes.BatchDeleteImageRequest) (*ecrtypes.BatchDeleteImageResponse, error) {
	st, err := s.imageStore(ctx, in.RegistryId)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	if _, err := s.viewRepository(ctx, in.RegistryId, name); err != nil {
		return nil, err
	}
	out := &ecrtypes.BatchDeleteImageResponse{ImageIds: []ecrtypes.ImageIdentifier{}, Failures: []ecrtypes.ImageFailure{}}
	for _, id := range in.ImageIds {
		deleted, fail, err := s.deleteImage(ctx, st, name, id)
		if err != nil {
			return nil, err
		}
		if fail != nil {
			out.Failures = append(out.Failures, *fail)
		}
		out.ImageIds = append(out.ImageIds, deleted...)
	}
	return out, nil
}

// deleteImage deletes what id names in repo and returns the ids deleted,
// or the failure.
func (s *Service) deleteImage(ctx context.Context, st *store.Store, repo string, id ecrtypes.ImageIdentifier) ([]ecrtypes.ImageIdentifier, *ecrtypes.ImageFailure, error) {
	return s.deleteImageIf(ctx, st, repo, id, nil)
}

// errImageChanged stops a deletion whose image is no longer the one its
// caller decided on.
var errImageChanged = errors.New("image changed since it was chosen for deletion")

// deleteImageIf is deleteImage, which, by digest and when unchanged is
// set, first checks in its first transaction that unchanged(image) holds,
// and otherwise deletes nothing and returns errImageChanged (wrapped): the
// lifecycle controller deletes what it planned only if the image still
// has the tags it planned with.
func (s *Service) deleteImageIf(ctx context.Context, st *store.Store, repo string, id ecrtypes.ImageIdentifier, unchanged func(imageRecord) bool) ([]ecrtypes.ImageIdentifier, *ecrtypes.ImageFailure, error) {
	var all, deleted []ecrtypes.ImageIdentifier
	var fail *ecrtypes.ImageFailure
	var gone *imageRecord // the image deleted, when one was
	for first := true; ; first = false {
		done := true
		err := st.Update(ctx, func(tx *store.Tx) error {
			deleted, fail, done, gone = nil, nil, true, nil
			if _, err := s.getRepository(tx, repo); err != nil {
				return err
			}
			found, err := resolveImages(tx, repo, []ecrtypes.ImageIdentifier{id})
			if err != nil {
				return err
			}
			r := found[0]
			if r.failure != nil {
				if !first && id.ImageTag == nil && aws.ToString(r.failure.FailureCode) == ecrtypes.ImageFailureCodeImageNotFound {
					return nil // gone between two steps of a deletion by digest
				}
				fail = r.failure
				return nil
			}
			img := r.img
			if id.ImageTag != nil {
				// By tag: the tag goes, and the image if it was its last.
				if img, err = untag(tx, repo, *id.ImageTag); err != nil {
					return err
				}
				deleted = append(deleted, ecrtypes.ImageIdentifier{ImageDigest: aws.String(img.Digest), ImageTag: id.ImageTag})
				if img.tagged() {
					return nil
				}
				// Its last tag: the image goes too, unless an index lists it
				// (then it stays, untagged, as the index needs it).
				if parents, err := referencedBy(tx, repo, img.Digest); err != nil || len(parents) > 0 {
					return err
				}
				deleteImageStep(tx, repo, img)
				gone = &img
				return nil
			}
			if first && unchanged != nil && !unchanged(img) {
				return errImageChanged
			}
			if first {
				parents, err := referencedBy(tx, repo, img.Digest)
				if err != nil {
					return err
				}
				if len(parents) > 0 {
					f := failure(id, ecrtypes.ImageFailureCodeImageReferencedByManifestList,
						"Requested image referenced by manifest list: ["+strings.Join(parents, ", ")+"]")
					fail = &f
					return nil
				}
			}
			for _, t := range img.Tags[:min(len(img.Tags), tagBatch)] {
				deleted = append(deleted, ecrtypes.ImageIdentifier{ImageDigest: aws.String(img.Digest), ImageTag: aws.String(t)})
			}
			if !img.tagged() {
				deleted = append(deleted, ecrtypes.ImageIdentifier{ImageDigest: aws.String(img.Digest)})
			}
			if done = deleteImageStep(tx, repo, img); done {
				gone = &img
			}
			return nil
		})
		if err != nil && !errors.Is(err, registry.ErrManifestUnknown) {
			return nil, nil, fmt.Errorf("delete image %s in %s: %w", idString(id), repo, err)
		}
		if err != nil {
			f := failure(id, ecrtypes.ImageFailureCodeImageNotFound, reasonNotFound)
			return nil, &f, nil
		}
		all = append(all, deleted...)
		if gone != nil {
			s.unlinkParents(ctx, st, repo, *gone)
		}
		if done || fail != nil {
			return all, fail, nil
		}
	}
}
