package cql

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxLength is the longest expression ECS accepts, in characters.
const MaxLength = 2000

// Subject is one container instance as an expression sees it. Placement
// evaluates an expression against thousands of instances per task, so an
// implementation should answer from data it already holds and not allocate:
// in particular TaskGroups should return a slice the instance keeps.
type Subject interface {
	// Attribute returns the value of the named attribute and whether the
	// instance has it; an attribute without a value has value "".
	Attribute(name string) (value string, ok bool)
	// EC2InstanceID returns the instance's EC2 instance ID.
	EC2InstanceID() string
	// AgentConnected reports whether the instance's agent is connected.
	AgentConnected() bool
	// AgentVersion returns the agent's version, e.g. "1.82.0".
	AgentVersion() string
	// RegisteredAt returns when the instance registered.
	RegisteredAt() time.Time
	// RunningTasksCount returns how many tasks run on the instance.
	RunningTasksCount() int
	// TaskGroups returns the groups of the tasks on the instance, one entry
	// per task or per distinct group (duplicates are harmless).
	TaskGroups() []string
}

// Expr is a parsed, compiled expression. It is immutable and safe for
// concurrent use.
type Expr struct {
	root node
}

// node is one part of an expression's tree: a condition, or and, or, not.
type node interface {
	// eval reports whether s satisfies the node.
	eval(s Subject) bool
	// format writes the node's canonical form.
	format(b *strings.Builder)
}

// ParseError says where and why an expression is not valid.
type ParseError struct {
	// Pos is the byte position of the offending input, counting from 1;
	// len(expression)+1 when the expression ended too soon.
	Pos int
	// Msg says what is wrong, e.g. `expected an operator after "attribute:ecs.instance-type"`.
	Msg string
}

// Error reads "expression is not valid at position 23: ...", so that a caller
// can prefix what the expression is, e.g. "memberOf ".
func (e *ParseError) Error() string {
	return fmt.Sprintf("expression is not valid at position %d: %s", e.Pos, e.Msg)
}

// Parse parses and compiles expr. Errors are *ParseError.
func Parse(expr string) (*Expr, error) {
	if len(expr) > MaxLength {
		if n := utf8.RuneCountInString(expr); n > MaxLength {
			pos := 0 // the byte offset of the first character past the limit
			for range MaxLength {
				_, size := utf8.DecodeRuneInString(expr[pos:])
				pos += size
			}
			return nil, &ParseError{Pos: pos + 1,
				Msg: fmt.Sprintf("the expression is %d characters long; the maximum is %d", n, MaxLength)}
		}
	}
	return parse(expr)
}

// parse parses expr whatever its length: canonical forms can be longer than
// what they came from.
func parse(expr string) (*Expr, error) {
	p := &parser{src: expr}
	p.skipSpace()
	if p.eof() {
		return nil, p.errorf(p.pos, "the expression is empty")
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.eof() {
		if p.src[p.pos] == ')' {
			return nil, p.errorf(p.pos, `found ")" without a matching "("`)
		}
		return nil, p.errorf(p.pos, `expected "and", "or" or the end of the expression, found %s%s`, p.found(p.pos), keywordHint(p.peekName()))
	}
	return &Expr{root: root}, nil
}

// Eval reports whether s satisfies e. It does not allocate when s does not.
func (e *Expr) Eval(s Subject) bool {
	return e.root.eval(s)
}

// ReadsTasks reports whether e asks about an instance's tasks
// (runningTasksCount, task:group): the answers that change as tasks are
// placed. An expression that does not can be evaluated once per instance
// for a whole placement decision.
func (e *Expr) ReadsTasks() bool { return readsTasks(e.root) }

func readsTasks(n node) bool {
	switch n := n.(type) {
	case *andNode:
		return slices.ContainsFunc(n.kids, readsTasks)
	case *orNode:
		return slices.ContainsFunc(n.kids, readsTasks)
	case *notNode:
		return readsTasks(n.kid)
	case *cond:
		return n.kind == subjRunningTasksCount || n.kind == subjTaskGroup
	}
	return false
}

// String returns e in canonical form: symbolic comparison operators, lower
// case and/or/not, parentheses only where precedence needs them, not(...)
// always parenthesised, and arguments quoted only when they must be. Parsing
// the canonical form gives an expression with the same canonical form, though
// the canonical form can be longer than the input, even past MaxLength.
func (e *Expr) String() string {
	var b strings.Builder
	e.root.format(&b)
	return b.String()
}

// Explain returns "" when s satisfies e, and otherwise the part of e that s
// fails with what s holds, e.g.
// `attribute:ecs.instance-type =~ g4.* (found "t3.micro")`: for an and, its
// first failing operand; for an or, every operand's explanation.
func (e *Expr) Explain(s Subject) string {
	if e.root.eval(s) {
		return ""
	}
	var b strings.Builder
	explain(&b, e.root, s)
	return b.String()
}
