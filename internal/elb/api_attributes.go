package elb

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// Attributes of load balancers, target groups and listeners: every
// documented key is in the record from creation with its default, and a
// modify checks the keys and values the way AWS does (an unknown key is
// InvalidConfigurationRequest). The data plane reads these keys.

// Load balancer attribute keys Berth acts on.
const (
	lbAttrDeletionProtection = "deletion_protection.enabled"
	lbAttrIdleTimeout        = "idle_timeout.timeout_seconds"
	lbAttrHTTP2              = "routing.http2.enabled"
	lbAttrCrossZone          = "load_balancing.cross_zone.enabled"
)

// Target group attribute keys Berth acts on.
const (
	tgAttrDeregDelay       = "deregistration_delay.timeout_seconds"
	tgAttrStickiness       = "stickiness.enabled"
	tgAttrStickinessType   = "stickiness.type"
	tgAttrLBCookieDuration = "stickiness.lb_cookie.duration_seconds"
	tgAttrAppCookieName    = "stickiness.app_cookie.cookie_name"
	tgAttrAppCookieDur     = "stickiness.app_cookie.duration_seconds"
	tgAttrAlgorithm        = "load_balancing.algorithm.type"
	tgAttrSlowStart        = "slow_start.duration_seconds"
)

// Listener attribute keys.
const lnAttrTCPIdleTimeout = "tcp.idle_timeout.seconds"

// lbAttributeDefaults are a new load balancer's attributes.
func lbAttributeDefaults(lbType string) map[string]string {
	m := map[string]string{
		"access_logs.s3.enabled":     "false",
		"access_logs.s3.bucket":      "",
		"access_logs.s3.prefix":      "",
		lbAttrDeletionProtection:     "false",
		"ipv6.deny_all_igw_traffic":  "false",
		"zonal_shift.config.enabled": "false",
	}
	if lbType == elbv2types.LoadBalancerTypeEnumNetwork {
		m[lbAttrCrossZone] = "false"
		m["dns_record.client_routing_policy"] = "any_availability_zone"
		return m
	}
	maps.Copy(m, map[string]string{
		lbAttrIdleTimeout:                                          "60",
		lbAttrHTTP2:                                                "true",
		"client_keep_alive.seconds":                                "3600",
		"connection_logs.s3.enabled":                               "false",
		"connection_logs.s3.bucket":                                "",
		"connection_logs.s3.prefix":                                "",
		"routing.http.desync_mitigation_mode":                      "defensive",
		"routing.http.drop_invalid_header_fields.enabled":          "false",
		"routing.http.preserve_host_header.enabled":                "false",
		"routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false",
		"routing.http.xff_client_port.enabled":                     "false",
		"routing.http.xff_header_processing.mode":                  "append",
		"waf.fail_open.enabled":                                    "false",
		lbAttrCrossZone:                                            "true",
	})
	return m
}

// attrRule checks one attribute value; "" when it is fine, else why not.
type attrRule func(v string) string

func boolAttr(v string) string {
	if v != "true" && v != "false" {
		return "must be true or false"
	}
	return ""
}

func intAttr(lo, hi int) attrRule {
	return func(v string) string {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Sprintf("must be an integer from %d to %d", lo, hi)
		}
		return ""
	}
}

func enumAttr(values ...string) attrRule {
	return func(v string) string {
		if !slices.Contains(values, v) {
			return "must be one of " + strings.Join(values, ", ")
		}
		return ""
	}
}

func anyAttr(string) string { return "" }

// onlyFalse is an attribute Berth cannot honour when enabled.
func onlyFalse(why string) attrRule {
	return func(v string) string {
		if v == "true" {
			return "cannot be true: " + why
		}
		return boolAttr(v)
	}
}

