package elb

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// Registration limits, as AWS's default quotas: targets per target group
// (instances or IP addresses), and registrations of one target id (on
// several ports). AWS counts the second per load balancer; Berth counts it
// per target group, which is what a registration can check without
// reading every group of every load balancer the group serves.
const (
	maxTargetsPerGroup        = 1000
	maxRegistrationsPerTarget = 100
)

// Target group attributes the targets and the data plane read, with the
// defaults a record that lacks them falls back to.
const (
	attrDeregistrationDelay    = "deregistration_delay.timeout_seconds"
	defaultDeregistrationDelay = 300
)

// instanceIDPattern is an EC2 instance id: 8 or 17 hex digits.
var instanceIDPattern = regexp.MustCompile(`^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$`)

// targetSpec is one target of a register or deregister call, its port
// resolved.
type targetSpec struct {
	ID   string
	Port int32
	// AZ is the AvailabilityZone the caller gave, echoed back.
	AZ string
	// Address is the IP to dial, when the caller knows it (ECS); ""
	// resolves it (instance targets) or takes the id (ip targets).
	Address string
}

// key is the target's identity within its group: "<id>:<port>".
func (t targetSpec) key() string { return t.ID + ":" + strconv.Itoa(int(t.Port)) }

func (t targetSpec) description() elbv2types.TargetDescription {
	d := elbv2types.TargetDescription{Id: aws.String(t.ID), Port: aws.Int32(t.Port)}
	if t.AZ != "" {
		d.AvailabilityZone = aws.String(t.AZ)
	}
	return d
}

// targetID is a target's record id: "<region>/<tgID>/<id>:<port>".
func targetID(p parsedARN, key string) string { return p.tgKey() + "/" + key }

// groupTargetsPrefix is the id prefix of a group's targets (and their
// health records).
func groupTargetsPrefix(p parsedARN) string { return p.tgKey() + "/" }

// errGroupNotFound answers an ARN that names no target group.
func errGroupNotFound(arn string) *awserr.Error {
	return awserr.Newf(elbv2types.ErrCodeTargetGroupNotFoundException, "Target groups '%s' not found", arn)
}

func errTargetValidation(format string, args ...any) *awserr.Error {
	return awserr.Newf(awserr.CodeQueryValidation, format, args...)
}

func errInvalidTarget(format string, args ...any) *awserr.Error {
	return awserr.Newf(elbv2types.ErrCodeInvalidTargetException, format, args...)
}

// quoteList renders ids as AWS's messages list them: 'a', 'b'.
func quoteList(ids []string) string {
	return "'" + strings.Join(ids, "', '") + "'"
}

// parseGroupARN parses a target group ARN of this account; ValidationError
// when it is not one.
func (s *Service) parseGroupARN(arn string) (parsedARN, error) {
	p, ok := s.arns.parse(arn)
	if !ok || p.Kind != "targetgroup" {
		return parsedARN{}, errTargetValidation("'%s' is not a valid target group ARN", arn)
	}
	return p, nil
}

// getGroup reads a target group (tracked); TargetGroupNotFound when there
// is none.
func getGroup(tx *store.Tx, p parsedARN, arn string) (tgRecord, error) {
	tg, err := store.Get(tx, targetGroups, p.tgKey())
	if errors.Is(err, store.ErrNotFound) {
		return tgRecord{}, errGroupNotFound(arn)
	}
	if err != nil {
		return tgRecord{}, fmt.Errorf("read target group %s: %w", arn, err)
	}
	return tg, nil
}

// groupAttrInt is an integer attribute of a group, def when it is absent
// or unreadable.
func groupAttrInt(attrs map[string]string, key string, def int) int {
	if v, ok := attrs[key]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n
		}
	}
	return def
}

// deregistrationDelay is how long the group's targets drain.
func (tg *tgRecord) deregistrationDelay() time.Duration {
	return time.Duration(groupAttrInt(tg.Attributes, attrDeregistrationDelay, defaultDeregistrationDelay)) * time.Second
}

// inUse: some listener or rule forwards to the group.
func (tg *tgRecord) inUse() bool { return len(tg.TG.LoadBalancerArns) > 0 }

