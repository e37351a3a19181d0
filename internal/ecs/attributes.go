package ecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

const maxCustomAttributes = 10

func attrNameOK(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_/.", r)
}

func attrValueOK(r rune) bool { return attrNameOK(r) || strings.ContainsRune("@: ", r) }

// validateAttribute applies ECS's attribute name and value rules.
func validateAttribute(a ecstypes.Attribute) error {
	name, value := aws.ToString(a.Name), aws.ToString(a.Value)
	if name == "" || len(name) > 128 || strings.IndexFunc(name, func(r rune) bool { return !attrNameOK(r) }) >= 0 {
		return awserr.InvalidParameter("Attribute name %q is invalid: up to 128 letters, numbers, hyphens, underscores, slashes and periods.", name)
	}
	if a.Value != nil && (value == "" || len(value) > 128 || strings.IndexFunc(value, func(r rune) bool { return !attrValueOK(r) }) >= 0) {
		return awserr.InvalidParameter("Attribute value %q of %q is invalid: 1 to 128 letters, numbers, hyphens, underscores, periods, at signs, slashes, colons and spaces.", value, name)
	}
	if t := aws.ToString(a.TargetType); t != "" && t != "container-instance" {
		return awserr.InvalidParameter("Attribute targetType must be container-instance.")
	}
	return nil
}

// mergeAttributes overlays updates (by name) on base, keeping base's order.
func mergeAttributes(base, updates []ecstypes.Attribute) []ecstypes.Attribute {
	out := make([]ecstypes.Attribute, 0, len(base)+len(updates))
	for _, a := range base {
		out = append(out, ecstypes.Attribute{Name: a.Name, Value: a.Value})
	}
	for _, u := range updates {
		i := slices.IndexFunc(out, func(a ecstypes.Attribute) bool { return aws.ToString(a.Name) == aws.ToString(u.Name) })
		if i >= 0 {
			out[i].Value = u.Value
			continue
		}
		out = append(out, ecstypes.Attribute{Name: u.Name, Value: u.Value})
	}
	return out
}

func customCount(attrs []ecstypes.Attribute) int {
	n := 0
	for _, a := range attrs {
		if !strings.HasPrefix(aws.ToString(a.Name), "ecs.") && !strings.HasPrefix(aws.ToString(a.Name), "com.amazonaws.ecs.") {
			n++
		}
	}
	return n
}

// attributeTargets groups attributes by the instance they target.
func (s *Service) attributeTargets(tx *store.Tx, cname string, attrs []ecstypes.Attribute) (map[string]instanceRecord, error) {
	targets := map[string]instanceRecord{}
	for _, a := range attrs {
		if err := validateAttribute(a); err != nil {
			return nil, err
		}
		ref := aws.ToString(a.TargetId)
		if ref == "" {
			return nil, awserr.InvalidParameter("%s", "Attribute "+aws.ToString(a.Name)+" needs a targetId (a container instance ARN or ID).")
		}
		rec, err := s.getInstance(tx, cname, ref)
		if errors.Is(err, store.ErrNotFound) || err == nil && aws.ToString(rec.Instance.Status) == "INACTIVE" {
			return nil, awserr.New("TargetNotFoundException", 400, "%s", "Could not find "+ref+".")
		}
		if err != nil {
			return nil, fmt.Errorf("get instance %s: %w", ref, err)
		}
		arn := aws.ToString(rec.Instance.ContainerInstanceArn)
		if prev, ok := targets[arn]; ok {
			rec = prev
		}
		targets[arn] = rec
	}
	return targets, nil
}

