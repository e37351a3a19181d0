package elb

import (
	"context"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func TestAPICreateLoadBalancer(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	alb := h.mkLB(t, "web", "")
	if alb.Type != types.LoadBalancerTypeEnumApplication || alb.Scheme != types.LoadBalancerSchemeEnumInternetFacing ||
		alb.State.Code != types.LoadBalancerStateEnumActive || aws.ToString(alb.VpcId) != "vpc-berth" {
		t.Fatalf("alb = %+v", alb)
	}
	if !regexp.MustCompile(`^web-\d{10}\.us-east-1\.elb\.localhost$`).MatchString(aws.ToString(alb.DNSName)) {
		t.Errorf("DNSName = %s", aws.ToString(alb.DNSName))
	}
	if len(alb.AvailabilityZones) != 1 || aws.ToString(alb.AvailabilityZones[0].ZoneName) != "us-east-1a" ||
		aws.ToString(alb.AvailabilityZones[0].SubnetId) != "subnet-berth" {
		t.Errorf("AvailabilityZones = %+v", alb.AvailabilityZones)
	}
	internal, err := h.client.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("db"), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal,
	})
	if err != nil {
		t.Fatal(err)
	}
	if dns := aws.ToString(internal.LoadBalancers[0].DNSName); !regexp.MustCompile(`^internal-db-\d{10}\.`).MatchString(dns) {
		t.Errorf("internal DNSName = %s", dns)
	}
	// The same name and settings answer the existing load balancer.
	again := h.mkLB(t, "web", types.LoadBalancerTypeEnumApplication)
	if aws.ToString(again.LoadBalancerArn) != aws.ToString(alb.LoadBalancerArn) {
		t.Errorf("idempotent create gave %s, want %s", aws.ToString(again.LoadBalancerArn), aws.ToString(alb.LoadBalancerArn))
	}

	before := h.storeSnapshot(t)
	for _, tc := range []struct {
		name string
		in   elbv2.CreateLoadBalancerInput
		want string
	}{
		{"other settings", elbv2.CreateLoadBalancerInput{Name: aws.String("web"), Type: types.LoadBalancerTypeEnumNetwork}, "DuplicateLoadBalancerName"},
		{"leading hyphen", elbv2.CreateLoadBalancerInput{Name: aws.String("-web")}, "ValidationError"},
		{"too long", elbv2.CreateLoadBalancerInput{Name: aws.String("a23456789012345678901234567890123")}, "ValidationError"},
		{"internal- prefix", elbv2.CreateLoadBalancerInput{Name: aws.String("internal-web")}, "ValidationError"},
		{"underscore", elbv2.CreateLoadBalancerInput{Name: aws.String("we_b")}, "ValidationError"},
		{"gateway", elbv2.CreateLoadBalancerInput{Name: aws.String("gw"), Type: types.LoadBalancerTypeEnumGateway}, "InvalidConfigurationRequest"},
		{"duplicate tag keys", elbv2.CreateLoadBalancerInput{Name: aws.String("tags"), Tags: []types.Tag{
			{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("a"), Value: aws.String("2")}}}, "DuplicateTagKeys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.CreateLoadBalancer(ctx, &tc.in)
			wantAPICode(t, err, tc.want)
		})
	}
	h.unchangedSince(t, before)
}