// lbAttributeRules are the keys a load balancer of a type accepts.
func lbAttributeRules(lbType string) map[string]attrRule {
	noS3 := onlyFalse("Berth does not write load balancer logs to S3")
	m := map[string]attrRule{
		"access_logs.s3.enabled":     noS3,
		"access_logs.s3.bucket":      anyAttr,
		"access_logs.s3.prefix":      anyAttr,
		lbAttrDeletionProtection:     boolAttr,
		"ipv6.deny_all_igw_traffic":  boolAttr,
		"zonal_shift.config.enabled": boolAttr,
	}
	if lbType == elbv2types.LoadBalancerTypeEnumNetwork {
		m[lbAttrCrossZone] = boolAttr
		m["dns_record.client_routing_policy"] = enumAttr("availability_zone_affinity", "partial_availability_zone_affinity", "any_availability_zone")
		return m
	}
	maps.Copy(m, map[string]attrRule{
		lbAttrIdleTimeout:                                          intAttr(1, 4000),
		lbAttrHTTP2:                                                boolAttr,
		"client_keep_alive.seconds":                                intAttr(60, 604800),
		"connection_logs.s3.enabled":                               noS3,
		"connection_logs.s3.bucket":                                anyAttr,
		"connection_logs.s3.prefix":                                anyAttr,
		"routing.http.desync_mitigation_mode":                      enumAttr("monitor", "defensive", "strictest"),
		"routing.http.drop_invalid_header_fields.enabled":          boolAttr,
		"routing.http.preserve_host_header.enabled":                boolAttr,
		"routing.http.x_amzn_tls_version_and_cipher_suite.enabled": boolAttr,
		"routing.http.xff_client_port.enabled":                     boolAttr,
		"routing.http.xff_header_processing.mode":                  enumAttr("append", "preserve", "remove"),
		"waf.fail_open.enabled":                                    boolAttr,
		lbAttrCrossZone:                                            enumAttr("true"),
	})
	return m
}

// isHTTPProtocol is whether a target group or listener protocol is an
// application load balancer's.
func isHTTPProtocol(p string) bool {
	return p == elbv2types.ProtocolEnumHTTP || p == elbv2types.ProtocolEnumHTTPS
}

// tgAttributeDefaults are a new target group's attributes.
func tgAttributeDefaults(tg elbv2types.TargetGroup) map[string]string {
	m := map[string]string{
		tgAttrDeregDelay: "300",
		tgAttrStickiness: "false",
		lbAttrCrossZone:  "use_load_balancer_configuration",
		"target_group_health.dns_failover.minimum_healthy_targets.count":                 "1",
		"target_group_health.dns_failover.minimum_healthy_targets.percentage":            "off",
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count":      "1",
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "off",
	}
	if isHTTPProtocol(aws.ToString(tg.Protocol)) {
		maps.Copy(m, map[string]string{
			tgAttrStickinessType:                          "lb_cookie",
			tgAttrLBCookieDuration:                        "86400",
			tgAttrAppCookieName:                           "",
			tgAttrAppCookieDur:                            "86400",
			tgAttrAlgorithm:                               "round_robin",
			"load_balancing.algorithm.anomaly_mitigation": "off",
			tgAttrSlowStart:                               "0",
		})
		return m
	}
	preserve := "true"
	if aws.ToString(tg.TargetType) == elbv2types.TargetTypeEnumIp && (aws.ToString(tg.Protocol) == elbv2types.ProtocolEnumTCP || aws.ToString(tg.Protocol) == elbv2types.ProtocolEnumTLS) {
		preserve = "false"
	}
	maps.Copy(m, map[string]string{
		tgAttrStickinessType: "source_ip",
		"deregistration_delay.connection_termination.enabled":          "false",
		"preserve_client_ip.enabled":                                   preserve,
		"proxy_protocol_v2.enabled":                                    "false",
		"target_health_state.unhealthy.connection_termination.enabled": "true",
		"target_health_state.unhealthy.draining_interval_seconds":      "0",
	})
	return m
}

func slowStartRule(v string) string {
	n, err := strconv.Atoi(v)
	if err != nil || n != 0 && (n < 30 || n > 900) {
		return "must be 0 or an integer from 30 to 900"
	}
	return ""
}

func cookieNameRule(v string) string {
	for _, p := range []string{"AWSALB", "AWSALBAPP", "AWSALBTG"} {
		if strings.HasPrefix(v, p) {
			return "must not begin with AWSALB, AWSALBAPP or AWSALBTG"
		}
	}
	return ""
}

func minHealthyPercent(v string) string {
	if v == "off" {
		return ""
	}
	return intAttr(1, 100)(v)
}

func minHealthyCount(v string) string {
	if v == "off" {
		return ""
	}
	return intAttr(1, 1<<30)(v)
}

