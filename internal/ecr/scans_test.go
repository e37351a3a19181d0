package ecr

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/scan/scantest"
)

// osvFixture is internal/scan's OSV fixture.
const osvFixture = "../scan/testdata/osv"

const scanDpkgStatus = `Package: libc6
Status: install ok installed
Source: glibc
Version: 2.36-9+deb12u1

Package: libssl3
Status: install ok installed
Source: openssl
Version: 3.0.11-1~deb12u2

Package: zlib1g
Status: install ok installed
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: libfoo
Status: install ok installed
Source: foo (1.0-1)
Version: 1.0-1+b1
`

// wantFindings are what the fixture finds in scanImage's image: severity,
// name and package (the Go standard library's version is the toolchain's).
var wantFindings = []string{
	"CRITICAL CVE-2023-45853 zlib",
	"HIGH CVE-2023-4911 glibc",
	"HIGH GHSA-2099-stdl-ib00 stdlib",
	"MEDIUM CVE-2023-6129 openssl",
	"MEDIUM CVE-2024-0727 openssl",
	"MEDIUM CVE-2099-1234 github.com/google/btree",
	"LOW CVE-2022-0001 foo",
}

var wantCounts = map[string]int32{"CRITICAL": 1, "HIGH": 2, "MEDIUM": 3, "LOW": 1}

// gzipLayer is a gzipped tar of files (name -> body; an executable when
// the name ends in "bin/app").
func gzipLayer(t *testing.T, files map[string][]byte) string {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		mode := int64(0o644)
		if strings.HasSuffix(name, "bin/app") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(files[name]))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[name])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// pushScannable pushes to repo:tag a Debian image with a dpkg status file
// and a Go binary, through the registry; it returns its digest.
func (h *harness) pushScannable(t *testing.T, repo, tag string) string {
	t.Helper()
	base := gzipLayer(t, map[string][]byte{
		"etc/os-release":      []byte("ID=debian\nVERSION_ID=\"12\"\n"),
		"var/lib/dpkg/status": []byte(scanDpkgStatus),
	})
	app := gzipLayer(t, map[string][]byte{"usr/local/bin/app": scantest.GoBinary(t)})
	_, d, _ := h.pushImage(t, repo, tag, `{"architecture":"amd64","os":"linux"}`, base, app)
	return d.String()
}

// osvZip zips the fixture's directories (OSV records only: other/ holds a
// malformed one); extra files are added as they are.
func osvZip(t *testing.T, dirs []string, extra map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join(osvFixture, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			w, err := zw.Create(dir + "/" + d.Name())
			if err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range extra {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// vulnDB calls the vulnerability database route as berthclient does
// (which this package cannot import): SigV4 for "ecr", the body's hash
// signed. A reply other than 200 is an error with its body.
func (h *harness) vulnDB(t *testing.T, method string, body []byte) (*VulnDBStatus, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.srv.URL+VulnDBPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	creds, _ := credentials.NewStaticCredentialsProvider(testKey, testSecret, "").Retrieve(t.Context())
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), "ecr", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	reply, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%d %s", res.StatusCode, reply)
	}
	var st VulnDBStatus
	if err := json.Unmarshal(reply, &st); err != nil {
		t.Fatal(err)
	}
	return &st, nil
}

// importDB imports zip z through the vulnerability database route.
func (h *harness) importDB(t *testing.T, z []byte) (*VulnDBStatus, error) {
	t.Helper()
	return h.vulnDB(t, http.MethodPut, z)
}

// waitScan polls the image's scan until it is no longer IN_PROGRESS.
func (h *harness) waitScan(t *testing.T, repo string, id types.ImageIdentifier, maxResults *int32) *ecr.DescribeImageScanFindingsOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := h.client.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo), ImageId: &id, MaxResults: maxResults})
		if err != nil {
			t.Fatalf("DescribeImageScanFindings: %v", err)
		}
		if out.ImageScanStatus.Status != types.ScanStatusInProgress {
			return out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("scan of %s still in progress", aws.ToString(id.ImageDigest))
		case <-tick.C:
		}
	}
}

func findingLines(fs []types.ImageScanFinding) []string {
	var out []string
	for _, f := range fs {
		pkg := ""
		for _, a := range f.Attributes {
			if aws.ToString(a.Key) == "package_name" {
				pkg = aws.ToString(a.Value)
			}
		}
		out = append(out, fmt.Sprintf("%s %s %s", f.Severity, aws.ToString(f.Name), pkg))
	}
	return out
}

