package registry_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/registry"
)

func TestBase(t *testing.T) {
	tr := newTestRegistry(t)
	for _, target := range []string{"/v2/", "/v2"} {
		rec := tr.do(t, "GET", target, "")
		if rec.Code != http.StatusOK || rec.Header().Get("Docker-Distribution-API-Version") != "registry/2.0" {
			t.Errorf("GET %s: %d %v", target, rec.Code, rec.Header())
		}
	}
	rec := tr.do(t, "POST", "/v2/", "")
	wantError(t, rec, http.StatusMethodNotAllowed, registry.CodeUnsupported)
	wantError(t, tr.do(t, "GET", "/v3/", ""), http.StatusNotFound, registry.CodeUnsupported)
	wantError(t, tr.do(t, "GET", "/v2/r/nothing/here", ""), http.StatusNotFound, registry.CodeUnsupported)
}

func TestBlobPullAndRanges(t *testing.T) {
	tr := newTestRegistry(t)
	content := "0123456789"
	d := tr.pushBlob(t, "r", content)
	tests := []struct {
		name, rng   string
		status      int
		body, crang string
	}{
		{"whole", "", 200, content, ""},
		{"first five", "bytes=0-4", 206, "01234", "bytes 0-4/10"},
		{"open end", "bytes=7-", 206, "789", "bytes 7-9/10"},
		{"suffix", "bytes=-3", 206, "789", "bytes 7-9/10"},
		{"end past size", "bytes=8-100", 206, "89", "bytes 8-9/10"},
		{"start past size", "bytes=10-20", 416, "", "bytes */10"},
		{"backwards", "bytes=5-2", 416, "", "bytes */10"},
		{"multiple ranges: whole", "bytes=0-1,3-4", 200, content, ""},
		{"garbage: whole", "bytes=x-y", 200, content, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tr.do(t, "GET", "/v2/r/blobs/"+d.String(), "", "Range", tt.rng)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if tt.status != 416 && rec.Body.String() != tt.body {
				t.Errorf("body %q, want %q", rec.Body, tt.body)
			}
			if got := rec.Header().Get("Content-Range"); got != tt.crang {
				t.Errorf("Content-Range %q, want %q", got, tt.crang)
			}
			if tt.status != 416 && rec.Header().Get("Docker-Content-Digest") != d.String() {
				t.Error("no Docker-Content-Digest")
			}
		})
	}
	rec := tr.do(t, "HEAD", "/v2/r/blobs/"+d.String(), "")
	if rec.Code != 200 || rec.Header().Get("Content-Length") != "10" || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	// Stored once, readable only where pushed or mounted.
	wantError(t, tr.do(t, "GET", "/v2/other/blobs/"+d.String(), ""), http.StatusNotFound, registry.CodeBlobUnknown)
	wantError(t, tr.do(t, "HEAD", "/v2/r/blobs/"+digest.FromString("nope").String(), ""), http.StatusNotFound, "")
	// Delete unlinks.
	if rec := tr.do(t, "DELETE", "/v2/r/blobs/"+d.String(), ""); rec.Code != http.StatusAccepted {
		t.Fatalf("DELETE blob: %d", rec.Code)
	}
	wantError(t, tr.do(t, "GET", "/v2/r/blobs/"+d.String(), ""), http.StatusNotFound, registry.CodeBlobUnknown)
	wantError(t, tr.do(t, "DELETE", "/v2/r/blobs/"+d.String(), ""), http.StatusNotFound, registry.CodeBlobUnknown)
}

