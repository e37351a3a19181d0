package scan

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// Package kinds: where an inventoried package came from.
const (
	KindDeb = "deb" // dpkg status or status.d
	KindApk = "apk" // apk installed database
	KindGo  = "go"  // a Go binary's build information
)

// Package is one installed package or Go module found in an image.
type Package struct {
	Kind    string
	Name    string // binary package name, Go module path or "stdlib"
	Version string // as installed (Go modules keep their "v")
	// SourceName and SourceVersion are what vulnerability advisories name:
	// the Debian source package, the Alpine origin, or Name and Version.
	SourceName    string
	SourceVersion string
	Location      string // file the package was found in
	// Ecosystem is the OSV ecosystem, e.g. "Debian:12", "Alpine:v3.19", "Go";
	// "" when the image's OS could not be told.
	Ecosystem string
}

// Inventory is what TakeInventory found in an image.
type Inventory struct {
	OS       OSRelease
	Packages []Package // sorted by ecosystem, name, version, location
	// Notes say what was skipped and why (a corrupt database, an oversized
	// binary); bounded by InventoryConfig.MaxNotes.
	Notes []string
}

// InventoryConfig bounds what TakeInventory reads; zero fields take the
// defaults below.
type InventoryConfig struct {
	// MaxDBSize bounds one package database or os-release file (64 MiB).
	MaxDBSize int64
	// MaxBinarySize bounds an executable examined for Go build information;
	// larger ones are skipped with a note (256 MiB).
	MaxBinarySize int64
	// MaxInMemoryBinary is the largest executable read into memory; larger
	// ones are spooled to a temporary file in TempDir (16 MiB).
	MaxInMemoryBinary int64
	// TempDir is where large executables are spooled (os.TempDir()).
	TempDir string
	// MaxGoBinaries bounds the Go binaries inventoried (2,000).
	MaxGoBinaries int
	// MaxNotes bounds Inventory.Notes (100).
	MaxNotes int
}

func (c InventoryConfig) withDefaults() InventoryConfig {
	if c.MaxDBSize <= 0 {
		c.MaxDBSize = 64 << 20
	}
	if c.MaxBinarySize <= 0 {
		c.MaxBinarySize = 256 << 20
	}
	if c.MaxInMemoryBinary <= 0 {
		c.MaxInMemoryBinary = 16 << 20
	}
	if c.MaxGoBinaries <= 0 {
		c.MaxGoBinaries = 2000
	}
	if c.MaxNotes <= 0 {
		c.MaxNotes = 100
	}
	return c
}

// Files the inventory reads, as cleaned absolute paths.
const (
	dpkgStatusPath   = "/var/lib/dpkg/status"
	dpkgStatusDDir   = "/var/lib/dpkg/status.d"
	apkInstalledPath = "/lib/apk/db/installed"
	etcOSRelease     = "/etc/os-release"
	usrOSRelease     = "/usr/lib/os-release"
)

// found is what one file of the image contributed.
type found struct {
	packages []Package
	os       *OSRelease
}

// inventory is the state of one TakeInventory: the merged view of the
// layers read so far, holding only files that contributed something.
type inventory struct {
	cfg      InventoryConfig
	files    map[string]found
	binaries int
	notes    []string
	dropped  int
}

func (inv *inventory) note(format string, args ...any) {
	if len(inv.notes) >= inv.cfg.MaxNotes {
		inv.dropped++
		return
	}
	inv.notes = append(inv.notes, fmt.Sprintf(format, args...))
}

// TakeInventory reads an image's layers bottom first and lists its OS
// packages and Go modules as the container would see them: a file deleted or
// replaced in a later layer (OCI whiteouts, opaque directories, overwrites)
// does not count. A layer that cannot be opened or decompressed is an error;
// a corrupt tar stream ends that layer with a note, keeping what was read.
func TakeInventory(ctx context.Context, layers []LayerOpener, cfg InventoryConfig) (*Inventory, error) {
	inv := &inventory{cfg: cfg.withDefaults(), files: map[string]found{}}
	for i, open := range layers {
		if err := inv.readLayer(ctx, i, open); err != nil {
			return nil, err
		}
	}
	return inv.result(), nil
}

