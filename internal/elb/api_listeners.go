package elb

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// Listeners: CreateListener, ModifyListener, DeleteListener and
// DescribeListeners. A listener holds its local port (api_links.go) from
// creation to deletion; its default actions are its default rule.

const (
	defaultSSLPolicy  = "ELBSecurityPolicy-2016-08"
	maxListenersPerLB = 50
)

var alpnPolicies = []string{"HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred", "None"}

// isTLSProtocol is whether a listener protocol terminates TLS.
func isTLSProtocol(p string) bool {
	return p == elbv2types.ProtocolEnumHTTPS || p == elbv2types.ProtocolEnumTLS
}

// fitsLoadBalancer checks a listener protocol against the load balancer
// type.
func fitsLoadBalancer(protocol, lbType string) error {
	ok := isHTTPProtocol(protocol)
	if lbType == elbv2types.LoadBalancerTypeEnumNetwork {
		_, ok = nlbGroupProtocols[protocol]
	}
	if !ok {
		return errELB(elbv2types.ErrCodeUnsupportedProtocolException, "Protocol '%s' is not supported by %s load balancers", protocol, lbType)
	}
	return nil
}

// checkCertificates checks a TLS listener's certificates with the
// certificate source, before the transaction (it may be remote).
func (s *Service) checkCertificates(ctx context.Context, certs []elbv2types.Certificate) error {
	if len(certs) > 1 {
		return errValidation("A listener takes exactly one certificate here; add more with AddListenerCertificates")
	}
	for _, c := range certs {
		arn := aws.ToString(c.CertificateArn)
		if arn == "" {
			return errValidation("A certificate ARN must be specified")
		}
		if s.cfg.Certificates == nil {
			return errELB(elbv2types.ErrCodeCertificateNotFoundException, "Certificate '%s' not found: this Berth server has no certificate source", arn)
		}
		if _, err := s.cfg.Certificates.Certificate(ctx, arn); err != nil {
			return errELB(elbv2types.ErrCodeCertificateNotFoundException, "Certificate '%s' not found: %v", arn, err)
		}
	}
	return nil
}

// tlsSettings fills a listener's certificates, SSL policy and ALPN policy
// for its protocol, from what a request gave (nil: keep what l has).
func tlsSettings(l *elbv2types.Listener, certs []elbv2types.Certificate, sslPolicy *string, alpn []string) error {
	protocol := aws.ToString(l.Protocol)
	if !isTLSProtocol(protocol) {
		if len(certs) > 0 || sslPolicy != nil {
			return errValidation("Certificates and an SSL policy can only be specified for HTTPS and TLS listeners")
		}
		if len(alpn) > 0 {
			return errValidation("An ALPN policy can only be specified for TLS listeners")
		}
		l.Certificates, l.SslPolicy, l.AlpnPolicy = nil, nil, nil
		return nil
	}
	if len(certs) > 0 {
		l.Certificates = []elbv2types.Certificate{{CertificateArn: certs[0].CertificateArn}}
	}
	if len(l.Certificates) == 0 {
		return errValidation("A certificate must be specified for %s listeners", protocol)
	}
	if sslPolicy != nil {
		if _, ok := sslPolicyByName(*sslPolicy); !ok {
			return errELB(elbv2types.ErrCodeSSLPolicyNotFoundException, "SSL policy '%s' not found", *sslPolicy)
		}
		l.SslPolicy = sslPolicy
	}
	if l.SslPolicy == nil {
		l.SslPolicy = aws.String(defaultSSLPolicy)
	}
	if len(alpn) > 0 {
		if protocol != elbv2types.ProtocolEnumTLS {
			return errValidation("An ALPN policy can only be specified for TLS listeners")
		}
		if len(alpn) != 1 || !slices.Contains(alpnPolicies, alpn[0]) {
			return errELB(elbv2types.ErrCodeALPNPolicyNotSupportedException, "ALPN policy %v is not supported", alpn)
		}
		l.AlpnPolicy = alpn
	}
	if protocol != elbv2types.ProtocolEnumTLS {
		l.AlpnPolicy = nil
	}
	return nil
}

func checkMutualAuth(m *elbv2types.MutualAuthenticationAttributes) error {
	if m != nil && aws.ToString(m.Mode) != "" && aws.ToString(m.Mode) != "off" {
		return errInvalidConfig("Berth does not support mutual TLS authentication (mode '%s')", aws.ToString(m.Mode))
	}
	return nil
}

