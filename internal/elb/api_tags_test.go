package elb

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func TestAPITags(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	lb := h.mkLB(t, "web", "")
	tg := h.mkTG(t, "a", types.ProtocolEnumHttp, 80)
	l := h.mkListener(t, lb.LoadBalancerArn, types.ProtocolEnumHttp, 80, fwdTo(tg.TargetGroupArn))
	rule, err := h.client.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(1),
		Conditions: pathIs("/x"), Actions: fwdTo(tg.TargetGroupArn), Tags: []types.Tag{{Key: aws.String("r"), Value: aws.String("1")}}})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{*lb.LoadBalancerArn, *tg.TargetGroupArn, *l.ListenerArn, *rule.Rules[0].RuleArn}
	if _, err := h.client.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: all,
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: all[:1],
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	out, err := h.client.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: all})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"env=dev", "env=prod", "env=prod", "r=1,env=prod"}
	for i, d := range out.TagDescriptions {
		got := ""
		for j, tag := range d.Tags {
			if j > 0 {
				got += ","
			}
			got += aws.ToString(tag.Key) + "=" + aws.ToString(tag.Value)
		}
		if aws.ToString(d.ResourceArn) != all[i] || got != want[i] {
			t.Errorf("tags of %s = %s, want %s", aws.ToString(d.ResourceArn), got, want[i])
		}
	}
	if _, err := h.client.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: all, TagKeys: []string{"env", "missing"}}); err != nil {
		t.Fatal(err)
	}
	out, err = h.client.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: all[:1]})
	if err != nil || len(out.TagDescriptions[0].Tags) != 0 {
		t.Fatalf("after remove: %+v %v", out, err)
	}

	many := make([]types.Tag, 0, 50)
	for i := range 50 {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")})
	}
	before := h.storeSnapshot(t)
	for _, tc := range []struct {
		name string
		in   elbv2.AddTagsInput
		want string
	}{
		{"51 tags", elbv2.AddTagsInput{ResourceArns: all[3:], Tags: many}, "TooManyTags"},
		{"duplicate keys", elbv2.AddTagsInput{ResourceArns: all[:1], Tags: []types.Tag{{Key: aws.String("a")}, {Key: aws.String("a")}}}, "DuplicateTagKeys"},
		{"one resource missing", elbv2.AddTagsInput{ResourceArns: []string{all[0], (*tg.TargetGroupArn)[:len(*tg.TargetGroupArn)-16] + "0123456789abcdef"},
			Tags: []types.Tag{{Key: aws.String("a")}}}, "TargetGroupNotFound"},
		{"not an ARN", elbv2.AddTagsInput{ResourceArns: []string{"x"}, Tags: []types.Tag{{Key: aws.String("a")}}}, "ValidationError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.AddTags(ctx, &tc.in)
			wantAPICode(t, err, tc.want)
		})
	}
	h.unchangedSince(t, before)
}

func TestAPIPoliciesAndLimits(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	out, err := h.client.DescribeSSLPolicies(ctx, &elbv2.DescribeSSLPoliciesInput{Names: []string{"ELBSecurityPolicy-TLS13-1-2-2021-06"}})
	if err != nil || len(out.SslPolicies) != 1 {
		t.Fatalf("%+v %v", out, err)
	}
	p := out.SslPolicies[0]
	if len(p.SslProtocols) != 2 || p.SslProtocols[1] != "TLSv1.3" || aws.ToString(p.Ciphers[0].Name) != "TLS_AES_128_GCM_SHA256" ||
		aws.ToInt32(p.Ciphers[0].Priority) != 1 {
		t.Errorf("policy = %+v", p)
	}
	all, err := h.client.DescribeSSLPolicies(ctx, &elbv2.DescribeSSLPoliciesInput{})
	if err != nil || len(all.SslPolicies) < 2 {
		t.Fatalf("all policies: %v", err)
	}
	_, err = h.client.DescribeSSLPolicies(ctx, &elbv2.DescribeSSLPoliciesInput{Names: []string{"nope"}})
	wantAPICode(t, err, "SSLPolicyNotFound")
	limits, err := h.client.DescribeAccountLimits(ctx, &elbv2.DescribeAccountLimitsInput{})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range limits.Limits {
		m[aws.ToString(l.Name)] = aws.ToString(l.Max)
	}
	if m["application-load-balancers"] != "50" || m["rules-per-application-load-balancer"] != "100" || m["target-groups"] != "3000" {
		t.Errorf("limits = %v", m)
	}
}
