package elb

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// Listener rules: CreateRule, ModifyRule, DeleteRule, DescribeRules and
// SetRulePriorities. Only application load balancers have rules besides
// the default one.
//
// A listener's default rule is not a record: it is the listener's
// DefaultActions, and its ARN is derived from the listener's with the
// listener's own id as the rule id (arns.rule(listenerARN, listenerID)),
// so that it is stable and recognizable. DescribeRules answers it last,
// with Priority "default" and IsDefault; ModifyRule on it changes the
// listener's default actions; DeleteRule refuses it.

const maxRulesPerLB = 100

// isDefaultRule is whether a rule ARN names a listener's default rule.
func isDefaultRule(p parsedARN) bool { return p.Rule == p.Listener }

// defaultRule is a listener's default rule.
func (s *Service) defaultRule(l elbv2types.Listener, listenerID string) elbv2types.Rule {
	return elbv2types.Rule{
		RuleArn:    aws.String(s.arns.rule(aws.ToString(l.ListenerArn), listenerID)),
		Priority:   aws.String("default"),
		IsDefault:  aws.Bool(true),
		Conditions: []elbv2types.RuleCondition{},
		Actions:    orEmpty(l.DefaultActions),
	}
}

// ruleContext reads what a rule of a listener is checked against.
func ruleContext(tx *store.Tx, p parsedARN) (listenerRecord, lbRecord, error) {
	l, err := getOrErr(tx, listeners, p.listenerKey(), errNoListener())
	if err != nil {
		return l, lbRecord{}, err
	}
	lb, err := getOrErr(tx, loadBalancers, p.lbKey(), errNoLoadBalancer())
	return l, lb, err
}

// CreateRule adds a rule to an application load balancer's listener.
func (s *Service) CreateRule(ctx context.Context, in *elbv2types.CreateRuleInput) (*elbv2types.CreateRuleOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.ListenerArn), "listener")
	if err != nil {
		return nil, err
	}
	if in.Priority == nil {
		return nil, errValidation("A rule priority must be specified")
	}
	if len(in.Transforms) > 0 {
		return nil, errInvalidConfig("Berth does not support rule transforms")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	conds, err := checkConditions(in.Conditions)
	if err != nil {
		return nil, err
	}
	var out elbv2types.Rule
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		l, lb, err := ruleContext(tx, p)
		if err != nil {
			return err
		}
		if aws.ToString(lb.LB.Type) != elbv2types.LoadBalancerTypeEnumApplication {
			return errInvalidConfig("Only listeners of application load balancers can have rules besides the default rule")
		}
		all, err := store.ListUntracked(tx, rules, p.lbKey()+"/")
		if err != nil {
			return fmt.Errorf("list rules: %w", err)
		}
		if len(all) >= maxRulesPerLB {
			return errELB(elbv2types.ErrCodeTooManyRulesException, "You've reached the limit of %d rules per load balancer", maxRulesPerLB)
		}
		prio := priorityString(*in.Priority)
		mine, err := store.ListUntracked(tx, rules, p.listenerKey()+"/")
		if err != nil {
			return fmt.Errorf("list rules: %w", err)
		}
		for _, r := range mine {
			if aws.ToString(r.Rule.Priority) == *prio {
				return errELB(elbv2types.ErrCodePriorityInUseException, "Priority '%d' is currently in use", *in.Priority)
			}
		}
		actions, err := s.checkActions(tx, actionContext{lb: lb, protocol: aws.ToString(l.Listener.Protocol)}, in.Actions)
		if err != nil {
			return err
		}
		id := newID()
		out = elbv2types.Rule{
			RuleArn:    aws.String(s.arns.rule(aws.ToString(l.Listener.ListenerArn), id)),
			Priority:   prio,
			IsDefault:  aws.Bool(false),
			Conditions: conds,
			Actions:    actions,
		}
		store.Put(tx, rules, p.listenerKey()+"/"+id, ruleRecord{Rule: out, Tags: in.Tags})
		return s.relink(tx, p, aws.ToString(lb.LB.LoadBalancerArn), nil)
	})
	if err != nil {
		return nil, fmt.Errorf("create rule: %w", err)
	}
	return &elbv2types.CreateRuleOutput{Rules: []elbv2types.Rule{out}}, nil
}

