package cql

import (
	"errors"
	"strings"
	"testing"
)

// TestParseCanonical parses valid expressions and checks their canonical
// form, which shows how each was understood.
func TestParseCanonical(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// The documentation's examples.
		{"docs string equality", "attribute:ecs.instance-type == t2.small", "attribute:ecs.instance-type == t2.small"},
		{"docs argument list", "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]"},
		{"docs compound", "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
			"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d"},
		{"docs affinity", "task:group == service:production", "task:group == service:production"},
		{"docs anti-affinity", "not(task:group == database)", "not(task:group == database)"},
		{"docs running tasks", "runningTasksCount == 1", "runningTasksCount == 1"},
		{"docs agent version", "agentVersion < 1.14.5", "agentVersion < 1.14.5"},
		{"docs registered", "registeredAt < 2018-02-13", "registeredAt < 2018-02-13"},
		{"docs quoted list", "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", "ec2InstanceId in [i-abcd1234, i-wxyx7890]"},
		{"docs precedence", "(attribute:a exists or attribute:b exists) and attribute:c exists",
			"(attribute:a exists or attribute:b exists) and attribute:c exists"},

		// Every operator, symbol and word.
		{"==", "attribute:a == x", "attribute:a == x"},
		{"equals", "attribute:a equals x", "attribute:a == x"},
		{"!=", "attribute:a != x", "attribute:a != x"},
		{"not_equals", "attribute:a not_equals x", "attribute:a != x"},
		{">", "attribute:a > 1", "attribute:a > 1"},
		{"greater_than", "attribute:a greater_than 1", "attribute:a > 1"},
		{">=", "attribute:a >= 1", "attribute:a >= 1"},
		{"greater_than_equal", "attribute:a greater_than_equal 1", "attribute:a >= 1"},
		{"<", "attribute:a < 1", "attribute:a < 1"},
		{"less_than", "attribute:a less_than 1", "attribute:a < 1"},
		{"<=", "attribute:a <= 1", "attribute:a <= 1"},
		{"less_than_equal", "attribute:a less_than_equal 1", "attribute:a <= 1"},
		{"exists", "attribute:a exists", "attribute:a exists"},
		{"!exists", "attribute:a !exists", "attribute:a not_exists"},
		{"not_exists", "attribute:a not_exists", "attribute:a not_exists"},
		{"in", "attribute:a in [x]", "attribute:a in [x]"},
		{"!in", "attribute:a !in [x, y]", "attribute:a not_in [x, y]"},
		{"not_in", "attribute:a not_in [x,y]", "attribute:a not_in [x, y]"},
		{"=~", "attribute:a =~ x.*", "attribute:a =~ x.*"},
		{"matches", "attribute:a matches x.*", "attribute:a =~ x.*"},
		{"!~", "attribute:a !~ x.*", "attribute:a !~ x.*"},
		{"not_matches", "attribute:a not_matches x.*", "attribute:a !~ x.*"},

		// Every subject.
		{"agentConnected", "agentConnected == TRUE", "agentConnected == true"},
		{"agentConnected in", "agentConnected in [false]", "agentConnected in [false]"},
		{"agentConnected matches", "agentConnected =~ t.*", "agentConnected =~ t.*"},
		{"agentVersion", "agentVersion >= v1.5", "agentVersion >= v1.5"},
		{"ec2InstanceId", "ec2InstanceId != i-1", "ec2InstanceId != i-1"},
		{"registeredAt timestamp", "registeredAt >= 2018-06-18T22:28:28+00:00", "registeredAt >= 2018-06-18T22:28:28+00:00"},
		{"registeredAt Z", "registeredAt <= 2018-06-18T22:28:28Z", "registeredAt <= 2018-06-18T22:28:28Z"},
		{"registeredAt no zone", "registeredAt > 2018-06-18T22:28:28", "registeredAt > 2018-06-18T22:28:28"},
		{"runningTasksCount", "runningTasksCount >= 0", "runningTasksCount >= 0"},
		{"task:group exists", "task:group not_exists", "task:group not_exists"},
		{"task:group in", "task:group in [service:a, family:b]", "task:group in [service:a, family:b]"},

		// Spacing.
		{"no spaces", "attribute:a==x&&attribute:b!=y||runningTasksCount>=2",
			"attribute:a == x and attribute:b != y or runningTasksCount >= 2"},
		{"extra spaces", "  \tattribute:a   ==\n x  ", "attribute:a == x"},
		{"list spacing", "attribute:a in[ x ,y,  z ]", "attribute:a in [x, y, z]"},
		{"not without space", "!(attribute:a exists)", "not(attribute:a exists)"},
		{"not with space", "not (attribute:a exists)", "not(attribute:a exists)"},
		{"not without parens", "not attribute:a exists and attribute:b exists", "not(attribute:a exists) and attribute:b exists"},
		{"bang without parens", "! attribute:a exists", "not(attribute:a exists)"},
		{"!in then list", "attribute:a !in[x]", "attribute:a not_in [x]"},
		{"value then &&", "attribute:a == x&&attribute:b == y", "attribute:a == x and attribute:b == y"},

		// Precedence and nesting.
		{"and before or", "attribute:a exists or attribute:b exists and attribute:c exists",
			"attribute:a exists or attribute:b exists and attribute:c exists"},
		{"or in and", "attribute:a exists and (attribute:b exists or attribute:c exists)",
			"attribute:a exists and (attribute:b exists or attribute:c exists)"},
		{"redundant parens", "((attribute:a exists))", "attribute:a exists"},
		{"flattened and", "(attribute:a exists and attribute:b exists) and attribute:c exists",
			"attribute:a exists and attribute:b exists and attribute:c exists"},
		{"flattened or", "attribute:a exists || (attribute:b exists || attribute:c exists)",
			"attribute:a exists or attribute:b exists or attribute:c exists"},
		{"not binds tightest", "not attribute:a exists or attribute:b exists", "not(attribute:a exists) or attribute:b exists"},
		{"double not", "not(not(attribute:a exists))", "not(not(attribute:a exists))"},
		{"not of compound", "!(attribute:a exists && (attribute:b exists || attribute:c exists))",
			"not(attribute:a exists and (attribute:b exists or attribute:c exists))"},

		// Values.
		{"quoted with space", `attribute:stack == "prod eu"`, "attribute:stack == 'prod eu'"},
		{"quoted with single quote", `attribute:stack == "it's"`, `attribute:stack == "it's"`},
		{"quoted regexp", "attribute:t =~ '(t2|t3)\\.[a-z]+'", "attribute:t =~ '(t2|t3)\\.[a-z]+'"},
		{"empty quoted", "attribute:a == ''", "attribute:a == ''"},
		{"keyword as value", "attribute:a == and", "attribute:a == and"},
		{"attribute value with colon and slash", `attribute:path == a/b\c:d@e`, `attribute:path == a/b\c:d@e`},
		{"single | in regexp", "attribute:a =~ x|y", "attribute:a =~ x|y"},
		{"long list", "attribute:a in [a, b, c, d, e, f, g, h, i]", "attribute:a in [a, b, c, d, e, f, g, h, i]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := e.String(); got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			again, err := Parse(e.String())
			if err != nil {
				t.Fatalf("canonical form %q does not parse: %v", e.String(), err)
			}
			if again.String() != e.String() {
				t.Errorf("canonical form changes on reparse: %q -> %q", e.String(), again.String())
			}
		})
	}
}

