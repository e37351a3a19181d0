// Package lbtarget holds the few plain types ECS services and Elastic Load
// Balancing exchange: ECS registers a service's tasks in target groups and
// reads back their health; internal/elb implements what ECS asks for
// (ecs.LoadBalancing). Neither package imports the other.
package lbtarget

import (
	"errors"
	"strconv"
)

// ErrTargetGroupNotFound is returned for a target group ARN that names
// none (in that region).
var ErrTargetGroupNotFound = errors.New("target group not found")

// Target is one registration in a target group.
type Target struct {
	// ID is the target's id as ELB names it: an EC2 instance id (target
	// type instance) or an IP address (target type ip).
	ID   string
	Port int32
	// Address is the IP the data plane dials for an instance target (the
	// container instance's host address); "" lets ELB resolve it.
	Address string
}

// Key is the target's identity within its group: "<id>:<port>".
func (t Target) Key() string { return t.ID + ":" + strconv.Itoa(int(t.Port)) }

// Health states, as DescribeTargetHealth names them.
const (
	StateInitial     = "initial"
	StateHealthy     = "healthy"
	StateUnhealthy   = "unhealthy"
	StateUnused      = "unused"
	StateDraining    = "draining"
	StateUnavailable = "unavailable"
)

// Status is a registered target and its health.
type Status struct {
	Target
	// State is one of the State constants; Reason is ELB's reason code
	// (Elb.RegistrationInProgress, Target.FailedHealthChecks, ...), ""
	// when healthy.
	State, Reason, Description string
}

// Group is what ECS needs to know of a target group.
type Group struct {
	ARN string
	// TargetType is instance, ip, lambda or alb.
	TargetType string
	Protocol   string
	Port       int32
	// LoadBalancerARNs are the load balancers whose listeners or rules
	// forward to the group (ECS refuses a group with none).
	LoadBalancerARNs []string
	// DeregistrationDelaySeconds is the group's
	// deregistration_delay.timeout_seconds.
	DeregistrationDelaySeconds int
}
