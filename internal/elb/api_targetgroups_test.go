package elb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

func TestAPICreateTargetGroupDefaults(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		in        elbv2.CreateTargetGroupInput
		hcProto   types.ProtocolEnum
		path      string
		matcher   string
		timeout   int32
		stickType string
	}{
		{"HTTP", elbv2.CreateTargetGroupInput{Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80)}, "HTTP", "/", "200", 5, "lb_cookie"},
		{"HTTPS", elbv2.CreateTargetGroupInput{Protocol: types.ProtocolEnumHttps, Port: aws.Int32(443)}, "HTTPS", "/", "200", 5, "lb_cookie"},
		{"TCP", elbv2.CreateTargetGroupInput{Protocol: types.ProtocolEnumTcp, Port: aws.Int32(5432)}, "TCP", "", "", 10, "source_ip"},
		{"TCP with HTTP check", elbv2.CreateTargetGroupInput{Protocol: types.ProtocolEnumTcp, Port: aws.Int32(5432),
			HealthCheckProtocol: types.ProtocolEnumHttp}, "HTTP", "/", "200-399", 6, "source_ip"},
		{"UDP", elbv2.CreateTargetGroupInput{Protocol: types.ProtocolEnumUdp, Port: aws.Int32(53)}, "TCP", "", "", 10, "source_ip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Name = aws.String(strings.ReplaceAll(strings.ToLower(tc.name), " ", "-"))
			out, err := h.client.CreateTargetGroup(ctx, &tc.in)
			if err != nil {
				t.Fatal(err)
			}
			g := out.TargetGroups[0]
			if g.HealthCheckProtocol != tc.hcProto || aws.ToString(g.HealthCheckPath) != tc.path ||
				aws.ToInt32(g.HealthCheckTimeoutSeconds) != tc.timeout || aws.ToInt32(g.HealthCheckIntervalSeconds) != 30 ||
				aws.ToInt32(g.HealthyThresholdCount) != 5 || aws.ToInt32(g.UnhealthyThresholdCount) != 2 ||
				g.TargetType != types.TargetTypeEnumInstance || aws.ToString(g.HealthCheckPort) != "traffic-port" {
				t.Errorf("target group = %+v", g)
			}
			if m := g.Matcher; (m == nil) != (tc.matcher == "") || m != nil && aws.ToString(m.HttpCode) != tc.matcher {
				t.Errorf("matcher = %+v, want %q", m, tc.matcher)
			}
			attrs, err := h.client.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: g.TargetGroupArn})
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for _, a := range attrs.Attributes {
				m[aws.ToString(a.Key)] = aws.ToString(a.Value)
			}
			if m["stickiness.type"] != tc.stickType || m["deregistration_delay.timeout_seconds"] != "300" || m["stickiness.enabled"] != "false" {
				t.Errorf("attributes = %v", m)
			}
		})
	}
}

func TestAPICreateTargetGroupErrors(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.mkTG(t, "app", types.ProtocolEnumHttp, 80)
	// Same settings: the same group.
	again, err := h.client.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("app"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80)})
	if err != nil {
		t.Fatalf("idempotent create: %v", err)
	}
	_ = again
	before := h.storeSnapshot(t)
	for _, tc := range []struct {
		name string
		in   elbv2.CreateTargetGroupInput
		want string
	}{
		{"other settings", elbv2.CreateTargetGroupInput{Name: aws.String("app"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81)}, "DuplicateTargetGroupName"},
		{"lambda", elbv2.CreateTargetGroupInput{Name: aws.String("fn"), TargetType: types.TargetTypeEnumLambda}, "InvalidConfigurationRequest"},
		{"alb", elbv2.CreateTargetGroupInput{Name: aws.String("fn"), TargetType: types.TargetTypeEnumAlb, Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80)}, "InvalidConfigurationRequest"},
		{"no protocol", elbv2.CreateTargetGroupInput{Name: aws.String("x"), Port: aws.Int32(80)}, "ValidationError"},
		{"no port", elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumHttp}, "ValidationError"},
		{"bad name", elbv2.CreateTargetGroupInput{Name: aws.String("x-"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80)}, "ValidationError"},
		{"TCP check on HTTP", elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80), HealthCheckProtocol: types.ProtocolEnumTcp}, "ValidationError"},
		{"timeout not below interval", elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80),
			HealthCheckIntervalSeconds: aws.Int32(10), HealthCheckTimeoutSeconds: aws.Int32(10)}, "ValidationError"},
		{"bad matcher", elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80),
			Matcher: &types.Matcher{HttpCode: aws.String("600")}}, "ValidationError"},
		{"version on TCP", elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80), ProtocolVersion: aws.String("HTTP2")}, "ValidationError"},
		{"health check disabled", elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80), HealthCheckEnabled: aws.Bool(false)}, "InvalidConfigurationRequest"},
		{"GENEVE", elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: types.ProtocolEnumGeneve, Port: aws.Int32(6081)}, "UnsupportedProtocol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.CreateTargetGroup(ctx, &tc.in)
			wantAPICode(t, err, tc.want)
		})
	}
	h.unchangedSince(t, before)
}

