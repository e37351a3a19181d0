package ecr

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/opencontainers/go-digest"
)

// Refused PutImage calls answer ECR's errors and write nothing (no key,
// no blob).
func TestPutImageRefusals(t *testing.T) {
	h := newHarness(t)
	h.mustCreate(t, false, "rr")
	h.mustCreate(t, true, "imm")
	body, _, _ := h.pushImage(t, "rr", "v1", "cfg", "layer")
	h.pushImage(t, "imm", "v1", "cfg", "layer")
	moved, _ := imageManifest("cfg") // config only: its blob is in both
	missing, _ := imageManifest("cfg", "not-pushed")
	put := func(repo, manifest, tag string) *ecr.PutImageInput {
		in := &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(manifest)}
		if tag != "" {
			in.ImageTag = aws.String(tag)
		}
		return in
	}
	withDigest := put("rr", moved, "x")
	withDigest.ImageDigest = aws.String(digest.FromString("other").String())
	wrongType := put("rr", moved, "x")
	wrongType.ImageManifestMediaType = aws.String(ociManifest)
	cases := []struct {
		name string
		in   *ecr.PutImageInput
		code string
	}{
		{"same tag, same image", put("rr", body, "v1"), "ImageAlreadyExistsException"},
		{"no tag, image there", put("rr", body, ""), "ImageAlreadyExistsException"},
		{"immutable tag", put("imm", moved, "v1"), "ImageTagAlreadyExistsException"},
		{"layers missing", put("rr", missing, "x"), "LayersNotFoundException"},
		{"index of missing images", &ecr.PutImageInput{RepositoryName: aws.String("rr"), ImageManifest: aws.String(indexOf(moved)), ImageTag: aws.String("x")}, "ReferencedImagesNotFoundException"},
		{"digest mismatch", withDigest, "ImageDigestDoesNotMatchException"},
		{"media type mismatch", wrongType, "InvalidParameterException"},
		{"not a manifest", put("rr", "{nope", "x"), "InvalidParameterException"},
		{"schema 1", put("rr", `{"schemaVersion":1}`, "x"), "InvalidParameterException"},
		{"bad tag", put("rr", moved, "-x"), "InvalidParameterException"},
		{"no repository", put("nope", moved, "x"), "RepositoryNotFoundException"},
		{"other registry", &ecr.PutImageInput{RepositoryName: aws.String("rr"), ImageManifest: aws.String(moved), RegistryId: aws.String("123456789012")}, "InvalidParameterException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.state(t)
			if _, err := h.client.PutImage(t.Context(), c.in); code(err) != c.code {
				t.Fatalf("PutImage: %v, want %s", err, c.code)
			}
			if after := h.state(t); after != before {
				t.Fatalf("a refused PutImage wrote:\nbefore %s\nafter %s", before, after)
			}
		})
	}
	// Through the registry, the immutable tag is refused as ECR refuses it.
	if st := h.pushManifest(t, "imm", "v1", dockerManifest, moved); st != http.StatusBadRequest {
		t.Fatalf("registry push moving an immutable tag: %d", st)
	}
}

