package elb

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// apiCertSource knows one certificate ARN.
type apiCertSource struct{ arn string }

func (f apiCertSource) Certificate(_ context.Context, arn string) (tls.Certificate, error) {
	if arn != f.arn {
		return tls.Certificate{}, errors.New("no such certificate")
	}
	return tls.Certificate{}, nil
}

const apiTestCertARN = "arn:aws:acm:us-east-1:000000000000:certificate/11111111-2222-3333-4444-555555555555"

func TestAPICreateListener(t *testing.T) {
	h := newHarnessWith(t, Config{PortMap: map[int32]int32{80: 8080}, Certificates: apiCertSource{apiTestCertARN}})
	ctx := context.Background()
	alb := h.mkLB(t, "web", "")
	alb2 := h.mkLB(t, "web2", "")
	nlb := h.mkLB(t, "net", types.LoadBalancerTypeEnumNetwork)
	web := h.mkTG(t, "web", types.ProtocolEnumHttp, 80)
	web2 := h.mkTG(t, "web2", types.ProtocolEnumHttp, 80)
	tcp := h.mkTG(t, "tcp", types.ProtocolEnumTcp, 5432)
	udp := h.mkTG(t, "udp", types.ProtocolEnumUdp, 53)

	l := h.mkListener(t, alb.LoadBalancerArn, types.ProtocolEnumHttp, 80, fwdTo(web.TargetGroupArn))
	a := l.DefaultActions[0]
	if aws.ToString(a.TargetGroupArn) != aws.ToString(web.TargetGroupArn) || a.ForwardConfig == nil ||
		len(a.ForwardConfig.TargetGroups) != 1 || aws.ToInt32(a.ForwardConfig.TargetGroups[0].Weight) != 1 {
		t.Errorf("default action = %+v", a)
	}
	https, err := h.client.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttps, Port: aws.Int32(443),
		Certificates:   []types.Certificate{{CertificateArn: aws.String(apiTestCertARN)}},
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("404")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(https.Listeners[0].SslPolicy) != "ELBSecurityPolicy-2016-08" {
		t.Errorf("SslPolicy = %v", aws.ToString(https.Listeners[0].SslPolicy))
	}
	certs, err := h.client.DescribeListenerCertificates(ctx, &elbv2.DescribeListenerCertificatesInput{ListenerArn: https.Listeners[0].ListenerArn})
	if err != nil || len(certs.Certificates) != 1 || !aws.ToBool(certs.Certificates[0].IsDefault) {
		t.Fatalf("listener certificates: %+v %v", certs, err)
	}
	// An NLB: TCP and UDP on the same port are separate claims.
	h.mkListener(t, nlb.LoadBalancerArn, types.ProtocolEnumTcp, 5432, fwdTo(tcp.TargetGroupArn))
	h.mkListener(t, nlb.LoadBalancerArn, types.ProtocolEnumUdp, 53, fwdTo(udp.TargetGroupArn))
	nlb2 := h.mkLB(t, "net2", types.LoadBalancerTypeEnumNetwork)
	udp2 := h.mkTG(t, "udp2", types.ProtocolEnumTcpUdp, 53)
	attrs, err := h.client.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: l.ListenerArn})
	if err != nil || len(attrs.Attributes) == 0 {
		t.Fatalf("listener attributes: %+v %v", attrs, err)
	}

	before := h.storeSnapshot(t)
	for _, tc := range []struct {
		name    string
		in      elbv2.CreateListenerInput
		want    string
		message string
	}{
		{"same port", elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80), DefaultActions: fwdTo(web.TargetGroupArn)}, "DuplicateListener", ""},
		{"local port of another LB", elbv2.CreateListenerInput{LoadBalancerArn: alb2.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8080), DefaultActions: fwdTo(web2.TargetGroupArn)}, "InvalidConfigurationRequest", "web"},
		{"TCP_UDP takes UDP 53 too", elbv2.CreateListenerInput{LoadBalancerArn: nlb2.LoadBalancerArn, Protocol: types.ProtocolEnumTcpUdp, Port: aws.Int32(53), DefaultActions: fwdTo(udp2.TargetGroupArn)}, "InvalidConfigurationRequest", "net"},
		{"TCP on ALB", elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumTcp, Port: aws.Int32(81), DefaultActions: fwdTo(web.TargetGroupArn)}, "UnsupportedProtocol", ""},
		{"HTTP on NLB", elbv2.CreateListenerInput{LoadBalancerArn: nlb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81), DefaultActions: fwdTo(tcp.TargetGroupArn)}, "UnsupportedProtocol", ""},
		{"TCP group on ALB", elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81), DefaultActions: fwdTo(tcp.TargetGroupArn)}, "IncompatibleProtocols", ""},
		{"UDP group on TCP listener", elbv2.CreateListenerInput{LoadBalancerArn: nlb.LoadBalancerArn, Protocol: types.ProtocolEnumTcp, Port: aws.Int32(81), DefaultActions: fwdTo(udp.TargetGroupArn)}, "IncompatibleProtocols", ""},
		{"group of another LB", elbv2.CreateListenerInput{LoadBalancerArn: alb2.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81), DefaultActions: fwdTo(web.TargetGroupArn)}, "TargetGroupAssociationLimit", ""},
		{"unknown group", elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81), DefaultActions: fwdTo(aws.String("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/x/0123456789abcdef"))}, "TargetGroupNotFound", ""},
		{"HTTPS without certificate", elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttps, Port: aws.Int32(8443), DefaultActions: fwdTo(web.TargetGroupArn)}, "ValidationError", ""},
		{"unknown certificate", elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttps, Port: aws.Int32(8443), DefaultActions: fwdTo(web.TargetGroupArn),
			Certificates: []types.Certificate{{CertificateArn: aws.String(apiTestCertARN + "0")}}}, "CertificateNotFound", ""},
		{"unknown SSL policy", elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttps, Port: aws.Int32(8443), DefaultActions: fwdTo(web.TargetGroupArn),
			Certificates: []types.Certificate{{CertificateArn: aws.String(apiTestCertARN)}}, SslPolicy: aws.String("nope")}, "SSLPolicyNotFound", ""},
		{"authenticate action", elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumAuthenticateOidc}}}, "InvalidConfigurationRequest", "authenticate-oidc"},
		{"redirect to itself", elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumRedirect, RedirectConfig: &types.RedirectActionConfig{StatusCode: types.RedirectActionStatusCodeEnumHttp301}}}}, "InvalidConfigurationRequest", ""},
		{"fixed response content type", elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("200"), ContentType: aws.String("image/png")}}}}, "ValidationError", ""},
		{"weight too big", elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, ForwardConfig: &types.ForwardActionConfig{TargetGroups: []types.TargetGroupTuple{{TargetGroupArn: web.TargetGroupArn, Weight: aws.Int32(1000)}}}}}}, "ValidationError", ""},
		{"unknown LB", elbv2.CreateListenerInput{LoadBalancerArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/x/0123456789abcdef"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(81), DefaultActions: fwdTo(web.TargetGroupArn)}, "LoadBalancerNotFound", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.CreateListener(ctx, &tc.in)
			wantAPICode(t, err, tc.want)
			if tc.message != "" && !strings.Contains(err.Error(), tc.message) {
				t.Errorf("message %q does not name %q", err, tc.message)
			}
		})
	}
	h.unchangedSince(t, before)
}

