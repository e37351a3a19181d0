package elb

import "github.com/berth-dev/berth/internal/api"

// resourceOps are the load balancer, listener, rule, target group,
// attribute and tag actions (api_*.go).
func (s *Service) resourceOps() map[string]api.Operation {
	return map[string]api.Operation{}
}
