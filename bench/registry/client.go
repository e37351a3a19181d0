package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// target is one registry as the bench's client sees it: where, and the
// Authorization header every request carries ("" for none).
type target struct {
	name string // "berth" or "reference"
	base string // http://127.0.0.1:PORT
	auth string
}

// blob is one blob of an image, its bytes in memory.
type blob struct {
	digest    string // sha256:<hex>
	mediaType string
	data      []byte
}

func newBlob(mediaType string, data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{digest: "sha256:" + hex.EncodeToString(sum[:]), mediaType: mediaType, data: data}
}

// image is an OCI image: config, layers, and the manifest naming them.
type image struct {
	config   blob
	layers   []blob
	manifest blob
}

func (im *image) blobs() []blob { return append([]blob{im.config}, im.layers...) }

// size is the bytes a push or pull moves: every blob and the manifest.
func (im *image) size() int64 {
	n := int64(len(im.manifest.data))
	for _, b := range im.blobs() {
		n += int64(len(b.data))
	}
	return n
}

// client is a small OCI distribution client, the same for both registries:
// one keep-alive HTTP client, blobs pushed as docker pushes them (POST an
// upload, PATCH the whole blob, PUT ?digest=), then the manifest; pulled as
// GET manifest then GET each blob, every digest verified.
type client struct {
	http     *http.Client
	parallel int
}

func (c *client) do(ctx context.Context, t target, method, u string, body io.Reader, size int64, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.http.Do(req)
}

// expect drains and closes resp's body and fails unless its status is want.
func expect(resp *http.Response, want int, what string) error {
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s (want %d): %s", what, resp.Status, want, strings.TrimSpace(string(b)))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// push pushes im to repo:tag and returns how many blobs it uploaded (the
// others were there already).
func (c *client) push(ctx context.Context, t target, repo, tag string, im *image) (int, error) {
	uploaded := make(chan struct{}, len(im.layers)+1)
	err := c.each(ctx, im.blobs(), func(ctx context.Context, _ int, b blob) error {
		up, err := c.pushBlob(ctx, t, repo, b)
		if up {
			uploaded <- struct{}{}
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, t, http.MethodPut, t.base+"/v2/"+repo+"/manifests/"+tag,
		bytes.NewReader(im.manifest.data), int64(len(im.manifest.data)), map[string]string{"Content-Type": im.manifest.mediaType})
	if err != nil {
		return 0, err
	}
	if err := expect(resp, http.StatusCreated, "PUT manifest"); err != nil {
		return 0, err
	}
	return len(uploaded), nil
}

// pushBlob uploads b unless HEAD finds it in repo already.
func (c *client) pushBlob(ctx context.Context, t target, repo string, b blob) (uploaded bool, err error) {
	resp, err := c.do(ctx, t, http.MethodHead, t.base+"/v2/"+repo+"/blobs/"+b.digest, nil, 0, nil)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return false, nil
	}
	resp, err = c.do(ctx, t, http.MethodPost, t.base+"/v2/"+repo+"/blobs/uploads/", nil, 0, nil)
	if err != nil {
		return false, err
	}
	loc := resp.Header.Get("Location")
	if err := expect(resp, http.StatusAccepted, "POST upload"); err != nil {
		return false, err
	}
	if loc, err = resolve(t.base, loc); err != nil {
		return false, err
	}
	resp, err = c.do(ctx, t, http.MethodPatch, loc, bytes.NewReader(b.data), int64(len(b.data)),
		map[string]string{"Content-Type": "application/octet-stream"})
	if err != nil {
		return false, err
	}
	loc = resp.Header.Get("Location")
	if err := expect(resp, http.StatusAccepted, "PATCH upload"); err != nil {
		return false, err
	}
	if loc, err = resolve(t.base, loc); err != nil {
		return false, err
	}
	u, err := url.Parse(loc)
	if err != nil {
		return false, err
	}
	q := u.Query()
	q.Set("digest", b.digest)
	u.RawQuery = q.Encode()
	resp, err = c.do(ctx, t, http.MethodPut, u.String(), nil, 0, nil)
	if err != nil {
		return false, err
	}
	return true, expect(resp, http.StatusCreated, "PUT upload "+b.digest)
}

// resolve makes a Location header absolute.
func resolve(base, loc string) (string, error) {
	if loc == "" {
		return "", fmt.Errorf("upload response without Location")
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(l).String(), nil
}

// pull fetches repo:tag's manifest and every blob it names, checks each
// digest, and returns the bytes received. It knows the image only to check
// that the registry served the manifest it was given.
func (c *client) pull(ctx context.Context, t target, repo, tag string, im *image) (int64, error) {
	resp, err := c.do(ctx, t, http.MethodGet, t.base+"/v2/"+repo+"/manifests/"+tag, nil, 0,
		map[string]string{"Accept": im.manifest.mediaType})
	if err != nil {
		return 0, err
	}
	mf, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET manifest: %s: %s", resp.Status, mf)
	}
	if got := newBlob("", mf).digest; got != im.manifest.digest {
		return 0, fmt.Errorf("GET manifest: digest %s, want %s", got, im.manifest.digest)
	}
	// A real client reads the blobs' digests from the manifest; these are
	// the same ones (the manifest's digest matched).
	total := int64(len(mf))
	sizes := make([]int64, len(im.blobs()))
	err = c.each(ctx, im.blobs(), func(ctx context.Context, i int, b blob) error {
		resp, err := c.do(ctx, t, http.MethodGet, t.base+"/v2/"+repo+"/blobs/"+b.digest, nil, 0, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return expect(resp, http.StatusOK, "GET blob "+b.digest)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		if err != nil {
			return fmt.Errorf("GET blob %s: %w", b.digest, err)
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != b.digest {
			return fmt.Errorf("GET blob %s: bytes are %s", b.digest, got)
		}
		sizes[i] = n
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, n := range sizes {
		total += n
	}
	return total, nil
}

// each runs f on every blob, at most c.parallel at a time, and returns the
// first error (which cancels the others' context).
func (c *client) each(ctx context.Context, bs []blob, f func(context.Context, int, blob) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(c.parallel, 1))
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i, b := range bs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(ctx, i, b); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	return first
}
