package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/opencontainers/go-digest"
)

// startUpload serves POST /v2/<name>/blobs/uploads/: a cross-repository
// mount (?mount=&from=), a monolithic upload (?digest=), or the start of a
// session (202 and its Location).
func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	q := r.URL.Query()
	if m := q.Get("mount"); m != "" {
		d, ok := parseDigest(m)
		if !ok {
			return digestInvalid(m)
		}
		mounted, err := h.mount(r, rt.name, q.Get("from"), d)
		if err != nil {
			return err
		}
		if mounted {
			return created(w, rt.name, d)
		}
		// Not mountable: the client uploads instead, as the spec says.
	} else if s := q.Get("digest"); s != "" {
		d, ok := parseDigest(s)
		if !ok {
			return digestInvalid(s)
		}
		return h.monolithic(w, r, rt.name, d)
	}
	u := UploadSession{ID: newID(), Repo: rt.name, Started: h.cfg.Now()}
	if err := h.cfg.Meta.CreateUpload(ctx, u); err != nil {
		return fmt.Errorf("start upload in %s: %w", rt.name, err)
	}
	up, err := h.cfg.Blobs.Create(ctx, u.ID)
	if err != nil {
		_ = h.cfg.Meta.DeleteUpload(context.WithoutCancel(ctx), u.ID)
		return fmt.Errorf("start upload in %s: %w", rt.name, err)
	}
	_ = up.Close()
	uploadHeaders(w, rt.name, u.ID, 0)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// mount links blob d into repo when repository from, which the caller may
