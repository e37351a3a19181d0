package proxy

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// matchRequest is the part of an HTTP request rule conditions look at,
// separated from *http.Request so rule evaluation is a pure function.
type matchRequest struct {
	Host   string // without port
	Path   string
	Method string
	Header http.Header
	// Query is parsed from RawQuery on first use: most rules never look.
	Query    url.Values
	RawQuery string
	Client   netip.Addr
}

// newMatchRequest extracts what the rules need from r.
func newMatchRequest(r *http.Request) matchRequest {
	return matchRequest{
		Host:     hostOnly(r.Host),
		Path:     r.URL.Path,
		Method:   r.Method,
		Header:   r.Header,
		RawQuery: r.URL.RawQuery,
		Client:   clientAddr(r.RemoteAddr),
	}
}

// compiledRule is a Rule with its patterns prepared once per Apply.
type compiledRule struct {
	rule  Rule
	conds []compiledCondition
}

// compiledCondition is one Condition ready to match: host, header and
// query patterns are lower-cased because they match case-insensitively.
type compiledCondition struct {
	field    string
	values   []string
	header   string
	query    []QueryPair
	prefixes []netip.Prefix
}

// compileRules prepares rules for matching; an unknown field or a bad
// CIDR is an error naming the rule.
func compileRules(rules []Rule) ([]compiledRule, error) {
	out := make([]compiledRule, 0, len(rules))
	for _, r := range rules {
		cr := compiledRule{rule: r}
		for _, c := range r.Conditions {
			cc, err := compileCondition(c)
			if err != nil {
				return nil, fmt.Errorf("rule %s (priority %d): %w", r.ARN, r.Priority, err)
			}
			cr.conds = append(cr.conds, cc)
		}
		out = append(out, cr)
	}
	return out, nil
}

func compileCondition(c Condition) (compiledCondition, error) {
	cc := compiledCondition{field: c.Field}
	switch c.Field {
	case FieldPathPattern, FieldHTTPRequestMethod:
		cc.values = c.Values
	case FieldHostHeader, FieldHTTPHeader:
		for _, v := range c.Values {
			cc.values = append(cc.values, strings.ToLower(v))
		}
		cc.header = c.HeaderName
	case FieldQueryString:
		for _, q := range c.Query {
			cc.query = append(cc.query, QueryPair{Key: strings.ToLower(q.Key), Value: strings.ToLower(q.Value)})
		}
	case FieldSourceIP:
		for _, v := range c.Values {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return cc, fmt.Errorf("source-ip %q: %w", v, err)
			}
			cc.prefixes = append(cc.prefixes, p.Masked())
		}
	default:
		return cc, fmt.Errorf("unknown condition field %q", c.Field)
	}
	return cc, nil
}

// matchRules returns the first rule all of whose conditions match, or
// nil.
func matchRules(rules []compiledRule, r *matchRequest) *compiledRule {
	for i := range rules {
		if rules[i].matches(r) {
			return &rules[i]
		}
	}
	return nil
}

func (cr *compiledRule) matches(r *matchRequest) bool {
	for i := range cr.conds {
		if !cr.conds[i].matches(r) {
			return false
		}
	}
	return true
}

func (c *compiledCondition) matches(r *matchRequest) bool {
	switch c.field {
	case FieldPathPattern:
		return anyMatch(c.values, r.Path)
	case FieldHostHeader:
		return anyMatch(c.values, strings.ToLower(r.Host))
	case FieldHTTPRequestMethod:
		for _, v := range c.values {
			if v == r.Method {
				return true
			}
		}
		return false
	case FieldHTTPHeader:
		for _, hv := range r.Header.Values(c.header) {
			if anyMatch(c.values, strings.ToLower(hv)) {
				return true
			}
		}
		return false
	case FieldQueryString:
		if r.Query == nil {
			r.Query, _ = url.ParseQuery(r.RawQuery)
		}
		for _, q := range c.query {
			for k, vs := range r.Query {
				if q.Key != "" && !wildcardMatch(q.Key, strings.ToLower(k)) {
					continue
				}
				for _, v := range vs {
					if wildcardMatch(q.Value, strings.ToLower(v)) {
						return true
					}
				}
			}
		}
		return false
	case FieldSourceIP:
		if !r.Client.IsValid() {
			return false
		}
		ip := r.Client.Unmap()
		for _, p := range c.prefixes {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	return false
}

func anyMatch(patterns []string, s string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

// wildcardMatch reports whether s matches pattern, where * matches any
// run of bytes (including none) and ? exactly one. It backtracks only to
// the last *, so it runs in O(len(pattern)*len(s)) at worst.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// hostOnly strips a port from a Host header value.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// clientAddr parses the IP of a remote address; zero when it has none.
func clientAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		a, _ := netip.ParseAddr(remote)
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}
