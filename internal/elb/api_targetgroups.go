package elb

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// Target groups: CreateTargetGroup, ModifyTargetGroup,
// DescribeTargetGroups and DeleteTargetGroup. Groups take instance or ip
// targets; health checks get AWS's defaults for the group's protocol.

// healthCheck is the health check part of Create/ModifyTargetGroup.
type healthCheck struct {
	Enabled              *bool
	Protocol, Port, Path *string
	Interval, Timeout    *int32
	Healthy, Unhealthy   *int32
	Matcher              *elbv2types.Matcher
}

// CreateTargetGroup creates a target group; one whose name exists with the
// same settings is answered as it is, with other settings it is
// DuplicateTargetGroupName.
func (s *Service) CreateTargetGroup(ctx context.Context, in *elbv2types.CreateTargetGroupInput) (*elbv2types.CreateTargetGroupOutput, error) {
	region := s.region(ctx)
	name := aws.ToString(in.Name)
	if !nameRE.MatchString(name) {
		return nil, errValidation("The target group name '%s' is not valid: it must have 1 to 32 letters, digits and hyphens, and must not begin or end with a hyphen", name)
	}
	tt := aws.ToString(in.TargetType)
	switch tt {
	case "":
		tt = elbv2types.TargetTypeEnumInstance
	case elbv2types.TargetTypeEnumLambda, elbv2types.TargetTypeEnumAlb:
		return nil, errInvalidConfig("Berth does not support target groups of target type '%s': use instance or ip", tt)
	}
	protocol := aws.ToString(in.Protocol)
	switch protocol {
	case "":
		return nil, errValidation("A protocol must be specified for target groups of target type '%s'", tt)
	case elbv2types.ProtocolEnumGENEVE, elbv2types.ProtocolEnumQUIC, elbv2types.ProtocolEnumTCPQUIC:
		return nil, errELB(elbv2types.ErrCodeUnsupportedProtocolException, "Berth does not support target groups with protocol '%s'", protocol)
	}
	if in.Port == nil {
		return nil, errValidation("A port must be specified for target groups of target type '%s'", tt)
	}
	version := aws.ToString(in.ProtocolVersion)
	if isHTTPProtocol(protocol) {
		if version == "" {
			version = "HTTP1"
		}
		if !slices.Contains([]string{"HTTP1", "HTTP2", "GRPC"}, version) {
			return nil, errValidation("Protocol version '%s' is not valid: it must be HTTP1, HTTP2 or GRPC", version)
		}
	} else if version != "" {
		return nil, errValidation("A protocol version can only be specified for HTTP and HTTPS target groups")
	}
	if in.TargetControlPort != nil {
		return nil, errInvalidConfig("Berth does not support target control ports")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	ipType := aws.ToString(in.IpAddressType)
	if ipType == "" {
		ipType = elbv2types.TargetGroupIpAddressTypeEnumIpv4
	}
	vpc := aws.ToString(in.VpcId)
	if vpc == "" {
		vpc = berthVPC
	}
	tgID := newID()
	tg := elbv2types.TargetGroup{
		TargetGroupArn:   aws.String(s.arns.targetGroup(region, name, tgID)),
		TargetGroupName:  aws.String(name),
		Protocol:         aws.String(protocol),
		Port:             in.Port,
		VpcId:            aws.String(vpc),
		TargetType:       aws.String(tt),
		IpAddressType:    aws.String(ipType),
		LoadBalancerArns: []string{},
	}
	if version != "" {
		tg.ProtocolVersion = aws.String(version)
	}
	hc := healthCheck{
		Enabled: in.HealthCheckEnabled, Protocol: in.HealthCheckProtocol, Port: in.HealthCheckPort, Path: in.HealthCheckPath,
		Interval: in.HealthCheckIntervalSeconds, Timeout: in.HealthCheckTimeoutSeconds,
		Healthy: in.HealthyThresholdCount, Unhealthy: in.UnhealthyThresholdCount, Matcher: in.Matcher,
	}
	if err := applyHealthCheck(&tg, hc, true); err != nil {
		return nil, err
	}
	rec := tgRecord{TG: tg, Attributes: tgAttributeDefaults(tg), Tags: in.Tags}
	out := tg
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		claim, ok, err := getIfAny(tx, tgNames, region+"/"+name)
		if err != nil {
			return err
		}
		if ok {
			prev, err := getOrErr(tx, targetGroups, region+"/"+claim.ID, errNoTargetGroup())
			if err != nil {
				return fmt.Errorf("target group %s named by its index: %w", name, err)
			}
			if !sameTGSettings(prev.TG, tg) {
				return errELB(elbv2types.ErrCodeDuplicateTargetGroupNameException, "A target group with the same name '%s' exists, but with different settings", name)
			}
			out = prev.TG
			return nil
		}
		store.Put(tx, tgNames, region+"/"+name, nameClaim{ID: tgID})
		store.Put(tx, targetGroups, region+"/"+tgID, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create target group %s: %w", name, err)
	}
	return &elbv2types.CreateTargetGroupOutput{TargetGroups: []elbv2types.TargetGroup{out}}, nil
}

// sameTGSettings compares what a create request decides of a group.
func sameTGSettings(a, b elbv2types.TargetGroup) bool {
	a.TargetGroupArn, b.TargetGroupArn = nil, nil
	a.LoadBalancerArns, b.LoadBalancerArns = nil, nil
	return reflect.DeepEqual(a, b)
}

var (
	matcherRE = regexp.MustCompile(`^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$`)
	grpcRE    = regexp.MustCompile(`^\d{1,2}(-\d{1,2})?(,\d{1,2}(-\d{1,2})?)*$`)
)

// applyHealthCheck sets tg's health check from hc: on create, what hc
// leaves out gets AWS's default for the group's protocol; on modify, what
// it leaves out stays (but a change of health check protocol brings that
// protocol's path and matcher defaults).
func applyHealthCheck(tg *elbv2types.TargetGroup, hc healthCheck, creating bool) error {
	protocol := aws.ToString(tg.Protocol)
	alb := isHTTPProtocol(protocol)
	hcProto := aws.ToString(hc.Protocol)
	if hcProto == "" {
		hcProto = aws.ToString(tg.HealthCheckProtocol)
	}
	if hcProto == "" {
		hcProto = elbv2types.ProtocolEnumTCP
		if alb {
			hcProto = protocol
		}
	}
	switch {
	case hcProto != elbv2types.ProtocolEnumHTTP && hcProto != elbv2types.ProtocolEnumHTTPS && hcProto != elbv2types.ProtocolEnumTCP:
		return errValidation("Health check protocol '%s' is not supported: use HTTP, HTTPS or TCP", hcProto)
	case alb && hcProto == elbv2types.ProtocolEnumTCP:
		return errValidation("Health check protocol 'TCP' is not supported for target groups with protocol '%s'", protocol)
	}
	protoChanged := aws.ToString(tg.HealthCheckProtocol) != hcProto
	tg.HealthCheckProtocol = aws.String(hcProto)
	if hc.Enabled != nil {
		// AWS: health checks of instance, ip and alb groups are always
		// enabled; only lambda groups (which Berth refuses) can turn them off.
		if !*hc.Enabled {
			return errInvalidConfig("Health checks cannot be disabled for target groups with target type '%s'", aws.ToString(tg.TargetType))
		}
		tg.HealthCheckEnabled = hc.Enabled
	} else if creating {
		tg.HealthCheckEnabled = aws.Bool(true)
	}
	if hc.Port != nil {
		if *hc.Port != "traffic-port" {
			if n, err := strconv.Atoi(*hc.Port); err != nil || n < 1 || n > 65535 {
				return errValidation("Health check port '%s' is not valid: it must be 'traffic-port' or a port from 1 to 65535", *hc.Port)
			}
		}
		tg.HealthCheckPort = hc.Port
	} else if creating {
		tg.HealthCheckPort = aws.String("traffic-port")
	}
	httpCheck := hcProto != elbv2types.ProtocolEnumTCP
	grpc := aws.ToString(tg.ProtocolVersion) == "GRPC"
	switch {
	case !httpCheck:
		if hc.Path != nil || hc.Matcher != nil {
			return errValidation("A health check path and matcher can only be specified for HTTP and HTTPS health checks")
		}
		tg.HealthCheckPath, tg.Matcher = nil, nil
	default:
		if hc.Path != nil {
			if len(*hc.Path) == 0 || (*hc.Path)[0] != '/' {
				return errValidation("Health check path '%s' is not valid: it must begin with '/'", *hc.Path)
			}
			tg.HealthCheckPath = hc.Path
		} else if creating || protoChanged || tg.HealthCheckPath == nil {
			tg.HealthCheckPath = aws.String("/")
			if grpc {
				tg.HealthCheckPath = aws.String("/AWS.ALB/healthcheck")
			}
		}
		if hc.Matcher != nil {
			if err := checkMatcher(*hc.Matcher, alb, grpc); err != nil {
				return err
			}
			tg.Matcher = hc.Matcher
		} else if creating || protoChanged || tg.Matcher == nil {
			switch {
			case grpc:
				tg.Matcher = &elbv2types.Matcher{GrpcCode: aws.String("12")}
			case alb:
				tg.Matcher = &elbv2types.Matcher{HttpCode: aws.String("200")}
			default:
				tg.Matcher = &elbv2types.Matcher{HttpCode: aws.String("200-399")}
			}
		}
	}
	setInt := func(dst **int32, v *int32, def int32) {
		if v != nil {
			*dst = v
		} else if creating {
			*dst = aws.Int32(def)
		}
	}
	timeout := int32(5)
	if !alb {
		timeout = 10
		if hcProto == elbv2types.ProtocolEnumHTTP {
			timeout = 6
		}
	}
	setInt(&tg.HealthCheckIntervalSeconds, hc.Interval, 30)
	setInt(&tg.HealthCheckTimeoutSeconds, hc.Timeout, timeout)
	setInt(&tg.HealthyThresholdCount, hc.Healthy, 5)
	setInt(&tg.UnhealthyThresholdCount, hc.Unhealthy, 2)
	if aws.ToInt32(tg.HealthCheckTimeoutSeconds) >= aws.ToInt32(tg.HealthCheckIntervalSeconds) {
		return errValidation("Health check timeout (%d) must be smaller than the interval (%d)",
			aws.ToInt32(tg.HealthCheckTimeoutSeconds), aws.ToInt32(tg.HealthCheckIntervalSeconds))
	}
	return nil
}

// checkMatcher checks success codes: HTTP 200-499 for application load
// balancers, 200-599 for network ones; gRPC 0-99.
func checkMatcher(m elbv2types.Matcher, alb, grpc bool) error {
	if grpc {
		if m.GrpcCode == nil || !grpcRE.MatchString(*m.GrpcCode) || m.HttpCode != nil {
			return errValidation("A gRPC matcher must give GrpcCode as codes from 0 to 99 (e.g. 12 or 0-99)")
		}
		return nil
	}
	if m.GrpcCode != nil || m.HttpCode == nil || !matcherRE.MatchString(*m.HttpCode) {
		return errValidation("The matcher must give HttpCode as codes (e.g. 200,202) or a range (e.g. 200-299)")
	}
	hi := 499
	if !alb {
		hi = 599
	}
	for _, n := range regexp.MustCompile(`\d{3}`).FindAllString(*m.HttpCode, -1) {
		if c, _ := strconv.Atoi(n); c < 200 || c > hi {
			return errValidation("Health check matcher HTTP code '%s' must be from 200 to %d", n, hi)
		}
	}
	return nil
}

// ModifyTargetGroup changes a target group's health check settings.
func (s *Service) ModifyTargetGroup(ctx context.Context, in *elbv2types.ModifyTargetGroupInput) (*elbv2types.ModifyTargetGroupOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.TargetGroupArn), "targetgroup")
	if err != nil {
		return nil, err
	}
	hc := healthCheck{
		Enabled: in.HealthCheckEnabled, Protocol: in.HealthCheckProtocol, Port: in.HealthCheckPort, Path: in.HealthCheckPath,
		Interval: in.HealthCheckIntervalSeconds, Timeout: in.HealthCheckTimeoutSeconds,
		Healthy: in.HealthyThresholdCount, Unhealthy: in.UnhealthyThresholdCount, Matcher: in.Matcher,
	}
	var out elbv2types.TargetGroup
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		rec, err := getOrErr(tx, targetGroups, p.tgKey(), errNoTargetGroup())
		if err != nil {
			return err
		}
		if err := applyHealthCheck(&rec.TG, hc, false); err != nil {
			return err
		}
		store.Put(tx, targetGroups, p.tgKey(), rec)
		out = rec.TG
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("modify target group: %w", err)
	}
	return &elbv2types.ModifyTargetGroupOutput{TargetGroups: []elbv2types.TargetGroup{out}}, nil
}

