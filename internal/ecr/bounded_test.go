package ecr

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/opencontainers/go-digest"
)

// Large images, indexes, tag sets and repositories stay within an
// external etcd's 128 operations a transaction (run with
// BERTH_TEST_ETCD_ENDPOINTS pointing at an etcd with default settings).
func TestBoundedTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes a few hundred blobs")
	}
	h := newHarness(t)
	ctx := t.Context()
	h.mustCreate(t, false, "big")

	// An image of 140 layers, through the registry and through PutImage.
	var layers []string
	for i := range 140 {
		layers = append(layers, fmt.Sprint("layer-", i))
	}
	h.pushImage(t, "big", "layers", "cfg", layers...)
	body, _ := imageManifest("cfg2", layers...)
	h.pushBlob(t, "big", "cfg2")
	if _, err := h.client.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("big"), ImageManifest: aws.String(body), ImageTag: aws.String("put")}); err != nil {
		t.Fatalf("PutImage of 140 layers: %v", err)
	}

	// An index of 140 images.
	var children []string
	for i := range 140 {
		cfg := fmt.Sprint("config-", i)
		h.pushBlob(t, "big", cfg)
		m, _ := imageManifest(cfg)
		if st := h.pushManifest(t, "big", digest.FromString(m).String(), dockerManifest, m); st != http.StatusCreated {
			t.Fatalf("push child %d: %d", i, st)
		}
		children = append(children, m)
	}
	idx := indexOf(children...)
	if st := h.pushManifest(t, "big", "index", ociIndex, idx); st != http.StatusCreated {
		t.Fatalf("push an index of 140: %d", st)
	}
	if _, err := h.client.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("big"), ImageManifest: aws.String(idx), ImageTag: aws.String("index2")}); err != nil {
		t.Fatalf("PutImage of an index of 140: %v", err)
	}

	// An image with 70 tags (more than one deletion step), deleted by digest.
	h.pushBlob(t, "big", "config-tags")
	m, _ := imageManifest("config-tags")
	for i := range 70 {
		if st := h.pushManifest(t, "big", fmt.Sprint("t", i), dockerManifest, m); st != http.StatusCreated {
			t.Fatalf("tag %d: %d", i, st)
		}
	}
	del, err := h.client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("big"),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(digest.FromString(m).String())}}})
	if err != nil || len(del.ImageIds) != 70 || len(del.Failures) != 0 {
		t.Fatalf("BatchDeleteImage of an image with 70 tags: %v, %d ids, %+v", err, len(del.ImageIds), del.Failures)
	}
	if tags, err := h.s.RegistryMeta().Tags(ctx, "big", "", -1); err != nil || len(tags) != 4 {
		t.Fatalf("tags left: %v %v", tags, err)
	}

	// A repository of 140 images and 280 blob links, deleted.
	if _, err := h.client.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("big"), Force: true}); err != nil {
		t.Fatalf("DeleteRepository --force: %v", err)
	}
	if left := h.state(t); len(left) > 0 && strings.Contains(left, "/big@") {
		t.Fatalf("keys left:\n%s", left)
	}
}
