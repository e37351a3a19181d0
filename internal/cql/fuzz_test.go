package cql

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are
// *ParseErrors inside the input, and that a parsed expression's canonical
// form parses to the same canonical form and the same verdicts. The seed
// corpus is also in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"attribute:ecs.instance-type =~ t2.*",
		"attribute:ecs.availability-zone in [us-east-1a, us-east-1b] and not(task:group == service:db)",
		"ec2InstanceId in ['i-abcd1234', \"i-wxyx7890\"] || agentConnected == false",
		"!(agentVersion < 1.14.5) && registeredAt >= 2018-06-18T22:28:28+00:00",
		"runningTasksCount<=0 or (attribute:a !exists and attribute:b not_in [x,y])",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := Parse(in)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q): %T %v, want *ParseError", in, err, err)
			}
			if pe.Pos < 1 || pe.Pos > len(in)+1 {
				t.Fatalf("Parse(%q): position %d outside 1..%d", in, pe.Pos, len(in)+1)
			}
			return
		}
		canon := e.String()
		again, err := parse(canon) // the canonical form may be longer than MaxLength
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", in, canon, err)
		}
		if got := again.String(); got != canon {
			t.Fatalf("Parse(%q) = %q, which parses to %q", in, canon, got)
		}
		for _, s := range []*instance{web, bare} {
			if e.Eval(s) != again.Eval(s) {
				t.Fatalf("%q and its canonical form %q disagree on %+v", in, canon, s)
			}
			if (e.Explain(s) == "") != e.Eval(s) {
				t.Fatalf("%q: Explain and Eval disagree on %+v", in, s)
			}
		}
	})
}