func TestChunkedUpload(t *testing.T) {
	tr := newTestRegistry(t)
	content := "hello, chunked world"
	d := digest.FromString(content)
	rec := tr.do(t, "POST", "/v2/r/blobs/uploads/", "")
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	loc, id := rec.Header().Get("Location"), rec.Header().Get("Docker-Upload-UUID")
	if !strings.HasPrefix(loc, "/v2/r/blobs/uploads/") || id == "" || !strings.HasSuffix(loc, id) || rec.Header().Get("Range") != "0-0" {
		t.Fatalf("POST headers: %v", rec.Header())
	}
	steps := []struct {
		name, method, target, body string
		hdr                        []string
		status                     int
		rng                        string
	}{
		{"first chunk", "PATCH", loc, content[:5], []string{"Content-Range", "0-4"}, 202, "0-4"},
		{"out of order", "PATCH", loc, content[10:15], []string{"Content-Range", "10-14"}, 416, "0-4"},
		{"repeated chunk", "PATCH", loc, content[:5], []string{"Content-Range", "0-4"}, 416, "0-4"},
		{"length disagrees", "PATCH", loc, content[5:8], []string{"Content-Range", "5-9"}, 400, "0-4"},
		{"bad range", "PATCH", loc, content[5:8], []string{"Content-Range", "five-nine"}, 400, "0-4"},
		{"status", "GET", loc, "", nil, 204, "0-4"},
		{"streamed chunk", "PATCH", loc, content[5:10], nil, 202, "0-9"},
		{"another repository", "GET", "/v2/other/blobs/uploads/" + id, "", nil, 404, ""},
		{"put without digest", "PUT", loc, "", nil, 400, ""},
		{"final chunk", "PUT", loc + "?digest=" + d.String(), content[10:], []string{"Content-Range", "10-19"}, 201, ""},
		{"gone after commit", "GET", loc, "", nil, 404, ""},
	}
	for _, s := range steps {
		rec := tr.do(t, s.method, s.target, s.body, s.hdr...)
		if rec.Code != s.status {
			t.Fatalf("%s: status %d, want %d (%s)", s.name, rec.Code, s.status, rec.Body)
		}
		if s.rng != "" && rec.Header().Get("Range") != s.rng {
			t.Errorf("%s: Range %q, want %q", s.name, rec.Header().Get("Range"), s.rng)
		}
		if (s.status == 202 || s.status == 204 || s.status == 416) && rec.Header().Get("Location") != loc {
			t.Errorf("%s: Location %q", s.name, rec.Header().Get("Location"))
		}
	}
	if rec := tr.do(t, "GET", "/v2/r/blobs/"+d.String(), ""); rec.Body.String() != content {
		t.Errorf("blob is %q", rec.Body)
	}
}

func TestUploadCancelAndUnknown(t *testing.T) {
	tr := newTestRegistry(t)
	loc := tr.do(t, "POST", "/v2/r/blobs/uploads/", "").Header().Get("Location")
	tr.do(t, "PATCH", loc, "partial")
	if rec := tr.do(t, "DELETE", loc, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE upload: %d", rec.Code)
	}
	wantError(t, tr.do(t, "GET", loc, ""), http.StatusNotFound, registry.CodeBlobUploadUnknown)
	wantError(t, tr.do(t, "PATCH", loc, "more"), http.StatusNotFound, registry.CodeBlobUploadUnknown)
	wantError(t, tr.do(t, "DELETE", loc, ""), http.StatusNotFound, registry.CodeBlobUploadUnknown)
	wantError(t, tr.do(t, "GET", "/v2/r/blobs/uploads/not-an-upload", ""), http.StatusNotFound, registry.CodeBlobUploadUnknown)
	wantError(t, tr.do(t, "PUT", "/v2/nope/blobs/uploads/x?digest="+digest.FromString("").String(), ""), http.StatusNotFound, registry.CodeNameUnknown)
	wantError(t, tr.do(t, "POST", "/v2/nope/blobs/uploads/", ""), http.StatusNotFound, registry.CodeNameUnknown)
}

func TestMount(t *testing.T) {
	tr := newTestRegistry(t)
	d := tr.pushBlob(t, "other", "shared layer")
	missing := digest.FromString("missing")
	tests := []struct {
		name, query string
		status      int
	}{
		{"from a repository holding it", "mount=" + d.String() + "&from=other", 201},
		{"from one lacking it", "mount=" + missing.String() + "&from=other", 202},
		{"without from", "mount=" + d.String(), 202},
		{"from an unknown repository", "mount=" + d.String() + "&from=nope", 202},
		{"from an invalid name", "mount=" + d.String() + "&from=../other", 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestRegistry(t)
			tr.pushBlob(t, "other", "shared layer")
			rec := tr.do(t, "POST", "/v2/r/blobs/uploads/?"+tt.query, "")
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			get := tr.do(t, "HEAD", "/v2/r/blobs/"+d.String(), "")
			if tt.status == 201 {
				if rec.Header().Get("Location") != "/v2/r/blobs/"+d.String() || get.Code != 200 {
					t.Errorf("mounted blob: Location %q, HEAD %d", rec.Header().Get("Location"), get.Code)
				}
			} else if rec.Header().Get("Docker-Upload-UUID") == "" || get.Code != 404 {
				t.Errorf("fallback: %v, HEAD %d", rec.Header(), get.Code)
			}
		})
	}
	wantError(t, tr.do(t, "POST", "/v2/r/blobs/uploads/?mount=sha256:nope&from=other", ""), http.StatusBadRequest, registry.CodeDigestInvalid)
}

