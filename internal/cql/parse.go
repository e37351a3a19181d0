package cql

import "strings"

// The grammar, by precedence:
//
//	or    = and {("or" | "||") and}
//	and   = unary {("and" | "&&") unary}
//	unary = ("not" | "!") unary | "(" or ")" | condition

// parseOr parses operands joined by or. It stops, without consuming, at
// the end of input, at ")" and at anything that does not join operands; the
// caller decides whether that is an error.
func (p *parser) parseOr() (node, error) {
	var kids []node
	for {
		n, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		if o, ok := n.(*orNode); ok { // (a or b) or c is a or b or c
			kids = append(kids, o.kids...)
		} else {
			kids = append(kids, n)
		}
		if !p.joiner("or", "||") {
			break
		}
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	return &orNode{kids: kids}, nil
}

// parseAnd parses operands joined by and.
func (p *parser) parseAnd() (node, error) {
	var kids []node
	for {
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if a, ok := n.(*andNode); ok {
			kids = append(kids, a.kids...)
		} else {
			kids = append(kids, n)
		}
		if !p.joiner("and", "&&") {
			break
		}
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	return &andNode{kids: kids}, nil
}

// joiner consumes word or symbol (and, &&; or, ||) if it comes next.
func (p *parser) joiner(word, symbol string) bool {
	p.skipSpace()
	if p.hasPrefix(symbol) {
		p.pos += len(symbol)
		return true
	}
	if p.peekName() == word {
		p.pos += len(word)
		return true
	}
	return false
}

// parseUnary parses not, a parenthesised expression, or a condition.
func (p *parser) parseUnary() (node, error) {
	p.skipSpace()
	if p.eof() {
		return nil, p.errorf(p.pos, "expected a condition, found the end of the expression")
	}
	start := p.pos
	switch p.src[p.pos] {
	case '(':
		p.pos++
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if !p.consume(')') {
			return nil, p.errorf(p.pos, `expected ")" to close the "(" at position %d, found %s%s`, start+1, p.found(p.pos), keywordHint(p.peekName()))
		}
		return n, nil
	case '!':
		if !p.hasPrefix("!=") && !p.hasPrefix("!~") {
			p.pos++
			return p.parseNot()
		}
	}
	if p.peekName() == "not" {
		p.pos += len("not")
		return p.parseNot()
	}
	return p.parseCondition()
}

func (p *parser) parseNot() (node, error) {
	kid, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	return &notNode{kid: kid}, nil
}

// parseCondition parses subject operator [argument] and compiles it.
func (p *parser) parseCondition() (node, error) {
	start := p.pos
	name := p.peekName()
	if name == "" || name == "and" || name == "or" {
		return nil, p.errorf(start, "expected a condition, found %s", p.found(start))
	}
	p.pos += len(name)
	c := &cond{}
	if err := c.setSubject(name); err != nil {
		return nil, p.errorf(start, "%s", err)
	}

	p.skipSpace()
	opPos := p.pos
	opText, ok := p.readOperator(&c.op)
	if !ok {
		return nil, p.errorf(opPos, "expected an operator after %q, found %s%s", name, p.found(opPos), keywordHint(p.peekName()))
	}
	if !c.kind.takes(c.op) {
		return nil, p.errorf(opPos, "%s does not take %q; it takes %s", c.kind.describe(), opText, c.kind.operators())
	}

	switch c.op {
	case opExists, opNotExists:
		// No argument.
	case opIn, opNotIn:
		if err := p.readList(c, opText); err != nil {
			return nil, err
		}
	default:
		p.skipSpace()
		valPos := p.pos
		v, ok, err := p.readValue()
		if err != nil {
			return nil, err
		}
		if !ok {
			if !p.eof() && p.src[p.pos] == '[' {
				return nil, p.errorf(valPos, "%q takes one value, not a list; use in for a list", opText)
			}
			return nil, p.errorf(valPos, "expected a value after %q, found %s", opText, p.found(valPos))
		}
		c.vals = []string{v}
		c.valPos = []int{valPos}
	}
	if off, err := c.compile(); err != nil {
		return nil, p.errorf(off, "%s", err)
	}
	return c, nil
}

// readList reads the [a, b, ...] argument of in and not_in into c.
func (p *parser) readList(c *cond, opText string) error {
	p.skipSpace()
	open := p.pos
	if !p.consume('[') {
		return p.errorf(p.pos, "%q takes a list like [a, b], found %s", opText, p.found(p.pos))
	}
	p.skipSpace()
	if p.consume(']') {
		return p.errorf(open, "the list after %q is empty", opText)
	}
	for {
		p.skipSpace()
		valPos := p.pos
		v, ok, err := p.readValue()
		if err != nil {
			return err
		}
		if !ok {
			return p.errorf(valPos, "expected a value in the list, found %s", p.found(valPos))
		}
		c.vals = append(c.vals, v)
		c.valPos = append(c.valPos, valPos)
		p.skipSpace()
		if p.consume(']') {
			return nil
		}
		if !p.consume(',') {
			return p.errorf(p.pos, `expected "," or "]" in the list that starts at position %d, found %s`, open+1, p.found(p.pos))
		}
	}
}

// Operators written as symbols, longest first where one is a prefix of
// another. !exists and !in must not run into a following word.
var symbolOps = []struct {
	text string
	op   op
}{
	{"==", opEq}, {"!=", opNe}, {">=", opGe}, {">", opGt}, {"<=", opLe}, {"<", opLt},
	{"=~", opMatches}, {"!~", opNotMatches}, {"!exists", opNotExists}, {"!in", opNotIn},
}

// Operators written as words.
var wordOps = map[string]op{
	"equals": opEq, "not_equals": opNe,
	"greater_than": opGt, "greater_than_equal": opGe,
	"less_than": opLt, "less_than_equal": opLe,
	"exists": opExists, "not_exists": opNotExists,
	"in": opIn, "not_in": opNotIn,
	"matches": opMatches, "not_matches": opNotMatches,
}

// readOperator reads an operator into *o and returns it as written.
func (p *parser) readOperator(o *op) (string, bool) {
	for _, s := range symbolOps {
		if !p.hasPrefix(s.text) {
			continue
		}
		end := p.pos + len(s.text)
		if len(s.text) > 2 && end < len(p.src) && isWordByte(p.src[end]) {
			continue // !existsx, !inside
		}
		*o = s.op
		p.pos = end
		return s.text, true
	}
	name := p.peekName()
	if v, ok := wordOps[name]; ok {
		*o = v
		p.pos += len(name)
		return name, true
	}
	return "", false
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// keywordHint returns a note for an unknown name that is a keyword but for
// its case, e.g. AND.
func keywordHint(name string) string {
	l := strings.ToLower(name)
	if l == name {
		return ""
	}
	if _, ok := wordOps[l]; ok || l == "and" || l == "or" || l == "not" {
		return " (keywords are lower case: " + l + ")"
	}
	return ""
}
