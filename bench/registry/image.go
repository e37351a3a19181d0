package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
	ociConfig   = "application/vnd.oci.image.config.v1+json"
	ociLayer    = "application/vnd.oci.image.layer.v1.tar" // uncompressed: the data is random anyway
)

// buildImage makes an image of n layers, each a tar of one file of
// layerBytes random (incompressible) bytes, seeded by seed so that every
// round pushes blobs no registry has seen.
func buildImage(seed uint64, n, layerBytes int) (*image, error) {
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), 'b', 'e', 'r', 't', 'h'})
	im := &image{}
	diffIDs := make([]string, n)
	for i := range n {
		data := make([]byte, layerBytes)
		_, _ = rng.Read(data)
		var buf bytes.Buffer
		buf.Grow(layerBytes + 4096)
		tw := tar.NewWriter(&buf)
		hdr := &tar.Header{Name: fmt.Sprintf("bench/layer%02d", i), Mode: 0o644, Size: int64(layerBytes),
			ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
		if err := tw.Close(); err != nil {
			return nil, err
		}
		l := newBlob(ociLayer, buf.Bytes())
		im.layers = append(im.layers, l)
		diffIDs[i] = l.digest // uncompressed: the layer's digest is its diff id
	}
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"created": time.Unix(0, int64(seed)).UTC().Format(time.RFC3339),
		"config":  map[string]any{"Cmd": []string{"/bench/none"}},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		return nil, err
	}
	im.config = newBlob(ociConfig, cfg)
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int    `json:"size"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{SchemaVersion: 2, MediaType: ociManifest, Config: desc{ociConfig, im.config.digest, len(im.config.data)}}
	for _, l := range im.layers {
		m.Layers = append(m.Layers, desc{l.mediaType, l.digest, len(l.data)})
	}
	mf, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	im.manifest = newBlob(ociManifest, mf)
	return im, nil
}

// writeDockerArchive writes im as a `docker save` archive that `docker load`
// reads as image ref: loaded layers have no registry history, so docker
// uploads every one of them on the next push instead of mounting it.
func writeDockerArchive(path string, im *image, ref string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	hexOf := func(d string) string { return strings.TrimPrefix(d, "sha256:") }
	var layers []string
	for _, l := range im.layers {
		name := filepath.Join(hexOf(l.digest), "layer.tar")
		if err := add(name, l.data); err != nil {
			return err
		}
		layers = append(layers, name)
	}
	cfgName := hexOf(im.config.digest) + ".json"
	if err := add(cfgName, im.config.data); err != nil {
		return err
	}
	mf, err := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{ref}, "Layers": layers}})
	if err != nil {
		return err
	}
	if err := add("manifest.json", mf); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}