// specsFrom resolves the ports of the targets of a request: a target
// without one takes the group's, and a group without a port (lambda)
// needs every target to name one.
func specsFrom(tg *tgRecord, ds []elbv2types.TargetDescription) ([]targetSpec, error) {
	out := make([]targetSpec, 0, len(ds))
	for _, d := range ds {
		t := targetSpec{ID: aws.ToString(d.Id), AZ: aws.ToString(d.AvailabilityZone)}
		switch {
		case d.Port != nil:
			t.Port = *d.Port
		case tg.TG.Port != nil:
			t.Port = *tg.TG.Port
		default:
			return nil, errTargetValidation("A port must be specified for target '%s': the target group has no port", t.ID)
		}
		if t.Port < 1 || t.Port > 65535 {
			return nil, errTargetValidation("Port %d of target '%s' is not in the range 1-65535", t.Port, t.ID)
		}
		out = append(out, t)
	}
	return out, nil
}

// dedupe drops repeats of a target (same id and port), keeping the first.
func dedupe(ts []targetSpec) []targetSpec {
	seen := make(map[string]bool, len(ts))
	out := ts[:0:0]
	for _, t := range ts {
		if !seen[t.key()] {
			seen[t.key()] = true
			out = append(out, t)
		}
	}
	return out
}

// registration is what RegisterTargets needs of the caller: the targets,
// and who registers them ("" for the API).
type registration struct {
	Region string
	Group  parsedARN
	ARN    string
	Owner  string
	Specs  []targetSpec
}

