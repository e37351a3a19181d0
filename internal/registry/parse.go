package registry

import "github.com/opencontainers/go-digest"

// ParseManifest checks a manifest's body as a push does (mediaType, which
// must agree with mediaType when both are set; schemaVersion 2; an image
// manifest's config and layers or an index's manifests; descriptors) and
// returns what Meta records of it, Digest left empty. Its error is an
// *Error (MANIFEST_INVALID): for the ECR API's PutImage, which records
// images through the same Meta.
func ParseManifest(body []byte, mediaType string) (Manifest, error) {
	return parseManifest(body, mediaType)
}

// ParseDigest returns s as a digest if it is well formed and of an
// algorithm the registry verifies.
func ParseDigest(s string) (digest.Digest, bool) { return parseDigest(s) }