func TestManifests(t *testing.T) {
	tr := newTestRegistry(t)
	body, d := tr.pushImage(t, "r", "v1", "a")
	for _, ref := range []string{"v1", d.String()} {
		rec := tr.do(t, "GET", "/v2/r/manifests/"+ref, "")
		if rec.Code != 200 || rec.Body.String() != body || rec.Header().Get("Content-Type") != ocispec.MediaTypeImageManifest ||
			rec.Header().Get("Docker-Content-Digest") != d.String() {
			t.Errorf("GET %s: %d %v", ref, rec.Code, rec.Header())
		}
		rec = tr.do(t, "HEAD", "/v2/r/manifests/"+ref, "")
		if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "" && rec.Header().Get("Content-Length") != itoa(len(body)) {
			t.Errorf("HEAD %s: %d %v", ref, rec.Code, rec.Header())
		}
	}
	wantError(t, tr.do(t, "GET", "/v2/other/manifests/v1", ""), http.StatusNotFound, registry.CodeManifestUnknown)
	wantError(t, tr.do(t, "GET", "/v2/r/manifests/"+digest.FromString("x").String(), ""), http.StatusNotFound, registry.CodeManifestUnknown)

	// An index of it, by digest with ?tag=.
	index := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d.String() + `","size":` + itoa(len(body)) + `}]}`
	id := digest.FromString(index)
	rec := tr.do(t, "PUT", "/v2/r/manifests/"+id.String()+"?tag=multi&tag=latest", index, "Content-Type", ocispec.MediaTypeImageIndex)
	if rec.Code != 201 || strings.Join(rec.Header().Values("OCI-Tag"), ",") != "multi,latest" || rec.Header().Get("Location") != "/v2/r/manifests/"+id.String() {
		t.Fatalf("PUT index: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if rec := tr.do(t, "GET", "/v2/r/manifests/latest", ""); rec.Header().Get("Content-Type") != ocispec.MediaTypeImageIndex {
		t.Errorf("index Content-Type %q", rec.Header().Get("Content-Type"))
	}

	// Deletes: a tag, then the manifest by digest with its other tags.
	if rec := tr.do(t, "DELETE", "/v2/r/manifests/multi", ""); rec.Code != 202 {
		t.Fatalf("DELETE tag: %d", rec.Code)
	}
	wantError(t, tr.do(t, "GET", "/v2/r/manifests/multi", ""), http.StatusNotFound, registry.CodeManifestUnknown)
	if rec := tr.do(t, "GET", "/v2/r/manifests/latest", ""); rec.Code != 200 {
		t.Fatalf("deleting a tag deleted the manifest: %d", rec.Code)
	}
	if rec := tr.do(t, "DELETE", "/v2/r/manifests/"+id.String(), ""); rec.Code != 202 {
		t.Fatalf("DELETE manifest: %d", rec.Code)
	}
	wantError(t, tr.do(t, "GET", "/v2/r/manifests/latest", ""), http.StatusNotFound, registry.CodeManifestUnknown)
	wantError(t, tr.do(t, "DELETE", "/v2/r/manifests/"+id.String(), ""), http.StatusNotFound, registry.CodeManifestUnknown)
}

func TestManifestValidation(t *testing.T) {
	tr := newTestRegistry(t, func(c *registry.Config) { c.MaxManifestSize = 1024 })
	cfg := tr.pushBlob(t, "r", "{}")
	layer := tr.pushBlob(t, "r", "layer")
	missing := digest.FromString("never pushed")
	good := imageManifest(cfg, 2, layer, 5, "")
	tests := []struct {
		name, ref, body, ctype string
		status                 int
		code                   string
	}{
		{"good", "t", good, ocispec.MediaTypeImageManifest, 201, ""},
		{"no Content-Type", "t", good, "", 201, ""},
		{"mediaType disagrees with Content-Type", "t", good, ocispec.MediaTypeImageIndex, 400, registry.CodeManifestInvalid},
		{"Content-Type parameters ignored", "t", good, ocispec.MediaTypeImageManifest + "; charset=utf-8", 201, ""},
		{"not JSON", "t", "{not json", ocispec.MediaTypeImageManifest, 400, registry.CodeManifestInvalid},
		{"manifests and layers", "t", imageManifest(cfg, 2, layer, 5, `{"manifests":[]}`), "", 400, registry.CodeManifestInvalid},
		{"index with layers", "t", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"layers":[]}`, "", 400, registry.CodeManifestInvalid},
		{"schemaVersion 1", "t", imageManifest(cfg, 2, layer, 5, `{"schemaVersion":1}`), "", 400, registry.CodeManifestInvalid},
		{"unknown media type", "t", imageManifest(cfg, 2, layer, 5, `{"mediaType":"text/plain"}`), "", 400, registry.CodeManifestInvalid},
		{"no config", "t", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`, "", 400, registry.CodeManifestInvalid},
		{"bad descriptor digest", "t", imageManifest("sha256:../../etc/passwd", 2, layer, 5, ""), "", 400, registry.CodeManifestInvalid},
		{"missing layer", "t", imageManifest(cfg, 2, missing, 5, ""), "", 400, registry.CodeManifestBlobUnknown},
		{"missing config", "t", imageManifest(missing, 2, layer, 5, ""), "", 400, registry.CodeManifestBlobUnknown},
		{"missing child manifest", "t", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + missing.String() + `","size":5}]}`, "", 400, registry.CodeManifestBlobUnknown},
		{"nondistributable layer need not be pushed", "t", imageManifest(cfg, 2, layer, 5, `{"layers":[{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"`+missing.String()+`","size":5}]}`), "", 201, ""},
		{"too large", "t", imageManifest(cfg, 2, layer, 5, `{"annotations":{"pad":"`+strings.Repeat("x", 2000)+`"}}`), "", 413, registry.CodeSizeInvalid},
		{"digest mismatch", digest.FromString("other").String(), good, "", 400, registry.CodeDigestInvalid},
		{"bad tag", "-tag", good, "", 400, registry.CodeManifestInvalid},
		{"tag too long", strings.Repeat("t", 129), good, "", 400, registry.CodeManifestInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.ctype != "" {
				hdr = []string{"Content-Type", tt.ctype}
			}
			rec := tr.do(t, "PUT", "/v2/r/manifests/"+tt.ref, tt.body, hdr...)
			if tt.status == 201 {
				if rec.Code != 201 {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				return
			}
			wantError(t, rec, tt.status, tt.code)
			if tt.status != 201 {
				if _, err := tr.blobs.Stat(t.Context(), digest.FromString(tt.body)); err == nil && tt.body != good {
					t.Error("refused manifest stored")
				}
			}
		})
	}
	// A huge declared Content-Length is refused before reading.
	req := tr.do(t, "PUT", "/v2/r/manifests/big", good, "Content-Length", "999999999")
	wantError(t, req, http.StatusRequestEntityTooLarge, registry.CodeSizeInvalid)
}

