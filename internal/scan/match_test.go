package scan

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestLoadDBFixture(t *testing.T) {
	db := loadFixtureDB(t)
	st := db.Stats()
	if st.Withdrawn != 1 || st.Malformed != 1 || st.Unsupported != 2 || st.Vulns != 10 || st.Scores != 6 {
		t.Errorf("stats %+v", st)
	}
	if len(st.Notes) != 1 {
		t.Errorf("notes %q", st.Notes)
	}
}

func TestMatchDebianImage(t *testing.T) {
	db := loadFixtureDB(t)
	inv, err := TakeInventory(context.Background(), debianImage(t, "gzip"), InventoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rep := db.Match(inv)
	var got []string
	for _, f := range rep.Findings {
		got = append(got, fmt.Sprintf("%s %s %s %s=%s", f.Severity, f.Name, f.VulnerabilityID, f.PackageName, f.PackageVersion))
	}
	want := []string{
		"CRITICAL CVE-2023-45853 DEBIAN-CVE-2023-45853 zlib=1:1.2.13.dfsg-1",
		"HIGH CVE-2023-4911 DEBIAN-CVE-2023-4911 glibc=2.36-9+deb12u1",
		// GO-2099-0002 has no severity; the GHSA it aliases does.
		"HIGH GHSA-2099-stdl-ib00 GHSA-2099-stdl-ib00 stdlib=" + goStdlibVersion(t, inv),
		// DSA-5601-1 names two CVEs: one finding each. CVE-2023-6129 takes
		// its severity from the NVD-derived CVE record (GIT ranges only);
		// for CVE-2024-0727 the DEBIAN-CVE record with a vector wins.
		"MEDIUM CVE-2023-6129 DSA-5601-1 openssl=3.0.11-1~deb12u2",
		"MEDIUM CVE-2024-0727 DEBIAN-CVE-2024-0727 openssl=3.0.11-1~deb12u2",
		"MEDIUM CVE-2099-1234 GO-2099-0001 github.com/google/btree=v1.1.3",
		"LOW CVE-2022-0001 DLA-0000-1 foo=1.0-1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
	wantCounts := map[string]int{"CRITICAL": 1, "HIGH": 2, "MEDIUM": 3, "LOW": 1}
	if fmt.Sprint(rep.SeverityCounts) != fmt.Sprint(wantCounts) {
		t.Errorf("counts %v, want %v", rep.SeverityCounts, wantCounts)
	}
	// The (devel) main module cannot be ordered: noted, not matched.
	if len(rep.Notes) != 0 {
		t.Logf("notes: %q", rep.Notes)
	}

	byName := map[string]Finding{}
	for _, f := range rep.Findings {
		byName[f.VulnerabilityID] = f
	}
	glibc := byName["DEBIAN-CVE-2023-4911"]
	if glibc.CVSS3Score != "7.8" || glibc.URI != "https://osv.dev/vulnerability/DEBIAN-CVE-2023-4911" {
		t.Errorf("glibc finding %+v", glibc)
	}
	if f := byName["DSA-5601-1"]; f.URI != "https://www.debian.org/security/2024/dsa-5601" || f.CVSS3Score != "6.5" {
		t.Errorf("DSA finding %+v", f)
	}
	// A database label wins over the CVSS score (9.8 would be CRITICAL).
	if f := byName["GO-2099-0001"]; f.Severity != SeverityMedium || f.CVSS3Score != "9.8" {
		t.Errorf("GO-2099-0001 %+v", f)
	}

	e := rep.ECR()
	if len(e.Findings) != len(rep.Findings) || e.FindingSeverityCounts["HIGH"] != 2 {
		t.Fatalf("ECR %+v", e)
	}
	first := e.Findings[0]
	if *first.Name != "CVE-2023-45853" || *first.Severity != "CRITICAL" {
		t.Errorf("ECR first finding %+v", first)
	}
	attrs := map[string]string{}
	for _, a := range first.Attributes {
		attrs[*a.Key] = *a.Value
	}
	wantAttrs := map[string]string{
		"package_name": "zlib", "package_version": "1:1.2.13.dfsg-1",
		"CVSS3_SCORE": "9.8", "CVSS3_VECTOR": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
	}
	if fmt.Sprint(attrs) != fmt.Sprint(wantAttrs) {
		t.Errorf("attributes %v, want %v", attrs, wantAttrs)
	}
}

func goStdlibVersion(t *testing.T, inv *Inventory) string {
	for _, p := range inv.Packages {
		if p.Name == "stdlib" {
			return p.Version
		}
	}
	t.Fatal("no stdlib in inventory")
	return ""
}

func TestMatchAlpineImage(t *testing.T) {
	db := loadFixtureDB(t)
	layer := layerBytes(t, "gzip",
		file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
		file("lib/apk/db/installed", apkInstalled))
	inv, err := TakeInventory(context.Background(), openers(layer), InventoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rep := db.Match(inv)
	var got []string
	for _, f := range rep.Findings {
		got = append(got, fmt.Sprintf("%s %s %s=%s", f.Severity, f.Name, f.PackageName, f.PackageVersion))
	}
	// busybox and ssl_client share the busybox origin: one finding.
	// libcrypto3 3.1.4-r2 is the last_affected version itself.
	want := []string{
		"HIGH CVE-2024-0000 openssl=3.1.4-r2",
		"MEDIUM CVE-2023-42363 busybox=1.36.1-r15",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
}

// osvDoc writes a one-range OSV record.
func osvDoc(id, eco, name string, events string) string {
	return fmt.Sprintf(`{"id":%q,"affected":[{"package":{"ecosystem":%q,"name":%q},"ranges":[{"type":"ECOSYSTEM","events":%s}]}]}`, id, eco, name, events)
}

func TestRangeEvaluation(t *testing.T) {
	fsys := fstest.MapFS{
		"a.json": {Data: []byte(osvDoc("A", "Alpine:v3.19", "pkg",
			`[{"introduced":"1.0-r0"},{"fixed":"1.2-r0"},{"introduced":"2.0-r0"},{"last_affected":"2.1-r1"}]`))},
		"b.json": {Data: []byte(osvDoc("B", "Debian:12", "src",
			`[{"fixed":"1:2.0-1"},{"introduced":"0"}]`))}, // events out of order
		"c.json": {Data: []byte(osvDoc("C", "Debian:12", "src",
			`[{"introduced":"not a version!"},{"introduced":"3.0~rc1-1"}]`))}, // bad event skipped
	}
	db, err := LoadDB(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		eco, name, version string
		want               []string
	}{
		{"Alpine:v3.19", "pkg", "0.9-r0", nil},
		{"Alpine:v3.19", "pkg", "1.0-r0", []string{"A"}},
		{"Alpine:v3.19", "pkg", "1.1_rc1-r0", []string{"A"}},
		{"Alpine:v3.19", "pkg", "1.2_rc1-r0", []string{"A"}},
		{"Alpine:v3.19", "pkg", "1.2-r0", nil},
		{"Alpine:v3.19", "pkg", "2.1-r1", []string{"A"}},
		{"Alpine:v3.19", "pkg", "2.1-r2", nil},
		{"Debian:12", "src", "2.0-1", []string{"B"}},   // no epoch < epoch 1
		{"Debian:12", "src", "1:2.0-1", []string{"C"}}, // epoch 1 > 3.0~rc1-1
		{"Debian:12", "src", "3.0~rc1-1", []string{"B", "C"}},
		{"Debian:12", "src", "2:3.0", []string{"C"}},
		{"Debian:11", "src", "2.0-1", nil},
	} {
		inv := &Inventory{Packages: []Package{{Ecosystem: tc.eco, SourceName: tc.name, SourceVersion: tc.version}}}
		var got []string
		for _, f := range db.Match(inv).Findings {
			got = append(got, f.VulnerabilityID)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %s %s: %v, want %v", tc.eco, tc.name, tc.version, got, tc.want)
		}
	}

	// A package version that does not parse is noted, not matched.
	inv := &Inventory{Packages: []Package{{Ecosystem: "Alpine:v3.19", SourceName: "pkg", SourceVersion: "garbage", Location: "/lib/apk/db/installed"}}}
	rep := db.Match(inv)
	if len(rep.Findings) != 0 || len(rep.Notes) != 1 {
		t.Errorf("bad version: %+v", rep)
	}
}

func TestLoadDBZipAndBadInput(t *testing.T) {
	zipData := zipOf(t, map[string]string{
		"GO-1.json":     `{"id":"GO-1","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]}]}`,
		"bad.json":      `{"id": 12}`,
		"noid.json":     `{"affected":[]}`,
		"dir/README.md": "ignored",
	})
	db, err := LoadDB(fstest.MapFS{"go/all.zip": {Data: zipData}})
	if err != nil {
		t.Fatal(err)
	}
	if st := db.Stats(); st.Vulns != 1 || st.Malformed != 2 || st.Files != 3 {
		t.Errorf("stats %+v", st)
	}
	inv := &Inventory{Packages: []Package{{Ecosystem: "Go", SourceName: "example.com/m", SourceVersion: "v1.1.9-0.20240101000000-abcdefabcdef"}}}
	if n := len(db.Match(inv).Findings); n != 1 {
		t.Errorf("pseudo-version below fix: %d findings", n)
	}
	if _, err := LoadDB(fstest.MapFS{"broken.zip": {Data: []byte("PK not really")}}); err == nil {
		t.Error("corrupt zip: no error")
	}
}

func TestScanFromBlobStore(t *testing.T) {
	layer := layerBytes(t, "zstd",
		file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
		file("lib/apk/db/installed", apkInstalled))
	d := digest.FromBytes(layer)
	store := fakeBlobs{d: layer}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":%q,"size":%d}]}`,
		ocispec.MediaTypeImageManifest, digest.FromString("{}"), d, len(layer))
	layers, err := LayersFromManifest(store, []byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Scan(context.Background(), loadFixtureDB(t), layers, InventoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.SeverityCounts[SeverityHigh] != 1 || rep.SeverityCounts[SeverityMedium] != 1 || len(rep.Findings) != 2 {
		t.Errorf("report %+v", rep)
	}

	// A missing blob is an error; so are an index and a bad manifest.
	missing := strings.Replace(manifest, d.Encoded(), strings.Repeat("0", 64), 1)
	if layers, err := LayersFromManifest(store, []byte(missing)); err != nil {
		t.Fatal(err)
	} else if _, err := Scan(context.Background(), loadFixtureDB(t), layers, InventoryConfig{}); err == nil {
		t.Error("missing blob: no error")
	}
	for _, bad := range []string{`{"manifests":[{}]}`, `{"layers":[{"digest":"nope"}]}`, `not json`} {
		if _, err := LayersFromManifest(store, []byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// The registry's blob store is what the ECR side passes to
// LayersFromManifest.
var _ BlobOpener = blob.Store(nil)

// fakeBlobs is a BlobOpener over a map.
type fakeBlobs map[digest.Digest][]byte

func (f fakeBlobs) Open(_ context.Context, d digest.Digest, offset int64) (io.ReadCloser, error) {
	b, ok := f[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: not found", d)
	}
	return io.NopCloser(bytes.NewReader(b[offset:])), nil
}