func TestAPIModifyAndDeleteListener(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	lb := h.mkLB(t, "web", "")
	other := h.mkLB(t, "other", "")
	a := h.mkTG(t, "a", types.ProtocolEnumHttp, 80)
	b := h.mkTG(t, "b", types.ProtocolEnumHttp, 80)
	c := h.mkTG(t, "c", types.ProtocolEnumHttp, 80)
	l := h.mkListener(t, lb.LoadBalancerArn, types.ProtocolEnumHttp, 80, fwdTo(a.TargetGroupArn))
	h.mkListener(t, other.LoadBalancerArn, types.ProtocolEnumHttp, 90, fwdTo(c.TargetGroupArn))

	// Weighted forward to a and b, on a new port.
	out, err := h.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{
		ListenerArn: l.ListenerArn, Port: aws.Int32(81),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, ForwardConfig: &types.ForwardActionConfig{TargetGroups: []types.TargetGroupTuple{
			{TargetGroupArn: a.TargetGroupArn, Weight: aws.Int32(1)}, {TargetGroupArn: b.TargetGroupArn, Weight: aws.Int32(3)}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.Listeners[0].Port) != 81 || len(h.lbsOfTG(t, b.TargetGroupArn)) != 1 {
		t.Errorf("after modify: %+v, b's LBs %v", out.Listeners[0], h.lbsOfTG(t, b.TargetGroupArn))
	}
	// Port 80 is free again: another LB takes it.
	h.mkListener(t, other.LoadBalancerArn, types.ProtocolEnumHttp, 80, fwdTo(c.TargetGroupArn))
	before := h.storeSnapshot(t)
	_, err = h.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l.ListenerArn, Port: aws.Int32(90)})
	wantAPICode(t, err, "InvalidConfigurationRequest")
	_, err = h.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l.ListenerArn, DefaultActions: fwdTo(c.TargetGroupArn)})
	wantAPICode(t, err, "TargetGroupAssociationLimit")
	h.unchangedSince(t, before)

	// Back to a alone: b no longer lists the load balancer.
	if _, err := h.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l.ListenerArn, DefaultActions: fwdTo(a.TargetGroupArn)}); err != nil {
		t.Fatal(err)
	}
	if got := h.lbsOfTG(t, b.TargetGroupArn); len(got) != 0 {
		t.Errorf("b's LBs = %v", got)
	}
	if _, err := h.client.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: l.ListenerArn}); err != nil {
		t.Fatal(err)
	}
	if got := h.lbsOfTG(t, a.TargetGroupArn); len(got) != 0 {
		t.Errorf("a's LBs after delete = %v", got)
	}
	_, err = h.client.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: l.ListenerArn})
	wantAPICode(t, err, "ListenerNotFound")
	// Port 81 is free.
	h.mkListener(t, other.LoadBalancerArn, types.ProtocolEnumHttp, 81, fwdTo(c.TargetGroupArn))
}