// pull, has it linked. With no from it does nothing: a blob held for
// another repository is not the caller's to read.
func (h *Handler) mount(r *http.Request, repo, from string, d digest.Digest) (bool, error) {
	if from == "" || !ValidName(from) {
		return false, nil
	}
	if h.cfg.Authorize != nil && h.cfg.Authorize(r, from, ActionPull) != nil {
		return false, nil
	}
	ctx := r.Context()
	linked, err := h.cfg.Meta.BlobLinked(ctx, from, d)
	if errors.Is(err, ErrNameUnknown) || err == nil && !linked {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := h.cfg.Blobs.Stat(ctx, d); errors.Is(err, blob.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err := h.cfg.Meta.LinkBlob(ctx, repo, d); err != nil {
		return false, err
	}
	return true, nil
}

// monolithic stores the request's body as blob d in one request.
func (h *Handler) monolithic(w http.ResponseWriter, r *http.Request, repo string, d digest.Digest) error {
	ctx := r.Context()
	up, err := h.cfg.Blobs.Create(ctx, newID())
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", d, repo, err)
	}
	if _, err := io.Copy(up, r.Body); err != nil {
		_ = up.Close()
		_ = h.cfg.Blobs.Cancel(context.WithoutCancel(ctx), up.ID())
		return errorf(CodeBlobUploadInvalid, http.StatusBadRequest, "reading the blob failed")
	}
	if err := h.commit(ctx, up, repo, d); err != nil {
		return err
	}
	return created(w, repo, d)
}

// commit commits upload up as blob d and links it in repo.
func (h *Handler) commit(ctx context.Context, up blob.Upload, repo string, d digest.Digest) error {
	if _, err := up.Commit(ctx, d); err != nil {
		if errors.Is(err, blob.ErrDigestMismatch) || errors.Is(err, blob.ErrUnsupportedDigest) {
			return &Error{Code: CodeDigestInvalid, Status: http.StatusBadRequest, Message: "provided digest did not match uploaded content", Detail: map[string]string{"digest": d.String()}}
		}
		return fmt.Errorf("commit %s in %s: %w", d, repo, err)
	}
	if err := h.cfg.Meta.LinkBlob(ctx, repo, d); err != nil {
		return fmt.Errorf("link %s in %s: %w", d, repo, err)
	}
	return nil
}

// upload serves GET, PATCH, PUT and DELETE /v2/<name>/blobs/uploads/<id>.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	id := rt.ref
	unknown := &Error{Code: CodeBlobUploadUnknown, Status: http.StatusNotFound, Message: "blob upload unknown to registry"}
	if !blob.ValidID(id) {
		return unknown
	}
	unlock := h.lockUpload(id)
	defer unlock()
	sess, err := h.cfg.Meta.Upload(ctx, id)
	if errors.Is(err, ErrUploadUnknown) || err == nil && sess.Repo != rt.name {
		return unknown // an upload is only usable in its own repository
	}
	if err != nil {
		return err
	}
	if r.Method == http.MethodDelete {
		if err := h.cfg.Blobs.Cancel(ctx, id); err != nil && !errors.Is(err, blob.ErrUploadNotFound) {
			return err
		}
		if err := h.cfg.Meta.DeleteUpload(ctx, id); err != nil && !errors.Is(err, ErrUploadUnknown) {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	var d digest.Digest
	if r.Method == http.MethodPut {
		s := r.URL.Query().Get("digest")
		var ok bool
		if d, ok = parseDigest(s); !ok {
			return digestInvalid(s)
		}
	}
	up, err := h.cfg.Blobs.Resume(ctx, id)
	if errors.Is(err, blob.ErrUploadNotFound) {
		_ = h.cfg.Meta.DeleteUpload(ctx, id)
		return unknown
	}
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		size := up.Size()
		_ = up.Close()
		uploadHeaders(w, rt.name, id, size)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err := h.appendChunk(r, up); err != nil {
		size := up.Size()
		_ = up.Close()
		uploadHeaders(w, rt.name, id, size)
		return err
	}
	if r.Method == http.MethodPatch {
		size := up.Size()
		_ = up.Close()
		uploadHeaders(w, rt.name, id, size)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	// PUT: the upload ends whatever Commit says (blob.Upload's contract).
	err = h.commit(ctx, up, rt.name, d)
	if derr := h.cfg.Meta.DeleteUpload(context.WithoutCancel(ctx), id); derr != nil && !errors.Is(derr, ErrUploadUnknown) {
		h.log.WarnContext(ctx, "registry: forgetting upload failed", "upload", id, "err", derr)
	}
	if err != nil {
		return err
	}
	return created(w, rt.name, d)
}

// appendChunk streams the request's body onto up. A Content-Range must
// start where the upload ends (else 416, nothing written) and agree with
// Content-Length.
func (h *Handler) appendChunk(r *http.Request, up blob.Upload) error {
	if cr := r.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok {
			return errorf(CodeBlobUploadInvalid, http.StatusBadRequest, "invalid Content-Range %q", truncate(cr, 100))
		}
		if start != up.Size() {
			return errorf(CodeRangeInvalid, http.StatusRequestedRangeNotSatisfiable, "chunk starts at %d, upload holds %d bytes", start, up.Size())
		}
		if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
			return errorf(CodeBlobUploadInvalid, http.StatusBadRequest, "Content-Range %q disagrees with Content-Length %d", truncate(cr, 100), r.ContentLength)
		}
	}
	if r.Body == nil {
		return nil
	}
	if _, err := io.Copy(up, r.Body); err != nil {
		// What was written stays: the client may ask where the upload
		// stands (GET) and resume from there.
		return errorf(CodeBlobUploadInvalid, http.StatusBadRequest, "reading the chunk failed")
	}
	return nil
}

// parseContentRange parses "<start>-<end>" (or "bytes <start>-<end>/<size>").
func parseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "bytes "))
	s, _, _ = strings.Cut(s, "/")
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

// uploadHeaders sets an upload's Location, Range and Docker-Upload-UUID.
func uploadHeaders(w http.ResponseWriter, repo, id string, size int64) {
	hd := w.Header()
	hd.Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
	hd.Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
	hd.Set("Docker-Upload-UUID", id)
	hd.Set("Content-Length", "0")
}

// created answers 201 for blob d in repo.
func created(w http.ResponseWriter, repo string, d digest.Digest) error {
	hd := w.Header()
	hd.Set("Location", "/v2/"+repo+"/blobs/"+d.String())
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func digestInvalid(s string) *Error {
	return &Error{Code: CodeDigestInvalid, Status: http.StatusBadRequest, Message: "invalid digest", Detail: map[string]string{"digest": truncate(s, 200)}}
}
