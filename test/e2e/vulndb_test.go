package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// osvFixture is internal/scan's OSV fixture; its other/ directory holds a
// document that is not an OSV record.
const osvFixture = "../../internal/scan/testdata/osv/"

// TestVulnDBVerb imports the OSV fixture with `berth vulndb import` into a
// real server, shows it with `berth vulndb status`, and has an import with
// a malformed document refused with nothing changed.
func TestVulnDBVerb(t *testing.T) {
	srv := startServer(t, serverOptions{})
	berth := func(args ...string) (string, error) {
		cmd := exec.Command(berthBin, append([]string{"vulndb"}, append(args, "--endpoint-url", srv.endpoint())...)...)
		cmd.Env = childEnv("AWS_ACCESS_KEY_ID="+srv.keyID, "AWS_SECRET_ACCESS_KEY="+srv.secret, "AWS_REGION="+region)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	type status struct {
		Imported        bool
		Digest          string
		Vulnerabilities int
		Ecosystems      map[string]int
	}
	statusJSON := func() status {
		out, err := berth("status", "--output", "json")
		if err != nil {
			t.Fatalf("berth vulndb status: %v\n%s", err, out)
		}
		var st status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("berth vulndb status --output json: %v\n%s", err, out)
		}
		return st
	}

	if out, err := berth("status"); err != nil || !strings.Contains(out, "No vulnerability database imported") {
		t.Fatalf("status before import: %v\n%s", err, out)
	}
	out, err := berth("import", osvFixture+"debian", osvFixture+"go", osvFixture+"nvd/CVE-2023-6129.json")
	if err != nil {
		t.Fatalf("berth vulndb import: %v\n%s", err, out)
	}
	for _, want := range []string{"Imported at:", "Debian:12", "Go"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	st := statusJSON()
	if !st.Imported || st.Vulnerabilities == 0 || st.Ecosystems["Go"] == 0 || st.Ecosystems["Debian:12"] == 0 || st.Ecosystems["Alpine:v3.19"] != 0 {
		t.Errorf("status %+v", st)
	}

	out, err = berth("import", osvFixture+"alpine", osvFixture+"other")
	if err == nil || !strings.Contains(out, "InvalidParameterException") || !strings.Contains(out, "malformed.json") {
		t.Errorf("import with a malformed document: %v\n%s", err, out)
	}
	if after := statusJSON(); after.Digest != st.Digest {
		t.Errorf("a refused import replaced the database: %+v, was %+v", after, st)
	}
}
