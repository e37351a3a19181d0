package elb

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// Checks of listener and rule actions and of rule conditions, as AWS
// makes them. Actions come back normalized the way AWS echoes them: a
// forward action carries both TargetGroupArn (for one group) and
// ForwardConfig, so readers (the data plane) need look only at
// ForwardConfig.

// actionContext is what an action is checked against.
type actionContext struct {
	lb       lbRecord
	protocol string // the listener's
}

// checkActions checks and normalizes actions in tx: the groups they
// forward to must exist, fit the load balancer and listener, and belong
// to no other load balancer.
func (s *Service) checkActions(tx *store.Tx, ac actionContext, actions []elbv2types.Action) ([]elbv2types.Action, error) {
	if len(actions) == 0 {
		return nil, errValidation("At least one action must be specified")
	}
	if len(actions) > 1 {
		return nil, errELB(elbv2types.ErrCodeTooManyActionsException,
			"Berth supports one action per rule: a forward, redirect or fixed-response action (authenticate actions are not supported)")
	}
	a := actions[0]
	out := elbv2types.Action{Type: a.Type, Order: a.Order}
	lbType := aws.ToString(ac.lb.LB.Type)
	kind := aws.ToString(a.Type)
	if lbType == elbv2types.LoadBalancerTypeEnumNetwork && kind != elbv2types.ActionTypeEnumForward {
		return nil, errELB(elbv2types.ErrCodeInvalidLoadBalancerActionException, "Network load balancers only support forward actions, not '%s'", kind)
	}
	switch kind {
	case elbv2types.ActionTypeEnumForward:
		fc, err := s.checkForward(tx, ac, a)
		if err != nil {
			return nil, err
		}
		out.ForwardConfig = fc
		if len(fc.TargetGroups) == 1 {
			out.TargetGroupArn = fc.TargetGroups[0].TargetGroupArn
		}
	case elbv2types.ActionTypeEnumRedirect:
		if err := checkRedirect(a.RedirectConfig); err != nil {
			return nil, err
		}
		rc := *a.RedirectConfig
		for _, f := range []struct {
			p   **string
			def string
		}{{&rc.Host, "#{host}"}, {&rc.Path, "/#{path}"}, {&rc.Port, "#{port}"}, {&rc.Protocol, "#{protocol}"}, {&rc.Query, "#{query}"}} {
			if *f.p == nil {
				*f.p = aws.String(f.def)
			}
		}
		out.RedirectConfig = &rc
	case elbv2types.ActionTypeEnumFixedResponse:
		if err := checkFixedResponse(a.FixedResponseConfig); err != nil {
			return nil, err
		}
		out.FixedResponseConfig = a.FixedResponseConfig
	case "":
		return nil, errValidation("An action type must be specified")
	default:
		return nil, errInvalidConfig("Berth does not support '%s' actions: use forward, redirect or fixed-response", kind)
	}
	return []elbv2types.Action{out}, nil
}

