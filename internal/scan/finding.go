package scan

import (
	"sort"

	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
)

// Finding is one vulnerability in one package, in the shape of ECR's basic
// scan finding (ImageScanFinding).
type Finding struct {
	// Name is the CVE id, or the OSV id when the record has no CVE alias.
	Name string
	// VulnerabilityID is the OSV record's id (DSA-…, GO-…, CVE-…).
	VulnerabilityID string
	Description     string // summary, else details; bounded
	URI             string // the advisory link, else the osv.dev page
	Severity        string // one of Severities
	PackageName     string // as advisories name it (Debian source, Alpine origin, Go module)
	PackageVersion  string
	CVSS3Score      string // "9.8", when the record has a CVSS v3 vector
	CVSS3Vector     string
	CVSS2Vector     string
}

// Attribute keys of ECR basic scan findings.
const (
	AttrPackageName    = "package_name"
	AttrPackageVersion = "package_version"
	AttrCVSS2Vector    = "CVSS2_VECTOR"
	AttrCVSS3Score     = "CVSS3_SCORE"
	AttrCVSS3Vector    = "CVSS3_VECTOR"
)

// Attribute is one key/value of a finding.
type Attribute struct{ Key, Value string }

// Attributes lists the finding's attributes as ECR's basic scan does:
// package_version and package_name, then the CVSS details known.
func (f Finding) Attributes() []Attribute {
	out := []Attribute{
		{AttrPackageVersion, f.PackageVersion},
		{AttrPackageName, f.PackageName},
	}
	if f.CVSS2Vector != "" {
		out = append(out, Attribute{AttrCVSS2Vector, f.CVSS2Vector})
	}
	if f.CVSS3Vector != "" {
		out = append(out, Attribute{AttrCVSS3Vector, f.CVSS3Vector}, Attribute{AttrCVSS3Score, f.CVSS3Score})
	}
	return out
}

// Report is the result of matching an image's inventory.
type Report struct {
	Findings []Finding // sorted: severity (CRITICAL first), name, package, version
	// SeverityCounts is ECR's findingSeverityCounts: only severities that
	// occur.
	SeverityCounts map[string]int
	Notes          []string
}

func (r *Report) finish() {
	sort.Slice(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if ra, rb := severityRank(a.Severity), severityRank(b.Severity); ra != rb {
			return ra < rb
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.PackageName != b.PackageName {
			return a.PackageName < b.PackageName
		}
		if a.PackageVersion != b.PackageVersion {
			return a.PackageVersion < b.PackageVersion
		}
		return a.VulnerabilityID < b.VulnerabilityID
	})
	r.SeverityCounts = map[string]int{}
	for _, f := range r.Findings {
		r.SeverityCounts[f.Severity]++
	}
}

// ECR converts the report to ECR's ImageScanFindings findings and counts;
// the caller sets the timestamps.
func (r *Report) ECR() ecrtypes.ImageScanFindings {
	out := ecrtypes.ImageScanFindings{
		FindingSeverityCounts: make(map[string]int32, len(r.SeverityCounts)),
		Findings:              make([]ecrtypes.ImageScanFinding, 0, len(r.Findings)),
	}
	for k, n := range r.SeverityCounts {
		out.FindingSeverityCounts[k] = int32(n)
	}
	for _, f := range r.Findings {
		out.Findings = append(out.Findings, f.ECR())
	}
	return out
}

// ECR converts one finding to ECR's wire type.
func (f Finding) ECR() ecrtypes.ImageScanFinding {
	attrs := f.Attributes()
	out := ecrtypes.ImageScanFinding{
		Name:        ptr(f.Name),
		Description: ptr(f.Description),
		Uri:         ptr(f.URI),
		Severity:    ptr(f.Severity),
		Attributes:  make([]ecrtypes.Attribute, 0, len(attrs)),
	}
	for _, a := range attrs {
		out.Attributes = append(out.Attributes, ecrtypes.Attribute{Key: ptr(a.Key), Value: ptr(a.Value)})
	}
	return out
}

func ptr[T any](v T) *T { return &v }
