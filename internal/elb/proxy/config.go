// Package proxy is Elastic Load Balancing's data plane: it binds every
// listener of every load balancer and moves traffic to the targets of their
// target groups. Application load balancers (HTTP, HTTPS) evaluate their
// listener's rules and forward, redirect or answer fixed responses; network
// load balancers (TCP, TLS, UDP, TCP_UDP) pass connections and datagrams
// through. Only targets the health prober (internal/elb/health) calls
// healthy get new requests, unless none is (fail open, as ELB does);
// draining targets get none and finish what they have.
//
// The engine is configured by whole snapshots (Config), which the elb
// service builds from its records; Apply swaps one in without closing a
// connection: listeners that stay keep their sockets, new rules apply to
// the next request.
package proxy

import (
	"crypto/tls"
	"time"

	"github.com/berth-dev/berth/internal/elb/health"
)

// Config is the whole data plane at one moment.
type Config struct {
	Listeners []Listener
	// TargetGroups are the groups listeners and rules forward to, by ARN.
	TargetGroups map[string]*TargetGroup
}

// Load balancer types.
const (
	TypeApplication = "application"
	TypeNetwork     = "network"
)

// Listener is one bound port of a load balancer.
type Listener struct {
	ARN             string
	LoadBalancerARN string
	// Type is TypeApplication or TypeNetwork.
	Type string
	// Addr is the host:port to bind (the server's listen address and the
	// listener's port after the server's port map).
	Addr string
	// Port is the listener's port as configured: X-Forwarded-Port and
	// redirects name it.
	Port int32
	// Protocol is HTTP, HTTPS (application) or TCP, TLS, UDP, TCP_UDP
	// (network).
	Protocol string
	// Certificates serve HTTPS and TLS; the first is the default, the
	// others are chosen by SNI.
	Certificates []tls.Certificate
	// Rules in evaluation order: by priority, the default rule last.
	// Network listeners have only the default rule (one forward action).
	Rules []Rule
	// IdleTimeout is the load balancer's idle_timeout.timeout_seconds
	// (application; default 60s) or the listener's tcp.idle_timeout
	// (network; default 350s).
	IdleTimeout time.Duration
}

// Rule is a listener rule: all its conditions must match.
type Rule struct {
	ARN string
	// Priority is 1..50000; 0 is the listener's default rule, which has
	// no conditions.
	Priority   int
	Conditions []Condition
	// Actions in order; the last is the one that answers (forward,
	// redirect or fixed-response).
	Actions []Action
}

// Condition fields.
const (
	FieldPathPattern       = "path-pattern"
	FieldHostHeader        = "host-header"
	FieldHTTPHeader        = "http-header"
	FieldHTTPRequestMethod = "http-request-method"
	FieldQueryString       = "query-string"
	FieldSourceIP          = "source-ip"
)

// Condition is one rule condition. Values match as ELB documents: path
// and host patterns with * and ? wildcards (host case-insensitive, path
// case-sensitive), header values with wildcards case-insensitively,
// methods exactly, source IPs as CIDR blocks; any one value matching
// satisfies the condition.
type Condition struct {
	Field  string
	Values []string
	// HeaderName is the http-header condition's header.
	HeaderName string
	// Query are the query-string condition's pairs; any one matching
	// satisfies it. An empty Key matches any key with that value.
	Query []QueryPair
}

// QueryPair is one query-string condition pair (wildcards allowed).
type QueryPair struct{ Key, Value string }

// Action types.
const (
	ActionForward       = "forward"
	ActionRedirect      = "redirect"
	ActionFixedResponse = "fixed-response"
)

// Action is one rule action.
type Action struct {
	Type string
	// Forward: the target groups, weighted (weights 0..999; one group has
	// weight 1).
	Forward []WeightedGroup
	// Stickiness, when above zero, keeps a client on the target group it
	// was sent to for this long (group-level stickiness of a weighted
	// forward).
	Stickiness time.Duration
	Redirect   *Redirect
	Fixed      *FixedResponse
}

// WeightedGroup is one target group of a forward action.
type WeightedGroup struct {
	ARN    string
	Weight int
}

// Redirect is a redirect action; its fields may use ELB's placeholders
// #{protocol}, #{host}, #{port}, #{path} (path) and #{query} (query).
// StatusCode is HTTP_301 or HTTP_302.
type Redirect struct {
	Protocol, Host, Port, Path, Query string
	StatusCode                        string
}

// FixedResponse is a fixed-response action.
type FixedResponse struct {
	StatusCode  int
	ContentType string
	Body        string
}

// Algorithms of load_balancing.algorithm.type.
const (
	AlgorithmRoundRobin              = "round_robin"
	AlgorithmLeastOutstandingRequest = "least_outstanding_requests"
)

// TargetGroup is a target group as the data plane uses it.
type TargetGroup struct {
	ARN  string
	Name string
	// Protocol is how the proxy talks to targets: HTTP, HTTPS, TCP, TLS,
	// UDP, TCP_UDP.
	Protocol string
	// ProtocolVersion is HTTP1, HTTP2 or GRPC (HTTP and HTTPS groups).
	ProtocolVersion string
	HealthCheck     health.Check
	// Algorithm is AlgorithmRoundRobin (default) or
	// AlgorithmLeastOutstandingRequest.
	Algorithm string
	// SlowStart ramps a newly healthy target's share up over this long (0:
	// off).
	SlowStart time.Duration
	// DeregistrationDelay is how long a draining target may finish what it
	// has before it is dropped.
	DeregistrationDelay time.Duration
	Stickiness          Stickiness
	Targets             []Target
}

// Stickiness is a target group's stickiness.* attributes.
type Stickiness struct {
	Enabled bool
	// Type is lb_cookie or app_cookie (application), source_ip (network).
	Type     string
	Duration time.Duration
	// CookieName is app_cookie's cookie.
	CookieName string
}

// Target is one registered target.
type Target struct {
	// Key is "<id>:<port>", as the API names the target.
	Key string
	// Addr is the ip:port the proxy dials.
	Addr string
	// Draining: deregistered; it gets no new request and is dropped when
	// it has none in flight or DrainUntil passes.
	Draining   bool
	DrainUntil time.Time
}

// Reporter hears what the data plane learns about targets; the elb
// service records it (DescribeTargetHealth, ECS services).
type Reporter interface {
	// TargetHealth is called when a target's health changes.
	TargetHealth(groupARN, targetKey string, r health.Result)
	// TargetDrained is called once a draining target has no request or
	// connection in flight, or its DrainUntil has passed.
	TargetDrained(groupARN, targetKey string)
}