// PutAttributes creates or updates attributes on container instances.
func (s *Service) PutAttributes(ctx context.Context, in *ecstypes.PutAttributesRequest) (*ecstypes.PutAttributesResponse, error) {
	if len(in.Attributes) > 10 {
		return nil, awserr.InvalidParameter("A maximum of 10 attributes can be put at once.")
	}
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		targets, err := s.attributeTargets(tx, cname, in.Attributes)
		if err != nil {
			return err
		}
		for arn, rec := range targets {
			var mine []ecstypes.Attribute
			for _, a := range in.Attributes {
				if t, _ := s.getInstance(tx, cname, aws.ToString(a.TargetId)); aws.ToString(t.Instance.ContainerInstanceArn) == arn {
					mine = append(mine, a)
				}
			}
			rec.Instance.Attributes = mergeAttributes(rec.Instance.Attributes, mine)
			if customCount(rec.Instance.Attributes) > maxCustomAttributes {
				return awserr.New("AttributeLimitExceededException", 400, "You can apply up to 10 custom attributes per resource.")
			}
			store.Put(tx, instances, cname+"/"+idFromARN(arn), rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.PutAttributesResponse{Attributes: in.Attributes}, nil
}

// DeleteAttributes removes attributes from container instances and answers
// with them as they were, values included, as ECS does.
func (s *Service) DeleteAttributes(ctx context.Context, in *ecstypes.DeleteAttributesRequest) (*ecstypes.DeleteAttributesResponse, error) {
	var deleted []ecstypes.Attribute
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		deleted = slices.Clone(in.Attributes)
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		targets, err := s.attributeTargets(tx, cname, in.Attributes)
		if err != nil {
			return err
		}
		for arn, rec := range targets {
			rec.Instance.Attributes = slices.DeleteFunc(rec.Instance.Attributes, func(have ecstypes.Attribute) bool {
				for i, a := range in.Attributes {
					t, _ := s.getInstance(tx, cname, aws.ToString(a.TargetId))
					if aws.ToString(t.Instance.ContainerInstanceArn) == arn && aws.ToString(a.Name) == aws.ToString(have.Name) {
						deleted[i].Value = have.Value
						return true
					}
				}
				return false
			})
			store.Put(tx, instances, cname+"/"+idFromARN(arn), rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecstypes.DeleteAttributesResponse{Attributes: deleted}, nil
}

// ListAttributes lists the attributes of a cluster's container instances,
// one page at a time from etcd, in instance then attribute order.
func (s *Service) ListAttributes(ctx context.Context, in *ecstypes.ListAttributesRequest) (*ecstypes.ListAttributesResponse, error) {
	if aws.ToString(in.TargetType) != "container-instance" {
		return nil, awserr.InvalidParameter("targetType must be container-instance.")
	}
	if in.AttributeValue != nil && in.AttributeName == nil {
		return nil, awserr.InvalidParameter("attributeValue can only be given together with attributeName.")
	}
	limit, after, err := pageArgs(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	// The token is "<instance id>/<attribute name>" of the last attribute.
	afterInstance, afterName, _ := strings.Cut(after, "/")
	out := &ecstypes.ListAttributesResponse{}
	err = s.st.View(ctx, func(tx *store.Tx) error {
		out.Attributes, out.NextToken = []ecstypes.Attribute{}, nil
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		var last string
		// visit lists one instance's matching attributes in name order, those
		// after skipName only; false when the page is full.
		visit := func(r instanceRecord, skipName string) bool {
			if aws.ToString(r.Instance.Status) == "INACTIVE" {
				return true
			}
			instID := idFromARN(aws.ToString(r.Instance.ContainerInstanceArn))
			attrs := slices.Clone(r.Instance.Attributes)
			slices.SortFunc(attrs, func(a, b ecstypes.Attribute) int { return strings.Compare(aws.ToString(a.Name), aws.ToString(b.Name)) })
			for _, a := range attrs {
				name := aws.ToString(a.Name)
				switch {
				case skipName != "" && name <= skipName,
					in.AttributeName != nil && name != *in.AttributeName,
					in.AttributeValue != nil && aws.ToString(a.Value) != *in.AttributeValue:
					continue
				}
				if len(out.Attributes) == limit {
					out.NextToken = nextToken(last)
					return false
				}
				last = instID + "/" + name
				// As ECS lists them: name, value and targetId, no targetType.
				out.Attributes = append(out.Attributes, ecstypes.Attribute{Name: a.Name, Value: a.Value, TargetId: r.Instance.ContainerInstanceArn})
			}
			return true
		}
		after := ""
		if afterInstance != "" {
			// Finish the instance the previous page ended in.
			after = cname + "/" + afterInstance
			rec, err := store.Get(tx, instances, after)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("get instance %s: %w", afterInstance, err)
			}
			if err == nil && !visit(rec, afterName) {
				return nil
			}
		}
		return store.Scan(tx, instances, cname+"/", after, false, func(_ string, r instanceRecord) (bool, error) {
			return visit(r, ""), nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
