package cql

import (
	"cmp"
	"slices"
	"strings"
)

// andNode holds when all its operands hold; orNode when any does; notNode
// when its operand does not. Parsing flattens nested ands and ors.
type (
	andNode struct{ kids []node }
	orNode  struct{ kids []node }
	notNode struct{ kid node }
)

var (
	_ node = (*andNode)(nil)
	_ node = (*orNode)(nil)
	_ node = (*notNode)(nil)
	_ node = (*cond)(nil)
)

func (n *andNode) eval(s Subject) bool {
	for _, k := range n.kids {
		if !k.eval(s) {
			return false
		}
	}
	return true
}

func (n *orNode) eval(s Subject) bool {
	for _, k := range n.kids {
		if k.eval(s) {
			return true
		}
	}
	return false
}

func (n *notNode) eval(s Subject) bool { return !n.kid.eval(s) }

func (c *cond) eval(s Subject) bool {
	switch c.kind {
	case subjAttribute:
		v, ok := s.Attribute(c.attr)
		switch {
		case c.op == opExists:
			return ok
		case c.op == opNotExists:
			return !ok
		case !ok:
			return false // see the package doc: != on a missing attribute is false too
		}
		return c.test(v)
	case subjEC2InstanceID:
		return c.test(s.EC2InstanceID())
	case subjAgentConnected:
		if s.AgentConnected() {
			return c.test("true")
		}
		return c.test("false")
	case subjTaskGroup:
		groups := s.TaskGroups()
		pos, found := c.op.positive(), false
		if pos == opExists {
			found = len(groups) > 0
		} else {
			for _, g := range groups {
				if c.testAs(pos, g) {
					found = true
					break
				}
			}
		}
		return found != c.op.negated()
	case subjAgentVersion:
		r, ok := compareVersion(s.AgentVersion(), c.ver)
		return ok && c.op.holds(r)
	case subjRunningTasksCount:
		return c.op.holds(cmp.Compare(s.RunningTasksCount(), c.count))
	case subjRegisteredAt:
		t := s.RegisteredAt()
		switch c.op {
		case opEq:
			return !t.Before(c.from) && t.Before(c.to)
		case opNe:
			return t.Before(c.from) || !t.Before(c.to)
		case opLt:
			return t.Before(c.from)
		case opLe:
			return t.Before(c.to)
		case opGt:
			return !t.Before(c.to)
		case opGe:
			return !t.Before(c.from)
		}
	}
	return false
}

// test applies c's operator to a single string value.
func (c *cond) test(v string) bool {
	return c.testAs(c.op.positive(), v) != c.op.negated()
}

// testAs applies operator o (==, in, =~ or an ordering) with c's argument to v.
func (c *cond) testAs(o op, v string) bool {
	switch o {
	case opEq:
		return v == c.vals[0]
	case opIn:
		if c.set != nil {
			_, ok := c.set[v]
			return ok
		}
		return slices.Contains(c.vals, v)
	case opMatches:
		return c.pat.match(v)
	}
	// An ordering on an attribute.
	if c.numeric && isDecimal(v) {
		return o.holds(cmp.Compare(parseDecimal(v), c.num))
	}
	return o.holds(strings.Compare(v, c.vals[0]))
}