func TestAPIDescribeListeners(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	lb := h.mkLB(t, "web", "")
	nlb := h.mkLB(t, "net", types.LoadBalancerTypeEnumNetwork)
	tg := h.mkTG(t, "a", types.ProtocolEnumHttp, 80)
	tcp := h.mkTG(t, "t", types.ProtocolEnumTcp, 80)
	for _, port := range []int32{80, 81, 82} {
		h.mkListener(t, lb.LoadBalancerArn, types.ProtocolEnumHttp, port, fwdTo(tg.TargetGroupArn))
	}
	var n int
	var marker *string
	for {
		out, err := h.client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn, PageSize: aws.Int32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Listeners)
		if marker = out.NextMarker; marker == nil {
			break
		}
	}
	if n != 3 {
		t.Errorf("paged %d listeners, want 3", n)
	}
	nl := h.mkListener(t, nlb.LoadBalancerArn, types.ProtocolEnumTcp, 9000, fwdTo(tcp.TargetGroupArn))
	attrs, err := h.client.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: nl.ListenerArn,
		Attributes: []types.ListenerAttribute{{Key: aws.String("tcp.idle_timeout.seconds"), Value: aws.String("600")}}})
	if err != nil || aws.ToString(attrs.Attributes[0].Value) != "600" {
		t.Fatalf("listener attributes: %+v %v", attrs, err)
	}
	_, err = h.client.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: nl.ListenerArn,
		Attributes: []types.ListenerAttribute{{Key: aws.String("tcp.idle_timeout.seconds"), Value: aws.String("10")}}})
	wantAPICode(t, err, "InvalidConfigurationRequest")
	_, err = h.client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{})
	wantAPICode(t, err, "ValidationError")
	_, err = h.client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{*nl.ListenerArn + "x"}})
	wantAPICode(t, err, "ValidationError")
}