// DescribeTargetGroups answers the groups a load balancer forwards to, the
// groups named by ARN or name (all must exist), or a page of the region's.
func (s *Service) DescribeTargetGroups(ctx context.Context, in *elbv2types.DescribeTargetGroupsInput) (*elbv2types.DescribeTargetGroupsOutput, error) {
	region := s.region(ctx)
	given := 0
	for _, set := range []bool{in.LoadBalancerArn != nil, len(in.TargetGroupArns) > 0, len(in.Names) > 0} {
		if set {
			given++
		}
	}
	if given > 1 {
		return nil, errValidation("A load balancer ARN, target group ARNs and target group names cannot be specified together")
	}
	var keys []string
	for _, arn := range in.TargetGroupArns {
		p, err := s.resolve(ctx, arn, "targetgroup")
		if err != nil {
			return nil, err
		}
		keys = append(keys, p.tgKey())
	}
	var lb parsedARN
	if in.LoadBalancerArn != nil {
		var err error
		if lb, err = s.resolve(ctx, *in.LoadBalancerArn, "loadbalancer"); err != nil {
			return nil, err
		}
	}
	out := &elbv2types.DescribeTargetGroupsOutput{TargetGroups: []elbv2types.TargetGroup{}}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		for _, name := range in.Names {
			claim, ok, err := getIfAny(tx, tgNames, region+"/"+name)
			if err != nil {
				return err
			}
			if !ok {
				return errELB(elbv2types.ErrCodeTargetGroupNotFoundException, "Target groups '[%s]' not found", name)
			}
			keys = append(keys, region+"/"+claim.ID)
		}
		if in.LoadBalancerArn != nil {
			if _, err := getOrErr(tx, loadBalancers, lb.lbKey(), errNoLoadBalancer()); err != nil {
				return err
			}
			used := map[string]bool{}
			ls, err := store.List(tx, listeners, lb.lbKey()+"/")
			if err != nil {
				return fmt.Errorf("list listeners: %w", err)
			}
			for _, l := range ls {
				addTGKeys(used, l.Listener.DefaultActions)
			}
			rs, err := store.List(tx, rules, lb.lbKey()+"/")
			if err != nil {
				return fmt.Errorf("list rules: %w", err)
			}
			for _, r := range rs {
				addTGKeys(used, r.Rule.Actions)
			}
			for k := range used {
				keys = append(keys, k)
			}
			slices.Sort(keys)
		} else if len(keys) == 0 {
			page, next, err := scanPage(tx, targetGroups, region+"/", in.Marker, in.PageSize)
			if err != nil {
				return err
			}
			for _, r := range page {
				out.TargetGroups = append(out.TargetGroups, r.TG)
			}
			out.NextMarker = next
			return nil
		}
		if len(keys) == 0 {
			return nil
		}
		found, err := store.GetMany(tx, targetGroups, keys)
		if err != nil {
			return fmt.Errorf("read target groups: %w", err)
		}
		for _, k := range keys {
			r, ok := found[k]
			if !ok {
				if in.LoadBalancerArn != nil {
					continue
				}
				return errNoTargetGroup()
			}
			out.TargetGroups = append(out.TargetGroups, r.TG)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe target groups: %w", err)
	}
	return out, nil
}

