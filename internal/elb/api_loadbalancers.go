package elb

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// Load balancers: CreateLoadBalancer, DescribeLoadBalancers and
// DeleteLoadBalancer. There is no VPC: every load balancer answers one
// fixed VPC, zone and subnet, and is active as soon as it getIfAny (its
// listeners bind Config.ListenAddress).

const (
	berthVPC    = "vpc-berth"
	berthSubnet = "subnet-berth"
	// berthHostedZone stands in for the Route 53 zone of AWS's load
	// balancer DNS names.
	berthHostedZone = "Z0BERTHELB0001"
)

// CreateLoadBalancer creates an application (default) or network load
// balancer. Creating one whose name exists answers the existing one when
// the settings are the same, as AWS does, DuplicateLoadBalancerName when
// they differ.
func (s *Service) CreateLoadBalancer(ctx context.Context, in *elbv2types.CreateLoadBalancerInput) (*elbv2types.CreateLoadBalancerOutput, error) {
	region := s.region(ctx)
	name := aws.ToString(in.Name)
	if !nameRE.MatchString(name) {
		return nil, errValidation("The load balancer name '%s' is not valid: it must have 1 to 32 letters, digits and hyphens, and must not begin or end with a hyphen", name)
	}
	if strings.HasPrefix(name, "internal-") {
		return nil, errValidation("The load balancer name '%s' is not valid: it must not begin with 'internal-'", name)
	}
	lbType := aws.ToString(in.Type)
	switch lbType {
	case "":
		lbType = elbv2types.LoadBalancerTypeEnumApplication
	case elbv2types.LoadBalancerTypeEnumGateway:
		return nil, errInvalidConfig("Berth does not support gateway load balancers")
	}
	scheme := aws.ToString(in.Scheme)
	if scheme == "" {
		scheme = elbv2types.LoadBalancerSchemeEnumInternetFacing
	}
	ipType := aws.ToString(in.IpAddressType)
	if ipType == "" {
		ipType = elbv2types.IpAddressTypeIpv4
	}
	if ipType == elbv2types.IpAddressTypeDualstackWithoutPublicIpv4 && (lbType != elbv2types.LoadBalancerTypeEnumApplication || scheme != elbv2types.LoadBalancerSchemeEnumInternetFacing) {
		return nil, errValidation("IP address type '%s' is only supported by internet-facing application load balancers", ipType)
	}
	if in.CustomerOwnedIpv4Pool != nil || in.IpamPools != nil {
		return nil, errInvalidConfig("Berth does not support customer-owned or IPAM address pools")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	var sgs []string
	if len(in.SecurityGroups) > 0 {
		sgs = slices.Clone(in.SecurityGroups)
		slices.Sort(sgs)
	}

	lbID := newID()
	dns := name + "-" + tenDigits() + "." + region + ".elb.localhost"
	if scheme == elbv2types.LoadBalancerSchemeEnumInternal {
		dns = "internal-" + dns
	}
	rec := lbRecord{
		LB: elbv2types.LoadBalancer{
			LoadBalancerArn:       aws.String(s.arns.loadBalancer(region, lbType, name, lbID)),
			LoadBalancerName:      aws.String(name),
			DNSName:               aws.String(dns),
			CanonicalHostedZoneId: aws.String(berthHostedZone),
			CreatedTime:           elbv2types.Time(s.now()),
			Scheme:                aws.String(scheme),
			Type:                  aws.String(lbType),
			IpAddressType:         aws.String(ipType),
			VpcId:                 aws.String(berthVPC),
			State:                 &elbv2types.LoadBalancerState{Code: aws.String(elbv2types.LoadBalancerStateEnumActive)},
			AvailabilityZones: []elbv2types.AvailabilityZone{{
				ZoneName:              aws.String(region + "a"),
				SubnetId:              aws.String(berthSubnet),
				LoadBalancerAddresses: []elbv2types.LoadBalancerAddress{},
			}},
			SecurityGroups: sgs,
		},
		Attributes: lbAttributeDefaults(lbType),
		Tags:       in.Tags,
	}
	if lbType == elbv2types.LoadBalancerTypeEnumApplication && rec.LB.SecurityGroups == nil {
		rec.LB.SecurityGroups = []string{}
	}
	out := rec.LB
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		claim, ok, err := getIfAny(tx, lbNames, region+"/"+name)
		if err != nil {
			return err
		}
		if ok {
			prev, err := getOrErr(tx, loadBalancers, region+"/"+claim.ID, errNoLoadBalancer())
			if err != nil {
				return fmt.Errorf("load balancer %s named by its index: %w", name, err)
			}
			if !sameLBSettings(prev.LB, rec.LB) {
				return errELB(elbv2types.ErrCodeDuplicateLoadBalancerNameException, "A load balancer with the same name '%s' exists, but with different settings", name)
			}
			out = prev.LB
			return nil
		}
		store.Put(tx, lbNames, region+"/"+name, nameClaim{ID: lbID})
		store.Put(tx, loadBalancers, region+"/"+lbID, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create load balancer %s: %w", name, err)
	}
	return &elbv2types.CreateLoadBalancerOutput{LoadBalancers: []elbv2types.LoadBalancer{out}}, nil
}

// sameLBSettings is whether a create request's settings match an
// existing load balancer's (what AWS compares for idempotency).
func sameLBSettings(a, b elbv2types.LoadBalancer) bool {
	return aws.ToString(a.Type) == aws.ToString(b.Type) &&
		aws.ToString(a.Scheme) == aws.ToString(b.Scheme) &&
		aws.ToString(a.IpAddressType) == aws.ToString(b.IpAddressType) &&
		slices.Equal(a.SecurityGroups, b.SecurityGroups)
}

// tenDigits is the random number in a load balancer's DNS name.
func tenDigits() string {
	n, err := rand.Int(rand.Reader, big.NewInt(9_000_000_000))
	if err != nil {
		panic(fmt.Sprintf("elb: crypto/rand: %v", err)) // rand.Reader does not fail
	}
	return fmt.Sprint(1_000_000_000 + n.Int64())
}

// DescribeLoadBalancers answers the load balancers named by ARN or by
// name (all of them must exist), or a page of the region's.
func (s *Service) DescribeLoadBalancers(ctx context.Context, in *elbv2types.DescribeLoadBalancersInput) (*elbv2types.DescribeLoadBalancersOutput, error) {
	region := s.region(ctx)
	if len(in.LoadBalancerArns) > 0 && len(in.Names) > 0 {
		return nil, errValidation("Load balancer names and load balancer ARNs cannot be specified at the same time")
	}
	var keys []string
	for _, arn := range in.LoadBalancerArns {
		p, err := s.resolve(ctx, arn, "loadbalancer")
		if err != nil {
			return nil, err
		}
		keys = append(keys, p.lbKey())
	}
	out := &elbv2types.DescribeLoadBalancersOutput{LoadBalancers: []elbv2types.LoadBalancer{}}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		for _, name := range in.Names {
			claim, ok, err := getIfAny(tx, lbNames, region+"/"+name)
			if err != nil {
				return err
			}
			if !ok {
				return errELB(elbv2types.ErrCodeLoadBalancerNotFoundException, "Load balancers '[%s]' not found", name)
			}
			keys = append(keys, region+"/"+claim.ID)
		}
		if len(keys) == 0 {
			page, next, err := scanPage(tx, loadBalancers, region+"/", in.Marker, in.PageSize)
			if err != nil {
				return err
			}
			for _, r := range page {
				out.LoadBalancers = append(out.LoadBalancers, r.LB)
			}
			out.NextMarker = next
			return nil
		}
		found, err := store.GetMany(tx, loadBalancers, keys)
		if err != nil {
			return fmt.Errorf("read load balancers: %w", err)
		}
		for _, k := range keys {
			r, ok := found[k]
			if !ok {
				return errNoLoadBalancer()
			}
			out.LoadBalancers = append(out.LoadBalancers, r.LB)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe load balancers: %w", err)
	}
	return out, nil
}

// DeleteLoadBalancer deletes a load balancer with its listeners, their
// rules and port claims, and takes it out of its target groups'
// LoadBalancerArns, in one transaction. Deleting one that is gone
// succeeds, as in AWS; deletion protection refuses.
func (s *Service) DeleteLoadBalancer(ctx context.Context, in *elbv2types.DeleteLoadBalancerInput) (*elbv2types.DeleteLoadBalancerOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.LoadBalancerArn), "loadbalancer")
	if err != nil {
		if e, ok := awserr.As(err); ok && e.Code == elbv2types.ErrCodeLoadBalancerNotFoundException {
			return &elbv2types.DeleteLoadBalancerOutput{}, nil
		}
		return nil, err
	}
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		lb, ok, err := getIfAny(tx, loadBalancers, p.lbKey())
		if err != nil || !ok {
			return err
		}
		if lb.Attributes[lbAttrDeletionProtection] == "true" {
			return errELB(elbv2types.ErrCodeOperationNotPermittedException,
				"Load balancer '%s' cannot be deleted because deletion protection is enabled", aws.ToString(lb.LB.LoadBalancerArn))
		}
		lrs, err := store.ListUntracked(tx, listeners, p.lbKey()+"/")
		if err != nil {
			return fmt.Errorf("list listeners: %w", err)
		}
		rrs, err := store.ListUntracked(tx, rules, p.lbKey()+"/")
		if err != nil {
			return fmt.Errorf("list rules: %w", err)
		}
		touched := map[string]bool{}
		for _, l := range lrs {
			addTGKeys(touched, l.Listener.DefaultActions)
			lp, _ := s.arns.parse(aws.ToString(l.Listener.ListenerArn))
			s.releasePort(tx, l.Listener)
			store.Delete(tx, listeners, lp.listenerKey())
		}
		for _, r := range rrs {
			addTGKeys(touched, r.Rule.Actions)
			rp, _ := s.arns.parse(aws.ToString(r.Rule.RuleArn))
			store.Delete(tx, rules, rp.ruleKey())
		}
		store.Delete(tx, loadBalancers, p.lbKey())
		store.Delete(tx, lbNames, p.Region+"/"+aws.ToString(lb.LB.LoadBalancerName))
		if err := s.relink(tx, p, aws.ToString(lb.LB.LoadBalancerArn), touched); err != nil {
			return err
		}
		store.Delete(tx, lbSerials, p.lbKey())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete load balancer %s: %w", aws.ToString(in.LoadBalancerArn), err)
	}
	return &elbv2types.DeleteLoadBalancerOutput{}, nil
}
