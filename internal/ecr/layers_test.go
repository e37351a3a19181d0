package ecr

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/opencontainers/go-digest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The layer upload APIs: parts must continue the upload, completion checks
// the digest; refusals write nothing (but where ECR's contract ends the
// upload: a digest mismatch, a layer already there).
func TestLayerUploadRefusals(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	h.mustCreate(t, false, "web", "other")
	up, err := h.client.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	id := up.UploadId
	part := func(first, last int64, b string) *ecr.UploadLayerPartInput {
		return &ecr.UploadLayerPartInput{RepositoryName: aws.String("web"), UploadId: id, PartFirstByte: aws.Int64(first), PartLastByte: aws.Int64(last), LayerPartBlob: []byte(b)}
	}
	complete := func(repo string, upload *string, d string) *ecr.CompleteLayerUploadInput {
		return &ecr.CompleteLayerUploadInput{RepositoryName: aws.String(repo), UploadId: upload, LayerDigests: []string{d}}
	}
	unknown := aws.String("00000000-0000-4000-8000-000000000000")
	content := "0123456789"
	d := digest.FromString(content).String()
	steps := []struct {
		name string
		call func() error
		code string // "" = succeeds (and may write)
	}{
		{"complete an empty upload", func() error { _, err := h.client.CompleteLayerUpload(ctx, complete("web", id, d)); return err }, "EmptyUploadException"},
		{"part not at 0", func() error { _, err := h.client.UploadLayerPart(ctx, part(1, 3, "123")); return err }, "InvalidLayerPartException"},
		{"last byte wrong", func() error { _, err := h.client.UploadLayerPart(ctx, part(0, 5, "0123")); return err }, "InvalidLayerPartException"},
		{"empty part", func() error { _, err := h.client.UploadLayerPart(ctx, part(0, 0, "")); return err }, "InvalidLayerPartException"},
		{"first part", func() error { _, err := h.client.UploadLayerPart(ctx, part(0, 3, "0123")); return err }, ""},
		{"part again", func() error { _, err := h.client.UploadLayerPart(ctx, part(0, 3, "0123")); return err }, "InvalidLayerPartException"},
		{"part past the end", func() error { _, err := h.client.UploadLayerPart(ctx, part(5, 6, "56")); return err }, "InvalidLayerPartException"},
		{"unknown upload", func() error {
			in := part(0, 1, "01")
			in.UploadId = unknown
			_, err := h.client.UploadLayerPart(ctx, in)
			return err
		}, "UploadNotFoundException"},
		{"upload of another repository", func() error { _, err := h.client.CompleteLayerUpload(ctx, complete("other", id, d)); return err }, "UploadNotFoundException"},
		{"no repository", func() error { _, err := h.client.CompleteLayerUpload(ctx, complete("nope", id, d)); return err }, "RepositoryNotFoundException"},
		{"two digests", func() error {
			in := complete("web", id, d)
			in.LayerDigests = append(in.LayerDigests, d)
			_, err := h.client.CompleteLayerUpload(ctx, in)
			return err
		}, "InvalidParameterException"},
		{"second part", func() error { _, err := h.client.UploadLayerPart(ctx, part(4, 9, "456789")); return err }, ""},
		{"download url before completion", func() error {
			_, err := h.client.GetDownloadUrlForLayer(ctx, &ecr.GetDownloadUrlForLayerInput{RepositoryName: aws.String("web"), LayerDigest: aws.String(d)})
			return err
		}, "LayersNotFoundException"},
		{"complete", func() error { _, err := h.client.CompleteLayerUpload(ctx, complete("web", id, d)); return err }, ""},
		{"complete twice", func() error { _, err := h.client.CompleteLayerUpload(ctx, complete("web", id, d)); return err }, "UploadNotFoundException"},
	}
	for _, s := range steps {
		before := h.state(t)
		err := s.call()
		if code(err) != s.code {
			t.Fatalf("%s: %v, want %q", s.name, err, s.code)
		}
		if s.code != "" && h.state(t) != before {
			t.Fatalf("%s: a refused call wrote", s.name)
		}
	}
	if st, b := h.pull(t, "/v2/web/blobs/"+d); st != 200 || b != content {
		t.Fatalf("layer through the registry: %d %q", st, b)
	}

	// A digest that does not match: InvalidLayerException, the upload is
	// gone (the blob store discards it).
	up2, _ := h.client.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("web")})
	if _, err := h.client.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String("web"), UploadId: up2.UploadId,
		PartFirstByte: aws.Int64(0), PartLastByte: aws.Int64(2), LayerPartBlob: []byte("abc")}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.CompleteLayerUpload(ctx, complete("web", up2.UploadId, digest.FromString("xyz").String())); code(err) != "InvalidLayerException" {
		t.Fatalf("complete with another digest: %v", err)
	}
	if _, err := h.client.CompleteLayerUpload(ctx, complete("web", up2.UploadId, digest.FromString("abc").String())); code(err) != "UploadNotFoundException" {
		t.Fatalf("upload kept after a digest mismatch: %v", err)
	}
	// A layer already there: LayerAlreadyExistsException.
	up3, _ := h.client.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("web")})
	if _, err := h.client.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String("web"), UploadId: up3.UploadId,
		PartFirstByte: aws.Int64(0), PartLastByte: aws.Int64(9), LayerPartBlob: []byte(content)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.CompleteLayerUpload(ctx, complete("web", up3.UploadId, d)); code(err) != "LayerAlreadyExistsException" {
		t.Fatalf("complete of a layer already there: %v", err)
	}
	if _, err := h.client.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("nope")}); code(err) != "RepositoryNotFoundException" {
		t.Fatalf("InitiateLayerUpload in a missing repository: %v", err)
	}
	if _, err := h.client.BatchCheckLayerAvailability(ctx, &ecr.BatchCheckLayerAvailabilityInput{RepositoryName: aws.String("nope"), LayerDigests: []string{d}}); code(err) != "RepositoryNotFoundException" {
		t.Fatalf("BatchCheckLayerAvailability in a missing repository: %v", err)
	}
	if _, err := h.client.GetDownloadUrlForLayer(ctx, &ecr.GetDownloadUrlForLayerInput{RepositoryName: aws.String("other"), LayerDigest: aws.String(d)}); code(err) != "LayersNotFoundException" {
		t.Fatalf("GetDownloadUrlForLayer of another repository's layer: %v", err)
	}
	// Linked but its bytes gone: LayerInaccessibleException.
	if err := h.blobs.Delete(ctx, digest.Digest(d)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.GetDownloadUrlForLayer(ctx, &ecr.GetDownloadUrlForLayerInput{RepositoryName: aws.String("web"), LayerDigest: aws.String(d)}); code(err) != "LayerInaccessibleException" {
		t.Fatalf("GetDownloadUrlForLayer of a layer without bytes: %v", err)
	}
}

