package elb

import (
	"context"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
)

// DescribeSSLPolicies and DescribeAccountLimits: fixed tables, AWS's
// values.

// sslPolicy is one predefined security policy.
type sslPolicy struct {
	name      string
	protocols []string
	ciphers   []string
}

var (
	tls13Ciphers = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
	ecdheCiphers = []string{
		"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256",
		"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384",
	}
)

// sslPolicies are the policies Berth answers, as AWS defines them.
var sslPolicies = []sslPolicy{
	{
		name:      "ELBSecurityPolicy-2016-08",
		protocols: []string{"TLSv1", "TLSv1.1", "TLSv1.2"},
		ciphers: concat(ecdheCiphers[:4], []string{"ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA"}, ecdheCiphers[4:],
			[]string{"ECDHE-RSA-AES256-SHA", "ECDHE-ECDSA-AES256-SHA", "AES128-GCM-SHA256", "AES128-SHA256", "AES128-SHA",
				"AES256-GCM-SHA384", "AES256-SHA256", "AES256-SHA"}),
	},
	{
		name:      "ELBSecurityPolicy-TLS-1-2-2017-01",
		protocols: []string{"TLSv1.2"},
		ciphers:   concat(ecdheCiphers, []string{"AES128-GCM-SHA256", "AES128-SHA256", "AES256-GCM-SHA384", "AES256-SHA256"}),
	},
	{
		name:      "ELBSecurityPolicy-TLS13-1-2-2021-06",
		protocols: []string{"TLSv1.2", "TLSv1.3"},
		ciphers:   concat(tls13Ciphers, ecdheCiphers),
	},
	{
		name:      "ELBSecurityPolicy-TLS13-1-3-2021-06",
		protocols: []string{"TLSv1.3"},
		ciphers:   tls13Ciphers,
	},
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func sslPolicyByName(name string) (sslPolicy, bool) {
	i := slices.IndexFunc(sslPolicies, func(p sslPolicy) bool { return p.name == name })
	if i < 0 {
		return sslPolicy{}, false
	}
	return sslPolicies[i], true
}

func (p sslPolicy) wire() elbv2types.SslPolicy {
	out := elbv2types.SslPolicy{
		Name:                       aws.String(p.name),
		SslProtocols:               slices.Clone(p.protocols),
		SupportedLoadBalancerTypes: []string{elbv2types.LoadBalancerTypeEnumApplication, elbv2types.LoadBalancerTypeEnumNetwork},
		Ciphers:                    []elbv2types.Cipher{},
	}
	for i, c := range p.ciphers {
		out.Ciphers = append(out.Ciphers, elbv2types.Cipher{Name: aws.String(c), Priority: aws.Int32(int32(i + 1))})
	}
	return out
}

// DescribeSSLPolicies answers the named policies (all must exist) or all.
func (s *Service) DescribeSSLPolicies(_ context.Context, in *elbv2types.DescribeSSLPoliciesInput) (*elbv2types.DescribeSSLPoliciesOutput, error) {
	out := &elbv2types.DescribeSSLPoliciesOutput{SslPolicies: []elbv2types.SslPolicy{}}
	if t := aws.ToString(in.LoadBalancerType); t == elbv2types.LoadBalancerTypeEnumGateway {
		return out, nil
	}
	if len(in.Names) > 0 {
		for _, n := range in.Names {
			p, ok := sslPolicyByName(n)
			if !ok {
				return nil, errELB(elbv2types.ErrCodeSSLPolicyNotFoundException, "SSL policy '%s' not found", n)
			}
			out.SslPolicies = append(out.SslPolicies, p.wire())
		}
		return out, nil
	}
	for _, p := range sslPolicies {
		out.SslPolicies = append(out.SslPolicies, p.wire())
	}
	return out, nil
}

// accountLimits are AWS's default quotas, in DescribeAccountLimits' order.
var accountLimits = []struct {
	name string
	max  int
}{
	{"application-load-balancers", 50},
	{"condition-values-per-alb-rule", maxConditionValues},
	{"condition-wildcards-per-alb-rule", maxConditionWildcards},
	{"gateway-load-balancers", 100},
	{"gateway-load-balancers-per-vpc", 100},
	{"geneve-target-groups", 100},
	{"listeners-per-application-load-balancer", maxListenersPerLB},
	{"listeners-per-network-load-balancer", maxListenersPerLB},
	{"network-load-balancers", 50},
	{"rules-per-application-load-balancer", maxRulesPerLB},
	{"target-groups", 3000},
	{"target-groups-per-action-on-application-load-balancer", 5},
	{"target-groups-per-action-on-network-load-balancer", 1},
	{"target-groups-per-application-load-balancer", 100},
	{"targets-per-application-load-balancer", 1000},
	{"targets-per-availability-zone-per-gateway-load-balancer", 300},
	{"targets-per-availability-zone-per-network-load-balancer", 500},
	{"targets-per-network-load-balancer", 3000},
}

// DescribeAccountLimits answers the default quotas.
func (s *Service) DescribeAccountLimits(context.Context, *elbv2types.DescribeAccountLimitsInput) (*elbv2types.DescribeAccountLimitsOutput, error) {
	out := &elbv2types.DescribeAccountLimitsOutput{Limits: []elbv2types.Limit{}}
	for _, l := range accountLimits {
		out.Limits = append(out.Limits, elbv2types.Limit{Name: aws.String(l.name), Max: aws.String(strconv.Itoa(l.max))})
	}
	return out, nil
}
