package registry_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/blob"
)

// testRegistry is a Handler over MemMeta and a memory blob store, with
// repositories "r", "other" and "immutable" (immutable tags).
type testRegistry struct {
	h     *registry.Handler
	meta  *registry.MemMeta
	blobs *blob.Memory
}

func newTestRegistry(t *testing.T, tune ...func(*registry.Config)) *testRegistry {
	t.Helper()
	tr := &testRegistry{meta: registry.NewMemMeta(nil), blobs: blob.NewMemory(nil)}
	for _, r := range []string{"r", "other", "a/b/c"} {
		if err := tr.meta.CreateRepository(r, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.meta.CreateRepository("immutable", true); err != nil {
		t.Fatal(err)
	}
	cfg := registry.Config{Meta: tr.meta, Blobs: tr.blobs}
	for _, f := range tune {
		f(&cfg)
	}
	tr.h = registry.New(cfg)
	return tr
}

// do sends a request straight to the handler: the target is the raw
// request URI, escapes and all, as a client could send it.
func (tr *testRegistry) do(t *testing.T, method, target string, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Content-Length" { // what a client declares, whatever it sends
			req.ContentLength, _ = strconv.ParseInt(hdr[i+1], 10, 64)
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, req)
	return rec
}

// pushBlob pushes content monolithically to repo.
func (tr *testRegistry) pushBlob(t *testing.T, repo, content string) digest.Digest {
	t.Helper()
	d := digest.FromString(content)
	rec := tr.do(t, "POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), content)
	if rec.Code != http.StatusCreated {
		t.Fatalf("push blob: %d %s", rec.Code, rec.Body)
	}
	return d
}

// pushImage pushes a config and a layer and an image manifest under tag,
// returning the manifest's body and digest.
func (tr *testRegistry) pushImage(t *testing.T, repo, tag, seed string) (string, digest.Digest) {
	t.Helper()
	cfg := tr.pushBlob(t, repo, `{"seed":"`+seed+`"}`)
	layer := tr.pushBlob(t, repo, "layer "+seed)
	body := imageManifest(cfg, int64(len(`{"seed":"`+seed+`"}`)), layer, int64(len("layer "+seed)), "")
	rec := tr.do(t, "PUT", "/v2/"+repo+"/manifests/"+tag, body, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if rec.Code != http.StatusCreated {
		t.Fatalf("push manifest: %d %s", rec.Code, rec.Body)
	}
	return body, digest.FromString(body)
}

func imageManifest(cfg digest.Digest, cfgSize int64, layer digest.Digest, layerSize int64, extra string) string {
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": cfgSize},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layerSize}},
	}
	if extra != "" {
		var e map[string]any
		if err := json.Unmarshal([]byte(extra), &e); err != nil {
			panic(err)
		}
		for k, v := range e {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// wantError checks an OCI error reply.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d (%s)", rec.Code, status, rec.Body)
	}
	if code == "" {
		return
	}
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
		t.Fatalf("error body %q is not the OCI form: %v", rec.Body, err)
	}
	if body.Errors[0].Code != code || body.Errors[0].Message == "" {
		t.Fatalf("error %+v, want code %s", body.Errors[0], code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
}

// nothingStored fails if the store holds blob d or any upload, or if d is
// linked in any test repository.
func (tr *testRegistry) nothingStored(t *testing.T, d digest.Digest) {
	t.Helper()
	ctx := context.Background()
	if _, err := tr.blobs.Stat(ctx, d); err == nil {
		t.Errorf("blob %s stored", d)
	}
	var ids []string
	_ = tr.blobs.Uploads(ctx, func(id string, _ time.Time) error { ids = append(ids, id); return nil })
	if len(ids) > 0 {
		t.Errorf("uploads left in the store: %v", ids)
	}
	for _, r := range []string{"r", "other", "a/b/c", "immutable"} {
		if ok, _ := tr.meta.BlobLinked(ctx, r, d); ok {
			t.Errorf("blob %s linked in %s", d, r)
		}
	}
}
