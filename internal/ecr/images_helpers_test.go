package ecr

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/opencontainers/go-digest"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth-dev/berth/internal/registry/blob"
)

const (
	dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	dockerConfig   = "application/vnd.docker.container.image.v1+json"
	dockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	ociIndex       = "application/vnd.oci.image.index.v1+json"
	ociManifest    = "application/vnd.oci.image.manifest.v1+json"
)

// mustCreate creates repositories (immutable tags when asked).
func (h *harness) mustCreate(t *testing.T, immutable bool, names ...string) {
	t.Helper()
	m := types.ImageTagMutabilityMutable
	if immutable {
		m = types.ImageTagMutabilityImmutable
	}
	for _, n := range names {
		if _, err := h.client.CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String(n), ImageTagMutability: m}); err != nil {
			t.Fatalf("CreateRepository(%s): %v", n, err)
		}
	}
}

// regDo sends a request to the registry handler.
func (h *harness) regDo(t *testing.T, method, path, contentType, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.reg.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// pushBlob uploads content to repo through the registry (one request).
func (h *harness) pushBlob(t *testing.T, repo, content string) digest.Digest {
	t.Helper()
	d := digest.FromString(content)
	if res := h.regDo(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), "application/octet-stream", content); res.StatusCode != http.StatusCreated {
		t.Fatalf("push blob to %s: %d", repo, res.StatusCode)
	}
	return d
}

// pushManifest puts a manifest through the registry and returns its status.
func (h *harness) pushManifest(t *testing.T, repo, ref, mediaType, body string) int {
	t.Helper()
	return h.regDo(t, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, mediaType, body).StatusCode
}

// pull gets a manifest (or blob) through the registry: status and body.
func (h *harness) pull(t *testing.T, path string) (int, string) {
	t.Helper()
	res := h.regDo(t, http.MethodGet, path, "", "")
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

type desc struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

// imageManifest is a Docker image manifest of config and layers (their
// contents), and the sum of the layers' sizes.
func imageManifest(config string, layers ...string) (string, int64) {
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, dockerManifest, desc{dockerConfig, digest.FromString(config), int64(len(config))}, []desc{}}
	var size int64
	for _, l := range layers {
		m.Layers = append(m.Layers, desc{dockerLayer, digest.FromString(l), int64(len(l))})
		size += int64(len(l))
	}
	b, _ := json.Marshal(m)
	return string(b), size
}

// indexOf is an OCI index of manifests (their bodies).
func indexOf(manifests ...string) string {
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Manifests     []desc `json:"manifests"`
	}{2, ociIndex, []desc{}}
	for _, b := range manifests {
		m.Manifests = append(m.Manifests, desc{dockerManifest, digest.FromString(b), int64(len(b))})
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// pushImage pushes config and layers to repo and the manifest under tag
// through the registry; it returns the manifest, its digest and size.
func (h *harness) pushImage(t *testing.T, repo, tag, config string, layers ...string) (string, digest.Digest, int64) {
	t.Helper()
	h.pushBlob(t, repo, config)
	for _, l := range layers {
		h.pushBlob(t, repo, l)
	}
	body, size := imageManifest(config, layers...)
	if st := h.pushManifest(t, repo, tag, dockerManifest, body); st != http.StatusCreated {
		t.Fatalf("push manifest %s:%s: %d", repo, tag, st)
	}
	return body, digest.FromString(body), size
}

// state is every key of the test region with its mod revision, and the
// blob store's digests: what a failed request must leave unchanged.
func (h *harness) state(t *testing.T) string {
	t.Helper()
	res, err := h.st.Client().Get(context.Background(), "/berth/"+testAccount+"/"+testRegion+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, kv := range res.Kvs {
		fmt.Fprintf(&b, "%s@%d\n", kv.Key, kv.ModRevision)
	}
	var blobs []string // the store walks in no order
	_ = h.blobs.Walk(context.Background(), func(i blob.Info) error {
		blobs = append(blobs, "blob "+i.Digest.String())
		return nil
	})
	_ = h.blobs.Uploads(context.Background(), func(id string, _ time.Time) error {
		up, err := h.blobs.Resume(context.Background(), id)
		if err != nil {
			return err
		}
		defer up.Close()
		blobs = append(blobs, fmt.Sprintf("upload %s %d", id, up.Size()))
		return nil
	})
	slices.Sort(blobs)
	return b.String() + strings.Join(blobs, "\n")
}
