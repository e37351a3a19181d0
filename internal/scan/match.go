package scan

import (
	"fmt"
	"strings"
)

// comparator orders two versions of one ecosystem.
type comparator func(a, b string) (int, error)

// comparatorFor returns the version ordering of an (Inventory-form)
// ecosystem.
func comparatorFor(eco string) comparator {
	base, _, _ := strings.Cut(eco, ":")
	switch base {
	case "Debian", "Ubuntu":
		return compareDebVersions
	case "Alpine":
		return compareApkVersions
	case "Go":
		return compareSemver
	}
	return nil
}

// affects reports whether version lies in af's ranges or versions list.
func (af *affected) affects(version string, cmp comparator) (bool, error) {
	for _, v := range af.versions {
		if v == version {
			return true, nil
		}
	}
	for i := range af.ranges {
		r := &af.ranges[i]
		c := cmp
		if r.semver {
			c = compareSemver
		}
		in, err := r.contains(version, c)
		if err != nil {
			return false, err
		}
		if in {
			return true, nil
		}
	}
	return false, nil
}

// contains evaluates an OSV range as the schema describes
// (https://ossf.github.io/osv-schema/#evaluation): events sorted by version
// ("introduced": "0" first), each one the version has reached switching it
// in or out of the affected state. An event whose version does not parse is
// skipped; a package version that does not parse is an error.
func (r *versionRange) contains(version string, cmp comparator) (bool, error) {
	if _, err := cmp(version, version); err != nil {
		return false, err
	}
	// Only events the version has reached fire; the last of those in
	// version order decides. Ties keep introduced before fixed, so a version
	// both introduced and fixed at is not affected.
	var fired []event
	for _, e := range r.events {
		if e.kind == evIntroduced && e.version == "0" {
			fired = append(fired, e)
			continue
		}
		c, err := cmp(e.version, version)
		if err != nil {
			continue
		}
		if c < 0 || (c == 0 && e.kind != evLastAffected) {
			fired = append(fired, e)
		}
	}
	if len(fired) == 0 {
		return false, nil
	}
	last := fired[0]
	for _, e := range fired[1:] {
		if laterEvent(e, last, cmp) {
			last = e
		}
	}
	in := last.kind == evIntroduced
	return in, nil
}

// laterEvent reports whether a comes after b in a range's version order.
func laterEvent(a, b event, cmp comparator) bool {
	aZero := a.kind == evIntroduced && a.version == "0"
	bZero := b.kind == evIntroduced && b.version == "0"
	switch {
	case aZero:
		return false
	case bZero:
		return true
	}
	c, err := cmp(a.version, b.version)
	if err != nil || c == 0 {
		return err == nil && a.kind > b.kind
	}
	return c > 0
}

// Match returns the findings of inv against db, sorted by severity then
// name. A finding is named by CVE as ECR's are: a record about several CVEs
// (a Debian DSA) yields one finding per CVE, and records naming the same CVE
// (DSA-… and DEBIAN-CVE-…, GO-… and GHSA-…) for the same package and version
// yield one, preferring a record with a severity. Packages whose version
// cannot be ordered are noted, not matched.
func (db *DB) Match(inv *Inventory) *Report {
	rep := &Report{}
	kept := map[[3]string]int{} // (name, package, version) -> index in rep.Findings
	noted := 0
	for _, p := range inv.Packages {
		cmp := comparatorFor(p.Ecosystem)
		if cmp == nil {
			continue
		}
		version, name := p.SourceVersion, p.SourceName
		for _, af := range db.index[pkgKey{ecosystem: p.Ecosystem, name: name}] {
			in, err := af.affects(version, cmp)
			if err != nil {
				if noted < 50 {
					rep.Notes = append(rep.Notes, fmt.Sprintf("%s %s (%s): %v; not matched", name, version, p.Location, err))
				}
				noted++
				break
			}
			if !in {
				continue
			}
			v := &db.vulns[af.vuln]
			for _, findingName := range v.names {
				f := Finding{
					Name:            findingName,
					VulnerabilityID: v.id,
					Description:     v.description,
					URI:             v.uri,
					Severity:        v.severity,
					PackageName:     name,
					PackageVersion:  version,
					CVSS3Score:      v.cvss3Score,
					CVSS3Vector:     v.cvss3Vector,
					CVSS2Vector:     v.cvss2Vector,
				}
				if af.severity != "" {
					f.Severity = af.severity
				}
				db.enrich(&f)
				key := [3]string{findingName, name, version}
				if v.dedupe != "" {
					key[0] = v.dedupe
				}
				i, dup := kept[key]
				switch {
				case !dup:
					kept[key] = len(rep.Findings)
					rep.Findings = append(rep.Findings, f)
				case rep.Findings[i].Severity == SeverityUndefined && f.Severity != SeverityUndefined:
					rep.Findings[i] = f
				}
			}
		}
	}
	if noted > 50 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d more packages not matched", noted-50))
	}
	rep.finish()
	return rep
}

// enrich gives f the CVSS v3 vector known for its CVE when its own record
// has none, and the severity that vector maps to when f has none either.
func (db *DB) enrich(f *Finding) {
	if f.CVSS3Vector != "" {
		return
	}
	sc, ok := db.cvss[f.Name]
	if !ok {
		return
	}
	f.CVSS3Vector, f.CVSS3Score = sc.vector, sc.score
	if f.Severity == SeverityUndefined {
		f.Severity = sc.severity
	}
}