func TestAPIDescribeLoadBalancers(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var arns []string
	for _, n := range []string{"a", "b", "c"} {
		arns = append(arns, aws.ToString(h.mkLB(t, n, "").LoadBalancerArn))
	}
	// Pages of two.
	var got []string
	var marker *string
	for pages := 0; ; pages++ {
		out, err := h.client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{PageSize: aws.Int32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, lb := range out.LoadBalancers {
			got = append(got, aws.ToString(lb.LoadBalancerName))
		}
		if marker = out.NextMarker; marker == nil {
			break
		}
		if pages > 3 {
			t.Fatal("paging does not end")
		}
	}
	if len(got) != 3 {
		t.Errorf("paged names = %v", got)
	}
	out, err := h.client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"b"}})
	if err != nil || len(out.LoadBalancers) != 1 || aws.ToString(out.LoadBalancers[0].LoadBalancerArn) != arns[1] {
		t.Fatalf("by name: %+v, %v", out, err)
	}
	out, err = h.client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arns[2], arns[0]}})
	if err != nil || len(out.LoadBalancers) != 2 || aws.ToString(out.LoadBalancers[0].LoadBalancerName) != "c" {
		t.Fatalf("by ARN: %+v, %v", out, err)
	}
	// Another region holds none of them.
	out, err = h.clientIn("eu-west-1").DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	if err != nil || len(out.LoadBalancers) != 0 {
		t.Fatalf("eu-west-1: %+v, %v", out, err)
	}
	for _, tc := range []struct {
		name string
		in   elbv2.DescribeLoadBalancersInput
		want string
	}{
		{"unknown name", elbv2.DescribeLoadBalancersInput{Names: []string{"zzz"}}, "LoadBalancerNotFound"},
		{"unknown ARN", elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arns[0][:len(arns[0])-16] + "0123456789abcdef"}}, "LoadBalancerNotFound"},
		{"other region", elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{regexp.MustCompile(`us-east-1`).ReplaceAllString(arns[0], "eu-west-1")}}, "LoadBalancerNotFound"},
		{"malformed ARN", elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{"nope"}}, "ValidationError"},
		{"bad marker", elbv2.DescribeLoadBalancersInput{Marker: aws.String("!!")}, "ValidationError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.DescribeLoadBalancers(ctx, &tc.in)
			wantAPICode(t, err, tc.want)
		})
	}
}