// Listings page through images with any maxResults, whatever the number
// of tags per image, and filters read the right index.
func TestListAndDescribePagination(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	h.mustCreate(t, false, "pg", "pg/sub")
	var want, tagged, untagged []string
	for i, tags := range [][]string{{"a", "b", "c"}, nil, {"d"}, nil, {"e", "f"}} {
		cfg := "cfg" + string(rune('0'+i))
		body, d, _ := h.pushImage(t, "pg", "tmp", cfg, "l"+cfg)
		if _, err := h.client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("pg"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("tmp")}}}); err != nil {
			t.Fatal(err)
		}
		// Deleting its last tag deleted the image: put it back untagged, then tag it.
		if st := h.pushManifest(t, "pg", d.String(), dockerManifest, body); st != 201 {
			t.Fatal(st)
		}
		for _, tag := range tags {
			if st := h.pushManifest(t, "pg", tag, dockerManifest, body); st != 201 {
				t.Fatal(st)
			}
			want, tagged = append(want, idOf(d, tag)), append(tagged, idOf(d, tag))
		}
		if len(tags) == 0 {
			want, untagged = append(want, idOf(d, "-")), append(untagged, idOf(d, "-"))
		}
	}
	h.pushImage(t, "pg/sub", "a", "x", "y") // a namesake's images never show
	for _, status := range []types.TagStatus{"", types.TagStatusTagged, types.TagStatusUntagged} {
		exp := map[types.TagStatus][]string{"": want, types.TagStatusTagged: tagged, types.TagStatusUntagged: untagged}[status]
		for _, n := range []int32{1, 2, 3, 1000} {
			var got []string
			p := ecr.NewListImagesPaginator(h.client, &ecr.ListImagesInput{RepositoryName: aws.String("pg"), MaxResults: aws.Int32(n), Filter: &types.ListImagesFilter{TagStatus: status}})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("ListImages(%s, %d): %v", status, n, err)
				}
				if len(page.ImageIds) > int(n) {
					t.Fatalf("ListImages(%s, %d) page of %d", status, n, len(page.ImageIds))
				}
				got = append(got, idStrings(page.ImageIds)...)
			}
			if !sameSet(got, exp) || len(got) != len(exp) {
				t.Errorf("ListImages(%s, %d) = %v, want %v", status, n, got, exp)
			}
			var described int
			dp := ecr.NewDescribeImagesPaginator(h.client, &ecr.DescribeImagesInput{RepositoryName: aws.String("pg"), MaxResults: aws.Int32(n), Filter: &types.DescribeImagesFilter{TagStatus: status}})
			for dp.HasMorePages() {
				page, err := dp.NextPage(ctx)
				if err != nil {
					t.Fatalf("DescribeImages(%s, %d): %v", status, n, err)
				}
				for _, det := range page.ImageDetails {
					if (len(det.ImageTags) > 0) != (status != types.TagStatusUntagged) && status != "" {
						t.Errorf("DescribeImages(%s) returned %+v", status, det)
					}
				}
				described += len(page.ImageDetails)
			}
			if wantN := map[types.TagStatus]int{"": 5, types.TagStatusTagged: 3, types.TagStatusUntagged: 2}[status]; described != wantN {
				t.Errorf("DescribeImages(%s, %d) described %d images, want %d", status, n, described, wantN)
			}
		}
	}
	// A token is bound to its listing and repository.
	first, err := h.client.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("pg"), MaxResults: aws.Int32(1), Filter: &types.ListImagesFilter{TagStatus: types.TagStatusTagged}})
	if err != nil || first.NextToken == nil {
		t.Fatal(err)
	}
	for _, in := range []*ecr.ListImagesInput{
		{RepositoryName: aws.String("pg"), NextToken: first.NextToken},
		{RepositoryName: aws.String("pg/sub"), NextToken: first.NextToken, Filter: &types.ListImagesFilter{TagStatus: types.TagStatusTagged}},
		{RepositoryName: aws.String("pg"), NextToken: aws.String("garbage")},
	} {
		if _, err := h.client.ListImages(ctx, in); code(err) != "InvalidParameterException" {
			t.Errorf("ListImages with a foreign token: %v", err)
		}
	}
	if _, err := h.client.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("nope")}); code(err) != "RepositoryNotFoundException" {
		t.Errorf("ListImages of a missing repository: %v", err)
	}
	if _, err := h.client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("nope")}); code(err) != "RepositoryNotFoundException" {
		t.Errorf("DescribeImages of a missing repository: %v", err)
	}
	archived, err := h.client.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("pg"), Filter: &types.ListImagesFilter{ImageStatus: types.ImageStatusFilterArchived}})
	if err != nil || len(archived.ImageIds) != 0 {
		t.Errorf("ListImages(ARCHIVED): %v %+v", err, archived)
	}
}