// tgAttributeRules are the keys a target group accepts.
func tgAttributeRules(tg elbv2types.TargetGroup) map[string]attrRule {
	m := map[string]attrRule{
		tgAttrDeregDelay: intAttr(0, 3600),
		tgAttrStickiness: boolAttr,
		lbAttrCrossZone:  enumAttr("true", "false", "use_load_balancer_configuration"),
		"target_group_health.dns_failover.minimum_healthy_targets.count":                 minHealthyCount,
		"target_group_health.dns_failover.minimum_healthy_targets.percentage":            minHealthyPercent,
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count":      intAttr(1, 1<<30),
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": minHealthyPercent,
	}
	if isHTTPProtocol(aws.ToString(tg.Protocol)) {
		maps.Copy(m, map[string]attrRule{
			tgAttrStickinessType:                          enumAttr("lb_cookie", "app_cookie"),
			tgAttrLBCookieDuration:                        intAttr(1, 604800),
			tgAttrAppCookieName:                           cookieNameRule,
			tgAttrAppCookieDur:                            intAttr(1, 604800),
			tgAttrAlgorithm:                               enumAttr("round_robin", "least_outstanding_requests"),
			"load_balancing.algorithm.anomaly_mitigation": enumAttr("on", "off"),
			tgAttrSlowStart:                               slowStartRule,
		})
		return m
	}
	maps.Copy(m, map[string]attrRule{
		tgAttrStickinessType: enumAttr("source_ip"),
		"deregistration_delay.connection_termination.enabled":          boolAttr,
		"preserve_client_ip.enabled":                                   boolAttr,
		"proxy_protocol_v2.enabled":                                    boolAttr,
		"target_health_state.unhealthy.connection_termination.enabled": boolAttr,
		"target_health_state.unhealthy.draining_interval_seconds":      intAttr(0, 360000),
	})
	return m
}

// listenerAttributeDefaults are a new listener's attributes.
func listenerAttributeDefaults(protocol string) map[string]string {
	switch protocol {
	case elbv2types.ProtocolEnumTCP:
		return map[string]string{lnAttrTCPIdleTimeout: "350"}
	case elbv2types.ProtocolEnumHTTP, elbv2types.ProtocolEnumHTTPS:
		m := map[string]string{"routing.http.response.server.enabled": "true"}
		for _, h := range responseHeaderAttrs {
			m["routing.http.response."+h+".header_value"] = ""
		}
		return m
	}
	return map[string]string{}
}

// responseHeaderAttrs are the response headers an ALB listener can set.
var responseHeaderAttrs = []string{
	"strict_transport_security", "access_control_allow_origin", "access_control_allow_methods",
	"access_control_allow_headers", "access_control_allow_credentials", "access_control_expose_headers",
	"access_control_max_age", "content_security_policy", "x_content_type_options", "x_frame_options",
}

func listenerAttributeRules(protocol string) map[string]attrRule {
	switch protocol {
	case elbv2types.ProtocolEnumTCP:
		return map[string]attrRule{lnAttrTCPIdleTimeout: intAttr(60, 6000)}
	case elbv2types.ProtocolEnumHTTP, elbv2types.ProtocolEnumHTTPS:
		m := map[string]attrRule{"routing.http.response.server.enabled": boolAttr}
		for _, h := range responseHeaderAttrs {
			m["routing.http.response."+h+".header_value"] = anyAttr
		}
		return m
	}
	return map[string]attrRule{}
}

// applyAttributes checks a modify's key/value pairs against rules and
// returns current with them applied.
func applyAttributes(current map[string]string, rules map[string]attrRule, kv [][2]string, what string) (map[string]string, error) {
	if len(kv) == 0 {
		return nil, errValidation("At least one attribute must be specified")
	}
	out := maps.Clone(current)
	if out == nil {
		out = map[string]string{}
	}
	for _, p := range kv {
		rule, ok := rules[p[0]]
		if !ok {
			return nil, errInvalidConfig("The %s attribute key '%s' is not valid here", what, p[0])
		}
		if why := rule(p[1]); why != "" {
			return nil, errInvalidConfig("The value '%s' of %s attribute '%s' is not valid: it %s", p[1], what, p[0], why)
		}
		out[p[0]] = p[1]
	}
	return out, nil
}

// sortedPairs are the attributes of a record in key order.
func sortedPairs(m map[string]string) [][2]string {
	keys := slices.Sorted(maps.Keys(m))
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, [2]string{k, m[k]})
	}
	return out
}

// attrPairs are a modify call's attributes as key/value pairs.
func attrPairs[A any](as []A, kv func(A) (k, v *string)) [][2]string {
	out := make([][2]string, 0, len(as))
	for _, a := range as {
		k, v := kv(a)
		out = append(out, [2]string{aws.ToString(k), aws.ToString(v)})
	}
	return out
}

