package ecr

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// Previews through the API: of the stored policy or of a given one,
// complete at once, paged, filtered, and deleting nothing.
func TestLifecyclePolicyPreview(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	d := lifecycleRepo(t, h)
	app := aws.String("app")

	if _, err := h.client.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: app}); code(err) != "LifecyclePolicyPreviewNotFoundException" {
		t.Fatalf("GetLifecyclePolicyPreview before any: %v", err)
	}
	if _, err := h.client.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: app}); code(err) != "LifecyclePolicyNotFoundException" {
		t.Fatalf("StartLifecyclePolicyPreview without a policy: %v", err)
	}
	if _, err := h.client.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: app,
		LifecyclePolicyText: aws.String(`{"rules":[]}`)}); code(err) != "InvalidParameterException" {
		t.Fatalf("StartLifecyclePolicyPreview of an invalid policy: %v", err)
	}
	if _, err := h.client.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: aws.String("nope"),
		LifecyclePolicyText: aws.String(keepOneVAndTwoDaysUntagged)}); code(err) != "RepositoryNotFoundException" {
		t.Fatalf("StartLifecyclePolicyPreview of a missing repository: %v", err)
	}

	h.now = testNow.Add(time.Hour)
	started, err := h.client.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: app,
		LifecyclePolicyText: aws.String(keepOneVAndTwoDaysUntagged)})
	if err != nil || started.Status != types.LifecyclePolicyPreviewStatusComplete ||
		aws.ToString(started.LifecyclePolicyText) != keepOneVAndTwoDaysUntagged || aws.ToString(started.RegistryId) != testAccount {
		t.Fatalf("StartLifecyclePolicyPreview: %v %+v", err, started)
	}

	// Oldest first: v1 (rule 1), v2 (rule 1), the untagged image (rule 2).
	type result struct {
		digest string
		tags   []string
		prio   int32
	}
	var got []result
	p := ecr.NewGetLifecyclePolicyPreviewPaginator(h.client, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: app, MaxResults: aws.Int32(1)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("GetLifecyclePolicyPreview: %v", err)
		}
		pages++
		if page.Status != types.LifecyclePolicyPreviewStatusComplete || aws.ToInt32(page.Summary.ExpiringImageTotalCount) != 3 {
			t.Fatalf("page %+v", page)
		}
		for _, r := range page.PreviewResults {
			if r.Action == nil || r.Action.Type != types.ImageActionTypeExpire || r.ImagePushedAt == nil {
				t.Fatalf("result %+v", r)
			}
			got = append(got, result{aws.ToString(r.ImageDigest), r.ImageTags, aws.ToInt32(r.AppliedRulePriority)})
		}
	}
	want := []result{{d["v1"].String(), []string{"v1"}, 1}, {d["v2"].String(), []string{"v2"}, 1}, {d["loose"].String(), nil, 2}}
	if pages != 3 || !slices.EqualFunc(got, want, func(a, b result) bool {
		return a.digest == b.digest && slices.Equal(a.tags, b.tags) && a.prio == b.prio
	}) {
		t.Fatalf("%d pages of results %+v, want %+v", pages, got, want)
	}

	// Filters: by tag status, by image id.
	untagged, err := h.client.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: app,
		Filter: &types.LifecyclePolicyPreviewFilter{TagStatus: types.TagStatusUntagged}})
	if err != nil || len(untagged.PreviewResults) != 1 || aws.ToString(untagged.PreviewResults[0].ImageDigest) != d["loose"].String() {
		t.Fatalf("GetLifecyclePolicyPreview(UNTAGGED): %v %+v", err, untagged)
	}
	byID, err := h.client.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: app,
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v2")}, {ImageTag: aws.String("v3")}}})
	if err != nil || len(byID.PreviewResults) != 1 || aws.ToString(byID.PreviewResults[0].ImageDigest) != d["v2"].String() {
		t.Fatalf("GetLifecyclePolicyPreview(v2, v3): %v %+v", err, byID)
	}

	// A preview deletes nothing, and previews the stored policy without text.
	if got := h.digestsOf(t, "app"); len(got) != 6 {
		t.Fatalf("images after a preview: %v", got)
	}
	keepAll := `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":100},"action":{"type":"expire"}}]}`
	if _, err := h.client.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: app, LifecyclePolicyText: aws.String(keepAll)}); err != nil {
		t.Fatalf("PutLifecyclePolicy: %v", err)
	}
	if _, err := h.client.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: app}); err != nil {
		t.Fatalf("StartLifecyclePolicyPreview of the stored policy: %v", err)
	}
	stored, err := h.client.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: app})
	if err != nil || aws.ToString(stored.LifecyclePolicyText) != keepAll || len(stored.PreviewResults) != 0 ||
		aws.ToInt32(stored.Summary.ExpiringImageTotalCount) != 0 || stored.NextToken != nil {
		t.Fatalf("GetLifecyclePolicyPreview of the stored policy: %v %+v", err, stored)
	}
}
