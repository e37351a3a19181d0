package registry_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/registry"
)

// TestHostilePaths: names, references, digests and upload ids with "..",
// encoded traversal or encoded slashes are refused before any store sees
// them.
func TestHostilePaths(t *testing.T) {
	tr := newTestRegistry(t)
	d := tr.pushBlob(t, "r", "content")
	long := strings.Repeat("a", 256)
	tests := []struct {
		method, target string
		status         int
		code           string
	}{
		{"GET", "/v2/../r/manifests/latest", 400, registry.CodeNameInvalid},
		{"GET", "/v2/r/../other/blobs/" + d.String(), 400, registry.CodeNameInvalid},
		{"GET", "/v2/r/./x/tags/list", 400, registry.CodeNameInvalid},
		{"GET", "/v2/%2e%2e/r/manifests/latest", 400, registry.CodeNameInvalid},
		{"GET", "/v2/%2E%2E/r/tags/list", 400, registry.CodeNameInvalid},
		{"GET", "/v2/r%2fother/manifests/latest", 400, registry.CodeNameInvalid},
		{"GET", "/v2/r%2Fother/blobs/" + d.String(), 400, registry.CodeNameInvalid},
		{"GET", "/v2/r/manifests/..%2f..%2fetc%2fpasswd", 400, registry.CodeNameInvalid},
		{"GET", "/v2/r/blobs/sha256:..%2f..%2fetc", 400, registry.CodeNameInvalid},
		{"GET", "/v2/r/blobs/sha256:../../etc/passwd", 404, registry.CodeUnsupported},
		{"GET", "/v2/r//manifests/latest", 400, registry.CodeNameInvalid},
		{"GET", "/v2//r/manifests/latest", 400, registry.CodeNameInvalid},
		{"GET", "/v2/r/manifests/..", 400, registry.CodeManifestInvalid},
		{"DELETE", "/v2/r/manifests/.", 400, registry.CodeManifestInvalid},
		{"GET", "/v2/r/blobs/uploads/..", 404, registry.CodeBlobUploadUnknown},
		{"PATCH", "/v2/r/blobs/uploads/%2e%2e", 400, registry.CodeNameInvalid},
		{"GET", "/v2/R/manifests/latest", 400, registry.CodeNameInvalid},
		{"GET", "/v2/r-/manifests/latest", 400, registry.CodeNameInvalid},
		{"GET", "/v2/" + long + "/tags/list", 400, registry.CodeNameInvalid},
		{"GET", "/v2/" + long[:255] + "/tags/list", 404, registry.CodeNameUnknown},
		{"GET", "/v2/r/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", 400, registry.CodeDigestInvalid},
		{"GET", "/v2/r/blobs/sha256:abc", 400, registry.CodeDigestInvalid},
		{"GET", "/v2/r/blobs/sha256:" + strings.ToUpper(d.Encoded()), 400, registry.CodeDigestInvalid},
		{"GET", "/v2/r/manifests/sha256:..", 400, registry.CodeDigestInvalid},
		{"GET", "/v2/r/referrers/sha256:..", 400, registry.CodeDigestInvalid},
		{"POST", "/v2/r/blobs/uploads/?digest=sha256:../../x", 400, registry.CodeDigestInvalid},
		{"POST", "/v2/r/blobs/uploads/?mount=..&from=other", 400, registry.CodeDigestInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target[:min(len(tt.target), 60)], func(t *testing.T) {
			wantError(t, tr.do(t, tt.method, tt.target, ""), tt.status, tt.code)
		})
	}
	// A mount naming a traversal as its source falls back to an upload and
	// mounts nothing.
	rec := tr.do(t, "POST", "/v2/other/blobs/uploads/?mount="+d.String()+"&from=%2e%2e%2fr", "")
	if rec.Code != http.StatusAccepted {
		t.Errorf("mount from ../r: %d", rec.Code)
	}
	if ok, _ := tr.meta.BlobLinked(t.Context(), "other", d); ok {
		t.Error("mount from ../r linked the blob")
	}
}

