package cql

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

func (n *andNode) format(b *strings.Builder) {
	for i, k := range n.kids {
		if i > 0 {
			b.WriteString(" and ")
		}
		if _, ok := k.(*orNode); ok { // and binds tighter than or
			b.WriteByte('(')
			k.format(b)
			b.WriteByte(')')
			continue
		}
		k.format(b)
	}
}

func (n *orNode) format(b *strings.Builder) {
	for i, k := range n.kids {
		if i > 0 {
			b.WriteString(" or ")
		}
		k.format(b)
	}
}

func (n *notNode) format(b *strings.Builder) {
	b.WriteString("not(")
	n.kid.format(b)
	b.WriteByte(')')
}

func (c *cond) format(b *strings.Builder) {
	if c.kind == subjAttribute {
		b.WriteString(attributePrefix)
		b.WriteString(c.attr)
	} else {
		b.WriteString(c.kind.describe())
	}
	b.WriteByte(' ')
	b.WriteString(c.op.String())
	switch c.op {
	case opExists, opNotExists:
	case opIn, opNotIn:
		b.WriteString(" [")
		for i, v := range c.vals {
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, v)
		}
		b.WriteByte(']')
	default:
		b.WriteByte(' ')
		writeValue(b, c.vals[0])
	}
}

// writeValue writes v bare when it reads back as itself, and quoted
// otherwise. A parsed value never holds both kinds of quote.
func writeValue(b *strings.Builder, v string) {
	switch {
	case isBare(v):
		b.WriteString(v)
	case !strings.Contains(v, "'"):
		b.WriteString("'" + v + "'")
	default:
		b.WriteString(`"` + v + `"`)
	}
}

// explain writes why s fails n, which it does.
func explain(b *strings.Builder, n node, s Subject) {
	switch n := n.(type) {
	case *andNode:
		if f := failing(n, s); f != node(n) {
			explain(b, f, s)
			return
		}
		n.format(b)
	case *orNode:
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(" or ")
			}
			f := failing(k, s)
			if _, ok := f.(*andNode); ok {
				f.format(b) // s changed: nothing in it fails now
				continue
			}
			if _, ok := f.(*orNode); ok {
				b.WriteByte('(')
				explain(b, f, s)
				b.WriteByte(')')
				continue
			}
			explain(b, f, s)
		}
	case *notNode:
		n.format(b)
		if c, ok := n.kid.(*cond); ok {
			b.WriteString(" (")
			c.observe(b, s)
			b.WriteByte(')')
		}
	case *cond:
		n.format(b)
		b.WriteString(" (")
		n.observe(b, s)
		b.WriteByte(')')
	}
}

// failing returns the part of n that makes s fail it: for an and, its
// first failing operand, and so on down; n itself otherwise, or when no
// operand fails (a Subject that changed since n failed).
func failing(n node, s Subject) node {
	for {
		a, ok := n.(*andNode)
		if !ok {
			return n
		}
		i := slices.IndexFunc(a.kids, func(k node) bool { return !k.eval(s) })
		if i < 0 {
			return n
		}
		n = a.kids[i]
	}
}

// maxShownGroups bounds the task groups an explanation lists.
const maxShownGroups = 10

// observe writes what c reads from s, e.g. `found "t3.micro"`.
func (c *cond) observe(b *strings.Builder, s Subject) {
	switch c.kind {
	case subjAttribute:
		v, ok := s.Attribute(c.attr)
		if !ok {
			b.WriteString("attribute not set")
			return
		}
		b.WriteString("found " + strconv.Quote(v))
	case subjEC2InstanceID:
		b.WriteString("found " + strconv.Quote(s.EC2InstanceID()))
	case subjAgentConnected:
		b.WriteString("found " + strconv.FormatBool(s.AgentConnected()))
	case subjAgentVersion:
		b.WriteString("found " + strconv.Quote(s.AgentVersion()))
	case subjRunningTasksCount:
		b.WriteString("found " + strconv.Itoa(s.RunningTasksCount()))
	case subjRegisteredAt:
		b.WriteString("found " + s.RegisteredAt().UTC().Format(time.RFC3339))
	case subjTaskGroup:
		groups := slices.Clone(s.TaskGroups())
		if len(groups) == 0 {
			b.WriteString("found no tasks")
			return
		}
		slices.Sort(groups)
		groups = slices.Compact(groups)
		more := len(groups) - maxShownGroups
		groups = groups[:min(len(groups), maxShownGroups)]
		b.WriteString("found [" + strings.Join(groups, ", "))
		if more > 0 {
			b.WriteString(", and " + strconv.Itoa(more) + " more")
		}
		b.WriteByte(']')
	}
}
