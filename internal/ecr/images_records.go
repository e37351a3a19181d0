package ecr

import (
	"slices"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// Image metadata in etcd, under the regional namespace
// "/berth/<account>/<region>". Every id starts with "<repository>@": a
// repository name has no "@", so the prefix of "team" never matches
// "team/app"'s keys, and everything a repository owns is found (and
// purged) by prefix.
//
//	ecr/images        <repo>@<digest>                  imageRecord: the manifest and what DescribeImages shows
//	ecr/image-tags    <repo>@<tag>                     tagRecord: the digest a tag names (Tags pages by key)
//	ecr/image-status  <repo>@tagged@<digest>           (or @untagged@) an index, so that tagStatus filters
//	                                                   read only the images they answer
//	ecr/blob-links    <repo>@<digest>                  linkRecord: blob readable in the repository
//	ecr/referrers     <repo>@<subject>@<digest>        referrerRecord: the referrers API's descriptor
//	ecr/image-parents <repo>@<image>@<index>           the indexes listing an image (BatchDeleteImage's
//	                                                   ImageReferencedByManifestList)
//	ecr/uploads       <upload id>                      uploadRecord: a session (the registry looks it up by id)
//	ecr/repo-uploads  <repo>@<upload id>               the repository's sessions, to purge them
//
// A write that changes an image changes its record, its tags and its
// status entry in one transaction that also reads the repository record,
// so a push racing DeleteRepository either lands first (and is purged) or
// fails with the repository gone.

// imageRecord is an image (a manifest) of a repository.
type imageRecord struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType,omitempty"`
	// ArtifactType is registry.Manifest's: the artifactType, or an image
	// manifest's config mediaType (ECR's artifactMediaType).
	ArtifactType string `json:"artifactType,omitempty"`
	// ManifestSize is the manifest's own size in bytes.
	ManifestSize int64 `json:"manifestSize,omitempty"`
	// Size is ECR's imageSizeInBytes: the sum of an image manifest's
	// layers' sizes, an index's largest child's.
	Size        int64             `json:"size,omitempty"`
	Subject     string            `json:"subject,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Blobs       []string          `json:"blobs,omitempty"`
	Manifests   []string          `json:"manifests,omitempty"`
	// Tags are the tags naming the image, sorted.
	Tags     []string  `json:"tags,omitempty"`
	PushedAt time.Time `json:"pushedAt,omitzero"`
	// LastPulledAt is ECR's lastRecordedPullTime: refreshed on a pull at
	// most every pullRecordEvery, so pulls do not each cost a write.
	LastPulledAt time.Time `json:"lastPulledAt,omitzero"`
}

// tagged reports whether the image has a tag.
func (r imageRecord) tagged() bool { return len(r.Tags) > 0 }

// addTag adds tag to the sorted tag list (no duplicates).
func (r *imageRecord) addTag(tag string) {
	if i, found := slices.BinarySearch(r.Tags, tag); !found {
		r.Tags = slices.Insert(slices.Clone(r.Tags), i, tag)
	}
}

// removeTag removes tag from the tag list.
func (r *imageRecord) removeTag(tag string) {
	if i, found := slices.BinarySearch(r.Tags, tag); found {
		r.Tags = slices.Delete(slices.Clone(r.Tags), i, i+1)
	}
}

// tagRecord is a tag of a repository: the digest it names.
type tagRecord struct {
	Digest string `json:"digest"`
}

// statusRecord is an entry of the tagged/untagged index.
type statusRecord struct{}

// linkRecord is a blob readable in a repository.
type linkRecord struct {
	LinkedAt time.Time `json:"linkedAt,omitzero"`
}

// referrerRecord is a manifest with a subject, as the referrers API lists
// it.
type referrerRecord struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// uploadRecord is an upload session.
type uploadRecord struct {
	ID      string    `json:"id"`
	Repo    string    `json:"repo"`
	Started time.Time `json:"started"`
}

var (
	images          = store.NewCollection[imageRecord]("ecr/images")
	imageTags       = store.NewCollection[tagRecord]("ecr/image-tags")
	imageStatus     = store.NewCollection[statusRecord]("ecr/image-status")
	blobLinks       = store.NewCollection[linkRecord]("ecr/blob-links")
	referrers       = store.NewCollection[referrerRecord]("ecr/referrers")
	imageParents    = store.NewCollection[statusRecord]("ecr/image-parents")
	uploads         = store.NewCollection[uploadRecord]("ecr/uploads")
	repoUploads     = store.NewCollection[statusRecord]("ecr/repo-uploads")
	pullRecordEvery = time.Hour
)

// imagePrefix is the id prefix of everything repository repo owns in the
// per-repository collections.
func imagePrefix(repo string) string { return repo + "@" }

// imageID is the id of image d of repo (in images and blobLinks too).
func imageID(repo, d string) string { return repo + "@" + d }

// tagID is the id of tag of repo.
func tagID(repo, tag string) string { return repo + "@" + tag }

// statusPrefix is the id prefix of repo's tagged (or untagged) images.
func statusPrefix(repo string, tagged bool) string {
	if tagged {
		return repo + "@tagged@"
	}
	return repo + "@untagged@"
}

// statusID is image d's entry in the tagged/untagged index.
func statusID(repo string, tagged bool, d string) string { return statusPrefix(repo, tagged) + d }

// referrerPrefix is the id prefix of the referrers of subject in repo.
func referrerPrefix(repo, subject string) string { return repo + "@" + subject + "@" }

// parentPrefix is the id prefix of the indexes of repo that list image d.
func parentPrefix(repo, d string) string { return repo + "@" + d + "@" }

// setStatus moves image d's index entry when its tagged state changes
// (was is nil for a new image, now nil for a deleted one).
func setStatus(tx *store.Tx, repo, d string, was, now *bool) {
	if was != nil && now != nil && *was == *now {
		return
	}
	if was != nil {
		store.Delete(tx, imageStatus, statusID(repo, *was, d))
	}
	if now != nil {
		store.Put(tx, imageStatus, statusID(repo, *now, d), statusRecord{})
	}
}
