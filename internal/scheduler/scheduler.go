// Package scheduler owns task placement: a pure function from a task's demand
// and a snapshot of candidate container instances to a chosen instance, or to
// an explanation of why every instance was rejected. Stages are chained in one
// place (Plan, which Place wraps for one task): agent -> resources ->
// constraints -> strategies -> select.
package scheduler

import (
	"fmt"
	"slices"
	"time"
)

// Failure reasons, as ECS reports them in RunTask's failures[].
const (
	ReasonCPU       = "RESOURCE:CPU"
	ReasonMemory    = "RESOURCE:MEMORY"
	ReasonPorts     = "RESOURCE:PORTS"
	ReasonGPU       = "RESOURCE:GPU"
	ReasonAgent     = "AGENT"
	ReasonAttribute = "ATTRIBUTE"
	ReasonInactive  = "INACTIVE"
	ReasonDistinct  = "DistinctInstance placement constraint unsatisfied."
	ReasonMemberOf  = "MemberOf placement constraint unsatisfied."
)

// Demand is what one task needs from an instance.
type Demand struct {
	CPU      int32
	Memory   int32
	Ports    []string // static TCP host ports
	PortsUDP []string // static UDP host ports
	// GPUs is how many GPUs the task's containers ask for, together.
	GPUs int32
	// Group is the task group (e.g. "family:web"), for distinctInstance.
	Group string
}

// Candidate is a container instance as placement sees it.
type Candidate struct {
	ID        string
	ARN       string
	Active    bool // status ACTIVE (not DRAINING, not INACTIVE)
	Connected bool // agentConnected
	// Remaining resources.
	CPU      int32
	Memory   int32
	Ports    []string // TCP host ports in use or reserved
	PortsUDP []string
	// GPUs are the ids of the GPUs no task holds, sorted: a task takes
	// the first it needs (Take), so the choice is the same on every server.
	GPUs []string
	// Attributes, for constraints and spread by attribute.
	Attributes map[string]string
	// What memberOf expressions may ask besides attributes.
	EC2InstanceID string
	AgentVersion  string
	RegisteredAt  time.Time
	RunningTasks  int // tasks on the instance that have not stopped
}

// Take records that a task with demand d now holds resources on c, so the
// next placement in the same decision sees them gone.
// The port slices may be shared with the snapshot the candidate came
// from, so they are copied, never appended to in place.
func (c *Candidate) Take(d Demand) {
	c.CPU -= d.CPU
	c.Memory -= d.Memory
	c.Ports = append(slices.Clip(c.Ports), d.Ports...)
	c.PortsUDP = append(slices.Clip(c.PortsUDP), d.PortsUDP...)
	c.GPUs = c.GPUs[min(int(max(d.GPUs, 0)), len(c.GPUs)):] // resliced, never written
}

// Strategy is one placement strategy: binpack, spread or random.
type Strategy struct {
	Type  string // "binpack", "spread", "random"
	Field string // binpack: cpu|memory; spread: instanceId|host|attribute:<name>
}

// Constraint is one placement constraint: distinctInstance, or memberOf
// with its compiled expression.
type Constraint struct {
	Type   string  // "distinctInstance" or "memberOf"
	Member Matcher // memberOf only
}

// Matcher is a compiled memberOf expression (a Cluster Query Language
// expression, see package cql, adapted by the caller).
type Matcher interface {
	// Match says whether the instance satisfies the expression.
	Match(c *Candidate) bool
	// ReadsTasks says whether the answer depends on the instance's tasks
	// (runningTasksCount, task:group), which change as a decision places
	// tasks; other expressions are asked once per instance and decision.
	ReadsTasks() bool
	// String is the expression, for explanations.
	String() string
}

// Rejection explains why one instance cannot take the task.
type Rejection struct {
	ARN    string
	Reason string // as ECS reports it (Reason*)
	// Expr is the memberOf expression the instance failed, if that was it.
	Expr string
}

// Request is one placement decision to make.
type Request struct {
	Demand      Demand
	Candidates  []Candidate
	Strategies  []Strategy
	Constraints []Constraint
	// GroupCount says how many tasks of Demand.Group an instance already
	// runs (nil: none anywhere). It is asked only by the stages that need it
	// (spread, distinctInstance), so a placement that does not pays nothing.
	GroupCount func(instanceID string) int
	// Rand returns a number in [0, n); it breaks ties.
	Rand func(n int) int
}

func (req Request) groupCount(id string) int {
	if req.GroupCount == nil {
		return 0
	}
	return req.GroupCount(id)
}

// Place picks an instance for one task. When none fits it returns ok=false
// and one rejection per instance, saying why. A placement that succeeds
// builds no rejections: their cost is paid only when they are the answer.
// To place several tasks of one demand, use a Plan.
func Place(req Request) (chosen Candidate, rejections []Rejection, ok bool) {
	p := NewPlan(req)
	i, ok := p.Next()
	if !ok {
		return Candidate{}, p.Rejections(), false
	}
	return req.Candidates[i], nil, true
}

func overlaps(want, used []string) bool {
	for _, p := range want {
		if slices.Contains(used, p) {
			return true
		}
	}
	return false
}

// compareKeys orders score vectors lexicographically.
func compareKeys(a, b []float64) int {
	for k := range a {
		if a[k] != b[k] {
			if a[k] < b[k] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func spreadsByInstance(field string) bool {
	return field == "instanceId" || field == "host" || field == ""
}

func attrName(field string) string {
	const p = "attribute:"
	if len(field) > len(p) && field[:len(p)] == p {
		return field[len(p):]
	}
	return field
}

// ValidateStrategy says whether a strategy is one ECS accepts.
func ValidateStrategy(s Strategy) error {
	switch s.Type {
	case "random":
		return nil
	case "binpack":
		if s.Field == "cpu" || s.Field == "memory" {
			return nil
		}
		return fmt.Errorf("binpack field must be cpu or memory, got %q", s.Field)
	case "spread":
		if s.Field == "" {
			return fmt.Errorf("spread requires a field")
		}
		return nil
	}
	return fmt.Errorf("unknown placement strategy type %q", s.Type)
}
