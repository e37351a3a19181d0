package ecr

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
)

// Lifecycle policy previews. Planning is cheap (bounded by the
// repository's image count), so a preview is complete as soon as it is
// started: StartLifecyclePolicyPreview records the policy and the time on
// the repository record, and GetLifecyclePolicyPreview plans that policy,
// as of that time, over the repository's images as they are when asked.
// No preview is ever IN_PROGRESS, so LifecyclePolicyPreviewInProgress is
// never answered.

// StartLifecyclePolicyPreview previews lifecyclePolicyText, or the
// repository's lifecycle policy without one.
func (s *Service) StartLifecyclePolicyPreview(ctx context.Context, in *ecrtypes.StartLifecyclePolicyPreviewRequest) (*ecrtypes.StartLifecyclePolicyPreviewResponse, error) {
	name := aws.ToString(in.RepositoryName)
	text := aws.ToString(in.LifecyclePolicyText)
	if in.LifecyclePolicyText != nil {
		if _, err := ParseLifecyclePolicy(text); err != nil {
			return nil, err
		}
	}
	_, err := s.updateRepository(ctx, in.RegistryId, name, func(r *repoRecord) error {
		if in.LifecyclePolicyText == nil {
			if r.Lifecycle == nil {
				return lifecycleNotFound(name, s.cfg.AccountID)
			}
			text = r.Lifecycle.Text
		}
		r.Preview = &previewRecord{Text: text, StartedAt: s.now()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecrtypes.StartLifecyclePolicyPreviewResponse{RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name),
		LifecyclePolicyText: aws.String(text), Status: aws.String(ecrtypes.LifecyclePolicyPreviewStatusCOMPLETE)}, nil
}

// GetLifecyclePolicyPreview returns the images the repository's last
// preview expires, from the least recently pushed, in pages of maxResults
// (default 100), or only those imageIds name, filtered by tagStatus; the summary counts
// every image it expires.
func (s *Service) GetLifecyclePolicyPreview(ctx context.Context, in *ecrtypes.GetLifecyclePolicyPreviewRequest) (*ecrtypes.GetLifecyclePolicyPreviewResponse, error) {
	st, err := s.imageStore(ctx, in.RegistryId)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	if len(in.ImageIds) > 0 && (in.MaxResults != nil || in.NextToken != nil) {
		return nil, awserr.InvalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'maxResults and nextToken cannot be used with imageIds'")
	}
	limit, after, err := pageArgs(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	var afterAt time.Time
	var afterDigest string
	if after != "" {
		at, d, ok := strings.Cut(after, " ")
		if afterAt, err = time.Parse(time.RFC3339Nano, at); err != nil || !ok {
			return nil, awserr.InvalidParameter("Invalid parameter at 'nextToken' failed to satisfy constraint: 'the token is not valid'")
		}
		afterDigest = d
	}
	rec, err := s.viewRepository(ctx, in.RegistryId, name)
	if err != nil {
		return nil, err
	}
	if rec.Preview == nil {
		return nil, previewNotFound(name, s.cfg.AccountID)
	}
	policy, err := ParseLifecyclePolicy(rec.Preview.Text)
	if err != nil {
		return nil, err
	}
	imgs, err := lifecycleImages(ctx, st, name)
	if err != nil {
		return nil, err
	}
	plan := PlanLifecycle(policy, imgs, rec.Preview.StartedAt)

	tagStatus := ecrtypes.TagStatusANY
	if in.Filter != nil && in.Filter.TagStatus != nil {
		tagStatus = *in.Filter.TagStatus
	}
	out := &ecrtypes.GetLifecyclePolicyPreviewResponse{
		RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name),
		LifecyclePolicyText: aws.String(rec.Preview.Text), Status: aws.String(ecrtypes.LifecyclePolicyPreviewStatusCOMPLETE),
		PreviewResults: []ecrtypes.LifecyclePolicyPreviewResult{},
		Summary:        &ecrtypes.LifecyclePolicyPreviewSummary{ExpiringImageTotalCount: aws.Int32(int32(len(plan)))},
	}
	for _, e := range plan {
		img := e.Image
		switch {
		case tagStatus == ecrtypes.TagStatusTAGGED && len(img.Tags) == 0,
			tagStatus == ecrtypes.TagStatusUNTAGGED && len(img.Tags) > 0:
			continue
		case len(in.ImageIds) > 0 && !slices.ContainsFunc(in.ImageIds, func(id ecrtypes.ImageIdentifier) bool { return namesImage(id, img) }):
			continue
		case after != "" && cmp.Or(img.PushedAt.Compare(afterAt), cmp.Compare(img.Digest, afterDigest)) <= 0:
			continue
		}
		if len(in.ImageIds) == 0 && len(out.PreviewResults) == limit {
			last := out.PreviewResults[limit-1]
			out.NextToken = nextToken(aws.String(last.ImagePushedAt.Time.Format(time.RFC3339Nano) + " " + aws.ToString(last.ImageDigest)))
			break
		}
		r := ecrtypes.LifecyclePolicyPreviewResult{
			ImageDigest: aws.String(img.Digest), ImageTags: img.Tags,
			Action:              &ecrtypes.LifecyclePolicyRuleAction{Type: aws.String(ecrtypes.ImageActionTypeEXPIRE)},
			AppliedRulePriority: aws.Int32(int32(e.RulePriority)),
			ImagePushedAt:       ecrtypes.Time(img.PushedAt),
		}
		if len(r.ImageTags) == 0 {
			r.ImageTags = nil
		}
		out.PreviewResults = append(out.PreviewResults, r)
	}
	return out, nil
}

// namesImage reports whether id names img: by digest, by tag, or both.
func namesImage(id ecrtypes.ImageIdentifier, img LifecycleImage) bool {
	if id.ImageDigest != nil && *id.ImageDigest != img.Digest {
		return false
	}
	if id.ImageTag != nil && !slices.Contains(img.Tags, *id.ImageTag) {
		return false
	}
	return id.ImageDigest != nil || id.ImageTag != nil
}
