package ecr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/store"
)

// PutImage records an image from its manifest, as a registry push of the
// manifest does (through the same records, so the registry serves it):
// the manifest is checked as the registry checks it, its layers (and an
// index's images) must be in the repository, imageDigest, when given,
// must be the manifest's. A tag that already names the image, or no tag
// for an image already there, is ImageAlreadyExistsException; an
// immutable tag naming another image ImageTagAlreadyExistsException.
func (s *Service) PutImage(ctx context.Context, in *ecrtypes.PutImageRequest) (*ecrtypes.PutImageResponse, error) {
	st, err := s.imageStore(ctx, in.RegistryId)
	if err != nil {
		return nil, err
	}
	if s.cfg.Blobs == nil {
		return nil, blobsMissing("PutImage")
	}
	name := aws.ToString(in.RepositoryName)
	body := []byte(aws.ToString(in.ImageManifest))
	tag := aws.ToString(in.ImageTag)
	if in.ImageTag != nil && !registry.ValidTag(tag) {
		return nil, awserr.InvalidParameter("%s", "Invalid parameter at 'imageTag' failed to satisfy constraint: 'must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}'")
	}
	d := digest.SHA256.FromBytes(body)
	if in.ImageDigest != nil {
		want, ok := registry.ParseDigest(*in.ImageDigest)
		if !ok {
			return nil, awserr.InvalidParameter("%s", "Invalid parameter at 'imageDigest' failed to satisfy constraint: 'must be a valid digest'")
		}
		if d = want.Algorithm().FromBytes(body); d != want {
			return nil, awserr.Newf(ecrtypes.ErrCodeImageDigestDoesNotMatchException, "%s",
				"Provided image digest '"+want.String()+"' does not match the calculated digest '"+d.String()+"'")
		}
	}
	m, err := registry.ParseManifest(body, aws.ToString(in.ImageManifestMediaType))
	if err != nil {
		var re *registry.Error
		if errors.As(err, &re) {
			return nil, awserr.InvalidParameter("%s", "Invalid parameter at 'imageManifest' failed to satisfy constraint: '"+re.Message+"'")
		}
		return nil, err
	}
	m.Digest = d
	var size int64
	if len(m.Manifests) == 0 {
		size = layersSize(body)
	}
	img := recordFrom(m, size)
	if err := s.sizeIndex(ctx, name, &img); err != nil {
		return nil, err
	}
	var tags []string
	if tag != "" {
		tags = []string{tag}
	}
	var rec repoRecord
	put := func(tx *store.Tx, write bool) error {
		var err error
		rec, err = s.getRepository(tx, name)
		if err != nil {
			return err
		}
		if err := s.checkPut(tx, name, rec, img, tag, !write); err != nil {
			return err
		}
		if !write {
			return nil
		}
		return putImage(tx, name, rec, img, tags, s.now())
	}
	// Checked first, so that a refused put stores no bytes; then the bytes,
	// then the records, whose transaction checks again what it decides on
	// (the tag and the image) but not the references, which may be more
	// than a transaction can read: a reference deleted meanwhile dangles,
	// as it does after a registry push (the garbage collector's concern).
	if err := st.View(ctx, func(tx *store.Tx) error { return put(tx, false) }); err != nil {
		return nil, err
	}
	if err := s.storeBytes(ctx, d, body); err != nil {
		return nil, fmt.Errorf("put image %s in %s: %w", d, name, err)
	}
	if err := s.linkParents(ctx, st, name, img); err != nil {
		return nil, err
	}
	if err := st.Update(ctx, func(tx *store.Tx) error { return put(tx, true) }); err != nil {
		return nil, err
	}
	s.scanOnPush(ctx, st, name, rec, img)
	return &ecrtypes.PutImageResponse{Image: &ecrtypes.Image{
		RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name),
		ImageId:       &ecrtypes.ImageIdentifier{ImageDigest: aws.String(d.String()), ImageTag: in.ImageTag},
		ImageManifest: in.ImageManifest, ImageManifestMediaType: aws.String(m.MediaType),
	}}, nil
}

// checkPut refuses, in ECR's words, a put of img (tagged tag, if not
// empty) in repo: missing layers or images (when refs), an image already
// there, an immutable tag naming another image.
func (s *Service) checkPut(tx *store.Tx, repo string, rec repoRecord, img imageRecord, tag string, refs bool) error {
	if refs {
		if err := s.checkRefs(tx, repo, img); err != nil {
			return err
		}
	}
	if tag == "" {
		if _, err := store.Get(tx, images, imageID(repo, img.Digest)); err == nil {
			return s.imageAlreadyExists(repo, img.Digest, "")
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("put image %s in %s: %w", img.Digest, repo, err)
		}
		return nil
	}
	cur, err := getTag(tx, repo, tag)
	switch {
	case errors.Is(err, registry.ErrManifestUnknown):
		return nil
	case err != nil:
		return err
	case cur.Digest == img.Digest:
		return s.imageAlreadyExists(repo, img.Digest, tag)
	case immutable(rec):
		return imageTagAlreadyExists(repo, tag)
	}
	return nil
}

// checkRefs answers LayersNotFoundException or
// ReferencedImagesNotFoundException unless every blob and image img
// references is in repo.
func (s *Service) checkRefs(tx *store.Tx, repo string, img imageRecord) error {
	missing := func(c store.Collection[linkRecord], ds []string) ([]string, error) {
		ids := make([]string, len(ds))
		for i, d := range ds {
			ids[i] = imageID(repo, d)
		}
		found, err := store.GetMany(tx, c, ids)
		if err != nil {
			return nil, err
		}
		var out []string
		for i, id := range ids {
			if _, ok := found[id]; !ok {
				out = append(out, ds[i])
			}
		}
		return out, nil
	}
	if gone, err := missing(blobLinks, img.Blobs); err != nil {
		return fmt.Errorf("put image %s in %s: %w", img.Digest, repo, err)
	} else if len(gone) > 0 {
		return s.layersNotFound(repo, gone)
	}
	if len(img.Manifests) > 0 {
		ids := make([]string, len(img.Manifests))
		for i, d := range img.Manifests {
			ids[i] = imageID(repo, d)
		}
		found, err := store.GetMany(tx, images, ids)
		if err != nil {
			return fmt.Errorf("put image %s in %s: %w", img.Digest, repo, err)
		}
		var gone []string
		for i, id := range ids {
			if _, ok := found[id]; !ok {
				gone = append(gone, img.Manifests[i])
			}
		}
		if len(gone) > 0 {
			return s.referencedImagesNotFound(repo, gone)
		}
	}
	return nil
}

// storeBytes commits b as blob d. It commits even when the store has d
// already: the commit refreshes the blob's Committed time, which keeps
// GCPass from deleting an old, unreferenced copy before the image is
// recorded (a manifest is small: the rewrite is cheap).
func (s *Service) storeBytes(ctx context.Context, d digest.Digest, b []byte) error {
	up, err := s.cfg.Blobs.Create(ctx, newUploadID())
	if err != nil {
		return err
	}
	if _, err := io.Copy(up, bytes.NewReader(b)); err != nil {
		_ = up.Close()
		_ = s.cfg.Blobs.Cancel(context.WithoutCancel(ctx), up.ID())
		return err
	}
	_, err = up.Commit(ctx, d)
	return err
}