// ModifyRule replaces a rule's conditions or actions; on the default rule
// it replaces the listener's default actions (a default rule has no
// conditions).
func (s *Service) ModifyRule(ctx context.Context, in *elbv2types.ModifyRuleInput) (*elbv2types.ModifyRuleOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.RuleArn), "listener-rule")
	if err != nil {
		return nil, err
	}
	if len(in.Transforms) > 0 {
		return nil, errInvalidConfig("Berth does not support rule transforms")
	}
	var conds []elbv2types.RuleCondition
	if len(in.Conditions) > 0 {
		if isDefaultRule(p) {
			return nil, errELB(elbv2types.ErrCodeOperationNotPermittedException, "The conditions of a default rule cannot be modified")
		}
		if conds, err = checkConditions(in.Conditions); err != nil {
			return nil, err
		}
	}
	var out elbv2types.Rule
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		l, lb, err := ruleContext(tx, p)
		if err != nil {
			if c := awsCodeOf(err); c == elbv2types.ErrCodeListenerNotFoundException || c == elbv2types.ErrCodeLoadBalancerNotFoundException {
				return errNoRule()
			}
			return err
		}
		ac := actionContext{lb: lb, protocol: aws.ToString(l.Listener.Protocol)}
		touched := map[string]bool{}
		if isDefaultRule(p) {
			addTGKeys(touched, l.Listener.DefaultActions)
			if in.Actions != nil {
				if l.Listener.DefaultActions, err = s.checkActions(tx, ac, in.Actions); err != nil {
					return err
				}
				store.Put(tx, listeners, p.listenerKey(), l)
			}
			out = s.defaultRule(l.Listener, p.Listener)
			return s.relink(tx, p, aws.ToString(lb.LB.LoadBalancerArn), touched)
		}
		rec, err := getOrErr(tx, rules, p.ruleKey(), errNoRule())
		if err != nil {
			return err
		}
		addTGKeys(touched, rec.Rule.Actions)
		if conds != nil {
			rec.Rule.Conditions = conds
		}
		if in.Actions != nil {
			if rec.Rule.Actions, err = s.checkActions(tx, ac, in.Actions); err != nil {
				return err
			}
		}
		store.Put(tx, rules, p.ruleKey(), rec)
		out = rec.Rule
		return s.relink(tx, p, aws.ToString(lb.LB.LoadBalancerArn), touched)
	})
	if err != nil {
		return nil, fmt.Errorf("modify rule: %w", err)
	}
	return &elbv2types.ModifyRuleOutput{Rules: []elbv2types.Rule{out}}, nil
}

// DeleteRule deletes a rule; the default rule cannot be deleted.
func (s *Service) DeleteRule(ctx context.Context, in *elbv2types.DeleteRuleInput) (*elbv2types.DeleteRuleOutput, error) {
	p, err := s.resolve(ctx, aws.ToString(in.RuleArn), "listener-rule")
	if err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		if isDefaultRule(p) {
			if _, err := getOrErr(tx, listeners, p.listenerKey(), errNoRule()); err != nil {
				return err
			}
			return errELB(elbv2types.ErrCodeOperationNotPermittedException, "Default rule '%s' cannot be deleted", aws.ToString(in.RuleArn))
		}
		rec, err := getOrErr(tx, rules, p.ruleKey(), errNoRule())
		if err != nil {
			return err
		}
		lb, err := getOrErr(tx, loadBalancers, p.lbKey(), errNoRule())
		if err != nil {
			return err
		}
		store.Delete(tx, rules, p.ruleKey())
		touched := map[string]bool{}
		addTGKeys(touched, rec.Rule.Actions)
		return s.relink(tx, p, aws.ToString(lb.LB.LoadBalancerArn), touched)
	})
	if err != nil {
		return nil, fmt.Errorf("delete rule: %w", err)
	}
	return &elbv2types.DeleteRuleOutput{}, nil
}

// sortRules orders rules by priority.
func sortRules(rs []elbv2types.Rule) {
	slices.SortStableFunc(rs, func(a, b elbv2types.Rule) int {
		x, _ := strconv.Atoi(aws.ToString(a.Priority))
		y, _ := strconv.Atoi(aws.ToString(b.Priority))
		return x - y
	})
}