func TestAPIModifyAndDescribeTargetGroups(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := h.mkTG(t, "a", types.ProtocolEnumHttp, 80)
	b := h.mkTG(t, "b", types.ProtocolEnumHttp, 81)
	h.mkTG(t, "c", types.ProtocolEnumTcp, 82)
	out, err := h.client.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{
		TargetGroupArn: a.TargetGroupArn, HealthCheckPath: aws.String("/healthz"), Matcher: &types.Matcher{HttpCode: aws.String("200-299")},
		HealthyThresholdCount: aws.Int32(3),
	})
	if err != nil {
		t.Fatal(err)
	}
	g := out.TargetGroups[0]
	if aws.ToString(g.HealthCheckPath) != "/healthz" || aws.ToString(g.Matcher.HttpCode) != "200-299" || aws.ToInt32(g.HealthyThresholdCount) != 3 ||
		aws.ToInt32(g.HealthCheckIntervalSeconds) != 30 {
		t.Errorf("modified = %+v", g)
	}
	before := h.storeSnapshot(t)
	_, err = h.client.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: a.TargetGroupArn, HealthCheckPath: aws.String("x")})
	wantAPICode(t, err, "ValidationError")
	h.unchangedSince(t, before)

	var names []string
	var marker *string
	for {
		page, err := h.client.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page.TargetGroups {
			names = append(names, aws.ToString(g.TargetGroupName))
		}
		if marker = page.NextMarker; marker == nil {
			break
		}
	}
	if len(names) != 3 {
		t.Errorf("paged = %v", names)
	}
	byName, err := h.client.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"b"}})
	if err != nil || aws.ToString(byName.TargetGroups[0].TargetGroupArn) != aws.ToString(b.TargetGroupArn) {
		t.Fatalf("by name: %+v %v", byName, err)
	}
	lb := h.mkLB(t, "web", "")
	h.mkListener(t, lb.LoadBalancerArn, types.ProtocolEnumHttp, 80, fwdTo(b.TargetGroupArn))
	byLB, err := h.client.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: lb.LoadBalancerArn})
	if err != nil || len(byLB.TargetGroups) != 1 || aws.ToString(byLB.TargetGroups[0].TargetGroupName) != "b" {
		t.Fatalf("by load balancer: %+v %v", byLB, err)
	}
	for _, tc := range []struct {
		name string
		in   elbv2.DescribeTargetGroupsInput
		want string
	}{
		{"unknown name", elbv2.DescribeTargetGroupsInput{Names: []string{"zz"}}, "TargetGroupNotFound"},
		{"unknown ARN", elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{"arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/zz/0123456789abcdef"}}, "TargetGroupNotFound"},
		{"unknown LB", elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/x/0123456789abcdef")}, "LoadBalancerNotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.DescribeTargetGroups(ctx, &tc.in)
			wantAPICode(t, err, tc.want)
		})
	}
}

