package scan

import (
	"fmt"
	"testing"
	"testing/fstest"
)

// syntheticDB builds an OSV database of n records spread over Debian,
// Alpine and Go packages, four records per package.
func syntheticDB(b *testing.B, n int) *DB {
	b.Helper()
	fsys := fstest.MapFS{}
	for i := range n {
		pkg := i / 4
		var doc string
		switch pkg % 3 {
		case 0:
			doc = osvDoc(fmt.Sprintf("DEBIAN-CVE-%d", i), "Debian:12", fmt.Sprintf("src%d", pkg),
				fmt.Sprintf(`[{"introduced":"0"},{"fixed":"1:%d.%d-1+deb12u1"}]`, i%7, i%5))
		case 1:
			doc = osvDoc(fmt.Sprintf("ALPINE-CVE-%d", i), "Alpine:v3.19", fmt.Sprintf("src%d", pkg),
				fmt.Sprintf(`[{"introduced":"1.%d_rc1-r0"},{"fixed":"2.%d-r%d"}]`, i%7, i%5, i%3))
		default:
			doc = fmt.Sprintf(`{"id":"GO-%d","aliases":["CVE-2099-%d"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"Go","name":"example.com/m%d"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.%d.0"}]}]}]}`,
				i, i, pkg, i%9)
		}
		fsys[fmt.Sprintf("%d.json", i)] = &fstest.MapFile{Data: []byte(doc)}
	}
	db, err := LoadDB(fsys)
	if err != nil {
		b.Fatal(err)
	}
	if db.Stats().Vulns != n {
		b.Fatalf("loaded %+v", db.Stats())
	}
	return db
}

// syntheticInventory lists n packages, a third in each ecosystem, named so
// that each has four records in syntheticDB.
func syntheticInventory(n int) *Inventory {
	inv := &Inventory{}
	for i := range n {
		pkg := i * 10
		var p Package
		switch pkg % 3 {
		case 0:
			p = Package{Ecosystem: "Debian:12", SourceName: fmt.Sprintf("src%d", pkg), SourceVersion: "1:3.2-1"}
		case 1:
			p = Package{Ecosystem: "Alpine:v3.19", SourceName: fmt.Sprintf("src%d", pkg), SourceVersion: "1.4-r1"}
		default:
			p = Package{Ecosystem: "Go", SourceName: fmt.Sprintf("example.com/m%d", pkg), SourceVersion: "v1.3.0"}
		}
		p.Name, p.Version = p.SourceName, p.SourceVersion
		inv.Packages = append(inv.Packages, p)
	}
	return inv
}

// BenchmarkMatch matches 500 packages against 20,000 records.
func BenchmarkMatch(b *testing.B) {
	db := syntheticDB(b, 20000)
	inv := syntheticInventory(500)
	b.ReportAllocs()
	var findings int
	for b.Loop() {
		findings = len(db.Match(inv).Findings)
	}
	b.ReportMetric(float64(findings), "findings")
}

// BenchmarkLoadDB loads 20,000 records.
func BenchmarkLoadDB(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		syntheticDB(b, 20000)
	}
}