func TestStartImageScanFindings(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	h.mustCreate(t, false, "app")
	d := h.pushScannable(t, "app", "v1")
	byTag := types.ImageIdentifier{ImageTag: aws.String("v1")}

	// Never scanned: ScanNotFoundException; DescribeImages shows no status.
	_, err := h.client.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("app"), ImageId: &byTag})
	if code(err) != "ScanNotFoundException" {
		t.Fatalf("before any scan: %v", err)
	}

	// No database: the scan fails, saying what to do.
	start, err := h.client.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("app"), ImageId: &byTag})
	if err != nil {
		t.Fatal(err)
	}
	if start.ImageScanStatus.Status != types.ScanStatusInProgress || aws.ToString(start.ImageId.ImageDigest) != d {
		t.Errorf("StartImageScan: %+v", start)
	}
	out := h.waitScan(t, "app", byTag, nil)
	if out.ImageScanStatus.Status != types.ScanStatusFailed || aws.ToString(out.ImageScanStatus.Description) != noVulnDBDescription || out.ImageScanFindings != nil {
		t.Fatalf("without a database: %s %q %+v", out.ImageScanStatus.Status, aws.ToString(out.ImageScanStatus.Description), out.ImageScanFindings)
	}
	// The limit is per database: with none still, a rescan is refused.
	if _, err := h.client.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("app"), ImageId: &byTag}); code(err) != "LimitExceededException" {
		t.Fatalf("rescan: %v", err)
	}

	st, err := h.importDB(t, osvZip(t, []string{"debian", "go", "nvd", "alpine"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Imported || !st.Loaded || st.Vulnerabilities != 10 || st.Withdrawn != 1 || st.Ecosystems["Debian:12"] == 0 || st.Ecosystems["Go"] == 0 || !st.ImportedAt.Equal(testNow) {
		t.Errorf("import: %+v", st)
	}

	// A new database lifts the limit; by digest this time.
	byDigest := types.ImageIdentifier{ImageDigest: aws.String(d)}
	if _, err := h.client.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("app"), ImageId: &byDigest}); err != nil {
		t.Fatal(err)
	}
	out = h.waitScan(t, "app", byDigest, nil)
	if out.ImageScanStatus.Status != types.ScanStatusComplete {
		t.Fatalf("scan: %+v", out.ImageScanStatus)
	}
	f := out.ImageScanFindings
	if got := findingLines(f.Findings); !slices.Equal(got, wantFindings) {
		t.Errorf("findings:\n got %q\nwant %q", got, wantFindings)
	}
	if fmt.Sprint(f.FindingSeverityCounts) != fmt.Sprint(wantCounts) {
		t.Errorf("counts %v, want %v", f.FindingSeverityCounts, wantCounts)
	}
	if !aws.ToTime(f.ImageScanCompletedAt).Equal(testNow) || !aws.ToTime(f.VulnerabilitySourceUpdatedAt).Equal(testNow) || out.NextToken != nil {
		t.Errorf("times %v %v, next %v", f.ImageScanCompletedAt, f.VulnerabilitySourceUpdatedAt, out.NextToken)
	}
	first := f.Findings[0]
	if aws.ToString(first.Uri) == "" || aws.ToString(first.Description) == "" {
		t.Errorf("first finding %+v", first)
	}

	// Pages of 3: the same findings.
	var paged []types.ImageScanFinding
	var next *string
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		p, err := h.client.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("app"),
			ImageId: &byTag, MaxResults: aws.Int32(3), NextToken: next})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(p.ImageScanFindings.Findings); n > 3 || n == 0 {
			t.Fatalf("page of %d", n)
		}
		paged = append(paged, p.ImageScanFindings.Findings...)
		if next = p.NextToken; next == nil {
			break
		}
	}
	if got := findingLines(paged); !slices.Equal(got, wantFindings) {
		t.Errorf("paged findings %q", got)
	}
	for _, bad := range []int32{0, 1001} {
		_, err := h.client.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("app"), ImageId: &byTag, MaxResults: aws.Int32(bad)})
		if code(err) != "InvalidParameterException" {
			t.Errorf("maxResults %d: %v", bad, err)
		}
	}
	if _, err := h.client.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("app"), ImageId: &byTag, NextToken: aws.String("bm9wZQ")}); code(err) != "InvalidParameterException" {
		t.Errorf("bad token: %v", err)
	}

	// DescribeImages shows the status and summary.
	di, err := h.client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	img := di.ImageDetails[0]
	if img.ImageScanStatus == nil || img.ImageScanStatus.Status != types.ScanStatusComplete || img.ImageScanFindingsSummary == nil ||
		fmt.Sprint(img.ImageScanFindingsSummary.FindingSeverityCounts) != fmt.Sprint(wantCounts) {
		t.Errorf("DescribeImages: %+v %+v", img.ImageScanStatus, img.ImageScanFindingsSummary)
	}

	// Scanned against this database today: refused, as ECR's daily limit.
	if _, err := h.client.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("app"), ImageId: &byTag}); code(err) != "LimitExceededException" {
		t.Errorf("rescan: %v", err)
	}

	// Errors: an unknown image, an index, an unknown repository.
	if _, err := h.client.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("app"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("nope")}}); code(err) != "ImageNotFoundException" {
		t.Errorf("unknown tag: %v", err)
	}
	if _, err := h.client.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("nope"), ImageId: &byTag}); code(err) != "RepositoryNotFoundException" {
		t.Errorf("unknown repository: %v", err)
	}
	_, body := h.pull(t, "/v2/app/manifests/v1")
	idx := indexOf(body)
	if st := h.pushManifest(t, "app", "multi", ociIndex, idx); st != http.StatusCreated {
		t.Fatalf("push index: %d", st)
	}
	if _, err := h.client.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("app"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("multi")}}); code(err) != "UnsupportedImageTypeException" {
		t.Errorf("index: %v", err)
	}

	// Deleting the image deletes its scan.
	if _, err := h.client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("multi")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{byDigest}}); err != nil {
		t.Fatal(err)
	}
	h.pushScannable(t, "app", "v1")
	if _, err := h.client.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("app"), ImageId: &byTag}); code(err) != "ScanNotFoundException" {
		t.Errorf("pushed again after deletion: %v", err)
	}
}

