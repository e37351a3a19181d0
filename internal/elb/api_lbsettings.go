package elb

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// The network settings of a load balancer that tools such as Terraform
// set after creating one: SetSecurityGroups, SetSubnets and
// SetIpAddressType. There is no VPC: security groups are stored and
// echoed, subnets are accepted and answered as Berth's one zone. And
// DescribeListenerCertificates, the certificates of a TLS listener.

// updateLB reads, changes and writes a load balancer in one transaction.
func (s *Service) updateLB(ctx context.Context, arn *string, change func(*lbRecord) error) (lbRecord, error) {
	p, err := s.resolve(ctx, aws.ToString(arn), "loadbalancer")
	if err != nil {
		return lbRecord{}, err
	}
	var rec lbRecord
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		if rec, err = getOrErr(tx, loadBalancers, p.lbKey(), errNoLoadBalancer()); err != nil {
			return err
		}
		if err := change(&rec); err != nil {
			return err
		}
		store.Put(tx, loadBalancers, p.lbKey(), rec)
		return nil
	})
	return rec, err
}

// SetSecurityGroups stores a load balancer's security groups.
func (s *Service) SetSecurityGroups(ctx context.Context, in *elbv2types.SetSecurityGroupsInput) (*elbv2types.SetSecurityGroupsOutput, error) {
	sgs := slices.Clone(in.SecurityGroups)
	slices.Sort(sgs)
	rec, err := s.updateLB(ctx, in.LoadBalancerArn, func(r *lbRecord) error {
		if aws.ToString(r.LB.Type) == elbv2types.LoadBalancerTypeEnumNetwork && r.LB.SecurityGroups == nil && len(sgs) > 0 {
			return errInvalidConfig("A network load balancer created without security groups cannot be given any")
		}
		r.LB.SecurityGroups = orEmpty(sgs)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set security groups: %w", err)
	}
	return &elbv2types.SetSecurityGroupsOutput{SecurityGroupIds: rec.LB.SecurityGroups}, nil
}

// SetSubnets accepts subnets; the load balancer stays in Berth's one zone.
func (s *Service) SetSubnets(ctx context.Context, in *elbv2types.SetSubnetsInput) (*elbv2types.SetSubnetsOutput, error) {
	if len(in.Subnets) == 0 && len(in.SubnetMappings) == 0 {
		return nil, errValidation("Subnets or subnet mappings must be specified")
	}
	rec, err := s.updateLB(ctx, in.LoadBalancerArn, func(r *lbRecord) error {
		if in.IpAddressType != nil {
			r.LB.IpAddressType = in.IpAddressType
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set subnets: %w", err)
	}
	return &elbv2types.SetSubnetsOutput{AvailabilityZones: rec.LB.AvailabilityZones, IpAddressType: rec.LB.IpAddressType}, nil
}

// SetIpAddressType stores a load balancer's IP address type.
func (s *Service) SetIpAddressType(ctx context.Context, in *elbv2types.SetIpAddressTypeInput) (*elbv2types.SetIpAddressTypeOutput, error) {
	rec, err := s.updateLB(ctx, in.LoadBalancerArn, func(r *lbRecord) error {
		t := aws.ToString(in.IpAddressType)
		if t == elbv2types.IpAddressTypeDualstackWithoutPublicIpv4 && (aws.ToString(r.LB.Type) != elbv2types.LoadBalancerTypeEnumApplication ||
			aws.ToString(r.LB.Scheme) != elbv2types.LoadBalancerSchemeEnumInternetFacing) {
			return errValidation("IP address type '%s' is only supported by internet-facing application load balancers", t)
		}
		r.LB.IpAddressType = in.IpAddressType
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set IP address type: %w", err)
	}
	return &elbv2types.SetIpAddressTypeOutput{IpAddressType: rec.LB.IpAddressType}, nil
}

// DescribeListenerCertificates answers a listener's certificate, the
// default one (Berth keeps no others).
func (s *Service) DescribeListenerCertificates(ctx context.Context, in *elbv2types.DescribeListenerCertificatesInput) (*elbv2types.DescribeListenerCertificatesOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.ListenerArn), "listener")
	if err != nil {
		return nil, err
	}
	var rec listenerRecord
	err = s.st.View(ctx, func(tx *store.Tx) (err error) {
		rec, err = getOrErr(tx, listeners, p.listenerKey(), errNoListener())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("describe listener certificates: %w", err)
	}
	out := &elbv2types.DescribeListenerCertificatesOutput{Certificates: []elbv2types.Certificate{}}
	for _, c := range rec.Listener.Certificates {
		out.Certificates = append(out.Certificates, elbv2types.Certificate{CertificateArn: c.CertificateArn, IsDefault: aws.Bool(true)})
	}
	return out, nil
}