// attrList is a record's attributes in one of the reply shapes, in key
// order (present when empty).
func attrList[A any](m map[string]string, mk func(k, v *string) A) []A {
	out := []A{}
	for _, p := range sortedPairs(m) {
		out = append(out, mk(aws.String(p[0]), aws.String(p[1])))
	}
	return out
}

// attrHolder is how the attribute actions reach one kind of record: its
// collection, its name in errors, and its attributes, their rules and the
// checks they must pass together.
type attrHolder[T any] struct {
	c        store.Collection[T]
	kind     string
	notFound func() *awserr.Error
	attrs    func(*T) *map[string]string
	rules    func(*T) map[string]attrRule
	// check, when set, checks the attributes as they stand after a modify.
	check func(map[string]string) error
}

var (
	lbAttrHolder = attrHolder[lbRecord]{c: loadBalancers, kind: "load balancer", notFound: errNoLoadBalancer,
		attrs: func(r *lbRecord) *map[string]string { return &r.Attributes },
		rules: func(r *lbRecord) map[string]attrRule { return lbAttributeRules(aws.ToString(r.LB.Type)) }}
	tgAttrHolder = attrHolder[tgRecord]{c: targetGroups, kind: "target group", notFound: errNoTargetGroup,
		attrs: func(r *tgRecord) *map[string]string { return &r.Attributes },
		rules: func(r *tgRecord) map[string]attrRule { return tgAttributeRules(r.TG) },
		check: checkTargetGroupAttributes}
	listenerAttrHolder = attrHolder[listenerRecord]{c: listeners, kind: "listener", notFound: errNoListener,
		attrs: func(r *listenerRecord) *map[string]string { return &r.Attributes },
		rules: func(r *listenerRecord) map[string]attrRule {
			return listenerAttributeRules(aws.ToString(r.Listener.Protocol))
		}}
)

// describeAttributes reads the attributes of the record at key.
func describeAttributes[T any](ctx context.Context, s *Service, h attrHolder[T], key string) (map[string]string, error) {
	var attrs map[string]string
	err := s.st.View(ctx, func(tx *store.Tx) error {
		rec, err := getOrErr(tx, h.c, key, h.notFound())
		attrs = *h.attrs(&rec)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("describe %s attributes: %w", h.kind, err)
	}
	return attrs, nil
}

// modifyAttributes applies kv to the attributes of the record at key, in
// one transaction, and returns them all.
func modifyAttributes[T any](ctx context.Context, s *Service, h attrHolder[T], key string, kv [][2]string) (map[string]string, error) {
	var attrs map[string]string
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		rec, err := getOrErr(tx, h.c, key, h.notFound())
		if err != nil {
			return err
		}
		cur := h.attrs(&rec)
		if attrs, err = applyAttributes(*cur, h.rules(&rec), kv, h.kind); err != nil {
			return err
		}
		if h.check != nil {
			if err := h.check(attrs); err != nil {
				return err
			}
		}
		*cur = attrs
		store.Put(tx, h.c, key, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("modify %s attributes: %w", h.kind, err)
	}
	return attrs, nil
}

// checkTargetGroupAttributes checks the stickiness and algorithm settings
// together, as they stand after a change.
func checkTargetGroupAttributes(attrs map[string]string) error {
	if attrs[tgAttrStickiness] == "true" && attrs[tgAttrStickinessType] == "app_cookie" && attrs[tgAttrAppCookieName] == "" {
		return errInvalidConfig("An application cookie name (%s) is required when stickiness type is app_cookie", tgAttrAppCookieName)
	}
	if attrs[tgAttrAlgorithm] == "least_outstanding_requests" && attrs[tgAttrSlowStart] != "" && attrs[tgAttrSlowStart] != "0" {
		return errInvalidConfig("Slow start mode cannot be used with the least_outstanding_requests algorithm")
	}
	return nil
}

func lbAttrs(m map[string]string) []elbv2types.LoadBalancerAttribute {
	return attrList(m, func(k, v *string) elbv2types.LoadBalancerAttribute {
		return elbv2types.LoadBalancerAttribute{Key: k, Value: v}
	})
}

func tgAttrs(m map[string]string) []elbv2types.TargetGroupAttribute {
	return attrList(m, func(k, v *string) elbv2types.TargetGroupAttribute {
		return elbv2types.TargetGroupAttribute{Key: k, Value: v}
	})
}

func listenerAttrs(m map[string]string) []elbv2types.ListenerAttribute {
	return attrList(m, func(k, v *string) elbv2types.ListenerAttribute { return elbv2types.ListenerAttribute{Key: k, Value: v} })
}

// DescribeLoadBalancerAttributes answers every attribute of a load balancer.
func (s *Service) DescribeLoadBalancerAttributes(ctx context.Context, in *elbv2types.DescribeLoadBalancerAttributesInput) (*elbv2types.DescribeLoadBalancerAttributesOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.LoadBalancerArn), "loadbalancer")
	if err != nil {
		return nil, err
	}
	attrs, err := describeAttributes(ctx, s, lbAttrHolder, p.lbKey())
	if err != nil {
		return nil, err
	}
	return &elbv2types.DescribeLoadBalancerAttributesOutput{Attributes: lbAttrs(attrs)}, nil
}

