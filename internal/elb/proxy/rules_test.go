package proxy

import (
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"
)

func TestWildcardMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"/api/*", "/api/users", true},
		{"/api/*", "/api/", true},
		{"/api/*", "/ap", false},
		{"/img/?.png", "/img/a.png", true},
		{"/img/?.png", "/img/ab.png", false},
		{"*", "", true},
		{"*.example.com", "www.example.com", true},
		{"*.example.com", "example.com", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
	}
	for _, c := range cases {
		if got := wildcardMatch(c.pattern, c.s); got != c.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestConditions(t *testing.T) {
	req := matchRequest{
		Host:   "Api.Example.COM",
		Path:   "/v1/Users/42",
		Method: "POST",
		Header: http.Header{"User-Agent": {"Mozilla/5.0 (X11)"}, "X-Env": {"prod", "Blue"}},
		Query:  url.Values{"version": {"V2"}, "debug": {"1"}},
		Client: netip.MustParseAddr("10.1.2.3"),
	}
	cases := []struct {
		name string
		cond Condition
		want bool
	}{
		{"path match", Condition{Field: FieldPathPattern, Values: []string{"/v1/*"}}, true},
		{"path case-sensitive", Condition{Field: FieldPathPattern, Values: []string{"/v1/users/*"}}, false},
		{"path any value", Condition{Field: FieldPathPattern, Values: []string{"/v2/*", "/v1/Users/??"}}, true},
		{"host case-insensitive", Condition{Field: FieldHostHeader, Values: []string{"api.example.com"}}, true},
		{"host wildcard", Condition{Field: FieldHostHeader, Values: []string{"*.EXAMPLE.com"}}, true},
		{"host no match", Condition{Field: FieldHostHeader, Values: []string{"www.example.com"}}, false},
		{"header name and value case-insensitive", Condition{Field: FieldHTTPHeader, HeaderName: "user-agent", Values: []string{"*mozilla*"}}, true},
		{"header second value", Condition{Field: FieldHTTPHeader, HeaderName: "X-Env", Values: []string{"blue"}}, true},
		{"header absent", Condition{Field: FieldHTTPHeader, HeaderName: "X-Missing", Values: []string{"*"}}, false},
		{"method exact", Condition{Field: FieldHTTPRequestMethod, Values: []string{"GET", "POST"}}, true},
		{"method no match", Condition{Field: FieldHTTPRequestMethod, Values: []string{"post"}}, false},
		{"query pair", Condition{Field: FieldQueryString, Query: []QueryPair{{Key: "version", Value: "v2"}}}, true},
		{"query any key", Condition{Field: FieldQueryString, Query: []QueryPair{{Value: "1"}}}, true},
		{"query wildcard", Condition{Field: FieldQueryString, Query: []QueryPair{{Key: "ver*", Value: "v?"}}}, true},
		{"query no match", Condition{Field: FieldQueryString, Query: []QueryPair{{Key: "version", Value: "v3"}}}, false},
		{"source ip in", Condition{Field: FieldSourceIP, Values: []string{"192.168.0.0/16", "10.0.0.0/8"}}, true},
		{"source ip out", Condition{Field: FieldSourceIP, Values: []string{"10.2.0.0/16"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cc, err := compileCondition(c.cond)
			if err != nil {
				t.Fatal(err)
			}
			if got := cc.matches(&req); got != c.want {
				t.Errorf("matches = %v, want %v", got, c.want)
			}
		})
	}
}

func TestRulePriorityOrder(t *testing.T) {
	rules := []Rule{
		{ARN: "r1", Priority: 1, Conditions: []Condition{
			{Field: FieldPathPattern, Values: []string{"/api/*"}},
			{Field: FieldHTTPRequestMethod, Values: []string{"POST"}},
		}},
		{ARN: "r2", Priority: 2, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/api/*"}}}},
		{ARN: "r3", Priority: 3, Conditions: []Condition{{Field: FieldHostHeader, Values: []string{"*.example.com"}}}},
		{ARN: "default"},
	}
	compiled, err := compileRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, path, host string
		want               string
	}{
		{"POST", "/api/x", "a.example.com", "r1"},
		{"GET", "/api/x", "a.example.com", "r2"},
		{"GET", "/other", "a.example.com", "r3"},
		{"GET", "/other", "example.org", "default"},
	}
	for _, c := range cases {
		r := matchRequest{Method: c.method, Path: c.path, Host: c.host}
		got := matchRules(compiled, &r)
		if got == nil || got.rule.ARN != c.want {
			t.Errorf("%s %s host %q: got %v, want %s", c.method, c.path, c.host, got, c.want)
		}
	}
}

func TestCompileRejectsBadCondition(t *testing.T) {
	for _, c := range []Condition{
		{Field: FieldSourceIP, Values: []string{"not-a-cidr"}},
		{Field: "nope"},
	} {
		if _, err := compileRules([]Rule{{ARN: "r", Conditions: []Condition{c}}}); err == nil {
			t.Errorf("%+v: compiled, want error", c)
		}
	}
}

func TestRedirectLocation(t *testing.T) {
	in := redirectInput{Protocol: "HTTP", Host: "example.com", Port: 80, Path: "/a/b", Query: "x=1"}
	cases := []struct {
		name string
		rd   Redirect
		in   redirectInput
		want string
	}{
		{"defaults keep everything", Redirect{}, in, "http://example.com/a/b?x=1"},
		{"to https drops 443", Redirect{Protocol: "HTTPS", Port: "443"}, in, "https://example.com/a/b?x=1"},
		{"explicit port kept", Redirect{Protocol: "HTTPS", Port: "8443"}, in, "https://example.com:8443/a/b?x=1"},
		{"non-default listener port", Redirect{}, redirectInput{Protocol: "HTTP", Host: "h", Port: 8080, Path: "/"}, "http://h:8080/"},
		{"placeholders in path and host", Redirect{Host: "new.#{host}", Path: "/v2/#{path}", Query: "#{query}&y=2"}, in,
			"http://new.example.com/v2/a/b?x=1&y=2"},
		{"protocol placeholder lowercased", Redirect{Protocol: "#{protocol}", Port: "#{port}"}, in, "http://example.com/a/b?x=1"},
		{"empty query dropped", Redirect{}, redirectInput{Protocol: "HTTPS", Host: "h", Port: 443, Path: "/p"}, "https://h/p"},
		{"path without slash gets one", Redirect{Path: "#{path}"}, in, "http://example.com/a/b?x=1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := redirectLocation(&c.rd, c.in); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	if redirectStatus("HTTP_301") != 301 || redirectStatus("HTTP_302") != 302 {
		t.Error("redirect status codes")
	}
}

func TestCookieCodec(t *testing.T) {
	c := cookieCodec{key: []byte("k")}
	v := c.encode("g1", "t1:80")
	if got := c.decode("g1", v); got != "t1:80" {
		t.Errorf("decode = %q", got)
	}
	if got := c.decode("g2", v); got != "" {
		t.Errorf("decode for another group = %q, want empty", got)
	}
	if got := c.decode("g1", v+"x"); got != "" {
		t.Errorf("decode tampered = %q, want empty", got)
	}
}

func TestNeedsRebind(t *testing.T) {
	base := Listener{ARN: "L", Type: TypeApplication, Addr: ":80", Protocol: "HTTP", IdleTimeout: time.Minute}
	cases := []struct {
		name   string
		change func(*Listener)
		want   bool
	}{
		{"rules only", func(l *Listener) { l.Rules = []Rule{{ARN: "r"}} }, false},
		{"port label only", func(l *Listener) { l.Port = 8080 }, false},
		{"addr", func(l *Listener) { l.Addr = ":81" }, true},
		{"protocol", func(l *Listener) { l.Protocol = "HTTPS" }, true},
		{"protocol case", func(l *Listener) { l.Protocol = "http" }, false},
		{"idle timeout", func(l *Listener) { l.IdleTimeout = time.Second }, true},
	}
	for _, c := range cases {
		n := base
		c.change(&n)
		if got := needsRebind(base, n); got != c.want {
			t.Errorf("%s: needsRebind = %v, want %v", c.name, got, c.want)
		}
	}
	nlb := Listener{Type: TypeNetwork, Addr: ":53", Protocol: "UDP", IdleTimeout: time.Minute}
	n := nlb
	n.IdleTimeout = time.Hour
	if needsRebind(nlb, n) {
		t.Error("network idle timeout change rebinds; it applies per connection")
	}
}
