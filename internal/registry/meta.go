package registry

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Meta is the registry's metadata: which repositories exist, which blobs
// each may read, its manifests and tags, and the upload sessions in
// progress. The blob bytes (manifests' included) live in a blob.Store,
// stored once whatever the number of repositories linking them.
//
// Repositories are made by the ECR API (CreateRepository), never by a push:
// every method taking a repository returns ErrNameUnknown when it does not
// exist. Methods are safe for concurrent use and honour ctx, which is the
// request's: it carries the caller's principal and region (package api), so
// an implementation can scope repositories by region. MemMeta is the
// in-memory implementation; the ECR service implements it on etcd; both
// pass registrytest.Run.
type Meta interface {
	// RepositoryExists reports whether repo exists (an error is a failure
	// to know, not absence).
	RepositoryExists(ctx context.Context, repo string) (bool, error)
	// Repositories lists repository names in lexical order, after last
	// (exclusive; "" from the start), at most n.
	Repositories(ctx context.Context, last string, n int) ([]string, error)

	// LinkBlob makes blob d readable in repo (after a push or a mount).
	LinkBlob(ctx context.Context, repo string, d digest.Digest) error
	// BlobLinked reports whether blob d is readable in repo.
	BlobLinked(ctx context.Context, repo string, d digest.Digest) (bool, error)
	// UnlinkBlob makes blob d unreadable in repo (ErrBlobUnknown when it
	// was not linked). The bytes stay for the garbage collector to judge.
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error

	// PutManifest records manifest m in repo and points tags at it (a tag
	// naming another manifest moves, or ErrTagImmutable when the
	// repository's tags are immutable; then nothing is changed). Putting a
	// manifest again is not an error.
	PutManifest(ctx context.Context, repo string, m Manifest, tags ...string) error
	// Manifest returns the manifest d of repo (ErrManifestUnknown).
	Manifest(ctx context.Context, repo string, d digest.Digest) (Manifest, error)
	// Resolve returns the digest tag names in repo (ErrManifestUnknown).
	Resolve(ctx context.Context, repo, tag string) (digest.Digest, error)
	// DeleteManifest removes manifest d from repo with the tags naming it
	// (ErrManifestUnknown).
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
	// DeleteTag removes tag from repo, leaving its manifest
	// (ErrManifestUnknown).
	DeleteTag(ctx context.Context, repo, tag string) error
	// Tags lists repo's tags in lexical order, after last (exclusive; ""
	// from the start), at most n.
	Tags(ctx context.Context, repo, last string, n int) ([]string, error)
	// Referrers lists the manifests of repo whose subject is d, filtered
	// by artifactType when it is not empty, as descriptors (mediaType,
	// digest, size, artifactType, annotations), ordered by digest.
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error)

	// CreateUpload records a new upload session (ErrUploadExists).
	CreateUpload(ctx context.Context, u UploadSession) error
	// Upload returns the session id (ErrUploadUnknown).
	Upload(ctx context.Context, id string) (UploadSession, error)
	// DeleteUpload forgets session id (ErrUploadUnknown).
	DeleteUpload(ctx context.Context, id string) error
}

// Manifest is what the registry records of a manifest; its bytes are blob
// Digest in the blob store.
type Manifest struct {
	Digest    digest.Digest
	MediaType string
	Size      int64
	// ArtifactType is the manifest's artifactType, or for an image manifest
	// without one its config's mediaType (what the referrers API reports).
	ArtifactType string
	// Subject is the manifest's subject, if any.
	Subject     digest.Digest
	Annotations map[string]string
	// Blobs are the config and layers an image manifest references (those
	// the registry must hold); Manifests the manifests an index references.
	Blobs     []digest.Digest
	Manifests []digest.Digest
	// Pushed is when the manifest was first put.
	Pushed time.Time
}

// Descriptor is m's descriptor as the referrers API lists it.
func (m Manifest) Descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:    m.MediaType,
		Digest:       m.Digest,
		Size:         m.Size,
		ArtifactType: m.ArtifactType,
		Annotations:  m.Annotations,
	}
}

// UploadSession is an upload in progress: its id (the blob store's upload
// id too), the repository it was started in (it cannot be used in another)
// and when.
type UploadSession struct {
	ID      string
	Repo    string
	Started time.Time
}
