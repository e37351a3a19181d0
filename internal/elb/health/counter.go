package health

import "github.com/berth-dev/berth/internal/lbtarget"

// ELB's reason codes and the sentences it gives with them.
const (
	ReasonRegistrationInProgress = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking  = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch   = "Target.ResponseCodeMismatch"
	ReasonTimeout                = "Target.Timeout"
	ReasonFailedHealthChecks     = "Target.FailedHealthChecks"

	descRegistrationInProgress = "Target registration is in progress"
	descInitialHealthChecking  = "Initial health checks in progress"
	descTimeout                = "Request timed out"
	descFailedHealthChecks     = "Health checks failed"
)

var (
	registering = Result{State: lbtarget.StateInitial, Reason: ReasonRegistrationInProgress, Description: descRegistrationInProgress}
	checking    = Result{State: lbtarget.StateInitial, Reason: ReasonInitialHealthChecking, Description: descInitialHealthChecking}
	healthy     = Result{State: lbtarget.StateHealthy}
)

// outcome is one probe's verdict; a failure carries the reason the target
// becomes unhealthy with if it is the one that crosses the threshold.
type outcome struct {
	ok          bool
	reason      string
	description string
}

// counter counts consecutive passes and failures against a check's
// thresholds. It is reset (a new counter) whenever the check restarts,
// while the Result it is fed carries over.
type counter struct {
	healthyThreshold, unhealthyThreshold int
	passes, fails                        int
}

// observe returns the Result after o: healthy after healthyThreshold passes
// in a row, unhealthy after unhealthyThreshold failures in a row (from
// initial too), otherwise the current state (initial turns into "initial
// health checking" once a probe has been counted).
func (c *counter) observe(cur Result, o outcome) Result {
	if o.ok {
		c.passes++
		c.fails = 0
		if c.passes >= c.healthyThreshold {
			return healthy
		}
	} else {
		c.fails++
		c.passes = 0
		if c.fails >= c.unhealthyThreshold {
			return Result{State: lbtarget.StateUnhealthy, Reason: o.reason, Description: o.description}
		}
	}
	if cur.State == lbtarget.StateInitial {
		return checking
	}
	return cur
}