func TestBatchGetAndDeleteImage(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	h.mustCreate(t, false, "rr")
	body, d, _ := h.pushImage(t, "rr", "v1", "cfg", "layer")
	if st := h.pushManifest(t, "rr", "v2", dockerManifest, body); st != http.StatusCreated {
		t.Fatal(st)
	}
	other, od, _ := h.pushImage(t, "rr", "solo", "cfg", "layer2")
	_ = other
	tag, dg := aws.String, func(x digest.Digest) *string { return aws.String(x.String()) }

	got, err := h.client.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("rr"), ImageIds: []types.ImageIdentifier{
		{ImageDigest: dg(d)},
		{ImageTag: tag("v1"), ImageDigest: dg(d)},
		{ImageTag: tag("nope")},
		{ImageDigest: dg(digest.FromString("nope"))},
		{ImageTag: tag("v1"), ImageDigest: dg(od)},
		{},
		{ImageDigest: aws.String("sha256:zz")},
	}})
	if err != nil || len(got.Images) != 2 {
		t.Fatalf("BatchGetImage: %v %+v", err, got)
	}
	wantFailures := []types.ImageFailureCode{types.ImageFailureCodeImageNotFound, types.ImageFailureCodeImageNotFound,
		types.ImageFailureCodeImageTagDoesNotMatchDigest, types.ImageFailureCodeMissingDigestAndTag, types.ImageFailureCodeInvalidImageDigest}
	if len(got.Failures) != len(wantFailures) {
		t.Fatalf("BatchGetImage failures = %+v", got.Failures)
	}
	for i, f := range got.Failures {
		if f.FailureCode != wantFailures[i] || aws.ToString(f.FailureReason) == "" {
			t.Errorf("failure %d = %s %q, want %s", i, f.FailureCode, aws.ToString(f.FailureReason), wantFailures[i])
		}
	}
	if f := got.Failures[0]; aws.ToString(f.FailureReason) != "Requested image not found" || aws.ToString(f.ImageId.ImageTag) != "nope" {
		t.Errorf("not found failure = %+v", f)
	}
	acc, err := h.client.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("rr"), ImageIds: []types.ImageIdentifier{{ImageTag: tag("v1")}},
		AcceptedMediaTypes: []string{ociManifest}})
	if err != nil || len(acc.Images) != 0 || len(acc.Failures) != 1 {
		t.Fatalf("BatchGetImage with other accepted media types: %v %+v", err, acc)
	}
	if _, err := h.client.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("nope"), ImageIds: []types.ImageIdentifier{{ImageTag: tag("v1")}}}); code(err) != "RepositoryNotFoundException" {
		t.Fatalf("BatchGetImage in a missing repository: %v", err)
	}
	if _, err := h.client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("rr"), ImageIds: []types.ImageIdentifier{{ImageTag: tag("v1")}, {ImageTag: tag("nope")}}}); code(err) != "ImageNotFoundException" ||
		err == nil || !strings.Contains(err.Error(), "The image with imageId {imageDigest:null, imageTag:'nope'} does not exist within the repository with name 'rr' in the registry with id '000000000000'") {
		t.Fatalf("DescribeImages of a missing image: %v", err)
	}

	// By tag: the tag goes, the image stays while it has another.
	del, err := h.client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("rr"), ImageIds: []types.ImageIdentifier{{ImageTag: tag("v1")}, {ImageTag: tag("nope")}}})
	if err != nil || len(del.ImageIds) != 1 || aws.ToString(del.ImageIds[0].ImageDigest) != d.String() || len(del.Failures) != 1 ||
		del.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound {
		t.Fatalf("BatchDeleteImage by tag: %v %+v", err, del)
	}
	if st, _ := h.pull(t, "/v2/rr/manifests/"+d.String()); st != http.StatusOK {
		t.Fatalf("image gone with one of its two tags: %d", st)
	}
	// Its last tag: the image goes too.
	if _, err := h.client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("rr"), ImageIds: []types.ImageIdentifier{{ImageTag: tag("v2")}}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.pull(t, "/v2/rr/manifests/"+d.String()); st != http.StatusNotFound {
		t.Fatalf("image kept after its last tag was deleted: %d", st)
	}
	// By digest: the image with its tags.
	del, err = h.client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("rr"), ImageIds: []types.ImageIdentifier{{ImageDigest: dg(od)}}})
	if err != nil || len(del.ImageIds) != 1 || aws.ToString(del.ImageIds[0].ImageTag) != "solo" || len(del.Failures) != 0 {
		t.Fatalf("BatchDeleteImage by digest: %v %+v", err, del)
	}
	if st, _ := h.pull(t, "/v2/rr/manifests/solo"); st != http.StatusNotFound {
		t.Fatalf("tag kept after its image was deleted: %d", st)
	}
	if out, err := h.client.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("rr")}); err != nil || len(out.ImageIds) != 0 {
		t.Fatalf("ListImages after deleting everything: %v %+v", err, out)
	}
	before := h.state(t)
	if out, err := h.client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("rr"), ImageIds: []types.ImageIdentifier{{ImageDigest: dg(od)}, {}}}); err != nil ||
		len(out.Failures) != 2 || out.Failures[1].FailureCode != types.ImageFailureCodeMissingDigestAndTag {
		t.Fatalf("BatchDeleteImage of nothing: %v %+v", err, out)
	}
	if h.state(t) != before {
		t.Fatal("a BatchDeleteImage that deleted nothing wrote")
	}
}

// An image a manifest list references is not deleted by BatchDeleteImage
// (ImageReferencedByManifestList; by its last tag, the tag goes and the
// image stays) until the list is gone.
func TestDeleteImageReferencedByIndex(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	h.mustCreate(t, false, "multi")
	child, cd, _ := h.pushImage(t, "multi", "child", "cfg", "layer")
	idx := indexOf(child)
	if st := h.pushManifest(t, "multi", "all", ociIndex, idx); st != http.StatusCreated {
		t.Fatal(st)
	}
	byDigest := &ecr.BatchDeleteImageInput{RepositoryName: aws.String("multi"), ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(cd.String())}}}
	before := h.state(t)
	out, err := h.client.BatchDeleteImage(ctx, byDigest)
	if err != nil || len(out.ImageIds) != 0 || len(out.Failures) != 1 || out.Failures[0].FailureCode != types.ImageFailureCodeImageReferencedByManifestList ||
		!strings.Contains(aws.ToString(out.Failures[0].FailureReason), digest.FromString(idx).String()) {
		t.Fatalf("BatchDeleteImage of a listed image: %v %+v", err, out)
	}
	if h.state(t) != before {
		t.Fatal("a refused deletion wrote")
	}
	out, err = h.client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("multi"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("child")}}})
	if err != nil || len(out.ImageIds) != 1 || len(out.Failures) != 0 {
		t.Fatalf("BatchDeleteImage of a listed image's last tag: %v %+v", err, out)
	}
	if st, _ := h.pull(t, "/v2/multi/manifests/"+cd.String()); st != http.StatusOK {
		t.Fatalf("a listed image went with its last tag: %d", st)
	}
	if _, err := h.client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("multi"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("all")}}}); err != nil {
		t.Fatal(err)
	}
	if out, err := h.client.BatchDeleteImage(ctx, byDigest); err != nil || len(out.ImageIds) != 1 || len(out.Failures) != 0 {
		t.Fatalf("BatchDeleteImage once the list is gone: %v %+v", err, out)
	}
	if left := h.state(t); strings.Contains(left, "image-parents") || strings.Contains(left, "/images/") {
		t.Fatalf("left:\n%s", left)
	}
}
