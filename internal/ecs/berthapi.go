package ecs

import (
	"context"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// Berth's own API beside ECS's: what ECS has no action for, in ECS's
// protocol (awsJson1_1, SigV4 with service name "ecs") under a target
// prefix of Berth's, so that no ECS client can reach it by mistake.
const (
	// BerthTargetPrefix is the X-Amz-Target prefix of Berth's actions.
	BerthTargetPrefix = "BerthECS_20261129"
	// BerthActionPrefix is the IAM prefix of Berth's actions
	// ("berth:ExplainPlacement").
	BerthActionPrefix = "berth"
)

// BerthAPIService describes Berth's own actions for the API listener:
// ExplainPlacement (a dry run of RunTask, with the same request).
func (r *Regions) BerthAPIService() api.Service {
	return api.Service{
		SigningName:  ecstypes.SigningName,
		ActionPrefix: BerthActionPrefix,
		JSON:         &api.JSONProtocol{TargetPrefix: BerthTargetPrefix, Version: ecstypes.JSONVersion},
		Errors: api.Errors{
			Status:       ecstypes.ErrorStatus,
			Internal:     ecstypes.ErrCodeServerException,
			AccessDenied: ecstypes.ErrCodeAccessDeniedException,
			Validation:   ecstypes.ErrCodeInvalidParameterException,
		},
		Operations: map[string]api.Operation{
			"ExplainPlacement": api.Op(regional(r, (*Service).ExplainPlacement), func(ctx context.Context, in *ecstypes.RunTaskRequest) []string {
				return r.arnsFor(ctx).clusters(in.Cluster)
			}),
		},
	}
}