func TestAPIDeleteTargetGroupSweepsTargets(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	g := h.mkTG(t, "app", types.ProtocolEnumHttp, 80)
	p, _ := h.s.arns.parse(aws.ToString(g.TargetGroupArn))
	other := h.mkTG(t, "other", types.ProtocolEnumHttp, 80)
	op, _ := h.s.arns.parse(aws.ToString(other.TargetGroupArn))
	// Targets as the targets API would write them.
	err := h.s.st.Update(ctx, func(tx *store.Tx) error {
		store.Put(tx, targets, p.tgKey()+"/i-1:80", targetRecord{Address: "10.0.0.1"})
		store.Put(tx, targetHealth, p.tgKey()+"/i-1:80", healthRecord{State: "healthy"})
		store.Put(tx, targets, op.tgKey()+"/i-1:80", targetRecord{Address: "10.0.0.1"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: g.TargetGroupArn}); err != nil {
		t.Fatal(err)
	}
	// The group's targets go with the data plane's sweep, not in the
	// delete's transaction (which a group of 1,000 would overflow).
	runFakeDataPlane(t, h.s)
	counts := func() (int, int) {
		var nt, nh int
		err := h.s.st.View(ctx, func(tx *store.Tx) error {
			ts, err := store.List(tx, targets, testRegion+"/")
			if err != nil {
				return err
			}
			hs, err := store.List(tx, targetHealth, testRegion+"/")
			nt, nh = len(ts), len(hs)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return nt, nh
	}
	storetest.WaitFor(t, 10*time.Second, "the deleted group's targets swept", func() bool {
		nt, nh := counts()
		return nt == 1 && nh == 0
	})
	// Gone already: fine; the name is free again.
	if _, err := h.client.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: g.TargetGroupArn}); err != nil {
		t.Fatal(err)
	}
	h.mkTG(t, "app", types.ProtocolEnumTcp, 80)
}

func TestAPITargetGroupAttributes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	web := h.mkTG(t, "web", types.ProtocolEnumHttp, 80)
	tcp := h.mkTG(t, "tcp", types.ProtocolEnumTcp, 80)
	modify := func(arn *string, kv ...string) error {
		var attrs []types.TargetGroupAttribute
		for i := 0; i < len(kv); i += 2 {
			attrs = append(attrs, types.TargetGroupAttribute{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		_, err := h.client.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: arn, Attributes: attrs})
		return err
	}
	if err := modify(web.TargetGroupArn, "stickiness.enabled", "true", "stickiness.type", "app_cookie", "stickiness.app_cookie.cookie_name", "sid",
		"load_balancing.algorithm.type", "least_outstanding_requests", "deregistration_delay.timeout_seconds", "0"); err != nil {
		t.Fatal(err)
	}
	if err := modify(tcp.TargetGroupArn, "stickiness.enabled", "true", "proxy_protocol_v2.enabled", "true"); err != nil {
		t.Fatal(err)
	}
	before := h.storeSnapshot(t)
	for _, tc := range []struct {
		name string
		arn  *string
		kv   []string
		want string
	}{
		{"source_ip on HTTP", web.TargetGroupArn, []string{"stickiness.type", "source_ip"}, "InvalidConfigurationRequest"},
		{"lb_cookie on TCP", tcp.TargetGroupArn, []string{"stickiness.type", "lb_cookie"}, "InvalidConfigurationRequest"},
		{"algorithm on TCP", tcp.TargetGroupArn, []string{"load_balancing.algorithm.type", "round_robin"}, "InvalidConfigurationRequest"},
		{"delay too long", web.TargetGroupArn, []string{"deregistration_delay.timeout_seconds", "3601"}, "InvalidConfigurationRequest"},
		{"slow start 10", web.TargetGroupArn, []string{"load_balancing.algorithm.type", "round_robin", "slow_start.duration_seconds", "10"}, "InvalidConfigurationRequest"},
		{"cookie too long", web.TargetGroupArn, []string{"stickiness.lb_cookie.duration_seconds", "604801"}, "InvalidConfigurationRequest"},
		{"app cookie without name", web.TargetGroupArn, []string{"stickiness.app_cookie.cookie_name", ""}, "InvalidConfigurationRequest"},
		{"unknown key", web.TargetGroupArn, []string{"nope", "1"}, "InvalidConfigurationRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantAPICode(t, modify(tc.arn, tc.kv...), tc.want)
		})
	}
	h.unchangedSince(t, before)
}
