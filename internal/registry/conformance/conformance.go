// Package conformance runs the OCI distribution-spec conformance suite
// (the Go module github.com/opencontainers/distribution-spec/conformance,
// pinned by go.mod's tool directive) against a registry, all four
// workflows (pull, push, content discovery, content management), and sorts
// its results into them. The registry package's tests run it against a
// Handler; the end-to-end tests against a real `berth server`, logged in
// with an ECR token. It is test support: no binary imports it.
package conformance

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Package is the suite's main package.
const Package = "github.com/opencontainers/distribution-spec/conformance"

// The four workflows of the suite.
const (
	Pull       = "pull"
	Push       = "push"
	Discovery  = "content discovery"
	Management = "content management"
)

// Workflows lists them in the spec's order.
var Workflows = []string{Pull, Push, Discovery, Management}

// Target is the registry the suite runs against.
type Target struct {
	// Registry is its host:port, spoken to over plain HTTP.
	Registry string
	// Repo1 and Repo2 are two existing repositories (ECR's are made by
	// CreateRepository, never by a push); Repo2 is the cross-mount target.
	Repo1, Repo2 string
	// Username and Password are Basic credentials, sent when the registry
	// answers 401 with a Basic challenge; empty for anonymous.
	Username, Password string
	// ResultsDir receives junit.xml and the HTML report.
	ResultsDir string
}

// Tally counts one workflow's test cases.
type Tally struct{ Passed, Failed, Skipped int }

// Case is one test case of the junit report.
type Case struct {
	Name   string `xml:"name,attr"`
	Status string `xml:"status,attr"`
}

// Result is what one run of the suite reported.
type Result struct {
	// Output is the suite's stdout and stderr; Err its exit error.
	Output string
	Err    error
	Counts map[string]Tally
	Cases  []Case
}

// Build compiles the suite into dir with the go command on PATH (or
// GOROOT's) and returns the binary's path. It must run inside Berth's
// module, whose go.mod pins the suite's version.
func Build(ctx context.Context, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "conformance")
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, Package)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", Package, err, out)
	}
	return bin, nil
}

// Run runs the suite binary against tgt with every API the spec defines
// enabled (OCI_VERSION 1.1): pull, push with upload cancel and anonymous
// mounts, the tag parameter, tag listing, referrers, and tag, manifest and
// blob deletion. The environment is the whole configuration: the suite
// runs in the binary's directory (Build's), where no oci-conformance.yaml
// is. An error means the suite left no report.
func Run(ctx context.Context, bin string, tgt Target) (Result, error) {
	if err := os.MkdirAll(tgt.ResultsDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("conformance results dir: %w", err)
	}
	run := exec.CommandContext(ctx, bin)
	run.Dir = filepath.Dir(bin)
	run.Env = append(os.Environ(),
		"OCI_REGISTRY="+tgt.Registry,
		"OCI_TLS=disabled",
		"OCI_REPO1="+tgt.Repo1,
		"OCI_REPO2="+tgt.Repo2,
		"OCI_RESULTS_DIR="+tgt.ResultsDir,
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
	if tgt.Username != "" {
		run.Env = append(run.Env, "OCI_USERNAME="+tgt.Username, "OCI_PASSWORD="+tgt.Password)
	}
	var out bytes.Buffer
	run.Stdout, run.Stderr = &out, &out
	res := Result{Err: run.Run()}
	res.Output = out.String()
	counts, cases, err := workflowCounts(filepath.Join(tgt.ResultsDir, "junit.xml"))
	if err != nil {
		return res, fmt.Errorf("conformance suite left no report (exit: %v): %w", res.Err, err)
	}
	res.Counts, res.Cases = counts, cases
	return res, nil
}

// Failures lists every case that did not pass, and every workflow that ran
// no test, but for one deliberate skip: Berth answers a mount without
// from= with 202 (upload instead), as the spec allows, since mounting
// from any repository would hand out any blob to whoever knows its digest.
func (r Result) Failures() []string {
	var out []string
	for _, wf := range Workflows {
		if r.Counts[wf].Passed == 0 {
			out = append(out, "workflow "+wf+" ran no test")
		}
	}
	for _, c := range r.Cases {
		switch {
		case c.Status == "passed":
		case c.Status == "skipped" && strings.HasSuffix(c.Name, "/blob-mount-anonymous"):
		default:
			out = append(out, c.Name+": "+c.Status)
		}
	}
	return out
}

// Passed reports whether the suite passed as a whole: it said so, exited
// cleanly, and Failures is empty.
func (r Result) Passed() bool {
	return r.Err == nil && strings.Contains(r.Output, "OCI Conformance Result: Pass") && len(r.Failures()) == 0
}

// Test builds the suite, runs it against tgt (ResultsDir defaults to a
// temporary directory, or $BERTH_OCI_RESULTS to keep the report), logs the
// counts of each workflow and fails t on any failure.
func Test(t testing.TB, tgt Target) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if tgt.ResultsDir == "" {
		tgt.ResultsDir = filepath.Join(dir, "results")
		if keep := os.Getenv("BERTH_OCI_RESULTS"); keep != "" {
			tgt.ResultsDir = keep
		}
	}
	res, err := Run(ctx, bin, tgt)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	for _, wf := range Workflows {
		c := res.Counts[wf]
		t.Logf("%-18s passed %3d  failed %d  skipped %d", wf, c.Passed, c.Failed, c.Skipped)
	}
	for _, f := range res.Failures() {
		t.Errorf("%s", f)
	}
	if !res.Passed() {
		t.Fatalf("OCI conformance suite failed (%v):\n%s", res.Err, res.Output)
	}
	return res
}

// workflowCounts reads the suite's junit report and sorts its test cases
// into the four workflows by the request each makes.
func workflowCounts(path string) (map[string]Tally, []Case, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var doc struct {
		Suites []struct {
			Cases []Case `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", path, err)
	}
	counts := map[string]Tally{}
	var cases []Case
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			cases = append(cases, c)
			wf := workflowOf(c.Name)
			t := counts[wf]
			switch c.Status {
			case "passed":
				t.Passed++
			case "skipped", "disabled":
				t.Skipped++
			default:
				t.Failed++
			}
			counts[wf] = t
		}
	}
	return counts, cases, nil
}

// workflowOf names the workflow of a test case by its path
// (".../push/blob-post-...", ".../tag-list", ".../manifest-delete").
func workflowOf(name string) string {
	parts := strings.Split(name, "/")
	leaf, parent := parts[len(parts)-1], ""
	if len(parts) > 1 {
		parent = parts[len(parts)-2]
	}
	switch {
	case strings.Contains(leaf, "delete"):
		return Management
	case leaf == "tag-list" || leaf == "referrers":
		return Discovery
	case parent == "push" || strings.HasPrefix(leaf, "blob-post") || strings.HasPrefix(leaf, "blob-patch") ||
		strings.HasPrefix(leaf, "blob-mount") || strings.HasPrefix(leaf, "manifest-put"):
		return Push
	}
	return Pull
}