// TestDigestMismatchStoresNothing: a blob whose bytes do not match its
// digest is DIGEST_INVALID, however it is pushed, and nothing is stored.
func TestDigestMismatchStoresNothing(t *testing.T) {
	claimed := digest.FromString("what the client claims")
	t.Run("monolithic", func(t *testing.T) {
		tr := newTestRegistry(t)
		wantError(t, tr.do(t, "POST", "/v2/r/blobs/uploads/?digest="+claimed.String(), "other bytes"), http.StatusBadRequest, registry.CodeDigestInvalid)
		tr.nothingStored(t, claimed)
		tr.nothingStored(t, digest.FromString("other bytes"))
	})
	t.Run("sha512", func(t *testing.T) {
		tr := newTestRegistry(t)
		d := digest.SHA512.FromString("what the client claims")
		wantError(t, tr.do(t, "POST", "/v2/r/blobs/uploads/?digest="+d.String(), "other bytes"), http.StatusBadRequest, registry.CodeDigestInvalid)
		tr.nothingStored(t, d)
	})
	t.Run("chunked", func(t *testing.T) {
		tr := newTestRegistry(t)
		loc := tr.do(t, "POST", "/v2/r/blobs/uploads/", "").Header().Get("Location")
		tr.do(t, "PATCH", loc, "other ", "Content-Range", "0-5")
		wantError(t, tr.do(t, "PUT", loc+"?digest="+claimed.String(), "bytes", "Content-Range", "6-10"), http.StatusBadRequest, registry.CodeDigestInvalid)
		tr.nothingStored(t, claimed)
		// The upload is over: its id is unknown now.
		wantError(t, tr.do(t, "GET", loc, ""), http.StatusNotFound, registry.CodeBlobUploadUnknown)
	})
	t.Run("manifest by digest", func(t *testing.T) {
		tr := newTestRegistry(t)
		body := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`
		wantError(t, tr.do(t, "PUT", "/v2/r/manifests/"+claimed.String(), body), http.StatusBadRequest, registry.CodeDigestInvalid)
		tr.nothingStored(t, digest.FromString(body))
	})
}

// brokenBody sends some bytes, then fails as a dropped connection does.
type brokenBody struct{ r io.Reader }

func (b *brokenBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// TestInterruptedUploadLeavesNoBlob: a body cut short (a client or a
// server going away mid-upload) leaves no blob visible; a chunked upload
// keeps what it got and resumes from there.
func TestInterruptedUploadLeavesNoBlob(t *testing.T) {
	content := "the whole layer"
	d := digest.FromString(content)
	send := func(tr *testRegistry, method, target, part string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, &brokenBody{strings.NewReader(part)})
		rec := httptest.NewRecorder()
		tr.h.ServeHTTP(rec, req)
		return rec
	}
	t.Run("monolithic", func(t *testing.T) {
		tr := newTestRegistry(t)
		rec := send(tr, "POST", "/v2/r/blobs/uploads/?digest="+d.String(), content[:5])
		wantError(t, rec, http.StatusBadRequest, registry.CodeBlobUploadInvalid)
		tr.nothingStored(t, d)
	})
	t.Run("final chunk", func(t *testing.T) {
		tr := newTestRegistry(t)
		loc := tr.do(t, "POST", "/v2/r/blobs/uploads/", "").Header().Get("Location")
		rec := send(tr, "PUT", loc+"?digest="+d.String(), content)
		wantError(t, rec, http.StatusBadRequest, registry.CodeBlobUploadInvalid)
		if _, err := tr.blobs.Stat(t.Context(), d); err == nil {
			t.Fatal("blob visible after an interrupted final chunk")
		}
		wantError(t, tr.do(t, "GET", "/v2/r/blobs/"+d.String(), ""), http.StatusNotFound, registry.CodeBlobUnknown)
	})
	t.Run("chunk, then resume", func(t *testing.T) {
		tr := newTestRegistry(t)
		loc := tr.do(t, "POST", "/v2/r/blobs/uploads/", "").Header().Get("Location")
		send(tr, "PATCH", loc, content[:4])
		wantError(t, tr.do(t, "GET", "/v2/r/blobs/"+d.String(), ""), http.StatusNotFound, registry.CodeBlobUnknown)
		st := tr.do(t, "GET", loc, "")
		if st.Code != http.StatusNoContent || st.Header().Get("Range") != "0-3" {
			t.Fatalf("status after an interrupted chunk: %d %q", st.Code, st.Header().Get("Range"))
		}
		if rec := tr.do(t, "PUT", loc+"?digest="+d.String(), content[4:], "Content-Range", "4-14"); rec.Code != http.StatusCreated {
			t.Fatalf("resumed PUT: %d %s", rec.Code, rec.Body)
		}
		if got := tr.do(t, "GET", "/v2/r/blobs/"+d.String(), "").Body.String(); got != content {
			t.Errorf("blob %q", got)
		}
	})
}
