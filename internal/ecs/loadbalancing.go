package ecs

import (
	"context"

	"github.com/berth-dev/berth/internal/lbtarget"
)

// LoadBalancing is what services with loadBalancers[] need of Elastic Load
// Balancing (internal/elb implements it): the target groups they name, and
// their tasks' registrations and health. Region is the service's.
type LoadBalancing interface {
	// TargetGroup describes a target group; lbtarget.ErrTargetGroupNotFound
	// when the ARN names none.
	TargetGroup(ctx context.Context, region, arn string) (lbtarget.Group, error)
	// RegisterTargets registers targets for owner (a service ARN); a
	// target already registered stays as it is (a draining one is
	// registered again).
	RegisterTargets(ctx context.Context, region, groupARN, owner string, ts []lbtarget.Target) error
	// DeregisterTargets starts draining targets; the group drops each once
	// it has nothing in flight or its deregistration delay has passed.
	DeregisterTargets(ctx context.Context, region, groupARN string, ts []lbtarget.Target) error
	// OwnedTargets lists the targets owner registered in the group that
	// are still there, draining ones included, with their health.
	OwnedTargets(ctx context.Context, region, groupARN, owner string) ([]lbtarget.Status, error)
}