// register registers targets in the group tg (read in tx): new ones are
// written, draining ones are registered again, registered ones stay as
// they are (nothing is written for them). Invalid targets fail the
// whole call.
func (s *Service) register(ctx context.Context, tx *store.Tx, tg *tgRecord, r registration) error {
	specs := dedupe(r.Specs)
	ids := make([]string, len(specs))
	for i, t := range specs {
		ids[i] = targetID(r.Group, t.key())
	}
	existing, err := store.GetMany(tx, targets, ids)
	if err != nil {
		return fmt.Errorf("read targets of %s: %w", r.ARN, err)
	}
	var fresh []targetSpec
	for i, t := range specs {
		rec, ok := existing[ids[i]]
		switch {
		case !ok:
			fresh = append(fresh, t)
		case !rec.DrainUntil.IsZero():
			rec.DrainUntil = time.Time{}
			rec.Owner = r.Owner
			if t.Address != "" {
				rec.Address = t.Address
			}
			store.Put(tx, targets, ids[i], rec)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	// Only new targets are checked (and their addresses resolved): a
	// registered one passed when it was registered.
	if err := s.resolveAddresses(ctx, tg, r.Region, fresh); err != nil {
		return err
	}
	if err := s.checkLimits(tx, r, fresh); err != nil {
		return err
	}
	now := s.now()
	for _, t := range fresh {
		store.Put(tx, targets, targetID(r.Group, t.key()), targetRecord{
			Target: t.description(), Address: t.Address, Owner: r.Owner, RegisteredAt: now,
		})
	}
	return nil
}

// checkLimits refuses registrations past AWS's quotas. The count is read
// untracked: a group's targets can number a thousand, too many to compare
// at commit, so two racing registrations may together pass the limit.
func (s *Service) checkLimits(tx *store.Tx, r registration, fresh []targetSpec) error {
	current, err := store.ListUntracked(tx, targets, groupTargetsPrefix(r.Group))
	if err != nil {
		return fmt.Errorf("count targets of %s: %w", r.ARN, err)
	}
	if len(current)+len(fresh) > maxTargetsPerGroup {
		return awserr.Newf(elbv2types.ErrCodeTooManyTargetsException,
			"You have reached the maximum number of targets (%d) per target group", maxTargetsPerGroup)
	}
	perID := map[string]int{}
	for _, rec := range current {
		perID[aws.ToString(rec.Target.Id)]++
	}
	for _, t := range fresh {
		if perID[t.ID]++; perID[t.ID] > maxRegistrationsPerTarget {
			return awserr.Newf(elbv2types.ErrCodeTooManyRegistrationsForTargetIdException,
				"Target '%s' cannot be registered more than %d times", t.ID, maxRegistrationsPerTarget)
		}
	}
	return nil
}

// resolveAddresses checks the targets' ids against the group's target
// type and fills in the address of each: an ip target's is its id, an
// instance target's comes from Config.InstanceAddress unless the caller
// gave one. Every invalid target is named in the one error.
func (s *Service) resolveAddresses(ctx context.Context, tg *tgRecord, region string, ts []targetSpec) error {
	var bad []string
	switch typ := aws.ToString(tg.TG.TargetType); typ {
	case "", "instance":
		for i, t := range ts {
			if !instanceIDPattern.MatchString(t.ID) {
				bad = append(bad, t.ID)
				continue
			}
			if t.Address != "" {
				if _, err := netip.ParseAddr(t.Address); err != nil {
					return errInvalidTarget("Target '%s' has an invalid address '%s'", t.ID, t.Address)
				}
				continue
			}
			addr, ok := "", false
			if s.cfg.InstanceAddress != nil {
				addr, ok = s.cfg.InstanceAddress(ctx, region, t.ID)
			}
			if !ok {
				bad = append(bad, t.ID)
				continue
			}
			ts[i].Address = addr
		}
		if len(bad) > 0 {
			return errInvalidTarget("The following targets are not valid instances: %s", quoteList(bad))
		}
	case "ip":
		wantV6 := aws.ToString(tg.TG.IpAddressType) == "ipv6"
		for i, t := range ts {
			a, err := netip.ParseAddr(t.ID)
			if err != nil || a.Zone() != "" || a.Is4() == wantV6 || a.Is4In6() {
				bad = append(bad, t.ID)
				continue
			}
			ts[i].Address = a.String()
		}
		if len(bad) > 0 {
			kind := "IPv4"
			if wantV6 {
				kind = "IPv6"
			}
			return errInvalidTarget("The following targets are not valid %s addresses: %s", kind, quoteList(bad))
		}
	default:
		return errInvalidTarget("Berth does not support targets of target type '%s'", typ)
	}
	return nil
}

// deregister starts draining targets of the group tg (read in tx): each
// gets DrainUntil = now + the group's deregistration delay, or goes at
// once (with its health) when the group is not in use or the delay is 0.
// Targets already draining keep their deadline. Targets not registered
// fail the call when strict (the API), and are skipped otherwise (ECS).
func (s *Service) deregister(tx *store.Tx, tg *tgRecord, p parsedARN, arn string, specs []targetSpec, strict bool) error {
	specs = dedupe(specs)
	ids := make([]string, len(specs))
	for i, t := range specs {
		ids[i] = targetID(p, t.key())
	}
	existing, err := store.GetMany(tx, targets, ids)
	if err != nil {
		return fmt.Errorf("read targets of %s: %w", arn, err)
	}
	var missing []string
	for i, t := range specs {
		if _, ok := existing[ids[i]]; !ok {
			missing = append(missing, t.ID)
		}
	}
	if len(missing) > 0 && strict {
		return errInvalidTarget("The following targets are not registered in target group '%s': %s", arn, quoteList(missing))
	}
	delay := tg.deregistrationDelay()
	now := s.now()
	for _, id := range ids {
		rec, ok := existing[id]
		switch {
		case !ok:
		case !tg.inUse() || delay <= 0:
			store.Delete(tx, targets, id)
			store.Delete(tx, targetHealth, id)
		case rec.DrainUntil.IsZero():
			rec.DrainUntil = now.Add(delay)
			store.Put(tx, targets, id, rec)
		}
	}
	return nil
}

func (s *Service) registerTargetsOp(ctx context.Context, in *elbv2types.RegisterTargetsInput) (*elbv2types.RegisterTargetsOutput, error) {
	arn := aws.ToString(in.TargetGroupArn)
	p, err := s.parseGroupARN(arn)
	if err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		tg, err := getGroup(tx, p, arn)
		if err != nil {
			return err
		}
		specs, err := specsFrom(&tg, in.Targets)
		if err != nil {
			return err
		}
		return s.register(ctx, tx, &tg, registration{Region: p.Region, Group: p, ARN: arn, Specs: specs})
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.RegisterTargetsOutput{}, nil
}

func (s *Service) deregisterTargetsOp(ctx context.Context, in *elbv2types.DeregisterTargetsInput) (*elbv2types.DeregisterTargetsOutput, error) {
	arn := aws.ToString(in.TargetGroupArn)
	p, err := s.parseGroupARN(arn)
	if err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		tg, err := getGroup(tx, p, arn)
		if err != nil {
			return err
		}
		specs, err := specsFrom(&tg, in.Targets)
		if err != nil {
			return err
		}
		return s.deregister(tx, &tg, p, arn, specs, true)
	})
	if err != nil {
		return nil, err
	}
	return &elbv2types.DeregisterTargetsOutput{}, nil
}