// checkForward checks a forward action and answers its ForwardConfig.
func (s *Service) checkForward(tx *store.Tx, ac actionContext, a elbv2types.Action) (*elbv2types.ForwardActionConfig, error) {
	fc := &elbv2types.ForwardActionConfig{}
	if a.ForwardConfig != nil {
		fc.TargetGroups = slices.Clone(a.ForwardConfig.TargetGroups)
		fc.TargetGroupStickinessConfig = a.ForwardConfig.TargetGroupStickinessConfig
	}
	if a.TargetGroupArn != nil {
		switch {
		case len(fc.TargetGroups) == 0:
			fc.TargetGroups = []elbv2types.TargetGroupTuple{{TargetGroupArn: a.TargetGroupArn}}
		case len(fc.TargetGroups) != 1 || aws.ToString(fc.TargetGroups[0].TargetGroupArn) != *a.TargetGroupArn:
			return nil, errValidation("You cannot specify both a target group ARN and a forward config naming other target groups")
		}
	}
	if len(fc.TargetGroups) == 0 {
		return nil, errValidation("A forward action must specify a target group ARN or a forward config with target groups")
	}
	lbType := aws.ToString(ac.lb.LB.Type)
	limit := 5
	if lbType == elbv2types.LoadBalancerTypeEnumNetwork {
		limit = 1
	}
	if len(fc.TargetGroups) > limit {
		return nil, errELB(elbv2types.ErrCodeTooManyTargetGroupsException, "A forward action of a %s load balancer can forward to at most %d target groups", lbType, limit)
	}
	if sc := fc.TargetGroupStickinessConfig; sc != nil && aws.ToBool(sc.Enabled) {
		if d := aws.ToInt32(sc.DurationSeconds); d < 1 || d > 604800 {
			return nil, errValidation("Target group stickiness duration must be from 1 to 604800 seconds")
		}
	}
	if fc.TargetGroupStickinessConfig == nil {
		fc.TargetGroupStickinessConfig = &elbv2types.TargetGroupStickinessConfig{Enabled: aws.Bool(false)}
	}
	seen := map[string]bool{}
	lbARN := aws.ToString(ac.lb.LB.LoadBalancerArn)
	for i := range fc.TargetGroups {
		t := &fc.TargetGroups[i]
		arn := aws.ToString(t.TargetGroupArn)
		if seen[arn] {
			return nil, errValidation("Target group '%s' is specified more than once in a forward action", arn)
		}
		seen[arn] = true
		if t.Weight == nil {
			t.Weight = aws.Int32(1)
		}
		if w := *t.Weight; w < 0 || w > 999 {
			return nil, errValidation("Target group weight %d is not valid: it must be from 0 to 999", w)
		}
		p, ok := s.arns.parse(arn)
		if !ok || p.Kind != "targetgroup" {
			if ok || isForeignELBARN(arn, "targetgroup") {
				return nil, errNoTargetGroup()
			}
			return nil, errValidation("'%s' is not a valid target group ARN", arn)
		}
		if p.Region != regionOf(lbARN) {
			return nil, errNoTargetGroup()
		}
		tg, err := getOrErr(tx, targetGroups, p.tgKey(), errNoTargetGroup())
		if err != nil {
			return nil, err
		}
		if err := fitsListener(tg.TG, lbType, ac.protocol); err != nil {
			return nil, err
		}
		for _, other := range tg.TG.LoadBalancerArns {
			if other != lbARN {
				return nil, errELB(elbv2types.ErrCodeTargetGroupAssociationLimitException,
					"Target group '%s' is already associated with load balancer '%s': a target group can be associated with only one load balancer", arn, other)
			}
		}
	}
	return fc, nil
}

// regionOf is the region an ARN names.
func regionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 4 {
		return ""
	}
	return parts[3]
}

// nlbGroupProtocols are the target group protocols each network listener
// protocol forwards to.
var nlbGroupProtocols = map[string][]string{
	elbv2types.ProtocolEnumTCP:    {elbv2types.ProtocolEnumTCP, elbv2types.ProtocolEnumTCPUDP},
	elbv2types.ProtocolEnumTLS:    {elbv2types.ProtocolEnumTCP, elbv2types.ProtocolEnumTLS},
	elbv2types.ProtocolEnumUDP:    {elbv2types.ProtocolEnumUDP, elbv2types.ProtocolEnumTCPUDP},
	elbv2types.ProtocolEnumTCPUDP: {elbv2types.ProtocolEnumTCPUDP},
}

// fitsListener checks a target group's protocol against the load balancer
// type and the listener protocol.
func fitsListener(tg elbv2types.TargetGroup, lbType, listenerProtocol string) error {
	tp := aws.ToString(tg.Protocol)
	if lbType == elbv2types.LoadBalancerTypeEnumApplication {
		if !isHTTPProtocol(tp) {
			return errELB(elbv2types.ErrCodeIncompatibleProtocolsException,
				"Target group '%s' has protocol '%s': application load balancers forward only to HTTP and HTTPS target groups", aws.ToString(tg.TargetGroupArn), tp)
		}
		return nil
	}
	if !slices.Contains(nlbGroupProtocols[listenerProtocol], tp) {
		return errELB(elbv2types.ErrCodeIncompatibleProtocolsException,
			"Target group '%s' has protocol '%s', which a %s listener cannot forward to (it takes %s)",
			aws.ToString(tg.TargetGroupArn), tp, listenerProtocol, strings.Join(nlbGroupProtocols[listenerProtocol], " or "))
	}
	return nil
}

var redirectPortRE = regexp.MustCompile(`^(#\{port\}|[0-9]{1,5})$`)

