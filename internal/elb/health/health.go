// Package health runs Elastic Load Balancing's target health checks: for
// every target of every target group in use, a probe every interval (HTTP
// or HTTPS with a path and a matcher of codes, or a TCP connect), counted
// against the group's healthy and unhealthy thresholds as ELB counts them.
// A target starts "initial" and turns "healthy" after HealthyThreshold
// passes in a row, "unhealthy" after UnhealthyThreshold failures in a row
// (and back). Draining targets are not probed.
package health

import (
	"log/slog"
	"time"
)

// Check is a target group's health check settings.
type Check struct {
	// Enabled false: targets are healthy as soon as registered (ELB
	// allows this for ip and instance groups only with some protocols;
	// the API decides).
	Enabled bool
	// Protocol is HTTP, HTTPS or TCP.
	Protocol string
	// Port is "traffic-port" (the target's own port) or a port number.
	Port string
	// Path is the HTTP(S) request path (default "/").
	Path     string
	Interval time.Duration
	Timeout  time.Duration
	// HealthyThreshold and UnhealthyThreshold are consecutive results.
	HealthyThreshold, UnhealthyThreshold int
	// Matcher is the HTTP codes that pass: "200", "200,202", "200-299".
	Matcher string
}

// Result is a target's health.
type Result struct {
	// State is initial, healthy or unhealthy (lbtarget's constants).
	State string
	// Reason is ELB's code: Elb.RegistrationInProgress (initial),
	// Elb.InitialHealthChecking, Target.ResponseCodeMismatch,
	// Target.Timeout, Target.FailedHealthChecks; "" when healthy.
	Reason string
	// Description is ELB's sentence for it, e.g. "Health checks failed
	// with these codes: [500]".
	Description string
}

// Target is one target to probe.
type Target struct {
	// Key is "<id>:<port>".
	Key string
	// Addr is the target's ip:port (traffic port); a Check.Port other than
	// traffic-port replaces the port.
	Addr string
}

// Group is one target group's targets and check.
type Group struct {
	ARN     string
	Check   Check
	Targets []Target
}

// Options configure a Prober.
type Options struct {
	// Report is called (from the prober's goroutines, never under its
	// locks) each time a target's Result changes, the first "initial"
	// included.
	Report func(groupARN, targetKey string, r Result)
	Logger *slog.Logger
}
