package scan

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
)

// osvEntry is the part of an OSV record (https://ossf.github.io/osv-schema/)
// the database keeps.
type osvEntry struct {
	ID        string   `json:"id"`
	Withdrawn string   `json:"withdrawn"`
	Aliases   []string `json:"aliases"`
	Upstream  []string `json:"upstream"`
	Summary   string   `json:"summary"`
	Details   string   `json:"details"`
	Severity  []struct {
		Type  string `json:"type"`
		Score string `json:"score"`
	} `json:"severity"`
	Affected []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Type   string              `json:"type"`
			Events []map[string]string `json:"events"`
		} `json:"ranges"`
		Versions         []string      `json:"versions"`
		DatabaseSpecific osvDBSpecific `json:"database_specific"`
	} `json:"affected"`
	References []struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"references"`
	DatabaseSpecific osvDBSpecific `json:"database_specific"`
}

// osvDBSpecific reads database_specific.severity when it is a string
// (GitHub, Ubuntu, Debian); other shapes are ignored rather than failing the
// whole record.
type osvDBSpecific struct{ Severity string }

func (d *osvDBSpecific) UnmarshalJSON(b []byte) error {
	var v struct {
		Severity json.RawMessage `json:"severity"`
	}
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	var s string
	if json.Unmarshal(v.Severity, &s) == nil {
		d.Severity = s
	}
	return nil
}

// vuln is one stored vulnerability, already shaped for a Finding.
type vuln struct {
	id string
	// names are the finding names: the CVE ids the record is about (its own
	// id, its aliases or, for Debian's DSA/DLA, its upstream CVEs), or its
	// id when it names no CVE.
	names []string
	// dedupe identifies a record without CVE across databases: the least of
	// its id and aliases, the same for GO-… and the GHSA-… it aliases.
	dedupe      string
	description string
	uri         string
	severity    string // from the database's label or the CVSS v3 score
	cvss3Vector string
	cvss3Score  string
	cvss2Vector string
}

// Range event kinds.
const (
	evIntroduced = iota
	evFixed
	evLastAffected
)

type event struct {
	kind    uint8
	version string
}

type versionRange struct {
	semver bool // SEMVER range: ordered by semver whatever the ecosystem
	events []event
}

// affected is one (vulnerability, package) pair of the index.
type affected struct {
	vuln     int32
	ranges   []versionRange
	versions []string // only when no range could be evaluated; see add
	severity string   // per-package database_specific severity, if any
}

type pkgKey struct{ ecosystem, name string }

// DB is an OSV vulnerability database indexed by (ecosystem, package name).
// It keeps only ecosystems Berth can inventory (Debian, Ubuntu, Alpine, Go)
// and only what findings need, so whole ecosystems fit comfortably in memory.
// A DB is immutable once loaded and safe for concurrent use.
type DB struct {
	vulns  []vuln
	index  map[pkgKey][]affected
	intern map[string]string // load-time only; nil afterwards
	stats  LoadStats
	// cvss holds the CVSS v3 vectors of CVEs, from any record that carries
	// one (osv.dev's NVD-derived CVE-… records chiefly), to give a severity
	// to findings whose own record has none: Debian's and Alpine's records
	// rarely carry a severity, while ECR reports one.
	cvss map[string]cveScore
}

// cveScore is a CVE's CVSS v3 vector, score and the severity it maps to.
type cveScore struct {
	vector, score, severity string
	own                     bool // from the CVE's own record (id == CVE)
}

// LoadStats says what LoadDB read.
type LoadStats struct {
	Files       int // JSON documents read
	Vulns       int // vulnerabilities kept
	Withdrawn   int // withdrawn entries skipped
	Unsupported int // entries with no ecosystem Berth scans
	Scores      int // CVEs with a CVSS v3 vector, for findings without a severity
	Malformed   int // documents that were not OSV JSON
	// Ecosystems counts the vulnerabilities kept per ecosystem Berth scans
	// ("Debian", "Alpine", "Go", ...): one that affects packages of two
	// ecosystems counts in each.
	Ecosystems map[string]int
	// Notes name the first malformed documents and why.
	Notes []string
}

// Stats reports what was loaded.
func (db *DB) Stats() LoadStats { return db.stats }

// maxOSVFile bounds one OSV document; real ones are a few kilobytes.
const maxOSVFile = 8 << 20

// maxDescription bounds a finding's description, in bytes.
const maxDescription = 1024

// LoadDB reads every *.json file under fsys (one OSV record per file, in any
// subdirectory) and every *.zip archive of such files, as osv.dev publishes
// each ecosystem (https://osv-vulnerabilities.storage.googleapis.com/<eco>/
// all.zip). Withdrawn records are skipped, malformed ones counted and noted;
// only an unreadable directory or archive is an error.
func LoadDB(fsys fs.FS) (*DB, error) {
	db := &DB{index: map[pkgKey][]affected{}, intern: map[string]string{}, cvss: map[string]cveScore{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("load vulnerability database: %w", err)
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(path.Ext(p)) {
		case ".json":
			f, err := fsys.Open(p)
			if err != nil {
				return fmt.Errorf("load vulnerability database: %w", err)
			}
			defer f.Close()
			db.addDocument(p, f)
		case ".zip":
			if err := db.addZip(fsys, p); err != nil {
				return fmt.Errorf("load vulnerability database: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	db.intern = nil
	db.stats.Vulns = len(db.vulns)
	db.stats.Scores = len(db.cvss)
	return db, nil
}

// LoadDBDir is LoadDB of a local directory.
func LoadDBDir(dir string) (*DB, error) {
	return LoadDB(os.DirFS(dir))
}

func (db *DB) addZip(fsys fs.FS, p string) error {
	f, err := fsys.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		// Not an *os.File (e.g. a zip inside an fstest.MapFS): spool it.
		tmp, err := spool("", nil, f)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		ra = tmp
	}
	zr, err := zip.NewReader(ra, st.Size())
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() || !strings.EqualFold(path.Ext(zf.Name), ".json") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			db.malformed(p+":"+zf.Name, err)
			continue
		}
		db.addDocument(p+":"+zf.Name, rc)
		rc.Close()
	}
	return nil
}

func (db *DB) malformed(name string, err error) {
	db.stats.Malformed++
	if len(db.stats.Notes) < 20 {
		db.stats.Notes = append(db.stats.Notes, fmt.Sprintf("%s: %v", name, err))
	}
}

// addDocument decodes one OSV record and adds it.
func (db *DB) addDocument(name string, r io.Reader) {
	db.stats.Files++
	data, err := io.ReadAll(io.LimitReader(r, maxOSVFile+1))
	if err != nil {
		db.malformed(name, err)
		return
	}
	if len(data) > maxOSVFile {
		db.malformed(name, fmt.Errorf("over %d bytes", maxOSVFile))
		return
	}
	var e osvEntry
	if err := json.Unmarshal(data, &e); err != nil {
		db.malformed(name, err)
		return
	}
	if e.ID == "" {
		db.malformed(name, fmt.Errorf("no id"))
		return
	}
	db.add(&e)
}

// add indexes one record under each affected package of a supported
// ecosystem.
func (db *DB) add(e *osvEntry) {
	if e.Withdrawn != "" {
		db.stats.Withdrawn++
		return
	}
	idx := int32(len(db.vulns))
	kept := false
	var ecos []string
	for _, a := range e.Affected {
		eco := normalizeEcosystem(a.Package.Ecosystem)
		if eco == "" || a.Package.Name == "" {
			continue
		}
		af := affected{vuln: idx}
		if s, ok := severityFromLabel(a.DatabaseSpecific.Severity); ok {
			af.severity = s
		}
		for _, r := range a.Ranges {
			if r.Type != "ECOSYSTEM" && r.Type != "SEMVER" {
				continue // GIT ranges name commits, not versions
			}
			vr := versionRange{semver: r.Type == "SEMVER"}
			for _, ev := range r.Events {
				for k, v := range ev {
					var kind uint8
					switch k {
					case "introduced":
						kind = evIntroduced
					case "fixed":
						kind = evFixed
					case "last_affected":
						kind = evLastAffected
					default:
						continue // "limit" only applies to GIT ranges
					}
					vr.events = append(vr.events, event{kind: kind, version: db.str(v)})
				}
			}
			if len(vr.events) > 0 {
				af.ranges = append(af.ranges, vr)
			}
		}
		// osv.dev enumerates `versions` from the ranges for Debian, Alpine
		// and Go; keeping them too would multiply the database's size. They
		// decide only when there is no range to evaluate.
		if len(af.ranges) == 0 {
			for _, v := range a.Versions {
				af.versions = append(af.versions, db.str(v))
			}
		}
		if len(af.ranges) == 0 && len(af.versions) == 0 {
			continue
		}
		k := pkgKey{ecosystem: db.str(eco), name: db.str(a.Package.Name)}
		db.index[k] = append(db.index[k], af)
		kept = true
		if !slices.Contains(ecos, k.ecosystem) {
			ecos = append(ecos, k.ecosystem)
		}
	}
	v := newVuln(e)
	db.addScores(e.ID, v)
	if !kept {
		db.stats.Unsupported++
		return
	}
	db.vulns = append(db.vulns, v)
	if db.stats.Ecosystems == nil {
		db.stats.Ecosystems = map[string]int{}
	}
	for _, eco := range ecos {
		db.stats.Ecosystems[eco]++
	}
}

// addScores records v's CVSS v3 vector for each CVE it names; a CVE's own
// record wins over others, otherwise the first one read does.
func (db *DB) addScores(id string, v vuln) {
	if v.cvss3Vector == "" {
		return
	}
	for _, name := range v.names {
		if !strings.HasPrefix(name, "CVE-") {
			continue
		}
		own := name == id
		if old, ok := db.cvss[name]; ok && (old.own || !own) {
			continue
		}
		db.cvss[name] = cveScore{
			vector: v.cvss3Vector, score: v.cvss3Score,
			severity: severityFromScore(mustScore(v.cvss3Vector)), own: own,
		}
	}
}

// mustScore is CVSS3BaseScore of a vector already known to parse.
func mustScore(vector string) float64 {
	s, _ := CVSS3BaseScore(vector)
	return s
}

// str interns s: range versions and package names repeat across thousands
// of records.
func (db *DB) str(s string) string {
	if v, ok := db.intern[s]; ok {
		return v
	}
	db.intern[s] = s
	return s
}

// normalizeEcosystem maps an OSV ecosystem to the form Inventory uses, or
// "" when Berth cannot inventory it. Ubuntu's ":LTS" qualifier is dropped
// (an image's os-release says 22.04, not 22.04:LTS).
func normalizeEcosystem(eco string) string {
	base, rest, _ := strings.Cut(eco, ":")
	switch base {
	case "Go":
		if rest == "" {
			return eco
		}
	case "Debian", "Alpine":
		if rest != "" {
			return eco
		}
	case "Ubuntu":
		if rest != "" && !strings.HasPrefix(rest, "Pro:") {
			return "Ubuntu:" + strings.TrimSuffix(rest, ":LTS")
		}
	}
	return ""
}

// newVuln shapes a record as ECR's finding needs it.
func newVuln(e *osvEntry) vuln {
	v := vuln{id: e.ID, names: []string{e.ID}, severity: SeverityUndefined}
	if !strings.HasPrefix(e.ID, "CVE-") {
		cves := cveIDs(e.Aliases)
		if len(cves) == 0 {
			cves = cveIDs(e.Upstream)
		}
		if len(cves) > 0 {
			v.names = cves
		} else {
			v.dedupe = e.ID
			for _, a := range e.Aliases {
				if a < v.dedupe {
					v.dedupe = a
				}
			}
		}
	}
	desc := e.Summary
	if desc == "" {
		desc = e.Details
	}
	v.description = truncateUTF8(strings.TrimSpace(desc), maxDescription)
	v.uri = "https://osv.dev/vulnerability/" + e.ID
	for _, r := range e.References {
		if r.Type == "ADVISORY" && strings.HasPrefix(r.URL, "https://") {
			v.uri = r.URL
			break
		}
	}
	var fromCVSS string
	for _, s := range e.Severity {
		switch s.Type {
		case "CVSS_V3":
			if score, err := CVSS3BaseScore(s.Score); err == nil {
				v.cvss3Vector = s.Score
				v.cvss3Score = fmt.Sprintf("%.1f", score)
				fromCVSS = severityFromScore(score)
			}
		case "CVSS_V2":
			v.cvss2Vector = s.Score
		case "Ubuntu":
			if l, ok := severityFromLabel(s.Score); ok && fromCVSS == "" {
				fromCVSS = l
			}
		}
	}
	if l, ok := severityFromLabel(e.DatabaseSpecific.Severity); ok {
		v.severity = l
	} else if fromCVSS != "" {
		v.severity = fromCVSS
	}
	return v
}

// cveIDs returns the distinct CVE ids among ids, sorted.
func cveIDs(ids []string) []string {
	var out []string
	for _, id := range ids {
		if strings.HasPrefix(id, "CVE-") {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + ellipsis
}