// ModifyLoadBalancerAttributes changes attributes of a load balancer and
// answers all of them.
func (s *Service) ModifyLoadBalancerAttributes(ctx context.Context, in *elbv2types.ModifyLoadBalancerAttributesInput) (*elbv2types.ModifyLoadBalancerAttributesOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.LoadBalancerArn), "loadbalancer")
	if err != nil {
		return nil, err
	}
	kv := attrPairs(in.Attributes, func(a elbv2types.LoadBalancerAttribute) (*string, *string) { return a.Key, a.Value })
	attrs, err := modifyAttributes(ctx, s, lbAttrHolder, p.lbKey(), kv)
	if err != nil {
		return nil, err
	}
	return &elbv2types.ModifyLoadBalancerAttributesOutput{Attributes: lbAttrs(attrs)}, nil
}

// DescribeTargetGroupAttributes answers every attribute of a target group.
func (s *Service) DescribeTargetGroupAttributes(ctx context.Context, in *elbv2types.DescribeTargetGroupAttributesInput) (*elbv2types.DescribeTargetGroupAttributesOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.TargetGroupArn), "targetgroup")
	if err != nil {
		return nil, err
	}
	attrs, err := describeAttributes(ctx, s, tgAttrHolder, p.tgKey())
	if err != nil {
		return nil, err
	}
	return &elbv2types.DescribeTargetGroupAttributesOutput{Attributes: tgAttrs(attrs)}, nil
}

// ModifyTargetGroupAttributes changes attributes of a target group and
// answers all of them. The stickiness settings are checked together, as
// they stand after the change.
func (s *Service) ModifyTargetGroupAttributes(ctx context.Context, in *elbv2types.ModifyTargetGroupAttributesInput) (*elbv2types.ModifyTargetGroupAttributesOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.TargetGroupArn), "targetgroup")
	if err != nil {
		return nil, err
	}
	kv := attrPairs(in.Attributes, func(a elbv2types.TargetGroupAttribute) (*string, *string) { return a.Key, a.Value })
	attrs, err := modifyAttributes(ctx, s, tgAttrHolder, p.tgKey(), kv)
	if err != nil {
		return nil, err
	}
	return &elbv2types.ModifyTargetGroupAttributesOutput{Attributes: tgAttrs(attrs)}, nil
}

// DescribeListenerAttributes answers every attribute of a listener.
func (s *Service) DescribeListenerAttributes(ctx context.Context, in *elbv2types.DescribeListenerAttributesInput) (*elbv2types.DescribeListenerAttributesOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.ListenerArn), "listener")
	if err != nil {
		return nil, err
	}
	attrs, err := describeAttributes(ctx, s, listenerAttrHolder, p.listenerKey())
	if err != nil {
		return nil, err
	}
	return &elbv2types.DescribeListenerAttributesOutput{Attributes: listenerAttrs(attrs)}, nil
}

// ModifyListenerAttributes changes attributes of a listener and answers
// all of them.
func (s *Service) ModifyListenerAttributes(ctx context.Context, in *elbv2types.ModifyListenerAttributesInput) (*elbv2types.ModifyListenerAttributesOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.ListenerArn), "listener")
	if err != nil {
		return nil, err
	}
	kv := attrPairs(in.Attributes, func(a elbv2types.ListenerAttribute) (*string, *string) { return a.Key, a.Value })
	attrs, err := modifyAttributes(ctx, s, listenerAttrHolder, p.listenerKey(), kv)
	if err != nil {
		return nil, err
	}
	return &elbv2types.ModifyListenerAttributesOutput{Attributes: listenerAttrs(attrs)}, nil
}