func TestImmutableTag(t *testing.T) {
	tr := newTestRegistry(t)
	_, d1 := tr.pushImage(t, "immutable", "v1", "a")
	cfg := tr.pushBlob(t, "immutable", "{}")
	layer := tr.pushBlob(t, "immutable", "layer")
	other := imageManifest(cfg, 2, layer, 5, "")
	rec := tr.do(t, "PUT", "/v2/immutable/manifests/v1", other, "Content-Type", ocispec.MediaTypeImageManifest)
	wantError(t, rec, http.StatusBadRequest, registry.CodeTagInvalid)
	// ECR's wording (as docker, kaniko and buildkit users quote it).
	if !strings.Contains(rec.Body.String(), "The image tag 'v1' already exists in the 'immutable' repository and cannot be overwritten because the tag is immutable.") {
		t.Errorf("message %s", rec.Body)
	}
	if got := tr.do(t, "GET", "/v2/immutable/manifests/v1", "").Header().Get("Docker-Content-Digest"); got != d1.String() {
		t.Errorf("v1 moved to %s", got)
	}
}

func TestSubjectAndReferrers(t *testing.T) {
	tr := newTestRegistry(t)
	body, subject := tr.pushImage(t, "r", "v1", "a")
	empty := tr.pushBlob(t, "r", "{}")
	var digests []digest.Digest
	for _, at := range []string{"application/vnd.example.sig", "application/vnd.example.sbom"} {
		m := imageManifest(empty, 2, empty, 2, `{"artifactType":"`+at+`","subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+subject.String()+`","size":`+itoa(len(body))+`},"annotations":{"at":"`+at+`"}}`)
		d := digest.FromString(m)
		rec := tr.do(t, "PUT", "/v2/r/manifests/"+d.String(), m, "Content-Type", ocispec.MediaTypeImageManifest)
		if rec.Code != 201 || rec.Header().Get("OCI-Subject") != subject.String() {
			t.Fatalf("PUT referrer: %d %v %s", rec.Code, rec.Header(), rec.Body)
		}
		digests = append(digests, d)
	}
	tests := []struct {
		query    string
		want     int
		filtered bool
	}{
		{"", 2, false},
		{"?artifactType=application/vnd.example.sig", 1, true},
		{"?artifactType=application/none", 0, true},
	}
	for _, tt := range tests {
		rec := tr.do(t, "GET", "/v2/r/referrers/"+subject.String()+tt.query, "")
		if rec.Code != 200 || rec.Header().Get("Content-Type") != ocispec.MediaTypeImageIndex {
			t.Fatalf("referrers%s: %d %v", tt.query, rec.Code, rec.Header())
		}
		var idx ocispec.Index
		if err := json.Unmarshal(rec.Body.Bytes(), &idx); err != nil || idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex || idx.Manifests == nil {
			t.Fatalf("referrers body %s: %v", rec.Body, err)
		}
		if len(idx.Manifests) != tt.want {
			t.Errorf("referrers%s: %d, want %d", tt.query, len(idx.Manifests), tt.want)
		}
		for _, m := range idx.Manifests {
			if m.ArtifactType == "" || m.Annotations["at"] != m.ArtifactType || m.Size == 0 {
				t.Errorf("descriptor %+v", m)
			}
		}
		if got := rec.Header().Get("OCI-Filters-Applied"); (got == "artifactType") != tt.filtered {
			t.Errorf("referrers%s: OCI-Filters-Applied %q", tt.query, got)
		}
	}
	wantError(t, tr.do(t, "GET", "/v2/r/referrers/sha256:short", ""), http.StatusBadRequest, registry.CodeDigestInvalid)
}

func TestTagsList(t *testing.T) {
	tr := newTestRegistry(t)
	_, d := tr.pushImage(t, "r", "a", "x")
	m := tr.do(t, "GET", "/v2/r/manifests/"+d.String(), "").Body.String()
	for _, tag := range []string{"b", "c", "d", "e"} {
		tr.do(t, "PUT", "/v2/r/manifests/"+tag, m, "Content-Type", ocispec.MediaTypeImageManifest)
	}
	tests := []struct {
		query string
		want  []string
		link  string
	}{
		{"", []string{"a", "b", "c", "d", "e"}, ""},
		{"?n=2", []string{"a", "b"}, `</v2/r/tags/list?last=b&n=2>; rel="next"`},
		{"?n=2&last=b", []string{"c", "d"}, `</v2/r/tags/list?last=d&n=2>; rel="next"`},
		{"?n=2&last=d", []string{"e"}, ""},
		{"?n=0", []string{}, ""},
		{"?last=e", []string{}, ""},
	}
	for _, tt := range tests {
		rec := tr.do(t, "GET", "/v2/r/tags/list"+tt.query, "")
		var body struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 || body.Name != "r" || body.Tags == nil {
			t.Fatalf("tags%s: %d %s", tt.query, rec.Code, rec.Body)
		}
		if strings.Join(body.Tags, ",") != strings.Join(tt.want, ",") || rec.Header().Get("Link") != tt.link {
			t.Errorf("tags%s = %v Link %q; want %v %q", tt.query, body.Tags, rec.Header().Get("Link"), tt.want, tt.link)
		}
	}
	wantError(t, tr.do(t, "GET", "/v2/r/tags/list?n=-1", ""), http.StatusBadRequest, registry.CodeUnsupported)
	wantError(t, tr.do(t, "GET", "/v2/nope/tags/list", ""), http.StatusNotFound, registry.CodeNameUnknown)
}

func TestCatalog(t *testing.T) {
	tr := newTestRegistry(t, func(c *registry.Config) { c.MaxList = 2 })
	tests := []struct {
		query string
		want  string
		link  bool
	}{
		{"", "a/b/c,immutable", true},
		{"?n=99999999999999999999999", "a/b/c,immutable", true}, // bounded
		{"?n=2147483647", "a/b/c,immutable", true},
		{"?n=1&last=immutable", "other", true},
		{"?last=other", "r", false},
	}
	for _, tt := range tests {
		rec := tr.do(t, "GET", "/v2/_catalog"+tt.query, "")
		var body struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
			t.Fatalf("catalog%s: %d %s", tt.query, rec.Code, rec.Body)
		}
		if strings.Join(body.Repositories, ",") != tt.want || (rec.Header().Get("Link") != "") != tt.link {
			t.Errorf("catalog%s = %v Link %q", tt.query, body.Repositories, rec.Header().Get("Link"))
		}
	}
	wantError(t, tr.do(t, "GET", "/v2/_catalog?n=ten", ""), http.StatusBadRequest, registry.CodeUnsupported)
}

