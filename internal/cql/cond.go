package cql

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// op is a comparison operator.
type op uint8

const (
	opEq op = iota + 1
	opNe
	opGt
	opGe
	opLt
	opLe
	opExists
	opNotExists
	opIn
	opNotIn
	opMatches
	opNotMatches
)

// opText is each operator's canonical spelling.
var opText = [...]string{
	opEq: "==", opNe: "!=", opGt: ">", opGe: ">=", opLt: "<", opLe: "<=",
	opExists: "exists", opNotExists: "not_exists", opIn: "in", opNotIn: "not_in",
	opMatches: "=~", opNotMatches: "!~",
}

func (o op) String() string { return opText[o] }

// negated reports whether o is the negation of another operator (!=,
// not_exists, not_in, !~); positive returns that operator, or o itself.
func (o op) negated() bool { return o == opNe || o == opNotExists || o == opNotIn || o == opNotMatches }

func (o op) positive() op {
	switch o {
	case opNe:
		return opEq
	case opNotExists:
		return opExists
	case opNotIn:
		return opIn
	case opNotMatches:
		return opMatches
	}
	return o
}

// holds reports whether a comparison result c (-1, 0, 1) satisfies o, one of
// ==, !=, >, >=, <, <=.
func (o op) holds(c int) bool {
	switch o {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	}
	return false
}

// opSet is a set of operators, one bit each.
type opSet uint16

func setOf(ops ...op) opSet {
	var s opSet
	for _, o := range ops {
		s |= 1 << o
	}
	return s
}

var (
	equality = setOf(opEq, opNe, opIn, opNotIn, opMatches, opNotMatches)
	ordering = setOf(opEq, opNe, opGt, opGe, opLt, opLe)
	presence = setOf(opExists, opNotExists)
)

// subjectKind is what a condition reads from an instance.
type subjectKind uint8

const (
	subjAgentConnected subjectKind = iota + 1
	subjAgentVersion
	subjAttribute
	subjEC2InstanceID
	subjRegisteredAt
	subjRunningTasksCount
	subjTaskGroup
)

// subjects are the fixed subjects with the operators each takes (ECS's
// table; task:group's are Berth's choice, see the package doc).
// attribute:<name> is handled apart.
var subjects = []struct {
	name string
	kind subjectKind
	ops  opSet
}{
	{"agentConnected", subjAgentConnected, equality},
	{"agentVersion", subjAgentVersion, ordering},
	{"ec2InstanceId", subjEC2InstanceID, equality},
	{"registeredAt", subjRegisteredAt, ordering},
	{"runningTasksCount", subjRunningTasksCount, ordering},
	{"task:group", subjTaskGroup, equality | presence},
}

const attributePrefix = "attribute:"

func (k subjectKind) opSet() opSet {
	if k == subjAttribute {
		return equality | ordering | presence
	}
	for _, s := range subjects {
		if s.kind == k {
			return s.ops
		}
	}
	return 0
}

func (k subjectKind) takes(o op) bool { return k.opSet()&(1<<o) != 0 }

// describe names the subject in error messages.
func (k subjectKind) describe() string {
	if k == subjAttribute {
		return "attribute:<name>"
	}
	for _, s := range subjects {
		if s.kind == k {
			return s.name
		}
	}
	return "?"
}

// operators lists the operators k takes, for error messages.
func (k subjectKind) operators() string {
	set := k.opSet()
	var names []string
	for o := opEq; o <= opNotMatches; o++ {
		if set&(1<<o) != 0 {
			names = append(names, o.String())
		}
	}
	return strings.Join(names, ", ")
}

// cond is one condition: subject operator [argument], compiled.
type cond struct {
	kind   subjectKind
	attr   string // the attribute's name, for subjAttribute
	op     op
	vals   []string // the argument's values as written: none, one, or a list
	valPos []int    // byte offset of each value, for errors

	// Compiled by compile, so that eval does not allocate.
	set      map[string]struct{} // in, not_in with many values
	pat      pattern             // =~, !~
	num      float64             // attribute ordering: the argument as a number,
	numeric  bool                // when it is one
	ver      []int               // agentVersion
	count    int                 // runningTasksCount
	from, to time.Time           // registeredAt: the span [from, to) the argument names
}

// setSubject sets c's subject from its name as written.
func (c *cond) setSubject(name string) error {
	if attr, ok := strings.CutPrefix(name, attributePrefix); ok {
		if attr == "" {
			return errors.New(`expected an attribute name after "attribute:"`)
		}
		c.kind, c.attr = subjAttribute, attr
		return nil
	}
	for _, s := range subjects {
		if s.name == name {
			c.kind = s.kind
			return nil
		}
	}
	if len(name) > len(attributePrefix) && strings.EqualFold(name[:len(attributePrefix)], attributePrefix) {
		return fmt.Errorf("unknown subject %q; did you mean %q? (subjects are case-sensitive)", name, attributePrefix+name[len(attributePrefix):])
	}
	for _, s := range subjects {
		if strings.EqualFold(s.name, name) {
			return fmt.Errorf("unknown subject %q; did you mean %q? (subjects are case-sensitive)", name, s.name)
		}
	}
	return fmt.Errorf("unknown subject %q; expected agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group%s",
		name, keywordHint(name))
}

// manyValues is the list length from which in and not_in use a map.
const manyValues = 8

// compile checks c's argument against its subject and prepares it for eval.
// On error it returns the byte offset of the offending value.
func (c *cond) compile() (int, error) {
	if c.op.positive() == opMatches {
		pat, err := compilePattern(c.vals[0])
		if err != nil {
			return c.valPos[0], err
		}
		c.pat = pat
		return 0, nil
	}
	switch c.kind {
	case subjAgentConnected:
		for i, v := range c.vals {
			switch {
			case strings.EqualFold(v, "true"):
				c.vals[i] = "true"
			case strings.EqualFold(v, "false"):
				c.vals[i] = "false"
			default:
				return c.valPos[i], fmt.Errorf("agentConnected compares with true or false, found %q", v)
			}
		}
	case subjAgentVersion:
		ver, ok := parseVersion(c.vals[0])
		if !ok {
			return c.valPos[0], fmt.Errorf("agentVersion compares with a version like 1.14.5, found %q", c.vals[0])
		}
		c.ver = ver
	case subjRegisteredAt:
		from, to, ok := parseDate(c.vals[0])
		if !ok {
			return c.valPos[0], fmt.Errorf("registeredAt compares with a date like 2018-06-18, 2018-06-18T22:28:28, 2018-06-18T22:28:28Z or 2018-06-18T22:28:28+00:00, found %q", c.vals[0])
		}
		c.from, c.to = from, to
	case subjRunningTasksCount:
		n, ok := parseCount(c.vals[0])
		if !ok {
			return c.valPos[0], fmt.Errorf("runningTasksCount compares with a whole number, found %q", c.vals[0])
		}
		c.count = n
	case subjAttribute:
		if len(c.vals) == 1 && isDecimal(c.vals[0]) {
			c.num, c.numeric = parseDecimal(c.vals[0]), true
		}
	}
	if len(c.vals) >= manyValues {
		c.set = make(map[string]struct{}, len(c.vals))
		for _, v := range c.vals {
			c.set[v] = struct{}{}
		}
	}
	return 0, nil
}
