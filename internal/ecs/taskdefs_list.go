package ecs

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// ListTaskDefinitions lists revision ARNs. As in ECS, familyPrefix is the
// full family name (not a prefix), status defaults to ACTIVE, and the order
// is family name then revision, ascending unless sort is DESC. It reads one
// page at a time from etcd: families in name order, each family's
// revisions in revision order.
func (s *Service) ListTaskDefinitions(ctx context.Context, in *ecstypes.ListTaskDefinitionsRequest) (*ecstypes.ListTaskDefinitionsResponse, error) {
	status := aws.ToString(in.Status)
	if status == "" {
		status = taskDefActive
	}
	desc := aws.ToString(in.Sort) == "DESC"
	limit, after, err := pageArgs(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	// The token is the last ARN listed; resume within its family.
	var afterFamily string
	var afterRev int32
	if after != "" {
		if afterFamily, afterRev, err = s.parseTaskDefRef(after); err != nil || afterRev == 0 {
			return nil, awserr.InvalidParameter("The nextToken is not valid.")
		}
	}
	out := &ecstypes.ListTaskDefinitionsResponse{}
	err = s.st.View(ctx, func(tx *store.Tx) error {
		out.TaskDefinitionArns, out.NextToken = []string{}, nil
		var last string
		full := false
		revisions := func(family, afterID string) error {
			return store.Scan(tx, taskDefs, family+"/", afterID, desc, func(_ string, rec taskDefRecord) (bool, error) {
				if aws.ToString(rec.TaskDefinition.Status) != status {
					return true, nil
				}
				if len(out.TaskDefinitionArns) == limit {
					out.NextToken, full = nextToken(last), true
					return false, nil
				}
				last = aws.ToString(rec.TaskDefinition.TaskDefinitionArn)
				out.TaskDefinitionArns = append(out.TaskDefinitionArns, last)
				return true, nil
			})
		}
		if family := aws.ToString(in.FamilyPrefix); family != "" {
			afterID := ""
			if afterFamily == family {
				afterID = taskDefID(family, afterRev)
			}
			return revisions(family, afterID)
		}
		if afterFamily != "" {
			if err := revisions(afterFamily, taskDefID(afterFamily, afterRev)); err != nil || full {
				return err
			}
		}
		return store.Scan(tx, families, "", afterFamily, desc, func(name string, _ familyRecord) (bool, error) {
			if err := revisions(name, ""); err != nil {
				return false, err
			}
			return !full, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list task definitions: %w", err)
	}
	return out, nil
}

// ListTaskDefinitionFamilies lists family names starting with familyPrefix,
// one page at a time from etcd. As documented by ECS, with no status both
// families with and without an ACTIVE revision are listed; ACTIVE keeps
// those with at least one ACTIVE revision, INACTIVE those with none.
func (s *Service) ListTaskDefinitionFamilies(ctx context.Context, in *ecstypes.ListTaskDefinitionFamiliesRequest) (*ecstypes.ListTaskDefinitionFamiliesResponse, error) {
	status := aws.ToString(in.Status)
	if status == "" {
		status = "ALL"
	}
	limit, after, err := pageArgs(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	prefix := aws.ToString(in.FamilyPrefix)
	if after != "" && !strings.HasPrefix(after, prefix) {
		return nil, awserr.InvalidParameter("The nextToken is not valid.")
	}
	out := &ecstypes.ListTaskDefinitionFamiliesResponse{}
	err = s.st.View(ctx, func(tx *store.Tx) error {
		out.Families, out.NextToken = []string{}, nil
		return store.Scan(tx, families, prefix, after, false, func(name string, f familyRecord) (bool, error) {
			if status != "ALL" {
				active, err := activeRevisions(tx, f)
				if err != nil {
					return false, err
				}
				if (status == taskDefActive) != (active > 0) {
					return true, nil
				}
			}
			if len(out.Families) == limit {
				out.NextToken = nextToken(out.Families[len(out.Families)-1])
				return false, nil
			}
			out.Families = append(out.Families, name)
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list task definition families: %w", err)
	}
	return out, nil
}
