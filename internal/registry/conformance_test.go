package registry_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/blob"
)

// conformancePkg is the OCI distribution-spec conformance suite, a main
// package required by go.mod's tool directive (so its version is pinned
// and it comes from the module proxy like any dependency).
const conformancePkg = "github.com/opencontainers/distribution-spec/conformance"

// TestOCIConformance builds the OCI conformance suite and runs it, all
// four workflows (pull, push, content discovery, content management),
// against a Handler over MemMeta and an in-memory blob store.
func TestOCIConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the OCI conformance suite")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "conformance")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, conformancePkg)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", conformancePkg, err, out)
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

	results := filepath.Join(dir, "results")
	run := exec.CommandContext(ctx, bin)
	if keep := os.Getenv("BERTH_OCI_RESULTS"); keep != "" {
		results = keep
	}
	run.Dir = dir // no oci-conformance.yaml here: the environment is the whole configuration
	run.Env = append(os.Environ(),
		"OCI_REGISTRY="+strings.TrimPrefix(srv.URL, "http://"),
		"OCI_TLS=disabled",
		"OCI_REPO1="+repo1,
		"OCI_REPO2="+repo2,
		"OCI_RESULTS_DIR="+results,
		"OCI_VERSION=1.1",
		// pull
		"OCI_API_PULL=true",
		// push, cross-repository mounts and upload cancel
		"OCI_API_PUSH=true",
		"OCI_API_BLOBS_UPLOAD_CANCEL=true",
		"OCI_API_BLOBS_MOUNT_ANONYMOUS=true",
		"OCI_API_MANIFESTS_TAG_PARAM=true",
		// content discovery
		"OCI_API_TAGS_LIST=true",
		"OCI_API_REFERRER=true",
		// content management
		"OCI_API_TAGS_DELETE=true",
		"OCI_API_MANIFESTS_DELETE=true",
		"OCI_API_BLOBS_DELETE=true",
	)
	var out bytes.Buffer
	run.Stdout, run.Stderr = &out, &out
	runErr := run.Run()
	report := out.String()
	counts, cases, err := workflowCounts(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance suite left no report (%v, %v):\n%s", runErr, err, report)
	}
	for _, wf := range workflows {
		c := counts[wf]
		t.Logf("%-18s passed %3d  failed %d  skipped %d", wf, c.passed, c.failed, c.skipped)
		if c.passed == 0 {
			t.Errorf("workflow %s ran no test", wf)
		}
	}
	for _, c := range cases {
		switch {
		case c.Status == "passed":
		case c.Status == "skipped" && strings.HasSuffix(c.Name, "/blob-mount-anonymous"):
			// Deliberate: a mount without from= would hand out any blob
			// of any repository to whoever knows its digest; the
			// registry answers 202 (upload instead), as the spec allows.
		default:
			t.Errorf("%s: %s", c.Name, c.Status)
		}
	}
	if runErr != nil || !strings.Contains(report, "OCI Conformance Result: Pass") || t.Failed() {
		t.Fatalf("OCI conformance suite failed (%v):\n%s", runErr, report)
	}
}

// The four workflows of the conformance suite.
const (
	wfPull       = "pull"
	wfPush       = "push"
	wfDiscovery  = "content discovery"
	wfManagement = "content management"
)

var workflows = []string{wfPull, wfPush, wfDiscovery, wfManagement}

type junitCase struct {
	Name   string `xml:"name,attr"`
	Status string `xml:"status,attr"`
}

type tally struct{ passed, failed, skipped int }

// workflowCounts reads the suite's junit report and sorts its test cases
// into the four workflows by the request each makes.
func workflowCounts(path string) (map[string]tally, []junitCase, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var doc struct {
		Suites []struct {
			Cases []junitCase `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, nil, err
	}
	counts := map[string]tally{}
	var cases []junitCase
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			cases = append(cases, c)
			parts := strings.Split(c.Name, "/")
			leaf, parent := parts[len(parts)-1], ""
			if len(parts) > 1 {
				parent = parts[len(parts)-2]
			}
			wf := wfPull
			switch {
			case strings.Contains(leaf, "delete"):
				wf = wfManagement
			case leaf == "tag-list" || leaf == "referrers":
				wf = wfDiscovery
			case parent == "push" || strings.HasPrefix(leaf, "blob-post") || strings.HasPrefix(leaf, "blob-patch") ||
				strings.HasPrefix(leaf, "blob-mount") || strings.HasPrefix(leaf, "manifest-put"):
				wf = wfPush
			}
			t := counts[wf]
			switch c.Status {
			case "passed":
				t.passed++
			case "skipped", "disabled":
				t.skipped++
			default:
				t.failed++
			}
			counts[wf] = t
		}
	}
	return counts, cases, nil
}
