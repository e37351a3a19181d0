package elb

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/elb/health"
	"github.com/berth-dev/berth/internal/elb/proxy"
)

// dataPlaneRecords are the records the data plane is built from, by
// record id (records.go).
type dataPlaneRecords struct {
	LoadBalancers map[string]*lbRecord
	Listeners     map[string]*listenerRecord
	Rules         map[string]*ruleRecord
	TargetGroups  map[string]*tgRecord
	Targets       map[string]*targetRecord
}

// translator turns records into the data plane's configuration.
type translator struct {
	ListenAddress string
	PortMap       map[int32]int32
	// Certificate loads a listener certificate; nil refuses HTTPS and TLS
	// listeners.
	Certificate func(arn string) (tls.Certificate, error)
	Log         *slog.Logger
}

// translatorFor is the Service's translator; certificate loads are
// bounded by ctx and a timeout each.
func (s *Service) translatorFor(ctx context.Context) translator {
	t := translator{ListenAddress: s.cfg.ListenAddress, PortMap: s.cfg.PortMap, Log: s.log}
	if src := s.cfg.Certificates; src != nil {
		t.Certificate = func(arn string) (tls.Certificate, error) {
			cctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
			defer cancel()
			return src.Certificate(cctx, arn)
		}
	}
	return t
}

// Attribute keys and defaults the data plane reads (records may lack any).
const (
	dpAttrIdleTimeout       = "idle_timeout.timeout_seconds"
	dpAttrTCPIdleTimeout    = "tcp.idle_timeout.seconds"
	dpAttrAlgorithm         = "load_balancing.algorithm.type"
	dpAttrSlowStart         = "slow_start.duration_seconds"
	dpAttrStickiness        = "stickiness.enabled"
	dpAttrStickinessType    = "stickiness.type"
	dpAttrLBCookieDuration  = "stickiness.lb_cookie.duration_seconds"
	dpAttrAppCookieName     = "stickiness.app_cookie.cookie_name"
	dpAttrAppCookieDuration = "stickiness.app_cookie.duration_seconds"

	defaultALBIdleTimeout     = 60
	defaultNLBIdleTimeout     = 350
	defaultStickinessDuration = 86400
)

// build is the whole data plane for recs: every listener of every load
// balancer (but failed ones), and every target group a listener or rule
// forwards to. A listener that cannot be served (a certificate that does
// not load) is left out and logged; the rest applies.
func (tr translator) build(recs dataPlaneRecords) proxy.Config {
	cfg := proxy.Config{TargetGroups: map[string]*proxy.TargetGroup{}}
	rulesOf := map[string][]*ruleRecord{} // listener id -> its rules
	for id, r := range recs.Rules {
		l := id[:strings.LastIndexByte(id, '/')]
		rulesOf[l] = append(rulesOf[l], r)
	}
	used := map[string]bool{}
	for _, id := range sortedIDs(recs.Listeners) {
		lr := recs.Listeners[id]
		lb := recs.LoadBalancers[id[:strings.LastIndexByte(id, '/')]]
		if lb == nil || (lb.LB.State != nil && aws.ToString(lb.LB.State.Code) == "failed") {
			continue
		}
		l, err := tr.listener(lb, lr, rulesOf[id])
		if err != nil {
			tr.Log.Error("data plane: listener left out", "listener", aws.ToString(lr.Listener.ListenerArn), "err", err)
			continue
		}
		for _, r := range l.Rules {
			for _, a := range r.Actions {
				for _, g := range a.Forward {
					used[g.ARN] = true
				}
			}
		}
		cfg.Listeners = append(cfg.Listeners, l)
	}
	byARN := make(map[string]string, len(recs.TargetGroups)) // ARN -> id
	for id, tg := range recs.TargetGroups {
		byARN[aws.ToString(tg.TG.TargetGroupArn)] = id
	}
	targetsOf := map[string][]*targetRecord{} // group id -> targets, by key
	for _, id := range sortedIDs(recs.Targets) {
		g := id[:strings.LastIndexByte(id, '/')]
		targetsOf[g] = append(targetsOf[g], recs.Targets[id])
	}
	for arn := range used {
		id, ok := byARN[arn]
		if !ok {
			continue // forwards to a group that is gone: the proxy answers 503
		}
		cfg.TargetGroups[arn] = targetGroupConfig(recs.TargetGroups[id], targetsOf[id])
	}
	return cfg
}

