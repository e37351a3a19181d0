package elb

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/lbtarget"
	"github.com/berth-dev/berth/internal/store"
)

// What ECS services ask of load balancing (ecs.LoadBalancing; this package
// does not import internal/ecs, whose interface these methods match). The
// service controller calls them on every pass, so they read little and
// write only what changes.

// ecsGroup parses a group ARN ECS passes: lbtarget.ErrTargetGroupNotFound
// when it names no target group of this account in region.
func (s *Service) ecsGroup(region, arn string) (parsedARN, error) {
	p, ok := s.arns.parse(arn)
	if !ok || p.Kind != "targetgroup" || p.Region != region {
		return parsedARN{}, fmt.Errorf("target group %s: %w", arn, lbtarget.ErrTargetGroupNotFound)
	}
	return p, nil
}

// ecsError turns TargetGroupNotFound into lbtarget's error.
func ecsError(arn string, err error) error {
	if e, ok := awserr.As(err); ok && e.Code == elbv2types.ErrCodeTargetGroupNotFoundException {
		return fmt.Errorf("target group %s: %w", arn, lbtarget.ErrTargetGroupNotFound)
	}
	return err
}

// TargetGroup describes a target group for ECS.
func (s *Service) TargetGroup(ctx context.Context, region, arn string) (lbtarget.Group, error) {
	p, err := s.ecsGroup(region, arn)
	if err != nil {
		return lbtarget.Group{}, err
	}
	var tg tgRecord
	err = s.st.View(ctx, func(tx *store.Tx) error {
		tg, err = getGroup(tx, p, arn)
		return err
	})
	if err != nil {
		return lbtarget.Group{}, ecsError(arn, err)
	}
	return lbtarget.Group{
		ARN:                        aws.ToString(tg.TG.TargetGroupArn),
		TargetType:                 aws.ToString(tg.TG.TargetType),
		Protocol:                   aws.ToString(tg.TG.Protocol),
		Port:                       aws.ToInt32(tg.TG.Port),
		LoadBalancerARNs:           append([]string(nil), tg.TG.LoadBalancerArns...),
		DeregistrationDelaySeconds: int(tg.deregistrationDelay().Seconds()),
	}, nil
}

func ecsSpecs(ts []lbtarget.Target) []targetSpec {
	out := make([]targetSpec, len(ts))
	for i, t := range ts {
		out[i] = targetSpec{ID: t.ID, Port: t.Port, Address: t.Address}
	}
	return out
}

// RegisterTargets registers targets for owner (an ECS service ARN),
// storing the addresses ECS gives. Targets already registered stay as
// they are, and then nothing is written; draining ones are registered
// again (for owner).
func (s *Service) RegisterTargets(ctx context.Context, region, groupARN, owner string, ts []lbtarget.Target) error {
	p, err := s.ecsGroup(region, groupARN)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.Port < 1 || t.Port > 65535 {
			return fmt.Errorf("register %s in %s: port %d out of range", t.Key(), groupARN, t.Port)
		}
	}
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		tg, err := getGroup(tx, p, groupARN)
		if err != nil {
			return err
		}
		return s.register(ctx, tx, &tg, registration{Region: region, Group: p, ARN: groupARN, Owner: owner, Specs: ecsSpecs(ts)})
	})
	if err != nil {
		return fmt.Errorf("register targets in %s: %w", groupARN, ecsError(groupARN, err))
	}
	return nil
}

// DeregisterTargets starts draining targets (see deregister); targets no
// longer registered are skipped.
func (s *Service) DeregisterTargets(ctx context.Context, region, groupARN string, ts []lbtarget.Target) error {
	p, err := s.ecsGroup(region, groupARN)
	if err != nil {
		return err
	}
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		tg, err := getGroup(tx, p, groupARN)
		if err != nil {
			return err
		}
		return s.deregister(tx, &tg, p, groupARN, ecsSpecs(ts), false)
	})
	if err != nil {
		return fmt.Errorf("deregister targets from %s: %w", groupARN, ecsError(groupARN, err))
	}
	return nil
}

// OwnedTargets lists the targets owner registered in the group, draining
// ones included, with their health as DescribeTargetHealth reports it.
func (s *Service) OwnedTargets(ctx context.Context, region, groupARN, owner string) ([]lbtarget.Status, error) {
	p, err := s.ecsGroup(region, groupARN)
	if err != nil {
		return nil, err
	}
	var out []lbtarget.Status
	err = s.st.View(ctx, func(tx *store.Tx) error {
		out = nil
		tg, err := getGroup(tx, p, groupARN)
		if err != nil {
			return err
		}
		keys, ts, hs, err := groupTargets(tx, p)
		if err != nil {
			return err
		}
		for _, k := range keys {
			t := ts[k]
			if t.Owner != owner {
				continue
			}
			var h *healthRecord
			if rec, ok := hs[k]; ok {
				h = &rec
			}
			v := healthOf(&tg, &t, h)
			out = append(out, lbtarget.Status{
				Target: lbtarget.Target{ID: aws.ToString(t.Target.Id), Port: aws.ToInt32(t.Target.Port), Address: t.Address},
				State:  v.State, Reason: v.Reason, Description: v.Description,
			})
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, lbtarget.ErrTargetGroupNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("targets of %s in %s: %w", owner, groupARN, ecsError(groupARN, err))
	}
	return out, nil
}