func (inv *inventory) readLayer(ctx context.Context, idx int, open LayerOpener) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inventory layer %d: %w", idx, err)
	}
	rc, err := open(ctx)
	if err != nil {
		return fmt.Errorf("inventory layer %d: %w", idx, err)
	}
	defer rc.Close()
	r, err := decompress(rc)
	if err != nil {
		return fmt.Errorf("inventory layer %d: %w", idx, err)
	}
	defer r.Close()

	// Whiteouts and overwrites apply to lower layers only, so this layer's
	// findings wait in upper until the layer is read.
	upper := map[string]found{}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("inventory layer %d: %w", idx, err)
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			inv.note("layer %d: tar stream ends early: %v", idx, err)
			break
		}
		name := path.Clean("/" + hdr.Name)
		dir, base := path.Split(name)
		if base == ".wh..wh..opq" {
			inv.removeLower(path.Clean(dir), true)
			continue
		}
		if strings.HasPrefix(base, ".wh.") {
			inv.removeLower(path.Join(dir, strings.TrimPrefix(base, ".wh.")), false)
			continue
		}
		if hdr.Typeflag != tar.TypeDir {
			// Anything but a directory replaces what a lower layer had here.
			delete(inv.files, name)
		}
		if hdr.Typeflag != tar.TypeReg {
			delete(upper, name)
			continue
		}
		if f, ok := inv.readFile(tr, idx, name, hdr); ok {
			upper[name] = f
		} else {
			delete(upper, name)
		}
	}
	for name, f := range upper {
		inv.files[name] = f
	}
	return nil
}

// removeLower drops what lower layers had at p: the path itself and, for a
// directory, everything under it. An opaque directory keeps p itself.
func (inv *inventory) removeLower(p string, opaque bool) {
	prefix := p + "/"
	if p == "/" {
		prefix = "/"
	}
	for name := range inv.files {
		if (!opaque && name == p) || strings.HasPrefix(name, prefix) {
			delete(inv.files, name)
		}
	}
}

// readFile examines one regular file, returning what it contributes.
func (inv *inventory) readFile(r io.Reader, idx int, name string, hdr *tar.Header) (found, bool) {
	switch {
	case name == dpkgStatusPath, path.Dir(name) == dpkgStatusDDir:
		if strings.HasSuffix(name, ".md5sums") {
			return found{}, false
		}
		data, ok := inv.readSmall(r, idx, name, hdr.Size)
		if !ok {
			return found{}, false
		}
		return found{packages: parseDpkgStatus(data, name)}, true
	case name == apkInstalledPath:
		data, ok := inv.readSmall(r, idx, name, hdr.Size)
		if !ok {
			return found{}, false
		}
		return found{packages: parseApkInstalled(data, name)}, true
	case name == etcOSRelease, name == usrOSRelease:
		data, ok := inv.readSmall(r, idx, name, hdr.Size)
		if !ok {
			return found{}, false
		}
		o := parseOSRelease(data)
		return found{os: &o}, true
	}
	if hdr.Mode&0o111 == 0 {
		// Only executables: shared libraries (0644 in Debian and Alpine)
		// would otherwise all be read to find no Go build information.
		return found{}, false
	}
	pkgs, ok := inv.readGoBinary(r, idx, name, hdr.Size)
	return found{packages: pkgs}, ok
}

// readSmall reads a database file whole, refusing one over MaxDBSize.
func (inv *inventory) readSmall(r io.Reader, idx int, name string, size int64) ([]byte, bool) {
	if size > inv.cfg.MaxDBSize {
		inv.note("layer %d: %s: %d bytes is over the %d limit; skipped", idx, name, size, inv.cfg.MaxDBSize)
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		inv.note("layer %d: %s: %v", idx, name, err)
		return nil, false
	}
	return data, true
}

// result assembles the Inventory from the merged layers.
func (inv *inventory) result() *Inventory {
	out := &Inventory{}
	if f, ok := inv.files[etcOSRelease]; ok && f.os != nil {
		out.OS = *f.os
	} else if f, ok := inv.files[usrOSRelease]; ok && f.os != nil {
		out.OS = *f.os
	}
	osEco := out.OS.Ecosystem()
	var distroPkgs bool
	for _, f := range inv.files {
		for _, p := range f.packages {
			switch p.Kind {
			case KindGo:
				p.Ecosystem = ecosystemGo
			default:
				p.Ecosystem = osEco
				distroPkgs = true
			}
			out.Packages = append(out.Packages, p)
		}
	}
	if distroPkgs && osEco == "" {
		inv.note("OS %q version %q has no OSV ecosystem; its packages are listed but not matched", out.OS.ID, out.OS.VersionID)
	}
	if inv.dropped > 0 {
		inv.notes = append(inv.notes, fmt.Sprintf("%d more notes dropped", inv.dropped))
	}
	sort.Slice(out.Packages, func(i, j int) bool {
		a, b := out.Packages[i], out.Packages[j]
		if a.Ecosystem != b.Ecosystem {
			return a.Ecosystem < b.Ecosystem
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Location < b.Location
	})
	out.Notes = inv.notes
	return out
}
