package registry_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/registry/conformance"
)

// TestOCIConformance builds the OCI conformance suite and runs it, all
// four workflows (pull, push, content discovery, content management),
// against a Handler over MemMeta and an in-memory blob store. The e2e
// tests run the same suite against a real `berth server`.
func TestOCIConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the OCI conformance suite")
	}
	meta := registry.NewMemMeta(nil)
	const repo1, repo2 = "conformance/repo1", "conformance/repo2"
	for _, r := range []string{repo1, repo2} {
		if err := meta.CreateRepository(r, false); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(registry.New(registry.Config{Meta: meta, Blobs: blob.NewMemory(nil)}))
	defer srv.Close()
	conformance.Test(t, conformance.Target{
		Registry: strings.TrimPrefix(srv.URL, "http://"),
		Repo1:    repo1,
		Repo2:    repo2,
	})
}
