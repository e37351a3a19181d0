package elb

import "github.com/berth-dev/berth/internal/api"

// resourceOps are the load balancer, listener, rule, target group,
// attribute and tag actions (api_*.go).
func (s *Service) resourceOps() map[string]api.Operation {
	return map[string]api.Operation{
		"CreateLoadBalancer":             api.Op(s.CreateLoadBalancer, nil),
		"DescribeLoadBalancers":          api.Op(s.DescribeLoadBalancers, nil),
		"DeleteLoadBalancer":             api.Op(s.DeleteLoadBalancer, nil),
		"DescribeLoadBalancerAttributes": api.Op(s.DescribeLoadBalancerAttributes, nil),
		"ModifyLoadBalancerAttributes":   api.Op(s.ModifyLoadBalancerAttributes, nil),
		"CreateTargetGroup":              api.Op(s.CreateTargetGroup, nil),
		"ModifyTargetGroup":              api.Op(s.ModifyTargetGroup, nil),
		"DescribeTargetGroups":           api.Op(s.DescribeTargetGroups, nil),
		"DeleteTargetGroup":              api.Op(s.DeleteTargetGroup, nil),
		"DescribeTargetGroupAttributes":  api.Op(s.DescribeTargetGroupAttributes, nil),
		"ModifyTargetGroupAttributes":    api.Op(s.ModifyTargetGroupAttributes, nil),
		"CreateListener":                 api.Op(s.CreateListener, nil),
		"ModifyListener":                 api.Op(s.ModifyListener, nil),
		"DeleteListener":                 api.Op(s.DeleteListener, nil),
		"DescribeListeners":              api.Op(s.DescribeListeners, nil),
		"DescribeListenerAttributes":     api.Op(s.DescribeListenerAttributes, nil),
		"ModifyListenerAttributes":       api.Op(s.ModifyListenerAttributes, nil),
		"CreateRule":                     api.Op(s.CreateRule, nil),
		"ModifyRule":                     api.Op(s.ModifyRule, nil),
		"DeleteRule":                     api.Op(s.DeleteRule, nil),
		"DescribeRules":                  api.Op(s.DescribeRules, nil),
		"SetRulePriorities":              api.Op(s.SetRulePriorities, nil),
		"AddTags":                        api.Op(s.AddTags, nil),
		"RemoveTags":                     api.Op(s.RemoveTags, nil),
		"DescribeTags":                   api.Op(s.DescribeTags, nil),
		"DescribeSSLPolicies":            api.Op(s.DescribeSSLPolicies, nil),
		"DescribeAccountLimits":          api.Op(s.DescribeAccountLimits, nil),
	}
}
