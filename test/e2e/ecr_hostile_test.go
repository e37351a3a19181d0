package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// registryClient sends raw registry requests to a server with a docker
// login password.
type registryClient struct {
	t        *testing.T
	s        *server
	password string
}

// do sends method path with body and returns the status, the OCI error
// codes of the reply and its headers.
func (c registryClient) do(method, path, contentType string, body []byte) (int, []string, http.Header) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.s.endpoint()+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	// The raw path, as written: no client-side cleaning of "..".
	req.URL.Opaque = "//" + c.s.addr + path
	if q := strings.IndexByte(path, '?'); q >= 0 {
		req.URL.Opaque = "//" + c.s.addr + path[:q]
		req.URL.RawQuery = path[q+1:]
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.SetBasicAuth("AWS", c.password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct{ Errors []struct{ Code string } }
	_ = json.Unmarshal(raw, &e)
	var codes []string
	for _, x := range e.Errors {
		codes = append(codes, x.Code)
	}
	return resp.StatusCode, codes, resp.Header
}

// blobFiles lists the committed blob files of the server's registry.
func blobFiles(t *testing.T, s *server) []string {
	t.Helper()
	var out []string
	root := filepath.Join(s.dataDir, "registry", "blobs")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// Hostile input against a real server, as docker login leaves it: each
// refused with an OCI error, nothing stored; an upload cut short by a
// server crash leaves no blob visible after the restart.
func TestECRHostileInput(t *testing.T) {
	s := startServer(t, serverOptions{})
	repo := createECRRepository(t, s, ecrRepoName(t, "hostile")).RepositoryName
	c := registryClient{t: t, s: s, password: loginPassword(t, s)}
	before := blobFiles(t, s)

	t.Log("== traversal in names, digests and upload ids")
	content := []byte("layer bytes that must never be stored")
	for _, p := range []string{
		"/v2/" + repo + "/../../etc/passwd/tags/list",
		"/v2/" + repo + "/%2e%2e/%2e%2e/x/tags/list",
		"/v2/" + repo + "%2f..%2fother/tags/list",
		"/v2/" + repo + "/blobs/sha256:../../../../etc/passwd",
		"/v2/" + repo + "/blobs/uploads/..%2f..%2fx",
		"/v2/" + repo + "/manifests/..",
	} {
		status, codes, _ := c.do(http.MethodGet, p, "", nil)
		if status < 400 || status >= 500 {
			t.Errorf("GET %s: %d %v, want a 4xx refusal", p, status, codes)
		}
	}

	t.Log("== a blob whose bytes do not match its digest")
	wrong := sha([]byte("something else"))
	status, codes, _ := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+wrong, "application/octet-stream", content)
	if status != http.StatusBadRequest || len(codes) == 0 || codes[0] != "DIGEST_INVALID" {
		t.Errorf("monolithic push with a wrong digest: %d %v, want 400 DIGEST_INVALID", status, codes)
	}
	for _, d := range []string{wrong, sha(content)} {
		if status, _, _ := c.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d, "", nil); status != http.StatusNotFound {
			t.Errorf("HEAD blob %s after the refused push: %d, want 404", d, status)
		}
	}

	t.Log("== _catalog with a huge n")
	status, _, _ = c.do(http.MethodGet, "/v2/_catalog?n=99999999999999999999", "", nil)
	if status != http.StatusOK && status != http.StatusBadRequest {
		t.Errorf("_catalog?n=huge: %d, want a bounded 200 or a 400", status)
	}

	t.Log("== manifests: mediaType against Content-Type, manifests mixed with layers, too large")
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	status, _, hdr := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+sha(cfg), "application/octet-stream", cfg)
	if status != http.StatusCreated {
		t.Fatalf("push of a config blob: %d %v", status, hdr)
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[]}`, sha(cfg), len(cfg))
	mixed := strings.Replace(manifest, `"layers":[]`, `"layers":[],"manifests":[]`, 1)
	huge := strings.Replace(manifest, `"layers":[]`, `"layers":[],"annotations":{"x":"`+strings.Repeat("a", 5<<20)+`"}`, 1)
	for _, m := range []struct {
		name, body, contentType string
	}{
		{"mediaType differs from Content-Type", manifest, "application/vnd.docker.distribution.manifest.v2+json"},
		{"manifests mixed with layers", mixed, "application/vnd.oci.image.manifest.v1+json"},
		{"5 MiB", huge, "application/vnd.oci.image.manifest.v1+json"},
	} {
		status, codes, _ := c.do(http.MethodPut, "/v2/"+repo+"/manifests/bad", m.contentType, []byte(m.body))
		if status < 400 || status >= 500 || len(codes) == 0 {
			t.Errorf("PUT manifest (%s): %d %v, want a 4xx with an OCI error", m.name, status, codes)
		}
	}
	if status, _, _ := c.do(http.MethodGet, "/v2/"+repo+"/manifests/bad", "", nil); status != http.StatusNotFound {
		t.Errorf("GET the refused manifests' tag: %d, want 404", status)
	}
	out := awsCLI(t, s, "ecr", "list-images", "--repository-name", repo)
	if strings.Contains(string(out), "imageTag") || strings.Contains(string(out), "imageDigest") {
		t.Errorf("list-images after the refused manifests: %s, want no image", out)
	}

	t.Log("== an upload cut short by a server crash")
	layer := bytes.Repeat([]byte("partial layer "), 1<<16)
	status, _, hdr = c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil)
	if status != http.StatusAccepted || hdr.Get("Location") == "" {
		t.Fatalf("start an upload: %d %v", status, hdr)
	}
	// Half the layer over a raw connection, then the server dies.
	loc := hdr.Get("Location")
	if u := strings.Index(loc, "/v2/"); u > 0 {
		loc = loc[u:]
	}
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nContent-Range: 0-%d\r\n\r\n",
		loc, s.addr, basicAuth("AWS", c.password), len(layer), len(layer)-1)
	if _, err := conn.Write(append([]byte(req), layer[:len(layer)/2]...)); err != nil {
		t.Fatal(err)
	}
	s.stop(t, syscall.SIGKILL)
	s.start(t)
	c.password = loginPassword(t, s)
	if status, _, _ := c.do(http.MethodHead, "/v2/"+repo+"/blobs/"+sha(layer), "", nil); status != http.StatusNotFound {
		t.Errorf("HEAD of the layer cut short: %d, want 404", status)
	}
	after := blobFiles(t, s)
	if len(after) != len(before)+1 { // the config blob, and nothing else
		t.Errorf("blob files before %v, after %v: want only the config blob added", before, after)
	}
}

func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}
