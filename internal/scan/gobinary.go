package scan

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
)

const ecosystemGo = "Go"

var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

// readGoBinary lists the Go modules of an ELF executable built by Go: the
// main module, its dependencies (replacements win, as they are what was
// compiled) and the toolchain as module "stdlib". ok is false for anything
// that is not a Go binary; oversized files are skipped with a note. Small
// binaries are read into memory, larger ones spooled to a temporary file,
// as debug/buildinfo needs random access.
func (inv *inventory) readGoBinary(r io.Reader, idx int, name string, size int64) ([]Package, bool) {
	if size < int64(len(elfMagic)) {
		return nil, false
	}
	head := make([]byte, len(elfMagic))
	if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, elfMagic) {
		return nil, false
	}
	if size > inv.cfg.MaxBinarySize {
		inv.note("layer %d: %s: executable of %d bytes is over the %d limit; not examined", idx, name, size, inv.cfg.MaxBinarySize)
		return nil, false
	}
	if inv.binaries >= inv.cfg.MaxGoBinaries {
		inv.note("layer %d: %s: over %d Go binaries; not examined", idx, name, inv.cfg.MaxGoBinaries)
		return nil, false
	}
	rest := io.LimitReader(r, size-int64(len(head)))
	var ra io.ReaderAt
	if size <= inv.cfg.MaxInMemoryBinary {
		buf := make([]byte, size)
		copy(buf, head)
		if _, err := io.ReadFull(rest, buf[len(head):]); err != nil {
			inv.note("layer %d: %s: %v", idx, name, err)
			return nil, false
		}
		ra = bytes.NewReader(buf)
	} else {
		f, err := spool(inv.cfg.TempDir, head, rest)
		if err != nil {
			inv.note("layer %d: %s: %v", idx, name, err)
			return nil, false
		}
		defer os.Remove(f.Name())
		defer f.Close()
		ra = f
	}
	bi, err := readBuildInfo(ra)
	if err != nil {
		return nil, false // not a Go binary, or one built without module info
	}
	inv.binaries++
	var pkgs []Package
	add := func(mod, version string) {
		pkgs = append(pkgs, Package{
			Kind: KindGo, Name: mod, Version: version,
			SourceName: mod, SourceVersion: version, Location: name,
		})
	}
	if v, ok := goToolchainSemver(bi.GoVersion); ok {
		add("stdlib", v)
	} else {
		inv.note("layer %d: %s: Go toolchain %q not understood; stdlib not listed", idx, name, bi.GoVersion)
	}
	if bi.Main.Path != "" {
		add(bi.Main.Path, bi.Main.Version)
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		add(d.Path, d.Version)
	}
	return pkgs, true
}

// readBuildInfo is buildinfo.Read, turning a panic on a hostile ELF file
// into an error: debug/elf is fuzzed upstream, but an image is untrusted
// input and one bad file must not take the scanner down.
func readBuildInfo(ra io.ReaderAt) (bi *buildinfo.BuildInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("read build info: panic: %v", r)
		}
	}()
	return buildinfo.Read(ra)
}

// spool copies head and rest into a new temporary file in dir.
func spool(dir string, head []byte, rest io.Reader) (*os.File, error) {
	f, err := os.CreateTemp(dir, "berth-scan-*")
	if err != nil {
		return nil, fmt.Errorf("spool executable: %w", err)
	}
	_, err = f.Write(head)
	if err == nil {
		_, err = io.Copy(f, rest)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("spool executable: %w", err)
	}
	return f, nil
}
