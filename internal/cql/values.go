package cql

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// pattern is the compiled argument of =~ and !~: a regular expression that
// must match the whole value. The common shapes skip the regexp engine.
type pattern struct {
	kind patternKind
	lit  string         // patExact: the value; patPrefix: the prefix
	re   *regexp.Regexp // patRegexp
}

type patternKind uint8

const (
	patRegexp patternKind = iota
	patExact              // a literal, e.g. t2.micro written t2\.micro
	patPrefix             // a literal then .*, e.g. t2.*
)

func (p *pattern) match(v string) bool {
	switch p.kind {
	case patExact:
		return v == p.lit
	case patPrefix:
		// . does not match a newline.
		return strings.HasPrefix(v, p.lit) && strings.IndexByte(v[len(p.lit):], '\n') < 0
	}
	return p.re.MatchString(v)
}

// javaOnly are RE2's complaints about syntax Java has and RE2 lacks.
var javaOnly = map[syntax.ErrorCode]string{
	syntax.ErrInvalidPerlOp:   "lookaround",
	syntax.ErrInvalidEscape:   "backreferences and some escapes",
	syntax.ErrInvalidRepeatOp: "possessive quantifiers",
}

// compilePattern compiles a matches argument, anchored at both ends.
func compilePattern(src string) (pattern, error) {
	// Parse the pattern alone first: anchoring a pattern that is not valid
	// on its own, such as a)|(b, would make a valid one with another meaning.
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		var se *syntax.Error
		msg := err.Error()
		if errors.As(err, &se) {
			msg = se.Code.String()
			if what, ok := javaOnly[se.Code]; ok {
				msg += " (Berth matches with RE2 syntax, which has no " + what + ")"
			}
		}
		return pattern{}, fmt.Errorf("not a valid regular expression: %s", msg)
	}
	if lit, ok := literal(re); ok {
		return pattern{kind: patExact, lit: lit}, nil
	}
	if re.Op == syntax.OpConcat && len(re.Sub) == 2 {
		if lit, ok := literal(re.Sub[0]); ok && re.Sub[1].Op == syntax.OpStar && re.Sub[1].Sub[0].Op == syntax.OpAnyCharNotNL {
			return pattern{kind: patPrefix, lit: lit}, nil
		}
	}
	if re.Op == syntax.OpStar && re.Sub[0].Op == syntax.OpAnyCharNotNL { // .*
		return pattern{kind: patPrefix}, nil
	}
	full, err := regexp.Compile(`^(?:` + src + `)$`)
	if err != nil {
		return pattern{}, fmt.Errorf("not a valid regular expression: %w", err)
	}
	return pattern{kind: patRegexp, re: full}, nil
}

// literal returns the string re matches when it matches exactly one, case
// sensitively. A literal holding U+FFFD is left to the regexp engine, which
// lets it match invalid UTF-8.
func literal(re *syntax.Regexp) (string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return "", true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return "", false
		}
		s := string(re.Rune)
		if strings.ContainsRune(s, utf8.RuneError) {
			return "", false
		}
		return s, true
	}
	return "", false
}

// maxComponent bounds a version component, to keep arithmetic in range.
const maxComponent = 1_000_000_000

// parseVersion parses an agentVersion argument: v?N(.N)*.
func parseVersion(s string) ([]int, bool) {
	s = strings.TrimPrefix(s, "v")
	var ver []int
	for part := range strings.SplitSeq(s, ".") {
		if part == "" || len(part) > 9 {
			return nil, false
		}
		n := 0
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return nil, false
			}
			n = n*10 + int(part[i]-'0')
		}
		ver = append(ver, n)
	}
	return ver, true
}

// compareVersion compares an instance's agent version with want. It reads
// the leading dotted numbers of have and ignores the rest (a v before, -rc1
// after); missing components count as 0. ok is false when have does not
// start with a number.
func compareVersion(have string, want []int) (c int, ok bool) {
	have = strings.TrimPrefix(have, "v")
	for i := 0; ; i++ {
		n, digits := 0, 0
		for digits < len(have) && isDigit(have[digits]) {
			if n < maxComponent {
				n = n*10 + int(have[digits]-'0')
			}
			digits++
		}
		if digits == 0 {
			return 0, false // only at i == 0: a later component starts with a digit
		}
		w := 0
		if i < len(want) {
			w = want[i]
		}
		if n != w {
			return cmp.Compare(n, w), true
		}
		have = have[digits:]
		if len(have) < 2 || have[0] != '.' || !isDigit(have[1]) {
			return compareZeros(want[min(i+1, len(want)):]), true
		}
		have = have[1:]
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// compareZeros compares missing components (zeros) with the rest of want.
func compareZeros(rest []int) int {
	for _, w := range rest {
		if w > 0 {
			return -1
		}
	}
	return 0
}

// parseDate parses a registeredAt argument in one of ECS's four formats and
// returns the span it names: a day for a date, a second for a timestamp.
func parseDate(s string) (from, to time.Time, ok bool) {
	if strings.ContainsAny(s, ".,") { // Go would accept fractional seconds
		return from, to, false
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, t.AddDate(0, 0, 1), true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, t.Add(time.Second), true
	}
	if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return t, t.Add(time.Second), true
	}
	return from, to, false
}

// parseCount parses a runningTasksCount argument: -?digits.
func parseCount(s string) (int, bool) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 18 || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// isDecimal reports whether s is -?digits(.digits)?, the numbers attribute
// orderings compare numerically.
func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	return allDigits(intPart) && (!hasFrac || allDigits(frac))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDecimal parses a string isDecimal accepted; ParseFloat does not
// allocate when it succeeds.
func parseDecimal(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
