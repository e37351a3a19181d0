package elb

import (
	"context"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/lbtarget"
	"github.com/berth-dev/berth/internal/store"
)

// Reason codes and ELB's sentences for the states the API decides itself
// (the data plane's prober gives the others).
const (
	reasonRegistrationInProgress   = "Elb.RegistrationInProgress"
	reasonDeregistrationInProgress = "Target.DeregistrationInProgress"
	reasonNotInUse                 = "Target.NotInUse"
	reasonNotRegistered            = "Target.NotRegistered"
)

var reasonDescriptions = map[string]string{
	reasonRegistrationInProgress:   "Target registration is in progress",
	reasonDeregistrationInProgress: "Target deregistration is in progress",
	reasonNotInUse:                 "Target group is not configured to receive traffic from the load balancer",
	reasonNotRegistered:            "Target is not registered to the target group",
}

// targetHealthView is a target's health as DescribeTargetHealth and ECS's
// OwnedTargets report it.
type targetHealthView struct {
	State, Reason, Description string
}

func viewOf(state, reason string) targetHealthView {
	return targetHealthView{State: state, Reason: reason, Description: reasonDescriptions[reason]}
}

// healthOf is a registered target's health: draining while it drains,
// unused when no load balancer uses its group, then what the data plane
// last reported (h, nil when it reported nothing), initial until it has.
// Draining comes first so that a target whose group stopped being used
// mid-drain is still seen to drain (ECS counts on it).
func healthOf(tg *tgRecord, t *targetRecord, h *healthRecord) targetHealthView {
	switch {
	case !t.DrainUntil.IsZero():
		return viewOf(lbtarget.StateDraining, reasonDeregistrationInProgress)
	case !tg.inUse():
		return viewOf(lbtarget.StateUnused, reasonNotInUse)
	case h != nil && h.State != "":
		return targetHealthView{State: h.State, Reason: h.Reason, Description: h.Description}
	default:
		return viewOf(lbtarget.StateInitial, reasonRegistrationInProgress)
	}
}

// healthCheckPort is the port the group's health checks probe a target
// on, as DescribeTargetHealth names it.
func healthCheckPort(tg *tgRecord, port int32) string {
	if p := aws.ToString(tg.TG.HealthCheckPort); p != "" && p != "traffic-port" {
		return p
	}
	return strconv.Itoa(int(port))
}

func (s *Service) describeTargetHealthOp(ctx context.Context, in *elbv2types.DescribeTargetHealthInput) (*elbv2types.DescribeTargetHealthOutput, error) {
	arn := aws.ToString(in.TargetGroupArn)
	p, err := s.parseGroupARN(arn)
	if err != nil {
		return nil, err
	}
	var out []elbv2types.TargetHealthDescription
	err = s.st.View(ctx, func(tx *store.Tx) error {
		tg, err := getGroup(tx, p, arn)
		if err != nil {
			return err
		}
		if len(in.Targets) == 0 {
			out, err = s.describeAll(tx, &tg, p)
			return err
		}
		out, err = s.describeAsked(ctx, tx, &tg, p, in.Targets)
		return err
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []elbv2types.TargetHealthDescription{}
	}
	return &elbv2types.DescribeTargetHealthOutput{TargetHealthDescriptions: out}, nil
}

func describeOne(tg *tgRecord, t *targetRecord, h *healthRecord) elbv2types.TargetHealthDescription {
	v := healthOf(tg, t, h)
	target := t.Target
	return elbv2types.TargetHealthDescription{
		Target:          &target,
		HealthCheckPort: aws.String(healthCheckPort(tg, aws.ToInt32(t.Target.Port))),
		TargetHealth:    v.wire(),
	}
}

func (v targetHealthView) wire() *elbv2types.TargetHealth {
	th := &elbv2types.TargetHealth{State: aws.String(v.State)}
	if v.Reason != "" {
		th.Reason = aws.String(v.Reason)
	}
	if v.Description != "" {
		th.Description = aws.String(v.Description)
	}
	return th
}

// groupTargets reads a group's targets and their health, by "<id>:<port>",
// in key order, with Scan (bounded batches, untracked: for View).
func groupTargets(tx *store.Tx, p parsedARN) (keys []string, ts map[string]targetRecord, hs map[string]healthRecord, err error) {
	prefix := groupTargetsPrefix(p)
	ts, hs = map[string]targetRecord{}, map[string]healthRecord{}
	err = store.Scan(tx, targets, prefix, "", false, func(id string, t targetRecord) (bool, error) {
		k := strings.TrimPrefix(id, prefix)
		keys = append(keys, k)
		ts[k] = t
		return true, nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	err = store.Scan(tx, targetHealth, prefix, "", false, func(id string, h healthRecord) (bool, error) {
		hs[strings.TrimPrefix(id, prefix)] = h
		return true, nil
	})
	return keys, ts, hs, err
}

func (s *Service) describeAll(tx *store.Tx, tg *tgRecord, p parsedARN) ([]elbv2types.TargetHealthDescription, error) {
	keys, ts, hs, err := groupTargets(tx, p)
	if err != nil {
		return nil, err
	}
	out := make([]elbv2types.TargetHealthDescription, 0, len(keys))
	for _, k := range keys {
		t := ts[k]
		var h *healthRecord
		if rec, ok := hs[k]; ok {
			h = &rec
		}
		out = append(out, describeOne(tg, &t, h))
	}
	return out, nil
}

// describeAsked answers the targets asked for, in the order asked: an
// asked target that is not registered is unused (Target.NotRegistered),
// unless its id cannot be one of the group's targets at all (InvalidTarget,
// as AWS answers for an instance that does not exist).
func (s *Service) describeAsked(ctx context.Context, tx *store.Tx, tg *tgRecord, p parsedARN, asked []elbv2types.TargetDescription) ([]elbv2types.TargetHealthDescription, error) {
	specs, err := specsFrom(tg, asked)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(specs))
	for i, t := range specs {
		ids[i] = targetID(p, t.key())
	}
	ts, err := store.GetMany(tx, targets, ids)
	if err != nil {
		return nil, err
	}
	hs, err := store.GetMany(tx, targetHealth, ids)
	if err != nil {
		return nil, err
	}
	var unknown []targetSpec
	for i, t := range specs {
		if _, ok := ts[ids[i]]; !ok {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) > 0 {
		if err := s.resolveAddresses(ctx, tg, p.Region, unknown); err != nil {
			return nil, err
		}
	}
	out := make([]elbv2types.TargetHealthDescription, 0, len(specs))
	for i, t := range specs {
		rec, ok := ts[ids[i]]
		if !ok {
			out = append(out, elbv2types.TargetHealthDescription{
				Target:          &elbv2types.TargetDescription{Id: aws.String(t.ID), Port: aws.Int32(t.Port)},
				HealthCheckPort: aws.String(healthCheckPort(tg, t.Port)),
				TargetHealth:    viewOf(lbtarget.StateUnused, reasonNotRegistered).wire(),
			})
			continue
		}
		var h *healthRecord
		if hr, ok := hs[ids[i]]; ok {
			h = &hr
		}
		out = append(out, describeOne(tg, &rec, h))
	}
	return out, nil
}
