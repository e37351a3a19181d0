package acm

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/acmtypes"
)

// Tag limits, as ACM has them.
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// validateTags checks tags against ACM's rules: a key of 1 to 128
// characters not starting "aws:", a value of at most 256.
func validateTags(tags []acmtypes.Tag) error {
	if len(tags) > maxTags {
		return tooManyTags()
	}
	for _, t := range tags {
		k := aws.ToString(t.Key)
		switch n := utf8.RuneCountInString(k); {
		case n == 0 || n > maxTagKeyLen:
			return awserr.Newf(acmtypes.ErrCodeInvalidTagException, "Tag key '%s' must be 1 to %d characters long.", k, maxTagKeyLen)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return awserr.Newf(acmtypes.ErrCodeInvalidTagException, "Tag key '%s' is invalid: the 'aws:' prefix is reserved for AWS use.", k)
		}
		if utf8.RuneCountInString(aws.ToString(t.Value)) > maxTagValueLen {
			return awserr.Newf(acmtypes.ErrCodeInvalidTagException, "Tag value for key '%s' must be at most %d characters long.", k, maxTagValueLen)
		}
	}
	return nil
}

func tooManyTags() error {
	return awserr.Newf(acmtypes.ErrCodeTooManyTagsException, "A certificate can have at most %d tags.", maxTags)
}

// AddTagsToCertificate adds tags to a certificate, replacing the values of
// keys it has.
func (s *Service) AddTagsToCertificate(ctx context.Context, in *acmtypes.AddTagsToCertificateRequest) (*struct{}, error) {
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	_, err := s.update(ctx, aws.ToString(in.CertificateArn), func(r *certRecord) error {
		out := slices.Clone(r.Tags)
		for _, t := range in.Tags {
			i := slices.IndexFunc(out, func(h acmtypes.Tag) bool { return aws.ToString(h.Key) == aws.ToString(t.Key) })
			if i >= 0 {
				out[i] = t
			} else {
				out = append(out, t)
			}
		}
		if len(out) > maxTags {
			return tooManyTags()
		}
		r.Tags = out
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &struct{}{}, nil
}

// RemoveTagsFromCertificate removes tags by key; a tag given with a value
// is removed only if it has that value.
func (s *Service) RemoveTagsFromCertificate(ctx context.Context, in *acmtypes.RemoveTagsFromCertificateRequest) (*struct{}, error) {
	_, err := s.update(ctx, aws.ToString(in.CertificateArn), func(r *certRecord) error {
		r.Tags = slices.DeleteFunc(slices.Clone(r.Tags), func(have acmtypes.Tag) bool {
			return slices.ContainsFunc(in.Tags, func(rm acmtypes.Tag) bool {
				return aws.ToString(rm.Key) == aws.ToString(have.Key) &&
					(rm.Value == nil || aws.ToString(rm.Value) == aws.ToString(have.Value))
			})
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &struct{}{}, nil
}

// ListTagsForCertificate lists a certificate's tags.
func (s *Service) ListTagsForCertificate(ctx context.Context, in *acmtypes.ListTagsForCertificateRequest) (*acmtypes.ListTagsForCertificateResponse, error) {
	rec, err := s.view(ctx, aws.ToString(in.CertificateArn))
	if err != nil {
		return nil, err
	}
	tags := rec.Tags
	if tags == nil {
		tags = []acmtypes.Tag{}
	}
	return &acmtypes.ListTagsForCertificateResponse{Tags: tags}, nil
}
