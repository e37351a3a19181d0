package conformance

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWorkflowOf(t *testing.T) {
	tests := []struct{ name, want string }{
		{"OCI Conformance/image/pull/manifest-by-tag", Pull},
		{"OCI Conformance/image/push/blob-post-put", Push},
		{"OCI Conformance/image/blob-mount-from", Push},
		{"OCI Conformance/image/manifest-put-by-tag", Push},
		{"OCI Conformance/image/tag-list", Discovery},
		{"OCI Conformance/artifact/referrers", Discovery},
		{"OCI Conformance/image/manifest-delete", Management},
		{"OCI Conformance/image/blob-delete", Management},
		{"OCI Conformance/image/blob-head", Pull},
	}
	for _, tt := range tests {
		if got := workflowOf(tt.name); got != tt.want {
			t.Errorf("workflowOf(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestReportAndFailures: the junit report is counted per workflow, and
// only the anonymous mount may be skipped.
func TestReportAndFailures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junit.xml")
	const report = `<testsuites><testsuite name="OCI Conformance">
<testcase name="OCI Conformance/image/pull/manifest-by-tag" status="passed"></testcase>
<testcase name="OCI Conformance/image/push/blob-post-put" status="passed"></testcase>
<testcase name="OCI Conformance/image/blob-mount-anonymous" status="skipped"></testcase>
<testcase name="OCI Conformance/image/tag-list" status="passed"></testcase>
<testcase name="OCI Conformance/image/manifest-delete" status="failed"></testcase>
<testcase name="OCI Conformance/image/blob-delete" status="passed"></testcase>
<testcase name="OCI Conformance/image/referrers" status="skipped"></testcase>
</testsuite></testsuites>`
	if err := os.WriteFile(path, []byte(report), 0o600); err != nil {
		t.Fatal(err)
	}
	counts, cases, err := workflowCounts(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Tally{
		Pull:       {Passed: 1},
		Push:       {Passed: 1, Skipped: 1},
		Discovery:  {Passed: 1, Skipped: 1},
		Management: {Passed: 1, Failed: 1},
	}
	for wf, c := range want {
		if counts[wf] != c {
			t.Errorf("%s: %+v, want %+v", wf, counts[wf], c)
		}
	}
	res := Result{Output: "OCI Conformance Result: Pass", Counts: counts, Cases: cases}
	wantFailures := []string{
		"OCI Conformance/image/manifest-delete: failed",
		"OCI Conformance/image/referrers: skipped",
	}
	if got := res.Failures(); !slices.Equal(got, wantFailures) {
		t.Errorf("Failures() = %q, want %q", got, wantFailures)
	}
	if res.Passed() {
		t.Error("Passed() with failures")
	}
}
