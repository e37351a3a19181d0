package ecs

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// ListTaskDefinitions lists revision ARNs. As in ECS, familyPrefix is the
// full family name (not a prefix), status defaults to ACTIVE, and the order
// is family name then revision, ascending unless sort is DESC.
func (s *Service) ListTaskDefinitions(ctx context.Context, in *ecstypes.ListTaskDefinitionsRequest) (*ecstypes.ListTaskDefinitionsResponse, error) {
	status := aws.ToString(in.Status)
	if status == "" {
		status = taskDefActive
	}
	family := aws.ToString(in.FamilyPrefix)
	idPrefix := ""
	if family != "" {
		idPrefix = family + "/"
	}
	var recs []taskDefRecord
	err := s.st.View(ctx, func(tx *store.Tx) error {
		var err error
		recs, err = store.List(tx, taskDefs, idPrefix)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list task definitions: %w", err)
	}
	keys := make([]string, 0, len(recs))
	arnOf := make(map[string]string, len(recs))
	for _, rec := range recs {
		td := rec.TaskDefinition
		if aws.ToString(td.Status) != status {
			continue
		}
		// NUL sorts before every family character, so "web" < "web-2"
		// and revisions compare numerically thanks to the padding.
		key := aws.ToString(td.Family) + "\x00" + fmt.Sprintf("%010d", aws.ToInt32(td.Revision))
		keys = append(keys, key)
		arnOf[key] = aws.ToString(td.TaskDefinitionArn)
	}
	got, next, err := pageOrdered(keys, aws.ToString(in.Sort) == "DESC", in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	arns := make([]string, len(got))
	for i, k := range got {
		arns[i] = arnOf[k]
	}
	return &ecstypes.ListTaskDefinitionsResponse{TaskDefinitionArns: arns, NextToken: next}, nil
}

// ListTaskDefinitionFamilies lists family names starting with familyPrefix.
// As documented by ECS, with no status both families with and without an
// ACTIVE revision are listed; ACTIVE keeps those with at least one ACTIVE
// revision, INACTIVE those with none.
func (s *Service) ListTaskDefinitionFamilies(ctx context.Context, in *ecstypes.ListTaskDefinitionFamiliesRequest) (*ecstypes.ListTaskDefinitionFamiliesResponse, error) {
	status := aws.ToString(in.Status)
	if status == "" {
		status = "ALL"
	}
	prefix := aws.ToString(in.FamilyPrefix)
	var fams []familyRecord
	active := map[string]bool{}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		var err error
		if fams, err = store.List(tx, families, ""); err != nil {
			return err
		}
		recs, err := store.List(tx, taskDefs, "")
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if aws.ToString(rec.TaskDefinition.Status) == taskDefActive {
				active[aws.ToString(rec.TaskDefinition.Family)] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list task definition families: %w", err)
	}
	names := make([]string, 0, len(fams))
	for _, f := range fams {
		if !strings.HasPrefix(f.Family, prefix) {
			continue
		}
		if status == "ALL" || (status == taskDefActive) == active[f.Family] {
			names = append(names, f.Family)
		}
	}
	got, next, err := page(names, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &ecstypes.ListTaskDefinitionFamiliesResponse{Families: got, NextToken: next}, nil
}
