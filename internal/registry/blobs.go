package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/opencontainers/go-digest"
)

// blob serves GET, HEAD and DELETE /v2/<name>/blobs/<digest>.
func (h *Handler) blob(w http.ResponseWriter, r *http.Request, rt route) error {
	d, ok := parseDigest(rt.ref)
	if !ok {
		return &Error{Code: CodeDigestInvalid, Status: http.StatusBadRequest, Message: "invalid digest", Detail: map[string]string{"digest": truncate(rt.ref, 200)}}
	}
	ctx := r.Context()
	if r.Method == http.MethodDelete {
		if err := h.cfg.Meta.UnlinkBlob(ctx, rt.name, d); err != nil {
			return blobErr(err, d)
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	linked, err := h.cfg.Meta.BlobLinked(ctx, rt.name, d)
	if err != nil {
		return err
	}
	if !linked {
		return blobErr(ErrBlobUnknown, d)
	}
	info, err := h.cfg.Blobs.Stat(ctx, d)
	if err != nil {
		return blobErr(err, d)
	}
	start, end, partial, err := parseRange(r.Header.Get("Range"), info.Size)
	if err != nil {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
		return err
	}
	var rc io.ReadCloser
	if r.Method != http.MethodHead {
		// Opened before any header is set: a failure here is a clean error.
		if rc, err = h.cfg.Blobs.Open(ctx, d, start); err != nil {
			return blobErr(err, d)
		}
		defer rc.Close()
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Etag", `"`+d.String()+`"`)
	hd.Set("Cache-Control", "max-age=31536000")
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, info.Size))
	}
	hd.Set("Content-Length", strconv.FormatInt(end-start, 10))
	w.WriteHeader(status)
	if rc == nil {
		return nil
	}
	if _, err := io.CopyN(w, rc, end-start); err != nil {
		// The status is sent: all that is left is to cut the reply short.
		h.log.WarnContext(ctx, "registry blob read failed", "digest", d, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// blobErr maps a Meta or blob.Store error about blob d.
func blobErr(err error, d digest.Digest) error {
	if errors.Is(err, ErrBlobUnknown) || errors.Is(err, blob.ErrNotFound) {
		return &Error{Code: CodeBlobUnknown, Status: http.StatusNotFound, Message: "blob unknown to registry", Detail: map[string]string{"digest": d.String()}}
	}
	return err
}

// parseRange parses a single "bytes=a-b" (or "bytes=a-", "bytes=-n") range
// of a blob of size bytes into the half-open [start, end). With no header,
// or one this does not parse as a single range, the whole blob is sent
// (partial false), as RFC 9110 allows; an unsatisfiable or backwards range
// is a 416.
func parseRange(hdr string, size int64) (start, end int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(hdr), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	bad := errorf(CodeRangeInvalid, http.StatusRequestedRangeNotSatisfiable, "requested range not satisfiable")
	if a == "" { // suffix: the last b bytes
		n, perr := strconv.ParseInt(b, 10, 64)
		if perr != nil || n < 0 {
			return 0, size, false, nil
		}
		if n == 0 {
			return 0, 0, false, bad
		}
		return max(size-n, 0), size, true, nil
	}
	s, perr := strconv.ParseInt(a, 10, 64)
	if perr != nil || s < 0 {
		return 0, size, false, nil
	}
	e := size - 1
	if b != "" {
		if e, perr = strconv.ParseInt(b, 10, 64); perr != nil {
			return 0, size, false, nil
		}
		if e < s { // "bytes=500-0": refused, as the conformance suite expects
			return 0, 0, false, bad
		}
	}
	if s >= size {
		return 0, 0, false, bad
	}
	return s, min(e, size-1) + 1, true, nil
}
