package scan

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// LayerOpener opens one image layer: a tar stream, uncompressed or
// compressed with gzip or zstd (recognised by their magic numbers, whatever
// the media type says). The caller closes the reader.
type LayerOpener func(ctx context.Context) (io.ReadCloser, error)

// BlobOpener is the part of a blob store (internal/registry/blob.Store) that
// scanning needs.
type BlobOpener interface {
	Open(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error)
}

// maxManifestSize bounds a manifest LayersFromManifest will parse; the
// registry refuses larger ones anyway.
const maxManifestSize = 4 << 20

// LayersFromManifest returns openers for the layers of an OCI or Docker v2
// image manifest, bottom first, reading blobs from store. An image index or
// manifest list is refused: resolve it to one platform's manifest first.
func LayersFromManifest(store BlobOpener, manifest []byte) ([]LayerOpener, error) {
	if len(manifest) > maxManifestSize {
		return nil, fmt.Errorf("parse image manifest: %d bytes is over the %d limit", len(manifest), maxManifestSize)
	}
	var m struct {
		MediaType string               `json:"mediaType"`
		Manifests json.RawMessage      `json:"manifests"`
		Layers    []ocispec.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("parse image manifest: %w", err)
	}
	if len(m.Manifests) > 0 {
		return nil, fmt.Errorf("parse image manifest: %s is an index; scan one platform's manifest", m.MediaType)
	}
	out := make([]LayerOpener, 0, len(m.Layers))
	for i, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("parse image manifest: layer %d: %w", i, err)
		}
		d := l.Digest
		out = append(out, func(ctx context.Context) (io.ReadCloser, error) {
			rc, err := store.Open(ctx, d, 0)
			if err != nil {
				return nil, fmt.Errorf("open layer %s: %w", d, err)
			}
			return rc, nil
		})
	}
	return out, nil
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// zstdMaxWindow bounds the memory a zstd layer's decoder may use; layers
// written by buildah, containerd and BuildKit use far smaller windows.
const zstdMaxWindow = 64 << 20

// decompress wraps r with the decompressor its first bytes call for.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read layer header: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("open gzip layer: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, fmt.Errorf("open zstd layer: %w", err)
		}
		return zstdCloser{zr}, nil
	}
	return io.NopCloser(br), nil
}

// zstdCloser adapts zstd.Decoder, whose Close returns nothing.
type zstdCloser struct{ d *zstd.Decoder }

func (z zstdCloser) Read(p []byte) (int, error) { return z.d.Read(p) }
func (z zstdCloser) Close() error               { z.d.Close(); return nil }