// DescribeRules answers a listener's rules by priority, the default rule
// last (paged), or the rules named by ARN (all must exist).
func (s *Service) DescribeRules(ctx context.Context, in *elbv2types.DescribeRulesInput) (*elbv2types.DescribeRulesOutput, error) {
	if (in.ListenerArn == nil) == (len(in.RuleArns) == 0) {
		return nil, errValidation("You must specify either a listener ARN or rule ARNs")
	}
	out := &elbv2types.DescribeRulesOutput{Rules: []elbv2types.Rule{}}
	if in.ListenerArn != nil {
		p, err := s.resolve(ctx, *in.ListenerArn, "listener")
		if err != nil {
			return nil, err
		}
		from, err := decodeMarker(in.Marker, p.listenerKey()+"#")
		if err != nil {
			return nil, err
		}
		offset := 0
		if from != "" {
			if offset, err = strconv.Atoi(strings.TrimPrefix(from, p.listenerKey()+"#")); err != nil || offset < 0 {
				return nil, errValidation("The marker '%s' is not valid", aws.ToString(in.Marker))
			}
		}
		var all []elbv2types.Rule
		err = s.st.View(ctx, func(tx *store.Tx) error {
			l, err := getOrErr(tx, listeners, p.listenerKey(), errNoListener())
			if err != nil {
				return err
			}
			rs, err := store.ListUntracked(tx, rules, p.listenerKey()+"/")
			if err != nil {
				return fmt.Errorf("list rules: %w", err)
			}
			for _, r := range rs {
				all = append(all, r.Rule)
			}
			sortRules(all)
			all = append(all, s.defaultRule(l.Listener, p.Listener))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("describe rules: %w", err)
		}
		offset = min(offset, len(all))
		end := min(offset+pageSize(in.PageSize), len(all))
		out.Rules = append(out.Rules, all[offset:end]...)
		if end < len(all) {
			out.NextMarker = encodeMarker(p.listenerKey() + "#" + strconv.Itoa(end))
		}
		return out, nil
	}
	ps := make([]parsedARN, 0, len(in.RuleArns))
	for _, arn := range in.RuleArns {
		p, err := s.resolve(ctx, arn, "listener-rule")
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		for _, p := range ps {
			if isDefaultRule(p) {
				l, err := getOrErr(tx, listeners, p.listenerKey(), errNoRule())
				if err != nil {
					return err
				}
				out.Rules = append(out.Rules, s.defaultRule(l.Listener, p.Listener))
				continue
			}
			r, err := getOrErr(tx, rules, p.ruleKey(), errNoRule())
			if err != nil {
				return err
			}
			out.Rules = append(out.Rules, r.Rule)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe rules: %w", err)
	}
	return out, nil
}

// SetRulePriorities gives rules new priorities, all or none: a priority
// another rule of the listener keeps afterwards is PriorityInUse.
func (s *Service) SetRulePriorities(ctx context.Context, in *elbv2types.SetRulePrioritiesInput) (*elbv2types.SetRulePrioritiesOutput, error) {
	type change struct {
		p    parsedARN
		prio int32
	}
	var changes []change
	for _, rp := range in.RulePriorities {
		p, err := s.resolve(ctx, aws.ToString(rp.RuleArn), "listener-rule")
		if err != nil {
			return nil, err
		}
		if rp.Priority == nil {
			return nil, errValidation("A priority must be specified for rule '%s'", aws.ToString(rp.RuleArn))
		}
		if isDefaultRule(p) {
			return nil, errELB(elbv2types.ErrCodeOperationNotPermittedException, "The priority of default rule '%s' cannot be changed", aws.ToString(rp.RuleArn))
		}
		changes = append(changes, change{p, *rp.Priority})
	}
	out := &elbv2types.SetRulePrioritiesOutput{Rules: []elbv2types.Rule{}}
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		out.Rules = out.Rules[:0]
		listenerKeys := map[string]bool{}
		for _, c := range changes {
			if err := bumpSerial(tx, c.p.lbKey()); err != nil {
				return err
			}
			rec, err := getOrErr(tx, rules, c.p.ruleKey(), errNoRule())
			if err != nil {
				return err
			}
			rec.Rule.Priority = priorityString(c.prio)
			store.Put(tx, rules, c.p.ruleKey(), rec)
			listenerKeys[c.p.listenerKey()] = true
			out.Rules = append(out.Rules, rec.Rule)
		}
		for lk := range listenerKeys {
			rs, err := store.ListUntracked(tx, rules, lk+"/")
			if err != nil {
				return fmt.Errorf("list rules: %w", err)
			}
			seen := map[string]bool{}
			for _, r := range rs {
				pr := aws.ToString(r.Rule.Priority)
				if seen[pr] {
					return errELB(elbv2types.ErrCodePriorityInUseException, "Priority '%s' is currently in use", pr)
				}
				seen[pr] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set rule priorities: %w", err)
	}
	return out, nil
}