// TestParseErrors checks that invalid expressions fail with the position
// (counting from 1) and a message that says what is wrong.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		pos      int
		msg      string // a part of the message
	}{
		{"empty", "", 1, "the expression is empty"},
		{"blank", "   ", 4, "the expression is empty"},
		{"missing operator", "attribute:ecs.instance-type", 28, `expected an operator after "attribute:ecs.instance-type", found the end of the expression`},
		{"unknown operator", "attribute:ecs.instance-type is t2", 29, `expected an operator after "attribute:ecs.instance-type", found "is"`},
		{"operator in upper case", "attribute:a EQUALS x", 13, "keywords are lower case: equals"},
		{"unknown subject", "instanceType == t2", 1, `unknown subject "instanceType"`},
		{"subject case", "agentconnected == true", 1, `did you mean "agentConnected"?`},
		{"attribute case", "Attribute:a == x", 1, `did you mean "attribute:a"?`},
		{"attribute without name", "attribute: == x", 1, `expected an attribute name after "attribute:"`},
		{"missing value", "attribute:a ==", 15, `expected a value after "==", found the end of the expression`},
		{"value is a paren", "attribute:a == )", 16, `expected a value after "==", found ")"`},
		{"list for ==", "attribute:a == [x]", 16, `"==" takes one value, not a list`},
		{"in without list", "attribute:a in x", 16, `"in" takes a list like [a, b], found "x"`},
		{"empty list", "attribute:a in []", 16, "the list after \"in\" is empty"},
		{"unclosed list", "attribute:a in [x, y", 21, `expected "," or "]" in the list that starts at position 16, found the end of the expression`},
		{"trailing comma", "attribute:a in [x,]", 19, `expected a value in the list, found "]"`},
		{"unterminated quote", "attribute:a == 'x", 16, "has no closing '"},
		{"AND", "attribute:a exists AND attribute:b exists", 20, `found "AND" (keywords are lower case: and)`},
		{"junk after", "attribute:a exists attribute:b exists", 20, `expected "and", "or" or the end of the expression, found "attribute:b"`},
		{"dangling and", "attribute:a exists and", 23, "expected a condition, found the end of the expression"},
		{"and and", "attribute:a exists and and attribute:b exists", 24, `expected a condition, found "and"`},
		{"unclosed paren", "(attribute:a exists", 20, `expected ")" to close the "(" at position 1`},
		{"extra paren", "attribute:a exists)", 19, `found ")" without a matching "("`},
		{"not without operand", "not()", 5, `expected a condition, found ")"`},
		{"parens around value", "attribute:a == (x)", 16, `expected a value after "==", found "("`},
		{"!= where a condition goes", "!= x", 1, `expected a condition, found "!="`},

		// Operators a subject does not take.
		{"ec2InstanceId >", "ec2InstanceId > i-1", 15, `ec2InstanceId does not take ">"; it takes ==, !=, in, not_in, =~, !~`},
		{"agentVersion in", "agentVersion in [1.0]", 14, `agentVersion does not take "in"`},
		{"runningTasksCount =~", "runningTasksCount matches 1", 19, `runningTasksCount does not take "matches"`},
		{"registeredAt exists", "registeredAt exists", 14, `registeredAt does not take "exists"`},
		{"agentConnected <", "agentConnected < true", 16, `agentConnected does not take "<"`},
		{"task:group >", "task:group > a", 12, `task:group does not take ">"`},

		// Arguments a subject does not take.
		{"agentConnected yes", "agentConnected == yes", 19, `agentConnected compares with true or false, found "yes"`},
		{"agentConnected list", "agentConnected in [true, maybe]", 26, `found "maybe"`},
		{"agentVersion word", "agentVersion >= latest", 17, "agentVersion compares with a version like 1.14.5"},
		{"agentVersion empty part", "agentVersion >= 1..2", 17, "agentVersion compares with a version"},
		{"registeredAt bad date", "registeredAt < 2018-13-01", 16, "registeredAt compares with a date like 2018-06-18"},
		{"registeredAt fraction", "registeredAt < 2018-06-18T22:28:28.5Z", 16, "registeredAt compares with a date"},
		{"runningTasksCount float", "runningTasksCount > 1.5", 21, "runningTasksCount compares with a whole number"},
		{"bad regexp", "attribute:a =~ '(x'", 16, "not a valid regular expression: missing closing )"},
		{"lookahead", "attribute:a =~ '(?=x)'", 16, "RE2 syntax, which has no lookaround"},
		{"backreference", `attribute:a =~ '(x)\1'`, 16, "which has no backreferences"},
		{"possessive", "attribute:a =~ x*+", 16, "which has no possessive quantifiers"},
		{"pattern that anchoring would fix", "attribute:a =~ 'x)|(y'", 16, "not a valid regular expression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", tt.in, e)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q): %T %v, want *ParseError", tt.in, err, err)
			}
			if pe.Pos != tt.pos || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("Parse(%q) = position %d %q, want position %d and a message containing %q", tt.in, pe.Pos, pe.Msg, tt.pos, tt.msg)
			}
		})
	}
}

func TestParseErrorText(t *testing.T) {
	_, err := Parse("attribute:ecs.instance-type t2.*")
	want := `expression is not valid at position 29: expected an operator after "attribute:ecs.instance-type", found "t2.*"`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestParseLength(t *testing.T) {
	cond := "attribute:a exists"
	long := cond + strings.Repeat(" ", MaxLength-len(cond))
	if _, err := Parse(long); err != nil {
		t.Errorf("an expression of exactly %d characters: %v", MaxLength, err)
	}
	var pe *ParseError
	_, err := Parse(long + " ")
	if !errors.As(err, &pe) || pe.Pos != MaxLength+1 || !strings.Contains(pe.Msg, "the maximum is 2000") {
		t.Errorf("an expression of %d characters: %v, want an error at %d naming the maximum", MaxLength+1, err, MaxLength+1)
	}
	// The limit counts characters, not bytes.
	multi := "attribute:a == '" + strings.Repeat("é", MaxLength-len("attribute:a == ''")) + "'"
	if _, err := Parse(multi); err != nil {
		t.Errorf("%d characters in %d bytes: %v", MaxLength, len(multi), err)
	}
}