// Two load balancers racing to forward to one target group: one wins, and
// the group lists only the winner.
func TestAPIListenersRaceForTargetGroup(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tg := h.mkTG(t, "shared", types.ProtocolEnumHttp, 80)
	lbs := []types.LoadBalancer{h.mkLB(t, "one", ""), h.mkLB(t, "two", "")}
	errs := make(chan error, len(lbs))
	for i, lb := range lbs {
		go func() {
			_, err := h.client.CreateListener(ctx, &elbv2.CreateListenerInput{
				LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(int32(8000 + i)), DefaultActions: fwdTo(tg.TargetGroupArn),
			})
			errs <- err
		}()
	}
	won := 0
	for range lbs {
		err := <-errs
		switch code(err) {
		case "":
			if err != nil {
				t.Fatal(err)
			}
			won++
		case "TargetGroupAssociationLimit":
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	if got := h.lbsOfTG(t, tg.TargetGroupArn); won != 1 || len(got) != 1 {
		t.Fatalf("%d won, group lists %v", won, got)
	}
}

func TestAPIModifyListenerProtocol(t *testing.T) {
	h := newHarnessWith(t, Config{Certificates: apiCertSource{apiTestCertARN}})
	ctx := context.Background()
	alb := h.mkLB(t, "web", "")
	nlb := h.mkLB(t, "net", types.LoadBalancerTypeEnumNetwork)
	web := h.mkTG(t, "web", types.ProtocolEnumHttp, 80)
	tcp := h.mkTG(t, "tcp", types.ProtocolEnumTcp, 80)
	l := h.mkListener(t, alb.LoadBalancerArn, types.ProtocolEnumHttp, 80, fwdTo(web.TargetGroupArn))
	nl := h.mkListener(t, nlb.LoadBalancerArn, types.ProtocolEnumTcp, 9000, fwdTo(tcp.TargetGroupArn))

	before := h.storeSnapshot(t)
	_, err := h.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l.ListenerArn, Protocol: types.ProtocolEnumHttps, Port: aws.Int32(443)})
	wantAPICode(t, err, "ValidationError") // HTTPS needs a certificate
	_, err = h.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: nl.ListenerArn, Protocol: types.ProtocolEnumUdp})
	wantAPICode(t, err, "IncompatibleProtocols") // the TCP group cannot take UDP
	h.unchangedSince(t, before)

	out, err := h.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l.ListenerArn, Protocol: types.ProtocolEnumHttps, Port: aws.Int32(443),
		Certificates: []types.Certificate{{CertificateArn: aws.String(apiTestCertARN)}}, SslPolicy: aws.String("ELBSecurityPolicy-TLS13-1-2-2021-06")})
	if err != nil {
		t.Fatal(err)
	}
	got := out.Listeners[0]
	if got.Protocol != types.ProtocolEnumHttps || aws.ToInt32(got.Port) != 443 || len(got.Certificates) != 1 ||
		aws.ToString(got.SslPolicy) != "ELBSecurityPolicy-TLS13-1-2-2021-06" {
		t.Errorf("listener = %+v", got)
	}
	// Back to HTTP: certificate and policy go.
	out, err = h.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l.ListenerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80)})
	if err != nil || len(out.Listeners[0].Certificates) != 0 || out.Listeners[0].SslPolicy != nil {
		t.Fatalf("back to HTTP: %+v %v", out, err)
	}
	// TCP to TCP_UDP, forwarding to a TCP_UDP group: the TCP group is let go.
	if _, err := h.client.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: nl.ListenerArn, Protocol: types.ProtocolEnumTcpUdp,
		DefaultActions: fwdTo(h.mkTG(t, "both", types.ProtocolEnumTcpUdp, 80).TargetGroupArn)}); err != nil {
		t.Fatal(err)
	}
	if got := h.lbsOfTG(t, tcp.TargetGroupArn); len(got) != 0 {
		t.Errorf("tcp group still lists %v", got)
	}
	attrs, err := h.client.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: nl.ListenerArn})
	if err != nil || len(attrs.Attributes) != 0 {
		t.Errorf("TCP_UDP listener attributes = %+v %v", attrs, err)
	}
}
