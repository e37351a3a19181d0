package elb

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/elb/health"
	"github.com/berth-dev/berth/internal/elb/proxy"
)

// Fixed ids and ARNs for the translator's table.
const (
	tLB     = "us-east-1/aaaaaaaaaaaaaaaa"
	tNLB    = "us-east-1/bbbbbbbbbbbbbbbb"
	tLBARN  = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/aaaaaaaaaaaaaaaa"
	tNLBARN = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/net/tcp/bbbbbbbbbbbbbbbb"
	tHTTP   = tLBARN + "/1111111111111111"
	tHTTPS  = tLBARN + "/2222222222222222"
	tTCP    = tNLBARN + "/3333333333333333"
	tTG1    = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/one/cccccccccccccccc"
	tTG2    = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/two/dddddddddddddddd"
	tTGNet  = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/net/eeeeeeeeeeeeeeee"
	tTGIdle = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/idle/ffffffffffffffff"
)

func fakeCert(arn string) tls.Certificate { return tls.Certificate{Certificate: [][]byte{[]byte(arn)}} }

func TestDataPlaneTranslation(t *testing.T) {
	drainUntil := time.Date(2026, 11, 29, 12, 5, 0, 0, time.UTC)
	lbs := map[string]*lbRecord{
		tLB: {LB: elbv2types.LoadBalancer{LoadBalancerArn: aws.String(tLBARN), Type: aws.String("application")},
			Attributes: map[string]string{dpAttrIdleTimeout: "120"}},
		tNLB: {LB: elbv2types.LoadBalancer{LoadBalancerArn: aws.String(tNLBARN), Type: aws.String("network")}},
	}
	httpListener := &listenerRecord{Listener: elbv2types.Listener{
		ListenerArn: aws.String(tHTTP), LoadBalancerArn: aws.String(tLBARN), Port: aws.Int32(80), Protocol: aws.String("HTTP"),
		DefaultActions: []elbv2types.Action{{Type: aws.String("fixed-response"), FixedResponseConfig: &elbv2types.FixedResponseActionConfig{
			StatusCode: aws.String("404"), ContentType: aws.String("text/plain"), MessageBody: aws.String("nope")}}},
	}}
	httpsListener := &listenerRecord{Listener: elbv2types.Listener{
		ListenerArn: aws.String(tHTTPS), LoadBalancerArn: aws.String(tLBARN), Port: aws.Int32(443), Protocol: aws.String("HTTPS"),
		Certificates: []elbv2types.Certificate{
			{CertificateArn: aws.String("cert-sni")},
			{CertificateArn: aws.String("cert-default"), IsDefault: aws.Bool(true)},
		},
		DefaultActions: []elbv2types.Action{{Type: aws.String("redirect"), RedirectConfig: &elbv2types.RedirectActionConfig{
			Host: aws.String("example.com"), StatusCode: aws.String("HTTP_301")}}},
	}}
	tcpListener := &listenerRecord{
		Listener: elbv2types.Listener{ListenerArn: aws.String(tTCP), LoadBalancerArn: aws.String(tNLBARN), Port: aws.Int32(5432),
			Protocol: aws.String("TCP"), DefaultActions: []elbv2types.Action{forwardTo(tTGNet)}},
		Attributes: map[string]string{dpAttrTCPIdleTimeout: "60"},
	}
	ruleARN := func(id string) string {
		return "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/web/aaaaaaaaaaaaaaaa/1111111111111111/" + id
	}
	rules := map[string]*ruleRecord{
		tLB + "/1111111111111111/r10": {Rule: elbv2types.Rule{RuleArn: aws.String(ruleARN("r10")), Priority: aws.String("10"),
			Conditions: []elbv2types.RuleCondition{
				{Field: aws.String("path-pattern"), Values: []string{"/api/*"}},
				{Field: aws.String("http-header"), HttpHeaderConfig: &elbv2types.HttpHeaderConditionConfig{HttpHeaderName: aws.String("X-Env"), Values: []string{"blue"}}},
				{Field: aws.String("query-string"), QueryStringConfig: &elbv2types.QueryStringConditionConfig{Values: []elbv2types.QueryStringKeyValuePair{{Key: aws.String("v"), Value: aws.String("2")}, {Value: aws.String("x")}}}},
			},
			Actions: []elbv2types.Action{{Type: aws.String("forward"), ForwardConfig: &elbv2types.ForwardActionConfig{
				TargetGroups:                []elbv2types.TargetGroupTuple{{TargetGroupArn: aws.String(tTG1), Weight: aws.Int32(3)}, {TargetGroupArn: aws.String(tTG2)}},
				TargetGroupStickinessConfig: &elbv2types.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(600)},
			}}},
		}},
		tLB + "/1111111111111111/r2": {Rule: elbv2types.Rule{RuleArn: aws.String(ruleARN("r2")), Priority: aws.String("2"),
			Conditions: []elbv2types.RuleCondition{
				{Field: aws.String("host-header"), HostHeaderConfig: &elbv2types.HostHeaderConditionConfig{Values: []string{"*.example.com"}}},
				{Field: aws.String("http-request-method"), HttpRequestMethodConfig: &elbv2types.HttpRequestMethodConditionConfig{Values: []string{"GET"}}},
				{Field: aws.String("source-ip"), SourceIpConfig: &elbv2types.SourceIpConditionConfig{Values: []string{"10.0.0.0/8"}}},
			},
			Actions: []elbv2types.Action{forwardTo(tTG1)}}},
		// Only authentication: nothing the data plane can answer with.
		tLB + "/1111111111111111/r5": {Rule: elbv2types.Rule{RuleArn: aws.String(ruleARN("r5")), Priority: aws.String("5"),
			Actions: []elbv2types.Action{{Type: aws.String("authenticate-oidc")}}}},
	}
	groups := map[string]*tgRecord{
		"us-east-1/cccccccccccccccc": {TG: elbv2types.TargetGroup{TargetGroupArn: aws.String(tTG1), TargetGroupName: aws.String("one"),
			Protocol: aws.String("HTTP"), ProtocolVersion: aws.String("HTTP1"), Port: aws.Int32(80),
			HealthCheckPath: aws.String("/healthz"), HealthCheckIntervalSeconds: aws.Int32(10), Matcher: &elbv2types.Matcher{HttpCode: aws.String("200-299")}},
			Attributes: map[string]string{attrDeregistrationDelay: "20", dpAttrStickiness: "true", dpAttrStickinessType: "app_cookie",
				dpAttrAppCookieName: "SESSION", dpAttrAppCookieDuration: "300", dpAttrAlgorithm: "least_outstanding_requests", dpAttrSlowStart: "30"}},
		"us-east-1/dddddddddddddddd": {TG: elbv2types.TargetGroup{TargetGroupArn: aws.String(tTG2), TargetGroupName: aws.String("two"),
			Protocol: aws.String("HTTP"), HealthCheckEnabled: aws.Bool(false)}},
		"us-east-1/eeeeeeeeeeeeeeee": {TG: elbv2types.TargetGroup{TargetGroupArn: aws.String(tTGNet), TargetGroupName: aws.String("net"),
			Protocol: aws.String("TCP"), HealthCheckPort: aws.String("8081")}},
		// Used by no listener: not in the data plane.
		"us-east-1/ffffffffffffffff": {TG: elbv2types.TargetGroup{TargetGroupArn: aws.String(tTGIdle), Protocol: aws.String("HTTP")}},
	}
	tgt := func(id string, port int32, addr string, drain time.Time) *targetRecord {
		return &targetRecord{Target: targetSpec{ID: id, Port: port}.description(), Address: addr, DrainUntil: drain}
	}
	tgts := map[string]*targetRecord{
		"us-east-1/cccccccccccccccc/10.0.0.2:80":               tgt("10.0.0.2", 80, "10.0.0.2", time.Time{}),
		"us-east-1/cccccccccccccccc/10.0.0.1:80":               tgt("10.0.0.1", 80, "10.0.0.1", drainUntil),
		"us-east-1/eeeeeeeeeeeeeeee/i-0123456789abcdef0:32768": tgt("i-0123456789abcdef0", 32768, "192.168.1.10", time.Time{}),
		"us-east-1/ffffffffffffffff/10.0.0.3:80":               tgt("10.0.0.3", 80, "10.0.0.3", time.Time{}),
	}

	wantHTTP := proxy.Listener{
		ARN: tHTTP, LoadBalancerARN: tLBARN, Type: "application", Addr: "127.0.0.1:8080", Port: 80, Protocol: "HTTP",
		IdleTimeout: 120 * time.Second,
		Rules: []proxy.Rule{
			{ARN: ruleARN("r2"), Priority: 2, Conditions: []proxy.Condition{
				{Field: "host-header", Values: []string{"*.example.com"}},
				{Field: "http-request-method", Values: []string{"GET"}},
				{Field: "source-ip", Values: []string{"10.0.0.0/8"}},
			}, Actions: []proxy.Action{{Type: "forward", Forward: []proxy.WeightedGroup{{ARN: tTG1, Weight: 1}}}}},
			{ARN: ruleARN("r10"), Priority: 10, Conditions: []proxy.Condition{
				{Field: "path-pattern", Values: []string{"/api/*"}},
				{Field: "http-header", HeaderName: "X-Env", Values: []string{"blue"}},
				{Field: "query-string", Query: []proxy.QueryPair{{Key: "v", Value: "2"}, {Value: "x"}}},
			}, Actions: []proxy.Action{{Type: "forward", Stickiness: 10 * time.Minute,
				Forward: []proxy.WeightedGroup{{ARN: tTG1, Weight: 3}, {ARN: tTG2, Weight: 1}}}}},
			{ARN: tHTTP, Actions: []proxy.Action{{Type: "fixed-response", Fixed: &proxy.FixedResponse{StatusCode: 404, ContentType: "text/plain", Body: "nope"}}}},
		},
	}
	wantHTTPS := proxy.Listener{
		ARN: tHTTPS, LoadBalancerARN: tLBARN, Type: "application", Addr: "127.0.0.1:443", Port: 443, Protocol: "HTTPS",
		IdleTimeout:  120 * time.Second,
		Certificates: []tls.Certificate{fakeCert("cert-default"), fakeCert("cert-sni")},
		Rules: []proxy.Rule{{ARN: tHTTPS, Actions: []proxy.Action{{Type: "redirect", Redirect: &proxy.Redirect{
			Protocol: "#{protocol}", Host: "example.com", Port: "#{port}", Path: "/#{path}", Query: "#{query}", StatusCode: "HTTP_301"}}}}},
	}
	wantTCP := proxy.Listener{
		ARN: tTCP, LoadBalancerARN: tNLBARN, Type: "network", Addr: "127.0.0.1:5432", Port: 5432, Protocol: "TCP",
		IdleTimeout: 60 * time.Second,
		Rules:       []proxy.Rule{{ARN: tTCP, Actions: []proxy.Action{{Type: "forward", Forward: []proxy.WeightedGroup{{ARN: tTGNet, Weight: 1}}}}}},
	}
	wantTG1 := &proxy.TargetGroup{ARN: tTG1, Name: "one", Protocol: "HTTP", ProtocolVersion: "HTTP1",
		HealthCheck: health.Check{Enabled: true, Protocol: "HTTP", Port: "traffic-port", Path: "/healthz", Interval: 10 * time.Second,
			Timeout: 5 * time.Second, HealthyThreshold: 5, UnhealthyThreshold: 2, Matcher: "200-299"},
		Algorithm: "least_outstanding_requests", SlowStart: 30 * time.Second, DeregistrationDelay: 20 * time.Second,
		Stickiness: proxy.Stickiness{Enabled: true, Type: "app_cookie", Duration: 5 * time.Minute, CookieName: "SESSION"},
		Targets: []proxy.Target{
			{Key: "10.0.0.1:80", Addr: "10.0.0.1:80", Draining: true, DrainUntil: drainUntil},
			{Key: "10.0.0.2:80", Addr: "10.0.0.2:80"},
		}}
	wantTG2 := &proxy.TargetGroup{ARN: tTG2, Name: "two", Protocol: "HTTP",
		HealthCheck: health.Check{Enabled: false, Protocol: "HTTP", Port: "traffic-port", Path: "/", Interval: 30 * time.Second,
			Timeout: 5 * time.Second, HealthyThreshold: 5, UnhealthyThreshold: 2, Matcher: "200"},
		Algorithm: "round_robin", DeregistrationDelay: 300 * time.Second,
		Stickiness: proxy.Stickiness{Type: "lb_cookie", Duration: 24 * time.Hour}}
	wantTGNet := &proxy.TargetGroup{ARN: tTGNet, Name: "net", Protocol: "TCP",
		HealthCheck: health.Check{Enabled: true, Protocol: "TCP", Port: "8081", Interval: 30 * time.Second,
			Timeout: 10 * time.Second, HealthyThreshold: 5, UnhealthyThreshold: 2},
		Algorithm: "round_robin", DeregistrationDelay: 300 * time.Second,
		Stickiness: proxy.Stickiness{Type: "source_ip"},
		Targets:    []proxy.Target{{Key: "i-0123456789abcdef0:32768", Addr: "192.168.1.10:32768"}}}

	certs := func(arn string) (tls.Certificate, error) { return fakeCert(arn), nil }
	for _, tc := range []struct {
		name string
		tr   translator
		recs dataPlaneRecords
		want proxy.Config
	}{
		{
			name: "everything",
			tr:   translator{ListenAddress: "127.0.0.1", PortMap: map[int32]int32{80: 8080}, Certificate: certs},
			recs: dataPlaneRecords{LoadBalancers: lbs, Rules: rules, TargetGroups: groups, Targets: tgts, Listeners: map[string]*listenerRecord{
				tLB + "/1111111111111111": httpListener, tLB + "/2222222222222222": httpsListener, tNLB + "/3333333333333333": tcpListener}},
			want: proxy.Config{Listeners: []proxy.Listener{wantHTTP, wantHTTPS, wantTCP},
				TargetGroups: map[string]*proxy.TargetGroup{tTG1: wantTG1, tTG2: wantTG2, tTGNet: wantTGNet}},
		},
		{
			name: "a certificate that does not load leaves its listener out",
			tr: translator{ListenAddress: "127.0.0.1", Certificate: func(arn string) (tls.Certificate, error) {
				return tls.Certificate{}, errors.New("no such certificate")
			}},
			recs: dataPlaneRecords{LoadBalancers: lbs, TargetGroups: groups, Targets: tgts, Listeners: map[string]*listenerRecord{
				tLB + "/2222222222222222": httpsListener, tNLB + "/3333333333333333": tcpListener}},
			want: proxy.Config{Listeners: []proxy.Listener{wantTCP}, TargetGroups: map[string]*proxy.TargetGroup{tTGNet: wantTGNet}},
		},
		{
			name: "no certificate source refuses HTTPS; a group that is gone is left out",
			tr:   translator{ListenAddress: "127.0.0.1"},
			recs: dataPlaneRecords{LoadBalancers: lbs, TargetGroups: map[string]*tgRecord{}, Listeners: map[string]*listenerRecord{
				tLB + "/2222222222222222": httpsListener, tNLB + "/3333333333333333": tcpListener}},
			want: proxy.Config{Listeners: []proxy.Listener{wantTCP}, TargetGroups: map[string]*proxy.TargetGroup{}},
		},
		{
			name: "a listener of a failed load balancer is left out",
			tr:   translator{ListenAddress: "127.0.0.1"},
			recs: dataPlaneRecords{LoadBalancers: map[string]*lbRecord{tNLB: {LB: elbv2types.LoadBalancer{
				LoadBalancerArn: aws.String(tNLBARN), Type: aws.String("network"), State: &elbv2types.LoadBalancerState{Code: aws.String("failed")}}}},
				Listeners: map[string]*listenerRecord{tNLB + "/3333333333333333": tcpListener}},
			want: proxy.Config{TargetGroups: map[string]*proxy.TargetGroup{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.tr.Log = slog.New(slog.DiscardHandler)
			got := tc.tr.build(tc.recs)
			if !reflect.DeepEqual(got.Listeners, tc.want.Listeners) {
				t.Errorf("listeners:\n got %+v\nwant %+v", got.Listeners, tc.want.Listeners)
			}
			if !reflect.DeepEqual(got.TargetGroups, tc.want.TargetGroups) {
				for arn, g := range got.TargetGroups {
					t.Logf("got group %s: %+v", arn, *g)
				}
				t.Errorf("target groups differ; want %d", len(tc.want.TargetGroups))
			}
		})
	}
}
