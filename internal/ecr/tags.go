package ecr

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
)

// Tag limits, as ECR has them.
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// validateTags checks tags against ECR's limits: too many is
// TooManyTagsException, a bad key or value InvalidTagParameterException.
func validateTags(tags []ecrtypes.Tag) error {
	if len(tags) > maxTags {
		return awserr.Newf(ecrtypes.ErrCodeTooManyTagsException, "Tag limit exceeded: a resource can have at most %d tags.", maxTags)
	}
	for _, t := range tags {
		k := aws.ToString(t.Key)
		switch n := utf8.RuneCountInString(k); {
		case t.Key == nil || n == 0:
			return awserr.Newf(ecrtypes.ErrCodeInvalidTagParameterException, "Tag keys must not be empty.")
		case n > maxTagKeyLen:
			return awserr.Newf(ecrtypes.ErrCodeInvalidTagParameterException, "Tag key '%s' is too long: at most %d characters are allowed.", k, maxTagKeyLen)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return awserr.Newf(ecrtypes.ErrCodeInvalidTagParameterException, "Tag key '%s' is invalid: the 'aws:' prefix is reserved for AWS use.", k)
		case t.Value == nil:
			return awserr.Newf(ecrtypes.ErrCodeInvalidTagParameterException, "Tag '%s' has no value.", k)
		}
		if utf8.RuneCountInString(aws.ToString(t.Value)) > maxTagValueLen {
			return awserr.Newf(ecrtypes.ErrCodeInvalidTagParameterException, "Tag value for key '%s' is too long: at most %d characters are allowed.", k, maxTagValueLen)
		}
	}
	return nil
}

// TagResource adds or overwrites tags on a repository.
func (s *Service) TagResource(ctx context.Context, in *ecrtypes.TagResourceRequest) (*ecrtypes.TagResourceResponse, error) {
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	name, err := s.taggedRepository(ctx, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	_, err = s.updateRepository(ctx, nil, name, func(r *repoRecord) error {
		out := slices.Clone(r.Tags)
		for _, t := range in.Tags {
			i := slices.IndexFunc(out, func(h ecrtypes.Tag) bool { return aws.ToString(h.Key) == aws.ToString(t.Key) })
			if i >= 0 {
				out[i] = t
			} else {
				out = append(out, t)
			}
		}
		if len(out) > maxTags {
			return awserr.Newf(ecrtypes.ErrCodeTooManyTagsException, "Tag limit exceeded: a resource can have at most %d tags, this request would leave %d.", maxTags, len(out))
		}
		r.Tags = out
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecrtypes.TagResourceResponse{}, nil
}

// UntagResource removes tags from a repository by key.
func (s *Service) UntagResource(ctx context.Context, in *ecrtypes.UntagResourceRequest) (*ecrtypes.UntagResourceResponse, error) {
	name, err := s.taggedRepository(ctx, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	_, err = s.updateRepository(ctx, nil, name, func(r *repoRecord) error {
		r.Tags = slices.DeleteFunc(slices.Clone(r.Tags), func(t ecrtypes.Tag) bool { return slices.Contains(in.TagKeys, aws.ToString(t.Key)) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecrtypes.UntagResourceResponse{}, nil
}

// ListTagsForResource lists a repository's tags.
func (s *Service) ListTagsForResource(ctx context.Context, in *ecrtypes.ListTagsForResourceRequest) (*ecrtypes.ListTagsForResourceResponse, error) {
	name, err := s.taggedRepository(ctx, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	rec, err := s.viewRepository(ctx, nil, name)
	if err != nil {
		return nil, err
	}
	tags := rec.Tags
	if tags == nil {
		tags = []ecrtypes.Tag{}
	}
	return &ecrtypes.ListTagsForResourceResponse{Tags: tags}, nil
}

// taggedRepository is the repository a tagging call's ARN names.
func (s *Service) taggedRepository(ctx context.Context, arn *string) (string, error) {
	name, ok := s.repositoryFromARN(ctx, aws.ToString(arn))
	if !ok {
		return "", awserr.InvalidParameter("%s", "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN "+aws.ToString(arn)+"'")
	}
	return name, nil
}
