package ecr

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
)

const day = 24 * time.Hour

// lifecycleRepo creates repository "app" and pushes, through the
// registry, at fake times: v1 (10 days ago), v2 (5), v3 (1), an image
// pushed by digest (untagged, 3 days ago), and an index tagged "multi"
// (today) whose child, untagged, is older than every rule's limit. It
// returns the digests by name.
func lifecycleRepo(t *testing.T, h *harness) map[string]digest.Digest {
	t.Helper()
	h.mustCreate(t, false, "app")
	out := map[string]digest.Digest{}
	push := func(name, tag string, age time.Duration) {
		h.now = testNow.Add(-age)
		_, d, _ := h.pushImage(t, "app", tag, "cfg-"+name, "layer-"+name)
		out[name] = d
	}
	push("v1", "v1", 10*day)
	push("v2", "v2", 5*day)
	push("v3", "v3", 1*day)
	h.now = testNow.Add(-3 * day)
	h.pushBlob(t, "app", "cfg-loose")
	loose, _ := imageManifest("cfg-loose")
	out["loose"] = digest.FromString(loose)
	if st := h.pushManifest(t, "app", out["loose"].String(), dockerManifest, loose); st != http.StatusCreated {
		t.Fatalf("push by digest: %d", st)
	}
	h.now = testNow.Add(-30 * day)
	h.pushBlob(t, "app", "cfg-child")
	child, _ := imageManifest("cfg-child")
	out["child"] = digest.FromString(child)
	if st := h.pushManifest(t, "app", out["child"].String(), dockerManifest, child); st != http.StatusCreated {
		t.Fatalf("push child: %d", st)
	}
	h.now = testNow
	idx := indexOf(child)
	out["multi"] = digest.FromString(idx)
	if st := h.pushManifest(t, "app", "multi", ociIndex, idx); st != http.StatusCreated {
		t.Fatalf("push index: %d", st)
	}
	return out
}

// keepOneVAndTwoDaysUntagged keeps the newest v* image and untagged
// images up to two days old.
const keepOneVAndTwoDaysUntagged = `{"rules":[
	{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
	{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":2},"action":{"type":"expire"}}]}`

// digestsOf lists a repository's image digests, sorted.
func (h *harness) digestsOf(t *testing.T, repo string) []string {
	t.Helper()
	out, err := h.client.DescribeImages(t.Context(), &ecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	var ds []string
	for _, d := range out.ImageDetails {
		ds = append(ds, aws.ToString(d.ImageDigest))
	}
	slices.Sort(ds)
	return ds
}

func sortedDigests(ds ...digest.Digest) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.String())
	}
	slices.Sort(out)
	return out
}

// The lifecycle pass deletes what the policy expires, as BatchDeleteImage
// does (tags and all), leaves an index's child alone, and records when it
// evaluated the policy.
func TestLifecyclePass(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	d := lifecycleRepo(t, h)
	h.mustCreate(t, false, "nopolicy")
	h.pushImage(t, "nopolicy", "v1", "cfg-x")
	if _, err := h.client.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("app"),
		LifecyclePolicyText: aws.String(keepOneVAndTwoDaysUntagged)}); err != nil {
		t.Fatalf("PutLifecyclePolicy: %v", err)
	}

	h.now = testNow.Add(time.Hour)
	if err := h.s.LifecyclePass(ctx, testRegion); err != nil {
		t.Fatalf("LifecyclePass: %v", err)
	}
	if got, want := h.digestsOf(t, "app"), sortedDigests(d["v3"], d["child"], d["multi"]); !slices.Equal(got, want) {
		t.Fatalf("images left %v, want %v", got, want)
	}
	if got := h.digestsOf(t, "nopolicy"); len(got) != 1 {
		t.Fatalf("a repository without a policy lost images: %v", got)
	}
	if tags, err := h.s.RegistryMeta().Tags(ctx, "app", "", -1); err != nil || !slices.Equal(tags, []string{"multi", "v3"}) {
		t.Fatalf("tags left %v, %v", tags, err)
	}
	got, err := h.client.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("app")})
	if err != nil || got.LastEvaluatedAt == nil || !got.LastEvaluatedAt.Equal(h.now) {
		t.Fatalf("GetLifecyclePolicy: %v, lastEvaluatedAt %v", err, got.LastEvaluatedAt)
	}

	// Once the index is gone its child is an untagged image like any.
	if _, err := h.client.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("multi")}}}); err != nil {
		t.Fatalf("BatchDeleteImage: %v", err)
	}
	if err := h.s.LifecyclePass(ctx, testRegion); err != nil {
		t.Fatalf("LifecyclePass: %v", err)
	}
	if got, want := h.digestsOf(t, "app"), sortedDigests(d["v3"]); !slices.Equal(got, want) {
		t.Fatalf("images left %v, want %v", got, want)
	}
}

// An image whose tags changed since it was planned is not deleted.
func TestLifecycleDeleteChecksThePlan(t *testing.T) {
	h := newHarness(t)
	d := lifecycleRepo(t, h)
	st := h.s.regionStore(testRegion)
	_, _, err := h.s.deleteImageIf(t.Context(), st, "app", ecrtypes.ImageIdentifier{ImageDigest: aws.String(d["v1"].String())},
		func(img imageRecord) bool { return len(img.Tags) == 0 })
	if !errors.Is(err, errImageChanged) {
		t.Fatalf("deleteImageIf = %v, want errImageChanged", err)
	}
	if got := h.digestsOf(t, "app"); !slices.Contains(got, d["v1"].String()) {
		t.Fatalf("v1 deleted: %v", got)
	}
}

// RunControllers runs the lifecycle pass at once and in every region with
// repositories, and ends with its context.
func TestRunControllers(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	d := lifecycleRepo(t, h)
	if _, err := h.clientIn("eu-west-1").CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("elsewhere")}); err != nil {
		t.Fatalf("CreateRepository in eu-west-1: %v", err)
	}
	if regions, err := h.s.knownRegions(ctx); err != nil || !slices.Equal(regions, []string{"eu-west-1", testRegion}) {
		t.Fatalf("knownRegions = %v, %v", regions, err)
	}
	for _, region := range []string{testRegion, "eu-west-1"} {
		name := map[string]string{testRegion: "app", "eu-west-1": "elsewhere"}[region]
		if _, err := h.clientIn(region).PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(name),
			LifecyclePolicyText: aws.String(keepOneVAndTwoDaysUntagged)}); err != nil {
			t.Fatalf("PutLifecyclePolicy in %s: %v", region, err)
		}
	}
	h.now = testNow.Add(time.Hour) // not changed while the controllers run

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.s.RunControllers(runCtx, time.Hour)
	}()
	evaluated := func(region, name string) bool {
		got, err := h.clientIn(region).GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(name)})
		return err == nil && got.LastEvaluatedAt != nil
	}
	for deadline := time.Now().Add(10 * time.Second); !evaluated(testRegion, "app") || !evaluated("eu-west-1", "elsewhere"); {
		if time.Now().After(deadline) {
			t.Fatal("the controllers did not evaluate both regions' policies")
		}
		runtime.Gosched()
	}
	stop()
	wg.Wait()
	if got, want := h.digestsOf(t, "app"), sortedDigests(d["v3"], d["child"], d["multi"]); !slices.Equal(got, want) {
		t.Fatalf("images left %v, want %v", got, want)
	}
}
