package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types the registry accepts besides OCI's.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// manifest serves /v2/<name>/manifests/<reference>.
func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	var d digest.Digest
	var tag string
	if strings.Contains(rt.ref, ":") {
		var ok bool
		if d, ok = parseDigest(rt.ref); !ok {
			return digestInvalid(rt.ref)
		}
	} else if ValidTag(rt.ref) {
		tag = rt.ref
	} else {
		return &Error{Code: CodeManifestInvalid, Status: http.StatusBadRequest, Message: "invalid tag", Detail: map[string]string{"tag": truncate(rt.ref, 200)}}
	}
	switch r.Method {
	case http.MethodPut:
		return h.putManifest(w, r, rt.name, d, tag)
	case http.MethodDelete:
		var err error
		if tag != "" {
			err = h.cfg.Meta.DeleteTag(ctx, rt.name, tag)
		} else {
			err = h.cfg.Meta.DeleteManifest(ctx, rt.name, d)
		}
		if err != nil {
			return manifestErr(err, rt.ref)
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	if tag != "" {
		var err error
		if d, err = h.cfg.Meta.Resolve(ctx, rt.name, tag); err != nil {
			return manifestErr(err, tag)
		}
	}
	m, err := h.cfg.Meta.Manifest(ctx, rt.name, d)
	if err != nil {
		return manifestErr(err, rt.ref)
	}
	var rc io.ReadCloser
	if r.Method != http.MethodHead {
		if rc, err = h.cfg.Blobs.Open(ctx, m.Digest, 0); err != nil {
			return fmt.Errorf("open manifest %s of %s: %w", m.Digest, rt.name, err)
		}
		defer rc.Close()
	}
	hd := w.Header()
	hd.Set("Content-Type", m.MediaType)
	hd.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	hd.Set("Docker-Content-Digest", m.Digest.String())
	hd.Set("Etag", `"`+m.Digest.String()+`"`)
	w.WriteHeader(http.StatusOK)
	if rc == nil {
		return nil
	}
	if _, err := io.CopyN(w, rc, m.Size); err != nil {
		h.log.WarnContext(ctx, "registry manifest read failed", "digest", m.Digest, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

func manifestErr(err error, ref string) error {
	if errors.Is(err, ErrManifestUnknown) {
		return &Error{Code: CodeManifestUnknown, Status: http.StatusNotFound, Message: "manifest unknown", Detail: map[string]string{"reference": ref}}
	}
	return err
}

// rawManifest is what the registry reads of an image manifest or an index
// to check it and record its references.
type rawManifest struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// putManifest serves PUT /v2/<name>/manifests/<reference>: by tag, or by
// digest (then the body must hash to it) with optional ?tag= parameters.
func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, repo string, d digest.Digest, tag string) error {
	ctx := r.Context()
	limit := h.cfg.MaxManifestSize
	if r.ContentLength > limit {
		return errorf(CodeSizeInvalid, http.StatusRequestEntityTooLarge, "manifest larger than %d bytes", limit)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return errorf(CodeManifestInvalid, http.StatusBadRequest, "reading the manifest failed")
	}
	if int64(len(body)) > limit {
		return errorf(CodeSizeInvalid, http.StatusRequestEntityTooLarge, "manifest larger than %d bytes", limit)
	}
	tags := []string{}
	if tag != "" {
		tags = append(tags, tag)
		d = digest.SHA256.FromBytes(body)
	} else {
		if got := d.Algorithm().FromBytes(body); got != d {
			return &Error{Code: CodeDigestInvalid, Status: http.StatusBadRequest, Message: "manifest does not match its digest", Detail: map[string]string{"digest": d.String()}}
		}
		for _, t := range r.URL.Query()["tag"] {
			if !ValidTag(t) {
				return &Error{Code: CodeManifestInvalid, Status: http.StatusBadRequest, Message: "invalid tag", Detail: map[string]string{"tag": truncate(t, 200)}}
			}
			tags = append(tags, t)
		}
	}
	m, err := parseManifest(body, r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	m.Digest = d
	if err := h.checkReferences(ctx, repo, m); err != nil {
		return err
	}
	if err := h.storeBytes(ctx, d, body); err != nil {
		return fmt.Errorf("store manifest %s of %s: %w", d, repo, err)
	}
	if err := h.cfg.Meta.PutManifest(ctx, repo, m, tags...); err != nil {
		if errors.Is(err, ErrTagImmutable) {
			return h.immutableTag(ctx, repo, d, tags, err)
		}
		return err
	}
	hd := w.Header()
	if m.Subject != "" {
		hd.Set("OCI-Subject", m.Subject.String())
	}
	if tag == "" {
		for _, t := range tags {
			hd.Add("OCI-Tag", t)
		}
	}
	hd.Set("Location", "/v2/"+repo+"/manifests/"+d.String())
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// parseManifest checks a manifest's body against the spec and returns
// what the registry records of it (all but Digest).
func parseManifest(body []byte, contentType string) (Manifest, error) {
	invalid := func(format string, args ...any) error {
		return errorf(CodeManifestInvalid, http.StatusBadRequest, format, args...)
	}
	var raw rawManifest
	if err := json.Unmarshal(body, &raw); err != nil {
		return Manifest{}, invalid("manifest is not valid JSON")
	}
	ct, _, _ := strings.Cut(contentType, ";")
	ct = strings.TrimSpace(ct)
	if raw.MediaType != "" && ct != "" && raw.MediaType != ct {
		return Manifest{}, invalid("manifest mediaType %q does not match Content-Type %q", truncate(raw.MediaType, 100), truncate(ct, 100))
	}
	if raw.Manifests != nil && (raw.Layers != nil || raw.Config != nil) {
		return Manifest{}, invalid("manifest has both manifests and layers/config")
	}
	mt := raw.MediaType
	if mt == "" {
		mt = ct
	}
	if mt == "" {
		if raw.Manifests != nil {
			mt = ocispec.MediaTypeImageIndex
		} else {
			mt = ocispec.MediaTypeImageManifest
		}
	}
	if raw.SchemaVersion == nil || *raw.SchemaVersion != 2 {
		return Manifest{}, invalid("schemaVersion must be 2")
	}
	m := Manifest{MediaType: mt, Size: int64(len(body)), ArtifactType: raw.ArtifactType, Annotations: raw.Annotations}
	check := func(desc ocispec.Descriptor) error {
		if _, ok := parseDigest(desc.Digest.String()); !ok || desc.Size < 0 {
			return invalid("invalid descriptor digest %q", truncate(desc.Digest.String(), 100))
		}
		return nil
	}
	switch mt {
	case ocispec.MediaTypeImageManifest, MediaTypeDockerManifest:
		if raw.Config == nil {
			return Manifest{}, invalid("image manifest has no config")
		}
		if raw.Manifests != nil {
			return Manifest{}, invalid("image manifest has manifests")
		}
		if err := check(*raw.Config); err != nil {
			return Manifest{}, err
		}
		m.Blobs = append(m.Blobs, raw.Config.Digest)
		for _, l := range raw.Layers {
			if err := check(l); err != nil {
				return Manifest{}, err
			}
			if !nondistributable(l) {
				m.Blobs = append(m.Blobs, l.Digest)
			}
		}
		if m.ArtifactType == "" {
			m.ArtifactType = raw.Config.MediaType
		}
	case ocispec.MediaTypeImageIndex, MediaTypeDockerManifestList:
		if raw.Layers != nil || raw.Config != nil {
			return Manifest{}, invalid("index has layers or config")
		}
		for _, c := range raw.Manifests {
			if err := check(c); err != nil {
				return Manifest{}, err
			}
			m.Manifests = append(m.Manifests, c.Digest)
		}
	default:
		return Manifest{}, invalid("unsupported manifest media type %q", truncate(mt, 100))
	}
	if raw.Subject != nil {
		if err := check(*raw.Subject); err != nil {
			return Manifest{}, err
		}
		m.Subject = raw.Subject.Digest
	}
	return m, nil
}

// nondistributable reports whether a layer is one a registry need not hold
// (foreign layers, fetched from their URLs).
func nondistributable(d ocispec.Descriptor) bool {
	return strings.Contains(d.MediaType, "nondistributable") || strings.Contains(d.MediaType, "foreign")
}

// checkReferences returns MANIFEST_BLOB_UNKNOWN unless every blob and
// manifest m references is in repo (a subject need not be).
func (h *Handler) checkReferences(ctx context.Context, repo string, m Manifest) error {
	unknown := func(d digest.Digest) error {
		return &Error{Code: CodeManifestBlobUnknown, Status: http.StatusBadRequest, Message: "manifest references a blob unknown to the repository", Detail: map[string]string{"digest": d.String()}}
	}
	for _, d := range m.Blobs {
		ok, err := h.cfg.Meta.BlobLinked(ctx, repo, d)
		if err != nil {
			return err
		}
		if !ok {
			return unknown(d)
		}
	}
	for _, d := range m.Manifests {
		if _, err := h.cfg.Meta.Manifest(ctx, repo, d); errors.Is(err, ErrManifestUnknown) {
			return unknown(d)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// storeBytes commits b as blob d (already checked against d). It commits
// even when the store has d already: the commit refreshes the blob's
// Committed time, which keeps the garbage collector from deleting an old,
// unreferenced copy before the manifest is recorded (a manifest is at
// most MaxManifestSize bytes: the rewrite is cheap).
func (h *Handler) storeBytes(ctx context.Context, d digest.Digest, b []byte) error {
	up, err := h.cfg.Blobs.Create(ctx, newID())
	if err != nil {
		return err
	}
	if _, err := io.Copy(up, bytes.NewReader(b)); err != nil {
		_ = up.Close()
		_ = h.cfg.Blobs.Cancel(context.WithoutCancel(ctx), up.ID())
		return err
	}
	_, err = up.Commit(ctx, d)
	return err
}

// immutableTag is ECR's reply to a push that would move an immutable tag:
// TAG_INVALID (400) naming the tag, worded as ECR words it.
func (h *Handler) immutableTag(ctx context.Context, repo string, d digest.Digest, tags []string, err error) error {
	tag := ""
	for _, t := range tags {
		if cur, rerr := h.cfg.Meta.Resolve(ctx, repo, t); rerr == nil && cur != d {
			tag = t
			break
		}
	}
	if tag == "" {
		return err
	}
	return &Error{
		Code:    CodeTagInvalid,
		Status:  http.StatusBadRequest,
		Message: fmt.Sprintf("The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the tag is immutable.", tag, repo),
	}
}
