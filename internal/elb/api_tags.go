package elb

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// Tags of load balancers, target groups, listeners and rules: AddTags,
// RemoveTags and DescribeTags, each on up to 20 resources.

const maxTagResources = 20

// taggable reads and writes the tags of the record an ARN names.
type taggable struct {
	tags []elbv2types.Tag
	// put writes the record back with new tags.
	put func(tags []elbv2types.Tag)
}

// loadTaggable reads the record an ARN names, in tx.
func (s *Service) loadTaggable(ctx context.Context, tx *store.Tx, arn string) (taggable, error) {
	p, ok := s.arns.parse(arn)
	if !ok {
		for kind := range kindNoun {
			if isForeignELBARN(arn, kind) {
				return taggable{}, errNotFoundFor(kind)
			}
		}
		return taggable{}, errValidation("'%s' is not a valid load balancer, target group, listener or rule ARN", arn)
	}
	if _, err := s.resolve(ctx, arn, p.Kind); err != nil {
		return taggable{}, err
	}
	switch p.Kind {
	case "loadbalancer":
		r, err := getOrErr(tx, loadBalancers, p.lbKey(), errNoLoadBalancer())
		return taggable{r.Tags, func(t []elbv2types.Tag) { r.Tags = t; store.Put(tx, loadBalancers, p.lbKey(), r) }}, err
	case "targetgroup":
		r, err := getOrErr(tx, targetGroups, p.tgKey(), errNoTargetGroup())
		return taggable{r.Tags, func(t []elbv2types.Tag) { r.Tags = t; store.Put(tx, targetGroups, p.tgKey(), r) }}, err
	case "listener":
		r, err := getOrErr(tx, listeners, p.listenerKey(), errNoListener())
		return taggable{r.Tags, func(t []elbv2types.Tag) { r.Tags = t; store.Put(tx, listeners, p.listenerKey(), r) }}, err
	default:
		if isDefaultRule(p) {
			if _, err := getOrErr(tx, listeners, p.listenerKey(), errNoRule()); err != nil {
				return taggable{}, err
			}
			return taggable{nil, nil}, nil
		}
		r, err := getOrErr(tx, rules, p.ruleKey(), errNoRule())
		return taggable{r.Tags, func(t []elbv2types.Tag) { r.Tags = t; store.Put(tx, rules, p.ruleKey(), r) }}, err
	}
}

func checkTagResources(arns []string) error {
	if len(arns) == 0 {
		return errValidation("At least one resource ARN must be specified")
	}
	if len(arns) > maxTagResources {
		return errValidation("At most %d resource ARNs can be specified", maxTagResources)
	}
	return nil
}

// AddTags adds or overwrites tags of resources, all or none.
func (s *Service) AddTags(ctx context.Context, in *elbv2types.AddTagsInput) (*elbv2types.AddTagsOutput, error) {
	if err := checkTagResources(in.ResourceArns); err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, errValidation("At least one tag must be specified")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		for _, arn := range in.ResourceArns {
			t, err := s.loadTaggable(ctx, tx, arn)
			if err != nil {
				return err
			}
			if t.put == nil {
				return errInvalidConfig("Berth does not keep tags on a listener's default rule ('%s')", arn)
			}
			merged := mergeTags(t.tags, in.Tags)
			if len(merged) > maxTags {
				return errELB(elbv2types.ErrCodeTooManyTagsException, "You've reached the limit of %d tags for resource '%s'", maxTags, arn)
			}
			t.put(merged)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("add tags: %w", err)
	}
	return &elbv2types.AddTagsOutput{}, nil
}

// RemoveTags removes tags by key; keys a resource lacks are ignored.
func (s *Service) RemoveTags(ctx context.Context, in *elbv2types.RemoveTagsInput) (*elbv2types.RemoveTagsOutput, error) {
	if err := checkTagResources(in.ResourceArns); err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, errValidation("At least one tag key must be specified")
	}
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		for _, arn := range in.ResourceArns {
			t, err := s.loadTaggable(ctx, tx, arn)
			if err != nil {
				return err
			}
			if t.put == nil {
				continue
			}
			kept := slices.DeleteFunc(slices.Clone(t.tags), func(tag elbv2types.Tag) bool {
				return slices.Contains(in.TagKeys, aws.ToString(tag.Key))
			})
			if len(kept) != len(t.tags) {
				t.put(kept)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remove tags: %w", err)
	}
	return &elbv2types.RemoveTagsOutput{}, nil
}

// DescribeTags answers the tags of each resource.
func (s *Service) DescribeTags(ctx context.Context, in *elbv2types.DescribeTagsInput) (*elbv2types.DescribeTagsOutput, error) {
	if err := checkTagResources(in.ResourceArns); err != nil {
		return nil, err
	}
	out := &elbv2types.DescribeTagsOutput{TagDescriptions: []elbv2types.TagDescription{}}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		for _, arn := range in.ResourceArns {
			t, err := s.loadTaggable(ctx, tx, arn)
			if err != nil {
				return err
			}
			out.TagDescriptions = append(out.TagDescriptions, elbv2types.TagDescription{ResourceArn: aws.String(arn), Tags: orEmpty(t.tags)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe tags: %w", err)
	}
	return out, nil
}