// DeleteTargetGroup deletes a target group with its targets and their
// health; a group a listener or rule forwards to is ResourceInUse. A
// group that is gone is deleted already.
func (s *Service) DeleteTargetGroup(ctx context.Context, in *elbv2types.DeleteTargetGroupInput) (*elbv2types.DeleteTargetGroupOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.TargetGroupArn), "targetgroup")
	if err != nil {
		if e, ok := awserr.As(err); ok && e.Code == elbv2types.ErrCodeTargetGroupNotFoundException {
			return &elbv2types.DeleteTargetGroupOutput{}, nil
		}
		return nil, err
	}
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		rec, ok, err := getIfAny(tx, targetGroups, p.tgKey())
		if err != nil || !ok {
			return err
		}
		if len(rec.TG.LoadBalancerArns) > 0 {
			return errELB(elbv2types.ErrCodeResourceInUseException,
				"Target group '%s' is currently in use by a listener or a rule", aws.ToString(rec.TG.TargetGroupArn))
		}
		// A registration reads the group it registers in; deleting the
		// group's record makes a racing one retry and find it gone. Its
		// targets (up to 1,000, too many for one transaction on an etcd
		// with default limits) go with the data plane's sweep of targets
		// whose group is gone (sweepDrained); nothing reads them meanwhile.
		store.Delete(tx, targetGroups, p.tgKey())
		store.Delete(tx, tgNames, p.Region+"/"+aws.ToString(rec.TG.TargetGroupName))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete target group %s: %w", aws.ToString(in.TargetGroupArn), err)
	}
	return &elbv2types.DeleteTargetGroupOutput{}, nil
}
