package elb

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func pathIs(values ...string) []types.RuleCondition {
	return []types.RuleCondition{{Field: aws.String("path-pattern"), Values: values}}
}

func TestAPIRules(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	lb := h.mkLB(t, "web", "")
	a := h.mkTG(t, "a", types.ProtocolEnumHttp, 80)
	b := h.mkTG(t, "b", types.ProtocolEnumHttp, 80)
	l := h.mkListener(t, lb.LoadBalancerArn, types.ProtocolEnumHttp, 80, fwdTo(a.TargetGroupArn))
	create := func(prio int32, conds []types.RuleCondition, actions []types.Action) (types.Rule, error) {
		out, err := h.client.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(prio), Conditions: conds, Actions: actions})
		if err != nil {
			return types.Rule{}, err
		}
		return out.Rules[0], nil
	}
	r10, err := create(10, pathIs("/api/*"), fwdTo(b.TargetGroupArn))
	if err != nil {
		t.Fatal(err)
	}
	if c := r10.Conditions[0]; c.PathPatternConfig == nil || c.PathPatternConfig.Values[0] != "/api/*" || aws.ToBool(r10.IsDefault) {
		t.Errorf("rule = %+v", r10)
	}
	if got := h.lbsOfTG(t, b.TargetGroupArn); len(got) != 1 {
		t.Errorf("b's LBs = %v", got)
	}
	r5, err := create(5, []types.RuleCondition{
		{Field: aws.String("host-header"), HostHeaderConfig: &types.HostHeaderConditionConfig{Values: []string{"*.example.com"}}},
		{Field: aws.String("http-header"), HttpHeaderConfig: &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String("X-Env"), Values: []string{"prod"}}},
		{Field: aws.String("http-request-method"), HttpRequestMethodConfig: &types.HttpRequestMethodConditionConfig{Values: []string{"GET"}}},
		{Field: aws.String("query-string"), QueryStringConfig: &types.QueryStringConditionConfig{Values: []types.QueryStringKeyValuePair{{Key: aws.String("v"), Value: aws.String("2")}}}},
		{Field: aws.String("source-ip"), SourceIpConfig: &types.SourceIpConditionConfig{Values: []string{"10.0.0.0/8"}}},
	}, []types.Action{{Type: types.ActionTypeEnumRedirect, RedirectConfig: &types.RedirectActionConfig{Protocol: aws.String("HTTPS"), Port: aws.String("443"), StatusCode: types.RedirectActionStatusCodeEnumHttp301}}})
	if err != nil {
		t.Fatal(err)
	}

	// DescribeRules: by priority, the default rule last.
	desc, err := h.client.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Rules) != 3 || aws.ToString(desc.Rules[0].Priority) != "5" || aws.ToString(desc.Rules[1].Priority) != "10" ||
		aws.ToString(desc.Rules[2].Priority) != "default" || !aws.ToBool(desc.Rules[2].IsDefault) {
		t.Fatalf("rules = %+v", desc.Rules)
	}
	def := desc.Rules[2]
	if aws.ToString(def.Actions[0].TargetGroupArn) != aws.ToString(a.TargetGroupArn) {
		t.Errorf("default rule actions = %+v", def.Actions)
	}
	page, err := h.client.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn, PageSize: aws.Int32(2)})
	if err != nil || len(page.Rules) != 2 || page.NextMarker == nil {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	page, err = h.client.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn, PageSize: aws.Int32(2), Marker: page.NextMarker})
	if err != nil || len(page.Rules) != 1 || !aws.ToBool(page.Rules[0].IsDefault) || page.NextMarker != nil {
		t.Fatalf("page 2: %+v %v", page, err)
	}
	byARN, err := h.client.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{*def.RuleArn, *r5.RuleArn}})
	if err != nil || len(byARN.Rules) != 2 || !aws.ToBool(byARN.Rules[0].IsDefault) {
		t.Fatalf("by ARN: %+v %v", byARN, err)
	}

	// ModifyRule on the default rule changes the listener's default actions.
	if _, err := h.client.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: def.RuleArn, Actions: fwdTo(b.TargetGroupArn)}); err != nil {
		t.Fatal(err)
	}
	ls, err := h.client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{*l.ListenerArn}})
	if err != nil || aws.ToString(ls.Listeners[0].DefaultActions[0].TargetGroupArn) != aws.ToString(b.TargetGroupArn) {
		t.Fatalf("listener after modify of its default rule: %+v %v", ls, err)
	}
	if got := h.lbsOfTG(t, a.TargetGroupArn); len(got) != 0 {
		t.Errorf("a is forwarded to by nothing, but lists %v", got)
	}
	mod, err := h.client.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: r10.RuleArn, Conditions: pathIs("/v2/*")})
	if err != nil || mod.Rules[0].Conditions[0].Values[0] != "/v2/*" || aws.ToString(mod.Rules[0].Priority) != "10" {
		t.Fatalf("modify rule: %+v %v", mod, err)
	}

	// SetRulePriorities swaps 5 and 10 at once.
	sp, err := h.client.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{
		{RuleArn: r5.RuleArn, Priority: aws.Int32(10)}, {RuleArn: r10.RuleArn, Priority: aws.Int32(5)}}})
	if err != nil || len(sp.Rules) != 2 {
		t.Fatalf("set priorities: %+v %v", sp, err)
	}

	before := h.storeSnapshot(t)
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"priority in use", func() error { _, err := create(10, pathIs("/x"), fwdTo(b.TargetGroupArn)); return err }, "PriorityInUse"},
		{"six values", func() error {
			_, err := create(20, pathIs("/1", "/2", "/3", "/4", "/5", "/6"), fwdTo(b.TargetGroupArn))
			return err
		}, "ValidationError"},
		{"too many wildcards", func() error {
			_, err := create(20, pathIs("/*/*/*", "/*/*/*"), fwdTo(b.TargetGroupArn))
			return err
		}, "ValidationError"},
		{"two path conditions", func() error {
			_, err := create(20, append(pathIs("/a"), pathIs("/b")...), fwdTo(b.TargetGroupArn))
			return err
		}, "ValidationError"},
		{"bad CIDR", func() error {
			_, err := create(20, []types.RuleCondition{{Field: aws.String("source-ip"), SourceIpConfig: &types.SourceIpConditionConfig{Values: []string{"10.0.0.1"}}}}, fwdTo(b.TargetGroupArn))
			return err
		}, "ValidationError"},
		{"unknown field", func() error {
			_, err := create(20, []types.RuleCondition{{Field: aws.String("cookie"), Values: []string{"x"}}}, fwdTo(b.TargetGroupArn))
			return err
		}, "ValidationError"},
		{"authenticate", func() error {
			_, err := create(20, pathIs("/x"), []types.Action{{Type: types.ActionTypeEnumAuthenticateCognito}})
			return err
		}, "InvalidConfigurationRequest"},
		{"delete default rule", func() error {
			_, err := h.client.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: def.RuleArn})
			return err
		}, "OperationNotPermitted"},
		{"conditions on default rule", func() error {
			_, err := h.client.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: def.RuleArn, Conditions: pathIs("/x")})
			return err
		}, "OperationNotPermitted"},
		{"set priorities clash", func() error {
			_, err := h.client.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{{RuleArn: r5.RuleArn, Priority: aws.Int32(5)}}})
			return err
		}, "PriorityInUse"},
		{"priority of default rule", func() error {
			_, err := h.client.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{{RuleArn: def.RuleArn, Priority: aws.Int32(7)}}})
			return err
		}, "OperationNotPermitted"},
		{"unknown rule", func() error {
			_, err := h.client.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: aws.String((*r5.RuleArn)[:len(*r5.RuleArn)-16] + "0123456789abcdef")})
			return err
		}, "RuleNotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantAPICode(t, tc.call(), tc.want) })
	}
	h.unchangedSince(t, before)

	// Deleting the redirect rule and the forward rule: b stays linked by
	// the default action only.
	for _, r := range []*string{r5.RuleArn, r10.RuleArn} {
		if _, err := h.client.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: r}); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.lbsOfTG(t, b.TargetGroupArn); len(got) != 1 {
		t.Errorf("b's LBs = %v", got)
	}
}

func TestAPIRulesOnNetworkLoadBalancer(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	nlb := h.mkLB(t, "net", types.LoadBalancerTypeEnumNetwork)
	tg := h.mkTG(t, "t", types.ProtocolEnumTcp, 80)
	l := h.mkListener(t, nlb.LoadBalancerArn, types.ProtocolEnumTcp, 80, fwdTo(tg.TargetGroupArn))
	_, err := h.client.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(1), Conditions: pathIs("/"), Actions: fwdTo(tg.TargetGroupArn)})
	wantAPICode(t, err, "InvalidConfigurationRequest")
	_, err = h.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l.ListenerArn,
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("200")}}}})
	wantAPICode(t, err, "InvalidLoadBalancerAction")
}