// A forced DeleteRepository removes everything the repository owned, and
// nothing of a repository whose name extends it.
func TestDeleteRepositoryPurges(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	h.mustCreate(t, false, "team", "team/app")
	body, _, _ := h.pushImage(t, "team", "v1", "cfg", "layer")
	h.pushImage(t, "team/app", "v1", "cfg", "layer")
	if _, err := h.client.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("team")}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team")}); code(err) != "RepositoryNotEmptyException" {
		t.Fatalf("DeleteRepository of a repository with images: %v", err)
	}
	keys := func(prefix string) []string {
		res, err := h.st.Client().Get(ctx, "/berth/"+testAccount+"/"+testRegion+"/ecr/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, kv := range res.Kvs {
			k := string(kv.Key)
			if strings.Contains(k, prefix) {
				out = append(out, k)
			}
		}
		return out
	}
	appKeys := keys("/team/app@")
	if _, err := h.client.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team"), Force: true}); err != nil {
		t.Fatal(err)
	}
	if left := keys("/team@"); len(left) != 0 {
		t.Fatalf("keys left after a forced delete: %v", left)
	}
	if now := keys("/team/app@"); !slices.Equal(now, appKeys) || len(now) < 5 {
		t.Fatalf("team/app's keys changed: %v, were %v", now, appKeys)
	}
	var uploads int
	_ = h.blobs.Uploads(ctx, func(string, time.Time) error { uploads++; return nil })
	if uploads != 0 {
		t.Fatalf("%d blob uploads left", uploads)
	}
	h.mustCreate(t, false, "team")
	if out, err := h.client.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("team")}); err != nil || len(out.ImageIds) != 0 {
		t.Fatalf("a new namesake lists %v, %v", out, err)
	}
	if st := h.pushManifest(t, "team", "v1", dockerManifest, body); st != 400 {
		t.Fatalf("a new namesake kept the old blob links: manifest push %d", st)
	}
}