func TestScanOnPush(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	if _, err := h.importDB(t, osvZip(t, []string{"debian", "go", "nvd"}, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("scanned"),
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true}}); err != nil {
		t.Fatal(err)
	}
	h.mustCreate(t, false, "plain")
	d := h.pushScannable(t, "scanned", "v1")
	h.pushScannable(t, "plain", "v1")

	out := h.waitScan(t, "scanned", types.ImageIdentifier{ImageDigest: aws.String(d)}, aws.Int32(1000))
	if out.ImageScanStatus.Status != types.ScanStatusComplete || fmt.Sprint(out.ImageScanFindings.FindingSeverityCounts) != fmt.Sprint(wantCounts) {
		t.Fatalf("scan on push: %s %q %+v", out.ImageScanStatus.Status, aws.ToString(out.ImageScanStatus.Description), out.ImageScanFindings)
	}
	di, err := h.client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("scanned"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := di.ImageDetails[0].ImageScanFindingsSummary; s == nil || s.FindingSeverityCounts["CRITICAL"] != 1 {
		t.Errorf("summary %+v", s)
	}
	// Without scanOnPush, nothing is scanned.
	if _, err := h.client.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("plain"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}}); code(err) != "ScanNotFoundException" {
		t.Errorf("plain repository: %v", err)
	}

	// PutImage of a new manifest scans too.
	_, body := h.pull(t, "/v2/scanned/manifests/v1")
	body2 := strings.Replace(body, `"schemaVersion":2`, `"schemaVersion": 2`, 1)
	put, err := h.client.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("scanned"), ImageManifest: aws.String(body2), ImageTag: aws.String("v2")})
	if err != nil {
		t.Fatal(err)
	}
	out = h.waitScan(t, "scanned", *put.Image.ImageId, nil)
	if out.ImageScanStatus.Status != types.ScanStatusComplete || len(out.ImageScanFindings.Findings) != len(wantFindings) {
		t.Errorf("PutImage scan: %+v", out.ImageScanStatus)
	}

	// An index pushed is not scanned: UNSUPPORTED_IMAGE.
	if st := h.pushManifest(t, "scanned", "multi", ociIndex, indexOf(body)); st != http.StatusCreated {
		t.Fatalf("push index: %d", st)
	}
	di, err = h.client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("scanned"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("multi")}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := di.ImageDetails[0].ImageScanStatus; s == nil || s.Status != types.ScanStatusUnsupportedImage || di.ImageDetails[0].ImageScanFindingsSummary != nil {
		t.Errorf("index: %+v", s)
	}
}

