package elb

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
)

// targetOps are RegisterTargets, DeregisterTargets and
// DescribeTargetHealth (targets*.go). Each acts on its target group.
func (s *Service) targetOps() map[string]api.Operation {
	group := func(arn *string) []string { return []string{aws.ToString(arn)} }
	return map[string]api.Operation{
		"RegisterTargets": api.Op(s.registerTargetsOp, func(_ context.Context, in *elbv2types.RegisterTargetsInput) []string {
			return group(in.TargetGroupArn)
		}),
		"DeregisterTargets": api.Op(s.deregisterTargetsOp, func(_ context.Context, in *elbv2types.DeregisterTargetsInput) []string {
			return group(in.TargetGroupArn)
		}),
		"DescribeTargetHealth": api.Op(s.describeTargetHealthOp, func(_ context.Context, in *elbv2types.DescribeTargetHealthInput) []string {
			return group(in.TargetGroupArn)
		}),
	}
}
