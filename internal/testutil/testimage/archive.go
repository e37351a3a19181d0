package testimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/pkg/jsonmessage"
)

// epoch is the fixed mtime of every tar entry, so equal content gives equal
// archives.
var epoch = time.Unix(0, 0).UTC()

// tarball accumulates an in-memory tar archive.
type tarball struct {
	buf bytes.Buffer
	w   *tar.Writer
	err error
}

func newTarball() *tarball {
	t := &tarball{}
	t.w = tar.NewWriter(&t.buf)
	return t
}

func (t *tarball) header(h *tar.Header) {
	if t.err != nil {
		return
	}
	h.ModTime, h.Format = epoch, tar.FormatPAX
	t.err = t.w.WriteHeader(h)
}

func (t *tarball) dir(name string, mode int64) {
	t.header(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode})
}

func (t *tarball) file(name string, mode int64, data []byte) {
	t.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))})
	if t.err == nil {
		_, t.err = t.w.Write(data)
	}
}

func (t *tarball) symlink(name, target string) {
	t.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
}

// bytes closes the archive and returns it.
func (t *tarball) bytes() ([]byte, error) {
	if t.err != nil {
		return nil, fmt.Errorf("write tar: %w", t.err)
	}
	if err := t.w.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	return t.buf.Bytes(), nil
}

// passwd and group give the images a root and a nobody (65534) user, so
// specs can set User by name or number.
const (
	passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group  = "root:x:0:\nnogroup:x:65534:\n"
)

// drain reads a daemon progress stream (import, build) to the end and
// returns the first error the daemon reported inside it.
func drain(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read progress: %w", err)
		}
		if msg.Error != nil {
			return msg.Error
		}
		if msg.ErrorMessage != "" {
			return errors.New(msg.ErrorMessage)
		}
	}
}