func TestAuthorize(t *testing.T) {
	type call struct {
		repo   string
		action registry.Action
	}
	var calls []call
	tr := newTestRegistry(t, func(c *registry.Config) {
		c.Authorize = func(r *http.Request, repo string, a registry.Action) error {
			calls = append(calls, call{repo, a})
			switch {
			case repo == "other" && a != registry.ActionPull:
				return errors.New("read only")
			case r.Header.Get("Authorization") == "expired":
				return &registry.Error{Code: registry.CodeUnauthorized, Status: http.StatusUnauthorized, Message: "token expired"}
			}
			return nil
		}
	})
	d := tr.pushBlob(t, "r", "x")
	tests := []struct {
		method, target string
		hdr            []string
		status         int
		code           string
		want           call
	}{
		{"GET", "/v2/r/blobs/" + d.String(), nil, 200, "", call{"r", registry.ActionPull}},
		{"POST", "/v2/other/blobs/uploads/", nil, 403, registry.CodeDenied, call{"other", registry.ActionPush}},
		{"DELETE", "/v2/other/manifests/v1", nil, 403, registry.CodeDenied, call{"other", registry.ActionDelete}},
		{"GET", "/v2/other/tags/list", nil, 200, "", call{"other", registry.ActionPull}},
		{"GET", "/v2/r/tags/list", []string{"Authorization", "expired"}, 401, registry.CodeUnauthorized, call{"r", registry.ActionPull}},
		{"GET", "/v2/_catalog", nil, 200, "", call{"", registry.ActionCatalog}},
	}
	for _, tt := range tests {
		calls = nil
		rec := tr.do(t, tt.method, tt.target, "", tt.hdr...)
		if tt.code != "" {
			wantError(t, rec, tt.status, tt.code)
		} else if rec.Code != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.target, rec.Code, tt.status)
		}
		if len(calls) == 0 || calls[0] != tt.want {
			t.Errorf("%s %s: Authorize calls %v, want %v first", tt.method, tt.target, calls, tt.want)
		}
	}
	// A mount from a repository the caller may not pull falls back to an upload.
	tr2 := newTestRegistry(t, func(c *registry.Config) {
		c.Authorize = func(_ *http.Request, repo string, a registry.Action) error {
			if repo == "other" {
				return errors.New("no access")
			}
			return nil
		}
	})
	shared := tr2.pushBlob(t, "r", "secret layer")
	if err := tr2.meta.LinkBlob(t.Context(), "other", shared); err != nil {
		t.Fatal(err)
	}
	tr2.meta.UnlinkBlob(t.Context(), "r", shared)
	if rec := tr2.do(t, "POST", "/v2/r/blobs/uploads/?mount="+shared.String()+"&from=other", ""); rec.Code != 202 {
		t.Errorf("mount from an unreadable repository: %d", rec.Code)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestConcurrentChunks: chunks sent at once to one upload are serialised,
// none lost.
func TestConcurrentChunks(t *testing.T) {
	tr := newTestRegistry(t)
	loc := tr.do(t, "POST", "/v2/r/blobs/uploads/", "").Header().Get("Location")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if rec := tr.do(t, "PATCH", loc, "abcd"); rec.Code != http.StatusAccepted {
				t.Errorf("PATCH: %d", rec.Code)
			}
		})
	}
	wg.Wait()
	if got := tr.do(t, "GET", loc, "").Header().Get("Range"); got != "0-31" {
		t.Errorf("Range %q after 8 chunks of 4 bytes, want 0-31", got)
	}
}