// checkPortFree refuses a port another listener of the load balancer has.
func checkPortFree(tx *store.Tx, lb parsedARN, port int32, self string) ([]listenerRecord, error) {
	ls, err := store.ListUntracked(tx, listeners, lb.lbKey()+"/")
	if err != nil {
		return nil, fmt.Errorf("list listeners: %w", err)
	}
	for _, l := range ls {
		if aws.ToInt32(l.Listener.Port) == port && aws.ToString(l.Listener.ListenerArn) != self {
			return nil, errELB(elbv2types.ErrCodeDuplicateListenerException, "A listener already exists on port %d of this load balancer", port)
		}
	}
	return ls, nil
}

// CreateListener adds a listener to a load balancer.
func (s *Service) CreateListener(ctx context.Context, in *elbv2types.CreateListenerInput) (*elbv2types.CreateListenerOutput, error) {
	lbP, err := s.resolve(ctx, aws.ToString(in.LoadBalancerArn), "loadbalancer")
	if err != nil {
		return nil, err
	}
	protocol := aws.ToString(in.Protocol)
	if protocol == "" {
		return nil, errValidation("A listener protocol must be specified")
	}
	if in.Port == nil {
		return nil, errValidation("A listener port must be specified")
	}
	if err := checkMutualAuth(in.MutualAuthentication); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if isTLSProtocol(protocol) {
		if err := s.checkCertificates(ctx, in.Certificates); err != nil {
			return nil, err
		}
	}
	var out elbv2types.Listener
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		lb, err := getOrErr(tx, loadBalancers, lbP.lbKey(), errNoLoadBalancer())
		if err != nil {
			return err
		}
		if err := fitsLoadBalancer(protocol, aws.ToString(lb.LB.Type)); err != nil {
			return err
		}
		existing, err := checkPortFree(tx, lbP, *in.Port, "")
		if err != nil {
			return err
		}
		if len(existing) >= maxListenersPerLB {
			return errELB(elbv2types.ErrCodeTooManyListenersException, "You've reached the limit of %d listeners per load balancer", maxListenersPerLB)
		}
		id := newID()
		l := elbv2types.Listener{
			ListenerArn:     aws.String(s.arns.listener(aws.ToString(lb.LB.LoadBalancerArn), id)),
			LoadBalancerArn: lb.LB.LoadBalancerArn,
			Port:            in.Port,
			Protocol:        aws.String(protocol),
		}
		if err := tlsSettings(&l, in.Certificates, in.SslPolicy, in.AlpnPolicy); err != nil {
			return err
		}
		l.DefaultActions, err = s.checkActions(tx, actionContext{lb: lb, protocol: protocol}, in.DefaultActions)
		if err != nil {
			return err
		}
		if err := s.claimPort(tx, l); err != nil {
			return err
		}
		store.Put(tx, listeners, lbP.lbKey()+"/"+id, listenerRecord{
			Listener: l, Attributes: listenerAttributeDefaults(protocol), Tags: in.Tags,
		})
		out = l
		return s.relink(tx, lbP, aws.ToString(lb.LB.LoadBalancerArn), nil)
	})
	if err != nil {
		return nil, fmt.Errorf("create listener: %w", err)
	}
	return &elbv2types.CreateListenerOutput{Listeners: []elbv2types.Listener{out}}, nil
}