func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (tr translator) listener(lb *lbRecord, lr *listenerRecord, rules []*ruleRecord) (proxy.Listener, error) {
	port := aws.ToInt32(lr.Listener.Port)
	local := port
	if p, ok := tr.PortMap[port]; ok {
		local = p
	}
	typ := aws.ToString(lb.LB.Type)
	if typ == "" {
		typ = proxy.TypeApplication
	}
	l := proxy.Listener{
		ARN:             aws.ToString(lr.Listener.ListenerArn),
		LoadBalancerARN: aws.ToString(lb.LB.LoadBalancerArn),
		Type:            typ,
		Addr:            net.JoinHostPort(tr.ListenAddress, strconv.Itoa(int(local))),
		Port:            port,
		Protocol:        aws.ToString(lr.Listener.Protocol),
	}
	if typ == proxy.TypeNetwork {
		l.IdleTimeout = seconds(groupAttrInt(lr.Attributes, dpAttrTCPIdleTimeout, defaultNLBIdleTimeout))
	} else {
		l.IdleTimeout = seconds(groupAttrInt(lb.Attributes, dpAttrIdleTimeout, defaultALBIdleTimeout))
	}
	if l.Protocol == "HTTPS" || l.Protocol == "TLS" {
		if tr.Certificate == nil {
			return proxy.Listener{}, fmt.Errorf("%s listener on port %d: no certificate source", l.Protocol, port)
		}
		for _, c := range lr.Listener.Certificates {
			arn := aws.ToString(c.CertificateArn)
			cert, err := tr.Certificate(arn)
			if err != nil {
				return proxy.Listener{}, fmt.Errorf("load certificate %s: %w", arn, err)
			}
			if aws.ToBool(c.IsDefault) {
				l.Certificates = append([]tls.Certificate{cert}, l.Certificates...)
			} else {
				l.Certificates = append(l.Certificates, cert)
			}
		}
		if len(l.Certificates) == 0 {
			return proxy.Listener{}, fmt.Errorf("%s listener on port %d has no certificate", l.Protocol, port)
		}
	}
	slices.SortFunc(rules, func(a, b *ruleRecord) int {
		return cmp.Or(cmp.Compare(rulePriority(a), rulePriority(b)),
			strings.Compare(aws.ToString(a.Rule.RuleArn), aws.ToString(b.Rule.RuleArn)))
	})
	for _, r := range rules {
		if aws.ToBool(r.Rule.IsDefault) {
			continue // the default rule lives in the listener
		}
		pr, ok := tr.rule(aws.ToString(r.Rule.RuleArn), rulePriority(r), r.Rule.Conditions, r.Rule.Actions)
		if ok {
			l.Rules = append(l.Rules, pr)
		}
	}
	if def, ok := tr.rule(l.ARN, 0, nil, lr.Listener.DefaultActions); ok {
		l.Rules = append(l.Rules, def)
	}
	return l, nil
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// rulePriority is a rule's priority as a number; an unreadable one sorts
// last.
func rulePriority(r *ruleRecord) int {
	n, err := strconv.Atoi(aws.ToString(r.Rule.Priority))
	if err != nil {
		return 1 << 30
	}
	return n
}

// rule translates one rule; false (logged) when it has no action the data
// plane can answer with.
func (tr translator) rule(arn string, priority int, conds []elbv2types.RuleCondition, acts []elbv2types.Action) (proxy.Rule, bool) {
	r := proxy.Rule{ARN: arn, Priority: priority}
	for _, c := range conds {
		r.Conditions = append(r.Conditions, condition(c))
	}
	acts = slices.Clone(acts)
	slices.SortStableFunc(acts, func(a, b elbv2types.Action) int {
		return cmp.Compare(actionOrder(a), actionOrder(b))
	})
	for _, a := range acts {
		pa, ok := action(a)
		if !ok {
			tr.Log.Warn("data plane: rule action not supported, skipped", "rule", arn, "type", aws.ToString(a.Type))
			continue
		}
		r.Actions = append(r.Actions, pa)
	}
	if len(r.Actions) == 0 {
		tr.Log.Warn("data plane: rule has no action the data plane can take, left out", "rule", arn)
		return proxy.Rule{}, false
	}
	return r, true
}

// actionOrder is an action's Order; unordered actions go last.
func actionOrder(a elbv2types.Action) int32 {
	if a.Order == nil {
		return 1 << 30
	}
	return *a.Order
}

// condition translates a rule condition from either of its forms: the
// legacy Field and Values, or the *Config member for the field. Values of
// both are kept (AWS accepts one or the other).
func condition(c elbv2types.RuleCondition) proxy.Condition {
	field := strings.ToLower(aws.ToString(c.Field))
	pc := proxy.Condition{Field: field, Values: slices.Clone(c.Values)}
	switch {
	case c.PathPatternConfig != nil:
		pc.Field = proxy.FieldPathPattern
		pc.Values = append(pc.Values, c.PathPatternConfig.Values...)
	case c.HostHeaderConfig != nil:
		pc.Field = proxy.FieldHostHeader
		pc.Values = append(pc.Values, c.HostHeaderConfig.Values...)
	case c.HttpHeaderConfig != nil:
		pc.Field = proxy.FieldHTTPHeader
		pc.HeaderName = aws.ToString(c.HttpHeaderConfig.HttpHeaderName)
		pc.Values = append(pc.Values, c.HttpHeaderConfig.Values...)
	case c.HttpRequestMethodConfig != nil:
		pc.Field = proxy.FieldHTTPRequestMethod
		pc.Values = append(pc.Values, c.HttpRequestMethodConfig.Values...)
	case c.QueryStringConfig != nil:
		pc.Field = proxy.FieldQueryString
		for _, kv := range c.QueryStringConfig.Values {
			pc.Query = append(pc.Query, proxy.QueryPair{Key: aws.ToString(kv.Key), Value: aws.ToString(kv.Value)})
		}
	case c.SourceIpConfig != nil:
		pc.Field = proxy.FieldSourceIP
		pc.Values = append(pc.Values, c.SourceIpConfig.Values...)
	}
	return pc
}

// Redirect defaults, as ELB fills in a redirect's absent parts.
const (
	redirectProtocol = "#{protocol}"
	redirectHost     = "#{host}"
	redirectPort     = "#{port}"
	redirectPath     = "/#{path}"
	redirectQuery    = "#{query}"
)

func orDefault(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// action translates forward, redirect and fixed-response actions; false
// for the others (authentication, JWT validation).
func action(a elbv2types.Action) (proxy.Action, bool) {
	switch typ := aws.ToString(a.Type); typ {
	case proxy.ActionForward:
		pa := proxy.Action{Type: proxy.ActionForward}
		if fc := a.ForwardConfig; fc != nil && len(fc.TargetGroups) > 0 {
			for _, g := range fc.TargetGroups {
				pa.Forward = append(pa.Forward, proxy.WeightedGroup{ARN: aws.ToString(g.TargetGroupArn), Weight: int(aws.ToInt32(orInt32(g.Weight, 1)))})
			}
			if sc := fc.TargetGroupStickinessConfig; sc != nil && aws.ToBool(sc.Enabled) {
				pa.Stickiness = seconds(int(aws.ToInt32(sc.DurationSeconds)))
			}
		} else if arn := aws.ToString(a.TargetGroupArn); arn != "" {
			pa.Forward = []proxy.WeightedGroup{{ARN: arn, Weight: 1}}
		}
		return pa, len(pa.Forward) > 0
	case proxy.ActionRedirect:
		rc := a.RedirectConfig
		if rc == nil {
			return proxy.Action{}, false
		}
		return proxy.Action{Type: proxy.ActionRedirect, Redirect: &proxy.Redirect{
			Protocol:   orDefault(rc.Protocol, redirectProtocol),
			Host:       orDefault(rc.Host, redirectHost),
			Port:       orDefault(rc.Port, redirectPort),
			Path:       orDefault(rc.Path, redirectPath),
			Query:      orDefault(rc.Query, redirectQuery),
			StatusCode: aws.ToString(rc.StatusCode),
		}}, true
	case proxy.ActionFixedResponse:
		fc := a.FixedResponseConfig
		if fc == nil {
			return proxy.Action{}, false
		}
		code, err := strconv.Atoi(aws.ToString(fc.StatusCode))
		if err != nil {
			return proxy.Action{}, false
		}
		return proxy.Action{Type: proxy.ActionFixedResponse, Fixed: &proxy.FixedResponse{
			StatusCode: code, ContentType: aws.ToString(fc.ContentType), Body: aws.ToString(fc.MessageBody),
		}}, true
	default:
		return proxy.Action{}, false
	}
}

func orInt32(p *int32, def int32) *int32 {
	if p == nil {
		return &def
	}
	return p
}

// targetGroupConfig is a group as the data plane uses it; ts are its
// targets in key order.
func targetGroupConfig(tg *tgRecord, ts []*targetRecord) *proxy.TargetGroup {
	g := &proxy.TargetGroup{
		ARN:                 aws.ToString(tg.TG.TargetGroupArn),
		Name:                aws.ToString(tg.TG.TargetGroupName),
		Protocol:            aws.ToString(tg.TG.Protocol),
		ProtocolVersion:     aws.ToString(tg.TG.ProtocolVersion),
		HealthCheck:         healthCheckOf(tg),
		Algorithm:           tg.Attributes[dpAttrAlgorithm],
		SlowStart:           seconds(groupAttrInt(tg.Attributes, dpAttrSlowStart, 0)),
		DeregistrationDelay: tg.deregistrationDelay(),
		Stickiness:          stickinessOf(tg),
	}
	if g.Algorithm == "" {
		g.Algorithm = proxy.AlgorithmRoundRobin
	}
	for _, t := range ts {
		if t.Address == "" {
			continue
		}
		port := aws.ToInt32(t.Target.Port)
		g.Targets = append(g.Targets, proxy.Target{
			Key:        aws.ToString(t.Target.Id) + ":" + strconv.Itoa(int(port)),
			Addr:       net.JoinHostPort(t.Address, strconv.Itoa(int(port))),
			Draining:   !t.DrainUntil.IsZero(),
			DrainUntil: t.DrainUntil,
		})
	}
	return g
}

// isNetworkProtocol: a network load balancer's group.
func isNetworkProtocol(p string) bool {
	switch p {
	case "TCP", "TLS", "UDP", "TCP_UDP":
		return true
	}
	return false
}

// healthCheckOf is a group's health check, with ELB's defaults for what
// the record lacks.
func healthCheckOf(tg *tgRecord) health.Check {
	t := &tg.TG
	network := isNetworkProtocol(aws.ToString(t.Protocol))
	c := health.Check{
		Enabled:            t.HealthCheckEnabled == nil || *t.HealthCheckEnabled,
		Protocol:           aws.ToString(t.HealthCheckProtocol),
		Port:               aws.ToString(t.HealthCheckPort),
		Path:               aws.ToString(t.HealthCheckPath),
		Interval:           seconds(int(aws.ToInt32(orInt32(t.HealthCheckIntervalSeconds, 30)))),
		HealthyThreshold:   int(aws.ToInt32(orInt32(t.HealthyThresholdCount, 5))),
		UnhealthyThreshold: int(aws.ToInt32(orInt32(t.UnhealthyThresholdCount, 2))),
	}
	timeout := int32(5)
	if network {
		timeout = 10
	}
	c.Timeout = seconds(int(aws.ToInt32(orInt32(t.HealthCheckTimeoutSeconds, timeout))))
	if c.Protocol == "" {
		c.Protocol = aws.ToString(t.Protocol)
		if network {
			c.Protocol = "TCP"
		}
	}
	if c.Port == "" {
		c.Port = "traffic-port"
	}
	if c.Protocol == "HTTP" || c.Protocol == "HTTPS" {
		if c.Path == "" {
			c.Path = "/"
		}
		if t.Matcher != nil {
			c.Matcher = aws.ToString(t.Matcher.HttpCode)
		}
		if c.Matcher == "" {
			c.Matcher = "200"
			if network {
				c.Matcher = "200-399"
			}
		}
	}
	return c
}

// stickinessOf is a group's stickiness.* attributes.
func stickinessOf(tg *tgRecord) proxy.Stickiness {
	a := tg.Attributes
	st := proxy.Stickiness{Enabled: a[dpAttrStickiness] == "true", Type: a[dpAttrStickinessType]}
	if st.Type == "" {
		st.Type = "lb_cookie"
		if isNetworkProtocol(aws.ToString(tg.TG.Protocol)) {
			st.Type = "source_ip"
		}
	}
	switch st.Type {
	case "lb_cookie":
		st.Duration = seconds(groupAttrInt(a, dpAttrLBCookieDuration, defaultStickinessDuration))
	case "app_cookie":
		st.Duration = seconds(groupAttrInt(a, dpAttrAppCookieDuration, defaultStickinessDuration))
		st.CookieName = a[dpAttrAppCookieName]
	}
	return st
}
