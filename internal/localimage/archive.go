package localimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"time"
)

// epoch is the fixed mtime of every tar entry, so equal content gives equal
// archives.
var epoch = time.Unix(0, 0).UTC()

// Tarball accumulates an in-memory tar archive: an image build context or
// a root filesystem to import. The first error sticks and Bytes returns it.
type Tarball struct {
	buf bytes.Buffer
	w   *tar.Writer
	err error
}

// NewTarball returns an empty archive.
func NewTarball() *Tarball {
	t := &Tarball{}
	t.w = tar.NewWriter(&t.buf)
	return t
}

func (t *Tarball) header(h *tar.Header) {
	if t.err != nil {
		return
	}
	h.ModTime, h.Format = epoch, tar.FormatPAX
	t.err = t.w.WriteHeader(h)
}

// Dir adds a directory.
func (t *Tarball) Dir(name string, mode int64) {
	t.header(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode})
}

// File adds a regular file.
func (t *Tarball) File(name string, mode int64, data []byte) {
	t.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))})
	if t.err == nil {
		_, t.err = t.w.Write(data)
	}
}

// Symlink adds a symbolic link to target.
func (t *Tarball) Symlink(name, target string) {
	t.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
}

// Bytes closes the archive and returns it.
func (t *Tarball) Bytes() ([]byte, error) {
	if t.err != nil {
		return nil, fmt.Errorf("write tar: %w", t.err)
	}
	if err := t.w.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	return t.buf.Bytes(), nil
}

// Passwd and Group give the images a root and a nobody (65534) user, so
// specs can set User by name or number.
const (
	Passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	Group  = "root:x:0:\nnogroup:x:65534:\n"
)
