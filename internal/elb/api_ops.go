package elb

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
)

// resourceOps are the load balancer, listener, rule, target group,
// attribute and tag actions (api_*.go). Actions on existing resources are
// authorized on their ARNs, as IAM does; creates and describes on "*".
func (s *Service) resourceOps() map[string]api.Operation {
	return map[string]api.Operation{
		"CreateLoadBalancer":    api.Op(s.CreateLoadBalancer, nil),
		"DescribeLoadBalancers": api.Op(s.DescribeLoadBalancers, nil),
		"DeleteLoadBalancer": api.Op(s.DeleteLoadBalancer, on(func(in *elbv2types.DeleteLoadBalancerInput) []*string {
			return []*string{in.LoadBalancerArn}
		})),
		"DescribeLoadBalancerAttributes": api.Op(s.DescribeLoadBalancerAttributes, nil),
		"ModifyLoadBalancerAttributes": api.Op(s.ModifyLoadBalancerAttributes, on(func(in *elbv2types.ModifyLoadBalancerAttributesInput) []*string {
			return []*string{in.LoadBalancerArn}
		})),
		"CreateTargetGroup": api.Op(s.CreateTargetGroup, nil),
		"ModifyTargetGroup": api.Op(s.ModifyTargetGroup, on(func(in *elbv2types.ModifyTargetGroupInput) []*string {
			return []*string{in.TargetGroupArn}
		})),
		"DescribeTargetGroups": api.Op(s.DescribeTargetGroups, nil),
		"DeleteTargetGroup": api.Op(s.DeleteTargetGroup, on(func(in *elbv2types.DeleteTargetGroupInput) []*string {
			return []*string{in.TargetGroupArn}
		})),
		"DescribeTargetGroupAttributes": api.Op(s.DescribeTargetGroupAttributes, nil),
		"ModifyTargetGroupAttributes": api.Op(s.ModifyTargetGroupAttributes, on(func(in *elbv2types.ModifyTargetGroupAttributesInput) []*string {
			return []*string{in.TargetGroupArn}
		})),
		"CreateListener": api.Op(s.CreateListener, on(func(in *elbv2types.CreateListenerInput) []*string {
			return []*string{in.LoadBalancerArn}
		})),
		"ModifyListener": api.Op(s.ModifyListener, on(func(in *elbv2types.ModifyListenerInput) []*string {
			return []*string{in.ListenerArn}
		})),
		"DeleteListener": api.Op(s.DeleteListener, on(func(in *elbv2types.DeleteListenerInput) []*string {
			return []*string{in.ListenerArn}
		})),
		"DescribeListeners":          api.Op(s.DescribeListeners, nil),
		"DescribeListenerAttributes": api.Op(s.DescribeListenerAttributes, nil),
		"ModifyListenerAttributes": api.Op(s.ModifyListenerAttributes, on(func(in *elbv2types.ModifyListenerAttributesInput) []*string {
			return []*string{in.ListenerArn}
		})),
		"CreateRule": api.Op(s.CreateRule, on(func(in *elbv2types.CreateRuleInput) []*string {
			return []*string{in.ListenerArn}
		})),
		"ModifyRule": api.Op(s.ModifyRule, on(func(in *elbv2types.ModifyRuleInput) []*string {
			return []*string{in.RuleArn}
		})),
		"DeleteRule": api.Op(s.DeleteRule, on(func(in *elbv2types.DeleteRuleInput) []*string {
			return []*string{in.RuleArn}
		})),
		"DescribeRules": api.Op(s.DescribeRules, nil),
		"SetRulePriorities": api.Op(s.SetRulePriorities, on(func(in *elbv2types.SetRulePrioritiesInput) []*string {
			var out []*string
			for _, p := range in.RulePriorities {
				out = append(out, p.RuleArn)
			}
			return out
		})),
		"AddTags": api.Op(s.AddTags, on(func(in *elbv2types.AddTagsInput) []*string {
			return aws.StringSlice(in.ResourceArns)
		})),
		"RemoveTags": api.Op(s.RemoveTags, on(func(in *elbv2types.RemoveTagsInput) []*string {
			return aws.StringSlice(in.ResourceArns)
		})),
		"DescribeTags": api.Op(s.DescribeTags, nil),
		"SetSecurityGroups": api.Op(s.SetSecurityGroups, on(func(in *elbv2types.SetSecurityGroupsInput) []*string {
			return []*string{in.LoadBalancerArn}
		})),
		"SetSubnets": api.Op(s.SetSubnets, on(func(in *elbv2types.SetSubnetsInput) []*string {
			return []*string{in.LoadBalancerArn}
		})),
		"SetIpAddressType": api.Op(s.SetIpAddressType, on(func(in *elbv2types.SetIpAddressTypeInput) []*string {
			return []*string{in.LoadBalancerArn}
		})),
		"DescribeListenerCertificates": api.Op(s.DescribeListenerCertificates, nil),
		"DescribeSSLPolicies":          api.Op(s.DescribeSSLPolicies, nil),
		"DescribeAccountLimits":        api.Op(s.DescribeAccountLimits, nil),
	}
}

// on names the ARNs an action is authorized on; absent ones are left out
// (the handler refuses the request).
func on[I any](arns func(*I) []*string) func(context.Context, *I) []string {
	return func(_ context.Context, in *I) []string {
		var out []string
		for _, a := range arns(in) {
			if aws.ToString(a) != "" {
				out = append(out, *a)
			}
		}
		return out
	}
}
