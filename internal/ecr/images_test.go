package ecr

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/opencontainers/go-digest"
)

// idStrings renders image ids as "digest:tag" (tag "-" when none), sorted.
func idStrings(ids []types.ImageIdentifier) []string {
	var out []string
	for _, id := range ids {
		tag := "-"
		if id.ImageTag != nil {
			tag = *id.ImageTag
		}
		out = append(out, aws.ToString(id.ImageDigest)+":"+tag)
	}
	slices.Sort(out)
	return out
}

func idOf(d digest.Digest, tag string) string { return d.String() + ":" + tag }

// An image pushed through the registry is what the image APIs list,
// describe and get; pulls are recorded at most hourly.
func TestImagePushedThroughRegistryIsVisibleToAPI(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	h.mustCreate(t, false, "team", "team/app")
	body, d, size := h.pushImage(t, "team", "v1", "cfg1", "layer-a", "layer-bb")
	if st := h.pushManifest(t, "team", "latest", dockerManifest, body); st != http.StatusCreated {
		t.Fatalf("second tag: %d", st)
	}
	h.pushImage(t, "team/app", "v1", "cfg2", "layer-c")
	untagged, _ := imageManifest("cfg1", "layer-a")
	d2 := digest.FromString(untagged)
	if st := h.pushManifest(t, "team", d2.String(), dockerManifest, untagged); st != http.StatusCreated {
		t.Fatalf("push by digest: %d", st)
	}

	list := func(status types.TagStatus) []string {
		t.Helper()
		out, err := h.client.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("team"), Filter: &types.ListImagesFilter{TagStatus: status}})
		if err != nil {
			t.Fatalf("ListImages(%s): %v", status, err)
		}
		return idStrings(out.ImageIds)
	}
	if got, want := list(""), []string{idOf(d, "latest"), idOf(d, "v1"), idOf(d2, "-")}; !sameSet(got, want) {
		t.Errorf("ListImages = %v, want %v", got, want)
	}
	if got, want := list(types.TagStatusTagged), []string{idOf(d, "latest"), idOf(d, "v1")}; !slices.Equal(got, want) {
		t.Errorf("ListImages(TAGGED) = %v, want %v", got, want)
	}
	if got, want := list(types.TagStatusUntagged), []string{idOf(d2, "-")}; !slices.Equal(got, want) {
		t.Errorf("ListImages(UNTAGGED) = %v, want %v", got, want)
	}

	describe := func() types.ImageDetail {
		t.Helper()
		out, err := h.client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
		if err != nil || len(out.ImageDetails) != 1 {
			t.Fatalf("DescribeImages: %v %+v", err, out)
		}
		return out.ImageDetails[0]
	}
	det := describe()
	if aws.ToString(det.ImageDigest) != d.String() || !slices.Equal(det.ImageTags, []string{"latest", "v1"}) ||
		aws.ToInt64(det.ImageSizeInBytes) != size || !det.ImagePushedAt.Equal(testNow) ||
		aws.ToString(det.ImageManifestMediaType) != dockerManifest || aws.ToString(det.ArtifactMediaType) != dockerConfig ||
		aws.ToString(det.RegistryId) != testAccount || aws.ToString(det.RepositoryName) != "team" || det.LastRecordedPullTime != nil {
		t.Fatalf("DescribeImages = %+v (size %d)", det, aws.ToInt64(det.ImageSizeInBytes))
	}

	got, err := h.client.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("team"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil || len(got.Images) != 1 || len(got.Failures) != 0 {
		t.Fatalf("BatchGetImage: %v %+v", err, got)
	}
	if img := got.Images[0]; aws.ToString(img.ImageManifest) != body || aws.ToString(img.ImageManifestMediaType) != dockerManifest ||
		aws.ToString(img.ImageId.ImageDigest) != d.String() || aws.ToString(img.ImageId.ImageTag) != "v1" {
		t.Fatalf("BatchGetImage image = %+v", img)
	}
	if p := describe().LastRecordedPullTime; p == nil || !p.Equal(testNow) {
		t.Fatalf("lastRecordedPullTime after a pull = %v", p)
	}
	h.now = testNow.Add(10 * time.Minute)
	if st, _ := h.pull(t, "/v2/team/manifests/v1"); st != http.StatusOK {
		t.Fatalf("registry pull: %d", st)
	}
	if p := describe().LastRecordedPullTime; !p.Equal(testNow) {
		t.Fatalf("a pull 10 minutes later moved lastRecordedPullTime to %v", p)
	}
	h.now = testNow.Add(2 * time.Hour)
	if st, b := h.pull(t, "/v2/team/manifests/latest"); st != http.StatusOK || b != body {
		t.Fatalf("registry pull: %d", st)
	}
	if p := describe().LastRecordedPullTime; !p.Equal(h.now) {
		t.Fatalf("a pull 2 hours later: lastRecordedPullTime %v, want %v", p, h.now)
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// uploadLayer uploads content through the layer APIs, in parts of n bytes.
func (h *harness) uploadLayer(t *testing.T, repo, content string, n int) digest.Digest {
	t.Helper()
	ctx := t.Context()
	up, err := h.client.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String(repo)})
	if err != nil || aws.ToInt64(up.PartSize) <= 0 {
		t.Fatalf("InitiateLayerUpload: %v %+v", err, up)
	}
	for i := 0; i < len(content); i += n {
		part := content[i:min(i+n, len(content))]
		out, err := h.client.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String(repo), UploadId: up.UploadId,
			PartFirstByte: aws.Int64(int64(i)), PartLastByte: aws.Int64(int64(i + len(part) - 1)), LayerPartBlob: []byte(part)})
		if err != nil || aws.ToInt64(out.LastByteReceived) != int64(i+len(part)-1) {
			t.Fatalf("UploadLayerPart at %d: %v %+v", i, err, out)
		}
	}
	d := digest.FromString(content)
	out, err := h.client.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: aws.String(repo), UploadId: up.UploadId, LayerDigests: []string{d.String()}})
	if err != nil || aws.ToString(out.LayerDigest) != d.String() {
		t.Fatalf("CompleteLayerUpload: %v %+v", err, out)
	}
	return d
}