func TestAPIDeleteLoadBalancer(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	lb := h.mkLB(t, "web", "")
	tg := h.mkTG(t, "app", types.ProtocolEnumHttp, 8080)
	l := h.mkListener(t, lb.LoadBalancerArn, types.ProtocolEnumHttp, 80, fwdTo(tg.TargetGroupArn))
	if _, err := h.client.CreateRule(ctx, &elbv2.CreateRuleInput{
		ListenerArn: l.ListenerArn, Priority: aws.Int32(1), Actions: fwdTo(tg.TargetGroupArn),
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/api/*"}}},
	}); err != nil {
		t.Fatal(err)
	}
	if got := h.lbsOfTG(t, tg.TargetGroupArn); len(got) != 1 || got[0] != aws.ToString(lb.LoadBalancerArn) {
		t.Fatalf("LoadBalancerArns = %v", got)
	}

	// Deletion protection refuses, and changes nothing.
	if _, err := h.client.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{
		LoadBalancerArn: lb.LoadBalancerArn,
		Attributes:      []types.LoadBalancerAttribute{{Key: aws.String("deletion_protection.enabled"), Value: aws.String("true")}},
	}); err != nil {
		t.Fatal(err)
	}
	before := h.storeSnapshot(t)
	_, err := h.client.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn})
	wantAPICode(t, err, "OperationNotPermitted")
	h.unchangedSince(t, before)
	if _, err := h.client.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{
		LoadBalancerArn: lb.LoadBalancerArn,
		Attributes:      []types.LoadBalancerAttribute{{Key: aws.String("deletion_protection.enabled"), Value: aws.String("false")}},
	}); err != nil {
		t.Fatal(err)
	}

	if _, err := h.client.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn}); err != nil {
		t.Fatal(err)
	}
	if got := h.lbsOfTG(t, tg.TargetGroupArn); len(got) != 0 {
		t.Errorf("LoadBalancerArns after delete = %v", got)
	}
	_, err = h.client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{*l.ListenerArn}})
	wantAPICode(t, err, "ListenerNotFound")
	// Idempotent; and the name and port are free again.
	if _, err := h.client.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn}); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	lb2 := h.mkLB(t, "web", "")
	h.mkListener(t, lb2.LoadBalancerArn, types.ProtocolEnumHttp, 80, fwdTo(tg.TargetGroupArn))
	if _, err := h.client.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: tg.TargetGroupArn}); code(err) != "ResourceInUse" {
		t.Errorf("delete of a group in use: %v", err)
	}
}

func TestAPILoadBalancerAttributes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	alb := h.mkLB(t, "web", "")
	nlb := h.mkLB(t, "net", types.LoadBalancerTypeEnumNetwork)
	attrs := func(arn *string) map[string]string {
		out, err := h.client.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: arn})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, a := range out.Attributes {
			m[aws.ToString(a.Key)] = aws.ToString(a.Value)
		}
		return m
	}
	a := attrs(alb.LoadBalancerArn)
	for k, v := range map[string]string{"idle_timeout.timeout_seconds": "60", "routing.http2.enabled": "true",
		"deletion_protection.enabled": "false", "access_logs.s3.enabled": "false"} {
		if a[k] != v {
			t.Errorf("ALB %s = %q, want %q", k, a[k], v)
		}
	}
	n := attrs(nlb.LoadBalancerArn)
	if n["load_balancing.cross_zone.enabled"] != "false" || n["idle_timeout.timeout_seconds"] != "" {
		t.Errorf("NLB attributes = %v", n)
	}
	out, err := h.client.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{
		LoadBalancerArn: alb.LoadBalancerArn,
		Attributes:      []types.LoadBalancerAttribute{{Key: aws.String("idle_timeout.timeout_seconds"), Value: aws.String("120")}},
	})
	if err != nil || len(out.Attributes) != len(a) {
		t.Fatalf("modify: %v (%d attributes)", err, len(out.Attributes))
	}
	if attrs(alb.LoadBalancerArn)["idle_timeout.timeout_seconds"] != "120" {
		t.Error("idle timeout not stored")
	}
	before := h.storeSnapshot(t)
	for _, tc := range []struct {
		name     string
		lb       *string
		key, val string
		want     string
	}{
		{"unknown key", alb.LoadBalancerArn, "no.such.key", "1", "InvalidConfigurationRequest"},
		{"idle timeout too big", alb.LoadBalancerArn, "idle_timeout.timeout_seconds", "4001", "InvalidConfigurationRequest"},
		{"access logs", alb.LoadBalancerArn, "access_logs.s3.enabled", "true", "InvalidConfigurationRequest"},
		{"not a bool", alb.LoadBalancerArn, "routing.http2.enabled", "yes", "InvalidConfigurationRequest"},
		{"ALB key on NLB", nlb.LoadBalancerArn, "idle_timeout.timeout_seconds", "60", "InvalidConfigurationRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{
				LoadBalancerArn: tc.lb, Attributes: []types.LoadBalancerAttribute{{Key: aws.String(tc.key), Value: aws.String(tc.val)}},
			})
			wantAPICode(t, err, tc.want)
		})
	}
	h.unchangedSince(t, before)
}

func TestAPILoadBalancerNetworkSettings(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	lb := h.mkLB(t, "web", "")
	sg, err := h.client.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: lb.LoadBalancerArn, SecurityGroups: []string{"sg-2", "sg-1"}})
	if err != nil || len(sg.SecurityGroupIds) != 2 || sg.SecurityGroupIds[0] != "sg-1" {
		t.Fatalf("SetSecurityGroups: %+v %v", sg, err)
	}
	ip, err := h.client.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: lb.LoadBalancerArn, IpAddressType: types.IpAddressTypeDualstack})
	if err != nil || ip.IpAddressType != types.IpAddressTypeDualstack {
		t.Fatalf("SetIpAddressType: %+v %v", ip, err)
	}
	sn, err := h.client.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: lb.LoadBalancerArn, Subnets: []string{"subnet-1"}})
	if err != nil || len(sn.AvailabilityZones) != 1 {
		t.Fatalf("SetSubnets: %+v %v", sn, err)
	}
	out, err := h.client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{*lb.LoadBalancerArn}})
	if err != nil || len(out.LoadBalancers[0].SecurityGroups) != 2 || out.LoadBalancers[0].IpAddressType != types.IpAddressTypeDualstack {
		t.Fatalf("after settings: %+v %v", out, err)
	}
	nlb := h.mkLB(t, "net", types.LoadBalancerTypeEnumNetwork)
	_, err = h.client.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: nlb.LoadBalancerArn, SecurityGroups: []string{"sg-1"}})
	wantAPICode(t, err, "InvalidConfigurationRequest")
}
