package scan

import (
	"archive/tar"
	"context"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/scan/scantest"
)

const debianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
`

const dpkgStatus = `Package: libc6
Status: install ok installed
Priority: optional
Source: glibc
Version: 2.36-9+deb12u1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: libc-bin
Status: install ok installed
Source: glibc
Version: 2.36-9+deb12u1

Package: libssl3
Status: install ok installed
Source: openssl
Version: 3.0.11-1~deb12u2

Package: openssl
Status: install ok installed
Version: 3.0.11-1~deb12u2

Package: zlib1g
Status: install ok installed
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: libfoo
Status: install ok installed
Source: foo (1.0-1)
Version: 1.0-1+b1

Package: removed
Status: deinstall ok config-files
Source: openssl
Version: 1.0.0-1
`

const apkInstalled = `C:Q1abc=
P:busybox
V:1.36.1-r15
A:x86_64
o:busybox
T:Size optimized toolbox

P:ssl_client
V:1.36.1-r15
o:busybox

P:libcrypto3
V:3.1.4-r2
o:openssl

P:musl
V:1.2.4_git20230717-r4
o:musl
`

// debianImage is two layers: a base with os-release (via a symlink),
// dpkg status, a distroless status.d entry and two Go binaries, and an
// upper layer that deletes the status.d entry (whiteout) and one binary's
// directory (opaque), and adds a file of its own in that directory.
func debianImage(t testing.TB, compression string) []LayerOpener {
	bin := scantest.GoBinary(t)
	base := layerBytes(t, compression,
		entry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "etc/os-release", typ: tar.TypeSymlink, linkname: "../usr/lib/os-release"},
		file("usr/lib/os-release", debianOSRelease),
		file("./var/lib/dpkg/status", dpkgStatus),
		file("var/lib/dpkg/status.d/base-files", "Package: base-files\nVersion: 12.4+deb12u5\n"),
		file("var/lib/dpkg/status.d/base-files.md5sums", "ffff  etc/debian_version\n"),
		entry{name: "usr/local/bin/app", body: bin, mode: 0o755},
		entry{name: "opt/tool/tool", body: bin, mode: 0o755},
		entry{name: "usr/lib/plugin.so", body: bin, mode: 0o644}, // not executable
		file("usr/share/doc/readme", "\x7fEL"),                   // too short to be ELF
	)
	upper := layerBytes(t, compression,
		whiteout("var/lib/dpkg/status.d/.wh.base-files"),
		file("opt/tool/notes.txt", "kept: same layer as the opaque marker"),
		whiteout("opt/tool/.wh..wh..opq"),
	)
	return openers(base, upper)
}

func TestInventoryDebianWithWhiteouts(t *testing.T) {
	for _, compression := range []string{"gzip", "zstd", "none"} {
		t.Run(compression, func(t *testing.T) {
			inv, err := TakeInventory(context.Background(), debianImage(t, compression), InventoryConfig{MaxInMemoryBinary: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if inv.OS.ID != "debian" || inv.OS.VersionID != "12" || inv.OS.Ecosystem() != "Debian:12" {
				t.Fatalf("OS = %+v", inv.OS)
			}
			var debs []string
			locations := map[string]bool{}
			for _, p := range inv.Packages {
				switch p.Kind {
				case KindDeb:
					if p.Ecosystem != "Debian:12" {
						t.Errorf("%s: ecosystem %q", p.Name, p.Ecosystem)
					}
					debs = append(debs, p.Name+"="+p.Version+"/"+p.SourceName+"="+p.SourceVersion)
				case KindGo:
					locations[p.Location] = true
				}
			}
			want := []string{
				"libc-bin=2.36-9+deb12u1/glibc=2.36-9+deb12u1",
				"libc6=2.36-9+deb12u1/glibc=2.36-9+deb12u1",
				"libfoo=1.0-1+b1/foo=1.0-1",
				"libssl3=3.0.11-1~deb12u2/openssl=3.0.11-1~deb12u2",
				"openssl=3.0.11-1~deb12u2/openssl=3.0.11-1~deb12u2",
				"zlib1g=1:1.2.13.dfsg-1/zlib=1:1.2.13.dfsg-1",
			}
			if !slices.Equal(debs, want) {
				t.Errorf("debian packages:\n got %q\nwant %q", debs, want)
			}
			if !locations["/usr/local/bin/app"] || locations["/opt/tool/tool"] || len(locations) != 1 {
				t.Errorf("Go binaries at %v, want only /usr/local/bin/app", locations)
			}
			var stdlib, compress bool
			for _, p := range inv.Packages {
				if p.Kind != KindGo {
					continue
				}
				if p.Ecosystem != "Go" {
					t.Errorf("%s: ecosystem %q", p.Name, p.Ecosystem)
				}
				if p.Name == "stdlib" && p.Version == strings.TrimPrefix(runtime.Version(), "go") {
					stdlib = true
				}
				if p.Name == "github.com/google/btree" && p.Version == "v1.1.3" {
					compress = true
				}
			}
			if !stdlib || !compress {
				t.Errorf("Go modules: stdlib %v, google/btree %v in %+v", stdlib, compress, inv.Packages)
			}
		})
	}
}

func TestInventoryAlpine(t *testing.T) {
	base := layerBytes(t, "gzip",
		file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
		file("lib/apk/db/installed", apkInstalled),
	)
	inv, err := TakeInventory(context.Background(), openers(base), InventoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range inv.Packages {
		if p.Ecosystem != "Alpine:v3.19" || p.Kind != KindApk {
			t.Errorf("%+v: want an Alpine:v3.19 apk package", p)
		}
		got = append(got, p.Name+"="+p.Version+"/"+p.SourceName)
	}
	want := []string{"busybox=1.36.1-r15/busybox", "libcrypto3=3.1.4-r2/openssl", "musl=1.2.4_git20230717-r4/musl", "ssl_client=1.36.1-r15/busybox"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	// A later layer deleting the database removes every package; a layer
	// after that restoring it brings them back.
	del := layerBytes(t, "zstd", whiteout("lib/apk/db/.wh.installed"))
	inv, err = TakeInventory(context.Background(), openers(base, del), InventoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 0 {
		t.Errorf("after whiteout: %+v", inv.Packages)
	}
	restore := layerBytes(t, "none", file("lib/apk/db/installed", "P:zlib\nV:1.3.1-r0\no:zlib\n"))
	inv, err = TakeInventory(context.Background(), openers(base, del, restore), InventoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 1 || inv.Packages[0].Name != "zlib" {
		t.Errorf("after restore: %+v", inv.Packages)
	}
	// Deleting a parent directory deletes the database too.
	inv, err = TakeInventory(context.Background(), openers(base, layerBytes(t, "gzip", whiteout("lib/.wh.apk"))), InventoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 0 {
		t.Errorf("after directory whiteout: %+v", inv.Packages)
	}
}

func TestInventoryLimitsAndCorruptInput(t *testing.T) {
	ctx := context.Background()
	// Oversized database and binary: skipped with notes.
	big := layerBytes(t, "gzip",
		file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
		file("lib/apk/db/installed", apkInstalled),
		entry{name: "bin/app", body: scantest.GoBinary(t), mode: 0o755},
	)
	inv, err := TakeInventory(ctx, openers(big), InventoryConfig{MaxDBSize: 16, MaxBinarySize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 0 || len(inv.Notes) < 2 {
		t.Errorf("packages %+v notes %q", inv.Packages, inv.Notes)
	}

	// A truncated layer keeps what was read before the damage.
	noise := make([]byte, 1<<16)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise { // incompressible, so the cut lands in it
		noise[i] = byte(rng.Uint32())
	}
	full := layerBytes(t, "gzip", file("etc/os-release", debianOSRelease), file("var/lib/dpkg/status", dpkgStatus), entry{name: "noise", body: noise})
	inv, err = TakeInventory(ctx, openers(full[:len(full)-200]), InventoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) == 0 || len(inv.Notes) == 0 {
		t.Errorf("truncated layer: packages %d, notes %q", len(inv.Packages), inv.Notes)
	}

	// Garbage and an empty layer are notes too, never a panic.
	for _, b := range [][]byte{[]byte("this is not a tar stream at all, not even close............"), nil, {0x1f, 0x8b, 0, 0}} {
		if _, err := TakeInventory(ctx, openers(b), InventoryConfig{}); err != nil {
			t.Logf("%q: %v", b, err)
		}
	}

	// A cancelled context stops the scan.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := TakeInventory(cctx, openers(full), InventoryConfig{}); err == nil {
		t.Error("cancelled context: no error")
	}

	// Packages of an OS without an OSV ecosystem are listed, with a note.
	unknown := layerBytes(t, "gzip", file("var/lib/dpkg/status", dpkgStatus))
	inv, err = TakeInventory(ctx, openers(unknown), InventoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) == 0 || inv.Packages[0].Ecosystem != "" || len(inv.Notes) != 1 {
		t.Errorf("no os-release: %+v %q", inv.Packages, inv.Notes)
	}
}

func TestOSReleaseEcosystem(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ID=debian\nVERSION_ID=\"12\"\n", "Debian:12"},
		{"ID=debian\nVERSION_ID=\"11.9\"\n", "Debian:11"},
		{"ID=debian\n", ""}, // testing/sid
		{"ID=alpine\nVERSION_ID=3.19.1\n", "Alpine:v3.19"},
		{"ID=alpine\nVERSION_ID=3\n", ""},
		{"ID=ubuntu\nVERSION_ID=\"22.04\"\n", "Ubuntu:22.04"},
		{"ID='fedora'\nVERSION_ID=40\n", ""},
		{"garbage\n=\n", ""},
	} {
		if got := parseOSRelease([]byte(tc.in)).Ecosystem(); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}
