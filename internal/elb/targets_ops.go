package elb

import "github.com/berth-dev/berth/internal/api"

// targetOps are RegisterTargets, DeregisterTargets and
// DescribeTargetHealth (targets*.go).
func (s *Service) targetOps() map[string]api.Operation {
	return map[string]api.Operation{}
}