// checkRedirect checks a redirect: a status code, sensible components,
// and a target that differs from the request's URL.
func checkRedirect(rc *elbv2types.RedirectActionConfig) error {
	if rc == nil {
		return errValidation("A redirect action must have a redirect config")
	}
	if sc := aws.ToString(rc.StatusCode); sc != elbv2types.RedirectActionStatusCodeEnumHTTP301 && sc != elbv2types.RedirectActionStatusCodeEnumHTTP302 {
		return errValidation("Redirect status code '%s' is not valid: it must be HTTP_301 or HTTP_302", sc)
	}
	if p := rc.Protocol; p != nil && *p != "HTTP" && *p != "HTTPS" && *p != "#{protocol}" {
		return errValidation("Redirect protocol '%s' is not valid: it must be HTTP, HTTPS or #{protocol}", *p)
	}
	if p := rc.Port; p != nil {
		if !redirectPortRE.MatchString(*p) {
			return errValidation("Redirect port '%s' is not valid", *p)
		}
		if n, err := strconv.Atoi(*p); err == nil && (n < 1 || n > 65535) {
			return errValidation("Redirect port '%s' is not valid: it must be from 1 to 65535", *p)
		}
	}
	if p := rc.Path; p != nil && !strings.HasPrefix(*p, "/") {
		return errValidation("Redirect path '%s' is not valid: it must begin with '/'", *p)
	}
	if h := rc.Host; h != nil && *h == "" {
		return errValidation("Redirect host must not be empty")
	}
	same := func(v *string, def string) bool { return v == nil || *v == def }
	if same(rc.Host, "#{host}") && same(rc.Path, "/#{path}") && same(rc.Port, "#{port}") &&
		same(rc.Protocol, "#{protocol}") && same(rc.Query, "#{query}") {
		return errInvalidConfig("The redirect must change at least one of host, path, port, protocol or query: it would redirect to itself")
	}
	return nil
}

var (
	fixedStatusRE      = regexp.MustCompile(`^[245]\d\d$`)
	fixedContentTypes  = []string{"text/plain", "text/css", "text/html", "application/javascript", "application/json"}
	maxFixedBodyLength = 1024
)

func checkFixedResponse(fc *elbv2types.FixedResponseActionConfig) error {
	if fc == nil {
		return errValidation("A fixed-response action must have a fixed response config")
	}
	if !fixedStatusRE.MatchString(aws.ToString(fc.StatusCode)) {
		return errValidation("Fixed response status code '%s' is not valid: it must be 2XX, 4XX or 5XX", aws.ToString(fc.StatusCode))
	}
	if ct := fc.ContentType; ct != nil && !slices.Contains(fixedContentTypes, *ct) {
		return errValidation("Fixed response content type '%s' is not valid: it must be one of %s", *ct, strings.Join(fixedContentTypes, ", "))
	}
	if len(aws.ToString(fc.MessageBody)) > maxFixedBodyLength {
		return errValidation("Fixed response message body must be at most %d characters", maxFixedBodyLength)
	}
	return nil
}

// Rule conditions.

const (
	maxConditionValues    = 5
	maxConditionWildcards = 5
	maxConditionValueLen  = 128
)

var (
	hostValueRE   = regexp.MustCompile(`^[A-Za-z0-9\-.*?]+$`)
	pathValueRE   = regexp.MustCompile(`^[A-Za-z0-9_\-.$/~"'@:+&()!,;=*?%]+$`)
	methodValueRE = regexp.MustCompile(`^[A-Z_-]{1,40}$`)
	headerNameRE  = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+\-.^_` + "`" + `|~]+$`)
)