// ModifyListener changes a listener's port, protocol, certificate, SSL
// policy or default actions; a new port moves its port claim.
func (s *Service) ModifyListener(ctx context.Context, in *elbv2types.ModifyListenerInput) (*elbv2types.ModifyListenerOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.ListenerArn), "listener")
	if err != nil {
		return nil, err
	}
	if err := checkMutualAuth(in.MutualAuthentication); err != nil {
		return nil, err
	}
	if len(in.Certificates) > 0 {
		if err := s.checkCertificates(ctx, in.Certificates); err != nil {
			return nil, err
		}
	}
	var out elbv2types.Listener
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		rec, err := getOrErr(tx, listeners, p.listenerKey(), errNoListener())
		if err != nil {
			return err
		}
		lb, err := getOrErr(tx, loadBalancers, p.lbKey(), errNoLoadBalancer())
		if err != nil {
			return err
		}
		old := rec.Listener
		l := old
		if in.Port != nil {
			l.Port = in.Port
		}
		if in.Protocol != nil {
			l.Protocol = in.Protocol
			if err := fitsLoadBalancer(*in.Protocol, aws.ToString(lb.LB.Type)); err != nil {
				return err
			}
		}
		if err := tlsSettings(&l, in.Certificates, in.SslPolicy, in.AlpnPolicy); err != nil {
			return err
		}
		protocolChanged := aws.ToString(l.Protocol) != aws.ToString(old.Protocol)
		if aws.ToInt32(l.Port) != aws.ToInt32(old.Port) || protocolChanged {
			if _, err := checkPortFree(tx, p, aws.ToInt32(l.Port), aws.ToString(l.ListenerArn)); err != nil {
				return err
			}
			s.releasePort(tx, old)
			if err := s.claimPort(tx, l); err != nil {
				return err
			}
		}
		actions := in.DefaultActions
		if actions == nil && protocolChanged {
			actions = old.DefaultActions
		}
		if actions != nil {
			if l.DefaultActions, err = s.checkActions(tx, actionContext{lb: lb, protocol: aws.ToString(l.Protocol)}, actions); err != nil {
				return err
			}
		}
		if protocolChanged {
			attrs := listenerAttributeDefaults(aws.ToString(l.Protocol))
			for k := range attrs {
				if v, ok := rec.Attributes[k]; ok {
					attrs[k] = v
				}
			}
			rec.Attributes = attrs
		}
		rec.Listener = l
		store.Put(tx, listeners, p.listenerKey(), rec)
		out = l
		touched := map[string]bool{}
		addTGKeys(touched, old.DefaultActions)
		return s.relink(tx, p, aws.ToString(lb.LB.LoadBalancerArn), touched)
	})
	if err != nil {
		return nil, fmt.Errorf("modify listener: %w", err)
	}
	return &elbv2types.ModifyListenerOutput{Listeners: []elbv2types.Listener{out}}, nil
}

// DeleteListener deletes a listener with its rules and frees its port.
func (s *Service) DeleteListener(ctx context.Context, in *elbv2types.DeleteListenerInput) (*elbv2types.DeleteListenerOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.ListenerArn), "listener")
	if err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		rec, err := getOrErr(tx, listeners, p.listenerKey(), errNoListener())
		if err != nil {
			return err
		}
		touched := map[string]bool{}
		addTGKeys(touched, rec.Listener.DefaultActions)
		rs, err := store.ListUntracked(tx, rules, p.listenerKey()+"/")
		if err != nil {
			return fmt.Errorf("list rules: %w", err)
		}
		for _, r := range rs {
			addTGKeys(touched, r.Rule.Actions)
			rp, _ := s.arns.parse(aws.ToString(r.Rule.RuleArn))
			store.Delete(tx, rules, rp.ruleKey())
		}
		s.releasePort(tx, rec.Listener)
		store.Delete(tx, listeners, p.listenerKey())
		return s.relink(tx, p, aws.ToString(rec.Listener.LoadBalancerArn), touched)
	})
	if err != nil {
		return nil, fmt.Errorf("delete listener: %w", err)
	}
	return &elbv2types.DeleteListenerOutput{}, nil
}

// DescribeListeners answers a page of a load balancer's listeners, or the
// listeners named by ARN (all must exist).
func (s *Service) DescribeListeners(ctx context.Context, in *elbv2types.DescribeListenersInput) (*elbv2types.DescribeListenersOutput, error) {
	if (in.LoadBalancerArn == nil) == (len(in.ListenerArns) == 0) {
		return nil, errValidation("You must specify either a load balancer ARN or listener ARNs")
	}
	out := &elbv2types.DescribeListenersOutput{Listeners: []elbv2types.Listener{}}
	if in.LoadBalancerArn != nil {
		lb, err := s.resolve(ctx, *in.LoadBalancerArn, "loadbalancer")
		if err != nil {
			return nil, err
		}
		err = s.st.View(ctx, func(tx *store.Tx) error {
			if _, err := getOrErr(tx, loadBalancers, lb.lbKey(), errNoLoadBalancer()); err != nil {
				return err
			}
			page, next, err := scanPage(tx, listeners, lb.lbKey()+"/", in.Marker, in.PageSize)
			if err != nil {
				return err
			}
			for _, r := range page {
				out.Listeners = append(out.Listeners, r.Listener)
			}
			out.NextMarker = next
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("describe listeners: %w", err)
		}
		return out, nil
	}
	keys := make([]string, 0, len(in.ListenerArns))
	for _, arn := range in.ListenerArns {
		p, err := s.resolve(ctx, arn, "listener")
		if err != nil {
			return nil, err
		}
		keys = append(keys, p.listenerKey())
	}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		found, err := store.GetMany(tx, listeners, keys)
		if err != nil {
			return fmt.Errorf("read listeners: %w", err)
		}
		for _, k := range keys {
			r, ok := found[k]
			if !ok {
				return errNoListener()
			}
			out.Listeners = append(out.Listeners, r.Listener)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe listeners: %w", err)
	}
	return out, nil
}
