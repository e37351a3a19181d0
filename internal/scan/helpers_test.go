package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// entry is one file of a test layer. A zero Type is a regular file.
type entry struct {
	name     string
	body     []byte
	typ      byte
	linkname string
	mode     int64
}

func file(name, body string) entry { return entry{name: name, body: []byte(body)} }

func whiteout(name string) entry { return entry{name: name, body: nil} }

// layerBytes builds a tar stream of entries, compressed as asked.
func layerBytes(t testing.TB, compression string, entries ...entry) []byte {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Linkname: e.linkname}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	switch compression {
	case "gzip":
		zw := gzip.NewWriter(&out)
		zw.Write(raw.Bytes())
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case "zstd":
		zw, err := zstd.NewWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(raw.Bytes())
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	default:
		out = raw
	}
	return out.Bytes()
}

// opener serves b as a layer.
func opener(b []byte) LayerOpener {
	return func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
}

func openers(layers ...[]byte) []LayerOpener {
	out := make([]LayerOpener, len(layers))
	for i, l := range layers {
		out[i] = opener(l)
	}
	return out
}

func loadFixtureDB(t testing.TB) *DB {
	t.Helper()
	db, err := LoadDBDir("testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