// checkConditions checks and normalizes a rule's conditions: the legacy
// Field+Values form and the *Config forms, at most one of host-header,
// path-pattern, http-request-method and source-ip, and AWS's limits of 5
// values and 5 wildcards per rule.
func checkConditions(conds []elbv2types.RuleCondition) ([]elbv2types.RuleCondition, error) {
	if len(conds) == 0 {
		return nil, errValidation("A rule must have at least one condition")
	}
	out := make([]elbv2types.RuleCondition, 0, len(conds))
	seen := map[string]bool{}
	values, wildcards := 0, 0
	count := func(vs []string, wild bool) {
		values += len(vs)
		if wild {
			for _, v := range vs {
				wildcards += strings.Count(v, "*") + strings.Count(v, "?")
			}
		}
	}
	for _, c := range conds {
		field := aws.ToString(c.Field)
		if len(c.RegexValues) > 0 || hasRegexValues(c) {
			return nil, errInvalidConfig("Berth does not support regular expression conditions (RegexValues)")
		}
		n := elbv2types.RuleCondition{Field: c.Field}
		switch field {
		case "host-header", "path-pattern":
			vs := c.Values
			cfg := c.HostHeaderConfig != nil && field == "host-header" || c.PathPatternConfig != nil && field == "path-pattern"
			if cfg {
				if len(vs) > 0 {
					return nil, errValidation("Specify the values of a %s condition in Values or in its config, not both", field)
				}
				if field == "host-header" {
					vs = c.HostHeaderConfig.Values
				} else {
					vs = c.PathPatternConfig.Values
				}
			}
			re := hostValueRE
			if field == "path-pattern" {
				re = pathValueRE
			}
			if err := checkValues(field, vs, re); err != nil {
				return nil, err
			}
			count(vs, true)
			n.Values = vs
			if field == "host-header" {
				n.HostHeaderConfig = &elbv2types.HostHeaderConditionConfig{Values: vs}
			} else {
				n.PathPatternConfig = &elbv2types.PathPatternConditionConfig{Values: vs}
			}
		case "http-header":
			hc := c.HttpHeaderConfig
			if hc == nil || aws.ToString(hc.HttpHeaderName) == "" || !headerNameRE.MatchString(*hc.HttpHeaderName) || len(*hc.HttpHeaderName) > 40 {
				return nil, errValidation("An http-header condition needs an HttpHeaderConfig with a valid header name")
			}
			if err := checkValues(field, hc.Values, nil); err != nil {
				return nil, err
			}
			count(hc.Values, true)
			n.HttpHeaderConfig = &elbv2types.HttpHeaderConditionConfig{HttpHeaderName: hc.HttpHeaderName, Values: hc.Values}
		case "http-request-method":
			hc := c.HttpRequestMethodConfig
			if hc == nil {
				return nil, errValidation("An http-request-method condition needs an HttpRequestMethodConfig")
			}
			if err := checkValues(field, hc.Values, methodValueRE); err != nil {
				return nil, err
			}
			count(hc.Values, false)
			n.HttpRequestMethodConfig = &elbv2types.HttpRequestMethodConditionConfig{Values: hc.Values}
		case "query-string":
			qc := c.QueryStringConfig
			if qc == nil || len(qc.Values) == 0 {
				return nil, errValidation("A query-string condition needs a QueryStringConfig with at least one key/value pair")
			}
			for _, kv := range qc.Values {
				if aws.ToString(kv.Value) == "" {
					return nil, errValidation("Every query-string condition pair needs a value")
				}
				count([]string{aws.ToString(kv.Key), aws.ToString(kv.Value)}, true)
				values-- // a pair counts once
			}
			n.QueryStringConfig = &elbv2types.QueryStringConditionConfig{Values: qc.Values}
		case "source-ip":
			sc := c.SourceIpConfig
			if sc == nil || len(sc.Values) == 0 {
				return nil, errValidation("A source-ip condition needs a SourceIpConfig with at least one CIDR block")
			}
			for _, v := range sc.Values {
				if _, err := netip.ParsePrefix(v); err != nil {
					return nil, errValidation("Source IP '%s' is not a valid CIDR block", v)
				}
			}
			count(sc.Values, false)
			n.SourceIpConfig = &elbv2types.SourceIpConditionConfig{Values: sc.Values}
		case "":
			return nil, errValidation("A condition field must be specified")
		default:
			return nil, errValidation("Condition field '%s' is not valid", field)
		}
		if field != "http-header" && field != "query-string" {
			if seen[field] {
				return nil, errValidation("A rule can have only one '%s' condition", field)
			}
			seen[field] = true
		}
		out = append(out, n)
	}
	if values > maxConditionValues {
		return nil, errValidation("A rule can have at most %d condition values in total, not %d", maxConditionValues, values)
	}
	if wildcards > maxConditionWildcards {
		return nil, errValidation("A rule can have at most %d wildcards in its conditions, not %d", maxConditionWildcards, wildcards)
	}
	return out, nil
}

func hasRegexValues(c elbv2types.RuleCondition) bool {
	return c.HostHeaderConfig != nil && len(c.HostHeaderConfig.RegexValues) > 0 ||
		c.PathPatternConfig != nil && len(c.PathPatternConfig.RegexValues) > 0 ||
		c.HttpHeaderConfig != nil && len(c.HttpHeaderConfig.RegexValues) > 0
}

func checkValues(field string, vs []string, re *regexp.Regexp) error {
	if len(vs) == 0 {
		return errValidation("A '%s' condition needs at least one value", field)
	}
	for _, v := range vs {
		if v == "" || len(v) > maxConditionValueLen {
			return errValidation("Condition value '%s' of '%s' must have 1 to %d characters", v, field, maxConditionValueLen)
		}
		if re != nil && !re.MatchString(v) {
			return errValidation("Condition value '%s' is not valid for '%s'", v, field)
		}
	}
	return nil
}

// priorityString is a rule priority as rules carry it.
func priorityString(p int32) *string { return aws.String(fmt.Sprint(p)) }
