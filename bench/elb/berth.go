package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/berth-dev/berth/bench/internal/benchproc"
)

const (
	keyID  = "AKIAELBBENCH00000001"
	secret = "elb-bench-secret"
)

var bannerRE = regexp.MustCompile(`Berth server ready on http://(\S+) `)

// berthALB is Berth's server with an ALB forwarding to the backends.
type berthALB struct {
	proc    *benchproc.Proc
	dnsName string // the load balancer's; the Host header of the requests
}

// startBerth starts `berth server` (not --dev) with listener port 80 mapped
// to lbAddr's port, and sets up an ALB through the ELB API: an HTTP target
// group of ip targets (the backends), a listener on 80 forwarding to it.
// It returns once both targets are healthy and the listener answers 200.
func startBerth(ctx context.Context, bin, dir, lbAddr string, backends []*backend) (*berthALB, error) {
	_, lbPort, err := net.SplitHostPort(lbAddr)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "BERTH_ROOT_ACCESS_KEY_ID="+keyID, "BERTH_ROOT_SECRET_ACCESS_KEY="+secret)
	logPath := filepath.Join(dir, "berth.log")
	p, err := benchproc.Start(bin, env, logPath, "server", "--data-dir", filepath.Join(dir, "berth-data"),
		"--listen", "127.0.0.1:0", "--lb-port-map", "80="+lbPort)
	if err != nil {
		return nil, err
	}
	b := &berthALB{proc: p}
	fail := func(err error) (*berthALB, error) {
		p.Stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("berth: %w\nlast of %s:\n%s", err, logPath, log[max(0, len(log)-3000):])
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	api, err := benchproc.WaitLine(wctx, logPath, bannerRE)
	if err != nil {
		return fail(err)
	}
	c := elb.New(elb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + api),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})
	lb, err := c.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("bench"), Type: elbtypes.LoadBalancerTypeEnumApplication})
	if err != nil {
		return fail(fmt.Errorf("CreateLoadBalancer: %w", err))
	}
	b.dnsName = aws.ToString(lb.LoadBalancers[0].DNSName)
	tg, err := c.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{
		Name: aws.String("bench"), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
		TargetType: elbtypes.TargetTypeEnumIp, VpcId: aws.String("vpc-berth"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2), HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		return fail(fmt.Errorf("CreateTargetGroup: %w", err))
	}
	group := tg.TargetGroups[0].TargetGroupArn
	var targets []elbtypes.TargetDescription
	for _, be := range backends {
		targets = append(targets, elbtypes.TargetDescription{Id: aws.String("127.0.0.1"), Port: aws.Int32(int32(be.port))})
	}
	if _, err := c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: group, Targets: targets}); err != nil {
		return fail(fmt.Errorf("RegisterTargets: %w", err))
	}
	if _, err := c.CreateListener(ctx, &elb.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: group}},
	}); err != nil {
		return fail(fmt.Errorf("CreateListener: %w", err))
	}
	if err := waitHealthy(ctx, c, group, len(backends), 60*time.Second); err != nil {
		return fail(err)
	}
	if err := waitOK(ctx, p, "http://"+lbAddr+"/", b.dnsName, 30*time.Second); err != nil {
		return fail(fmt.Errorf("listener: %w", err))
	}
	return b, nil
}

// waitHealthy polls DescribeTargetHealth until n targets are all healthy.
func waitHealthy(ctx context.Context, c *elb.Client, group *string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := c.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: group})
		if err != nil {
			return fmt.Errorf("DescribeTargetHealth: %w", err)
		}
		healthy, states := 0, ""
		for _, d := range out.TargetHealthDescriptions {
			if d.TargetHealth.State == elbtypes.TargetHealthStateEnumHealthy {
				healthy++
			}
			states += fmt.Sprintf(" %s:%d=%s(%s)", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port), d.TargetHealth.State, d.TargetHealth.Reason)
		}
		if healthy == n && len(out.TargetHealthDescriptions) == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("targets not all healthy after %s:%s", timeout, states)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond): // polling pace
		}
	}
}