func TestImportVulnDBRefusesNonOSV(t *testing.T) {
	h := newHarness(t)
	st, err := h.vulnDB(t, http.MethodGet, nil)
	if err != nil || st.Imported {
		t.Fatalf("status before import: %+v %v", st, err)
	}
	good := osvZip(t, []string{"debian"}, nil)
	if _, err := h.importDB(t, good); err != nil {
		t.Fatal(err)
	}
	before := h.state(t)
	for name, tc := range map[string]struct {
		zip  []byte
		want string
	}{
		"malformed": {osvZip(t, []string{"go"}, map[string]string{"bad/x.json": `{"id": 1}`}), "1 documents that are not OSV records: bad/x.json"},
		"no id":     {osvZip(t, []string{"go"}, map[string]string{"README.json": `{"not": "osv"}`}), "README.json: no id"},
		"not a zip": {[]byte("not a zip at all"), "not a zip archive"},
		"empty":     {osvZip(t, nil, map[string]string{"README.md": "no records"}), "no OSV records"},
	} {
		_, err := h.importDB(t, tc.zip)
		if msg := fmt.Sprint(err); !strings.Contains(msg, "400") || !strings.Contains(msg, "InvalidParameterException") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if after := h.state(t); after != before {
		t.Errorf("a refused import changed the store:\n%s\n---\n%s", before, after)
	}
	st, err = h.vulnDB(t, http.MethodGet, nil)
	if err != nil || st.Ecosystems["Debian:12"] == 0 || st.Ecosystems["Go"] != 0 {
		t.Errorf("status after refusals: %+v %v", st, err)
	}
}

// TestVulnDBSharedAndReloaded: a second service on the same etcd and blob
// store (another server) loads the database the first imported on its first
// use, and the new one after another import.
func TestVulnDBSharedAndReloaded(t *testing.T) {
	h := newHarness(t)
	other := New(Config{Store: h.st, AccountID: testAccount, Region: testRegion, RegistryHost: testHost, Blobs: h.blobs,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return testNow }})
	t.Cleanup(other.Close)
	if _, _, err := other.vulnDB(t.Context()); !errors.Is(err, errNoVulnDB) {
		t.Fatalf("before any import: %v", err)
	}
	first, err := h.importDB(t, osvZip(t, []string{"debian"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	db, rec, err := other.vulnDB(t.Context())
	if err != nil || rec.Digest != first.Digest || db.Stats().Ecosystems["Go"] != 0 || db.Stats().Vulns != first.Vulnerabilities {
		t.Fatalf("first load: %v %+v %v", db, rec, err)
	}
	if again, _, _ := other.vulnDB(t.Context()); again != db {
		t.Error("loaded again with the digest unchanged")
	}
	second, err := h.importDB(t, osvZip(t, []string{"debian", "go"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	db, rec, err = other.vulnDB(t.Context())
	if err != nil || rec.Digest != second.Digest || db.Stats().Ecosystems["Go"] == 0 {
		t.Fatalf("after a new import: %+v %v", rec, err)
	}
}

// Garbage collection keeps the current vulnerability database and the
// findings of the images' scans: they are blobs no repository links.
func TestGCKeepsVulnDBAndFindings(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	st, err := h.importDB(t, osvZip(t, []string{"debian", "go", "nvd"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	h.mustCreate(t, false, "app")
	d := h.pushScannable(t, "app", "v1")
	id := types.ImageIdentifier{ImageDigest: aws.String(d)}
	if _, err := h.client.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("app"), ImageId: &id}); err != nil {
		t.Fatal(err)
	}
	if out := h.waitScan(t, "app", id, nil); out.ImageScanStatus.Status != types.ScanStatusComplete {
		t.Fatalf("scan: %+v", out.ImageScanStatus)
	}
	// Everything in the store is older than any grace.
	rep, err := h.s.GCPass(ctx, []string{testRegion}, time.Now().Add(48*time.Hour))
	if err != nil {
		t.Fatalf("GCPass: %v", err)
	}
	if rep.BlobsDeleted != 0 {
		t.Fatalf("GCPass deleted %d blobs, want none: %+v", rep.BlobsDeleted, rep)
	}
	if _, err := h.blobs.Stat(ctx, digest.Digest(st.Digest)); err != nil {
		t.Fatalf("the vulnerability database %s: %v", st.Digest, err)
	}
	out := h.waitScan(t, "app", id, nil)
	if len(out.ImageScanFindings.Findings) != len(wantFindings) {
		t.Fatalf("findings after GC: %d, want %d", len(out.ImageScanFindings.Findings), len(wantFindings))
	}
}
