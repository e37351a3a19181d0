package ecs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// validateTags checks user-supplied tags against ECS's limits: at most 50,
// key 1-128 and value 0-256 characters, and no key in the reserved "aws:"
// namespace (in any letter case). All violations are InvalidParameterException.
func validateTags(tags []ecstypes.Tag) error {
	if len(tags) > maxTags {
		return awserr.InvalidParameter("Too many tags: a resource can have at most %d tags.", maxTags)
	}
	for _, t := range tags {
		if err := validateTagKey(t.Key); err != nil {
			return err
		}
		if n := utf8.RuneCountInString(aws.ToString(t.Value)); n > maxTagValueLen {
			return awserr.InvalidParameter("Tag value for key '%s' is too long: at most %d characters are allowed.", aws.ToString(t.Key), maxTagValueLen)
		}
	}
	return nil
}

func validateTagKey(key *string) error {
	k := aws.ToString(key)
	switch n := utf8.RuneCountInString(k); {
	case key == nil || n == 0:
		return awserr.InvalidParameter("Tag keys must not be empty.")
	case n > maxTagKeyLen:
		return awserr.InvalidParameter("Tag key '%s' is too long: at most %d characters are allowed.", k, maxTagKeyLen)
	case strings.HasPrefix(strings.ToLower(k), "aws:"):
		return awserr.InvalidParameter("Tag key '%s' is invalid: the 'aws:' prefix is reserved for AWS use.", k)
	}
	return nil
}

// mergeTags validates add and merges it into have by key (a later value
// wins), keeping the order keys were first seen; the result may not exceed
// 50 tags. It never modifies have.
func mergeTags(have, add []ecstypes.Tag) ([]ecstypes.Tag, error) {
	if err := validateTags(add); err != nil {
		return nil, err
	}
	out := make([]ecstypes.Tag, 0, len(have)+len(add))
	at := make(map[string]int, len(have)+len(add))
	for _, t := range append(append([]ecstypes.Tag(nil), have...), add...) {
		t = ecstypes.Tag{Key: aws.String(aws.ToString(t.Key)), Value: aws.String(aws.ToString(t.Value))}
		if i, ok := at[*t.Key]; ok {
			out[i] = t
			continue
		}
		at[*t.Key] = len(out)
		out = append(out, t)
	}
	if len(out) > maxTags {
		return nil, awserr.InvalidParameter("Too many tags: a resource can have at most %d tags, this request would leave %d.", maxTags, len(out))
	}
	return out, nil
}

// TagResource adds or overwrites tags on a cluster, service, task
// definition, task or container instance.
func (s *Service) TagResource(ctx context.Context, in *ecstypes.TagResourceRequest) (*ecstypes.TagResourceResponse, error) {
	arn := aws.ToString(in.ResourceArn)
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		res, err := s.lookupTaggable(tx, arn)
		if err != nil {
			return err
		}
		merged, err := mergeTags(res.tags, in.Tags)
		if err != nil {
			return err
		}
		res.save(tx, merged)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tag %s: %w", arn, err)
	}
	return &ecstypes.TagResourceResponse{}, nil
}

// UntagResource removes tags by key; keys the resource lacks are ignored.
func (s *Service) UntagResource(ctx context.Context, in *ecstypes.UntagResourceRequest) (*ecstypes.UntagResourceResponse, error) {
	arn := aws.ToString(in.ResourceArn)
	drop := make(map[string]bool, len(in.TagKeys))
	for _, k := range in.TagKeys {
		if err := validateTagKey(aws.String(k)); err != nil {
			return nil, err
		}
		drop[k] = true
	}
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		res, err := s.lookupTaggable(tx, arn)
		if err != nil {
			return err
		}
		kept := make([]ecstypes.Tag, 0, len(res.tags))
		for _, t := range res.tags {
			if !drop[aws.ToString(t.Key)] {
				kept = append(kept, t)
			}
		}
		res.save(tx, kept)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("untag %s: %w", arn, err)
	}
	return &ecstypes.UntagResourceResponse{}, nil
}

// ListTagsForResource returns a resource's tags.
func (s *Service) ListTagsForResource(ctx context.Context, in *ecstypes.ListTagsForResourceRequest) (*ecstypes.ListTagsForResourceResponse, error) {
	arn := aws.ToString(in.ResourceArn)
	var res taggable
	err := s.st.View(ctx, func(tx *store.Tx) error {
		var err error
		res, err = s.lookupTaggable(tx, arn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", arn, err)
	}
	if res.tags == nil {
		res.tags = []ecstypes.Tag{}
	}
	return &ecstypes.ListTagsForResourceResponse{Tags: res.tags}, nil
}

// taggable is a resource's current tags and how to store it with new ones.
type taggable struct {
	tags []ecstypes.Tag
	save func(tx *store.Tx, tags []ecstypes.Tag)
}

// lookupTaggable finds the resource an ARN names. A malformed or foreign
// ARN, or a resource that does not exist, is InvalidParameterException.
func (s *Service) lookupTaggable(tx *store.Tx, arn string) (taggable, error) {
	invalid := awserr.InvalidParameter("The ARN provided is invalid: %s", arn)
	typ, id, ok := s.arns.resource(arn)
	if !ok {
		return taggable{}, invalid
	}
	switch typ {
	case "cluster":
		if strings.Contains(id, "/") {
			return taggable{}, invalid
		}
		return loadTaggable(tx, clusters, id, "cluster", func(r *clusterRecord) *[]ecstypes.Tag { return &r.Cluster.Tags })
	case "task-definition":
		family, rev, err := s.parseTaskDefRef(arn)
		if err != nil || rev == 0 {
			return taggable{}, invalid
		}
		return loadTaggable(tx, taskDefs, taskDefID(family, rev), "task definition", func(r *taskDefRecord) *[]ecstypes.Tag { return &r.Tags })
	case "service":
		// Only the long ARN format, ".../<cluster>/<name>", the store id.
		if strings.Count(id, "/") != 1 || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") {
			return taggable{}, invalid
		}
		return loadTaggable(tx, services, id, "service", func(r *serviceRecord) *[]ecstypes.Tag { return &r.Service.Tags })
	case "task", "container-instance":
		// Only the long ARN format, ".../<cluster>/<id>", the store id.
		if strings.Count(id, "/") != 1 || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") {
			return taggable{}, invalid
		}
		if typ == "task" {
			return loadTaggable(tx, tasks, id, "task", func(r *taskRecord) *[]ecstypes.Tag { return &r.Task.Tags })
		}
		return loadTaggable(tx, instances, id, "container instance", func(r *instanceRecord) *[]ecstypes.Tag { return &r.Instance.Tags })
	default:
		return taggable{}, awserr.InvalidParameter("The ARN provided is invalid: resources of type '%s' cannot be tagged.", typ)
	}
}

// loadTaggable reads record id of c; field picks the tags out of it.
func loadTaggable[T any](tx *store.Tx, c store.Collection[T], id, kind string, field func(*T) *[]ecstypes.Tag) (taggable, error) {
	rec, err := store.Get(tx, c, id)
	if errors.Is(err, store.ErrNotFound) {
		return taggable{}, awserr.InvalidParameter("The specified %s is not found.", kind)
	}
	if err != nil {
		return taggable{}, err
	}
	return taggable{
		tags: *field(&rec),
		save: func(tx *store.Tx, tags []ecstypes.Tag) {
			*field(&rec) = tags
			store.Put(tx, c, id, rec)
		},
	}, nil
}