// An image put through the API (layers uploaded with the layer APIs) is
// pullable through the registry.
func TestPutImageIsPullable(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	h.mustCreate(t, false, "web")
	h.uploadLayer(t, "web", "cfg", 2)
	layer := h.uploadLayer(t, "web", "the-layer-bytes", 4)
	body, size := imageManifest("cfg", "the-layer-bytes")
	out, err := h.client.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("web"), ImageManifest: aws.String(body), ImageTag: aws.String("v1")})
	if err != nil || aws.ToString(out.Image.ImageId.ImageDigest) != digest.FromString(body).String() ||
		aws.ToString(out.Image.ImageManifestMediaType) != dockerManifest || aws.ToString(out.Image.ImageManifest) != body {
		t.Fatalf("PutImage: %v %+v", err, out)
	}
	if st, b := h.pull(t, "/v2/web/manifests/v1"); st != http.StatusOK || b != body {
		t.Fatalf("registry pull of a PutImage'd manifest: %d %q", st, b)
	}
	url, err := h.client.GetDownloadUrlForLayer(ctx, &ecr.GetDownloadUrlForLayerInput{RepositoryName: aws.String("web"), LayerDigest: aws.String(layer.String())})
	if err != nil || aws.ToString(url.DownloadUrl) != "http://"+testHost+"/v2/web/blobs/"+layer.String() {
		t.Fatalf("GetDownloadUrlForLayer: %v %+v", err, url)
	}
	path := strings.TrimPrefix(aws.ToString(url.DownloadUrl), "http://"+testHost)
	if st, b := h.pull(t, path); st != http.StatusOK || b != "the-layer-bytes" {
		t.Fatalf("download of the layer URL: %d %q", st, b)
	}
	avail, err := h.client.BatchCheckLayerAvailability(ctx, &ecr.BatchCheckLayerAvailabilityInput{RepositoryName: aws.String("web"),
		LayerDigests: []string{layer.String(), digest.FromString("nope").String(), "sha256:zz"}})
	if err != nil || len(avail.Layers) != 1 || avail.Layers[0].LayerAvailability != types.LayerAvailabilityAvailable ||
		aws.ToInt64(avail.Layers[0].LayerSize) != 15 || len(avail.Failures) != 2 ||
		avail.Failures[0].FailureCode != types.LayerFailureCodeMissingLayerDigest || avail.Failures[1].FailureCode != types.LayerFailureCodeInvalidLayerDigest {
		t.Fatalf("BatchCheckLayerAvailability: %v %+v", err, avail)
	}

	// An index of it: its size is its largest image's.
	idx := indexOf(body)
	if _, err := h.client.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("web"), ImageManifest: aws.String(idx),
		ImageManifestMediaType: aws.String(ociIndex), ImageTag: aws.String("multi")}); err != nil {
		t.Fatalf("PutImage of an index: %v", err)
	}
	det, err := h.client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("web"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("multi")}}})
	if err != nil || aws.ToInt64(det.ImageDetails[0].ImageSizeInBytes) != size || aws.ToString(det.ImageDetails[0].ImageManifestMediaType) != ociIndex {
		t.Fatalf("DescribeImages of the index: %v %+v", err, det)
	}
	if st, b := h.pull(t, "/v2/web/manifests/multi"); st != http.StatusOK || b != idx {
		t.Fatalf("registry pull of the index: %d", st)
	}
	// A tag moves in a mutable repository.
	other, _ := imageManifest("cfg")
	if _, err := h.client.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("web"), ImageManifest: aws.String(other), ImageTag: aws.String("v1")}); err != nil {
		t.Fatalf("PutImage moving a mutable tag: %v", err)
	}
	if st, b := h.pull(t, "/v2/web/manifests/v1"); st != http.StatusOK || b != other {
		t.Fatalf("v1 after the move: %d %q", st, b)
	}
}
