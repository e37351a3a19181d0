package cql

import (
	"testing"
	"time"
)

// instance is a container instance for tests and benchmarks.
type instance struct {
	attrs      map[string]string
	id         string
	connected  bool
	version    string
	registered time.Time
	running    int
	groups     []string
}

var _ Subject = (*instance)(nil)

func (i *instance) Attribute(name string) (string, bool) {
	v, ok := i.attrs[name]
	return v, ok
}
func (i *instance) EC2InstanceID() string   { return i.id }
func (i *instance) AgentConnected() bool    { return i.connected }
func (i *instance) AgentVersion() string    { return i.version }
func (i *instance) RegisteredAt() time.Time { return i.registered }
func (i *instance) RunningTasksCount() int  { return i.running }
func (i *instance) TaskGroups() []string    { return i.groups }

// web is the instance most cases evaluate against.
var web = &instance{
	attrs: map[string]string{
		"ecs.instance-type":     "t3.micro",
		"ecs.availability-zone": "us-east-1a",
		"ecs.capability.gpu":    "",
		"stack":                 "prod",
		"weight":                "12",
		"tier":                  "b",
		"multiline":             "t3\nmicro",
	},
	id:         "i-0abc",
	connected:  true,
	version:    "1.14.5",
	registered: time.Date(2018, 2, 13, 10, 30, 15, 500_000_000, time.UTC),
	running:    3,
	groups:     []string{"service:web", "family:web", "service:web"},
}

// bare has no attributes, no tasks, a disconnected agent and no version.
var bare = &instance{attrs: map[string]string{}}

func TestEval(t *testing.T) {
	tests := []struct {
		expr string
		on   *instance
		want bool
	}{
		// attribute:<name>, every operator.
		{"attribute:ecs.instance-type == t3.micro", web, true},
		{"attribute:ecs.instance-type == T3.micro", web, false}, // values are case-sensitive
		{"attribute:ecs.instance-type equals t3.small", web, false},
		{"attribute:ecs.instance-type != t3.small", web, true},
		{"attribute:ecs.instance-type not_equals t3.micro", web, false},
		{"attribute:weight > 9", web, true}, // numeric: 12 > 9
		{"attribute:weight greater_than 12", web, false},
		{"attribute:weight >= 12", web, true},
		{"attribute:weight greater_than_equal 12.5", web, false},
		{"attribute:weight < 100", web, true},
		{"attribute:weight less_than 12", web, false},
		{"attribute:weight <= 12.0", web, true},
		{"attribute:weight less_than_equal -1", web, false},
		{"attribute:tier > a", web, true}, // strings: byte order
		{"attribute:tier < a", web, false},
		{"attribute:tier >= 10", web, true},   // "b" is not a number: byte order
		{"attribute:weight > 1x", web, false}, // "1x" is not a number: "12" < "1x"
		{"attribute:stack exists", web, true},
		{"attribute:ecs.capability.gpu exists", web, true}, // an attribute without a value
		{"attribute:stack !exists", web, false},
		{"attribute:nope not_exists", web, true},
		{"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", web, true},
		{"attribute:ecs.availability-zone in [us-east-1c]", web, false},
		{"attribute:ecs.availability-zone !in [us-east-1b, us-east-1c]", web, true},
		{"attribute:ecs.availability-zone not_in [us-east-1a]", web, false},
		{"attribute:ecs.availability-zone in [a, b, c, d, e, f, g, h, us-east-1a]", web, true}, // a map
		{"attribute:ecs.availability-zone not_in [a, b, c, d, e, f, g, h, us-east-1a]", web, false},
		{"attribute:ecs.instance-type =~ t3.*", web, true},
		{"attribute:ecs.instance-type matches t2.*", web, false},
		{"attribute:ecs.instance-type =~ 3.*", web, false}, // the whole value must match
		{"attribute:ecs.instance-type =~ 't[23]\\.(micro|small)'", web, true},
		{"attribute:ecs.instance-type =~ '(?i)T3.MICRO'", web, true},
		{"attribute:ecs.instance-type !~ t2.*", web, true},
		{"attribute:ecs.instance-type not_matches t3.*", web, false},
		{"attribute:multiline =~ t3.*", web, false}, // . does not match a newline
		{"attribute:ecs.capability.gpu == ''", web, true},

		// A missing attribute satisfies only not_exists.
		{"attribute:stack == prod", bare, false},
		{"attribute:stack != prod", bare, false},
		{"attribute:stack > a", bare, false},
		{"attribute:stack in [prod]", bare, false},
		{"attribute:stack not_in [prod]", bare, false},
		{"attribute:stack =~ .*", bare, false},
		{"attribute:stack !~ x", bare, false},
		{"attribute:stack exists", bare, false},
		{"attribute:stack not_exists", bare, true},

		// ec2InstanceId.
		{"ec2InstanceId == i-0abc", web, true},
		{"ec2InstanceId != i-0abc", web, false},
		{"ec2InstanceId in ['i-1', 'i-0abc']", web, true},
		{"ec2InstanceId not_in [i-1, i-2]", web, true},
		{"ec2InstanceId =~ i-0.*", web, true},
		{"ec2InstanceId !~ i-0.*", web, false},

		// agentConnected.
		{"agentConnected == true", web, true},
		{"agentConnected == false", web, false},
		{"agentConnected == false", bare, true},
		{"agentConnected != true", bare, true},
		{"agentConnected in [true, false]", bare, true},
		{"agentConnected not_in [false]", web, true},
		{"agentConnected =~ t.*", web, true},
		{"agentConnected !~ t.*", web, false},

		// agentVersion compares versions, not strings.
		{"agentVersion == 1.14.5", web, true},
		{"agentVersion == 1.14.5.0", web, true},
		{"agentVersion != 1.14", web, true},
		{"agentVersion > 1.14.4", web, true},
		{"agentVersion > 1.9", web, true}, // 14 > 9
		{"agentVersion >= 1.14.5", web, true},
		{"agentVersion < 1.14.10", web, true},
		{"agentVersion < 1.5.0", web, false},
		{"agentVersion <= v1.14.5", web, true},
		{"agentVersion > 1.14", web, true},
		{"agentVersion < 2", web, true},
		{"agentVersion == 1.14.5", bare, false}, // no version
		{"agentVersion != 1.14.5", bare, false},

		// registeredAt: a date is a day, a timestamp a second.
		{"registeredAt < 2018-02-13", web, false},
		{"registeredAt < 2018-02-14", web, true},
		{"registeredAt == 2018-02-13", web, true},
		{"registeredAt != 2018-02-13", web, false},
		{"registeredAt <= 2018-02-13", web, true},
		{"registeredAt > 2018-02-13", web, false},
		{"registeredAt > 2018-02-12", web, true},
		{"registeredAt >= 2018-02-13", web, true},
		{"registeredAt == 2018-02-13T10:30:15Z", web, true},
		{"registeredAt == 2018-02-13T10:30:15", web, true},
		{"registeredAt == 2018-02-13T11:30:15+01:00", web, true},
		{"registeredAt > 2018-02-13T10:30:14Z", web, true},
		{"registeredAt > 2018-02-13T10:30:15Z", web, false},
		{"registeredAt >= 2018-02-13T10:30:15Z", web, true},
		{"registeredAt < 2018-02-13T10:30:15Z", web, false},
		{"registeredAt <= 2018-02-13T10:30:15Z", web, true},

		// runningTasksCount.
		{"runningTasksCount == 3", web, true},
		{"runningTasksCount != 3", web, false},
		{"runningTasksCount > 2", web, true},
		{"runningTasksCount >= 4", web, false},
		{"runningTasksCount < 4", web, true},
		{"runningTasksCount <= 2", web, false},
		{"runningTasksCount == 0", bare, true},

		// task:group: any task for ==, in, =~, exists; none for the negations.
		{"task:group == service:web", web, true},
		{"task:group == service:db", web, false},
		{"task:group != service:web", web, false},
		{"task:group != service:db", web, true},
		{"task:group != service:db", bare, true},
		{"task:group in [service:db, family:web]", web, true},
		{"task:group not_in [service:db, family:web]", web, false},
		{"task:group not_in [service:db]", web, true},
		{"task:group =~ family:.*", web, true},
		{"task:group !~ service:.*", web, false},
		{"task:group exists", web, true},
		{"task:group exists", bare, false},
		{"task:group not_exists", bare, true},
		{"not(task:group == service:db)", web, true},

		// Compound expressions.
		{"attribute:stack == prod and runningTasksCount < 5", web, true},
		{"attribute:stack == prod && runningTasksCount > 5", web, false},
		{"attribute:stack == dev or runningTasksCount == 3", web, true},
		{"attribute:stack == dev || runningTasksCount == 4", web, false},
		{"not(attribute:stack == dev)", web, true},
		{"!(attribute:stack == prod)", web, false},
		{"attribute:stack == dev or attribute:stack == prod and runningTasksCount == 3", web, true},
		{"(attribute:stack == dev or attribute:stack == prod) and runningTasksCount == 4", web, false},
		{"attribute:stack == dev or (attribute:stack == prod and runningTasksCount == 4)", web, false},
		{"not attribute:stack == dev and not attribute:stack == test", web, true},
		{"not(not(attribute:stack == prod))", web, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := e.Eval(tt.on); got != tt.want {
				t.Errorf("Eval = %v, want %v", got, tt.want)
			}
			// The canonical form means the same.
			again, err := Parse(e.String())
			if err != nil {
				t.Fatalf("Parse(%q): %v", e.String(), err)
			}
			if got := again.Eval(tt.on); got != tt.want {
				t.Errorf("canonical %q: Eval = %v, want %v", e.String(), got, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	tests := []struct {
		expr string
		on   *instance
		want string
	}{
		{"attribute:ecs.instance-type =~ t3.*", web, ""},
		{"attribute:ecs.instance-type =~ g4.*", web, `attribute:ecs.instance-type =~ g4.* (found "t3.micro")`},
		{"attribute:stack != prod", bare, "attribute:stack != prod (attribute not set)"},
		{"agentConnected == true and runningTasksCount == 0", web, "runningTasksCount == 0 (found 3)"},
		{"agentConnected == true and runningTasksCount == 0", bare, "agentConnected == true (found false)"},
		{"agentVersion >= 2.0", web, `agentVersion >= 2.0 (found "1.14.5")`},
		{"ec2InstanceId == i-1", web, `ec2InstanceId == i-1 (found "i-0abc")`},
		{"registeredAt < 2018-01-01", web, "registeredAt < 2018-01-01 (found 2018-02-13T10:30:15Z)"},
		{"not(task:group == service:web)", web, "not(task:group == service:web) (found [family:web, service:web])"},
		{"task:group == service:db", bare, "task:group == service:db (found no tasks)"},
		{"attribute:stack == dev or runningTasksCount > 5", web,
			`attribute:stack == dev (found "prod") or runningTasksCount > 5 (found 3)`},
		{"(attribute:stack == prod and runningTasksCount > 5) or ec2InstanceId == i-1", web,
			`runningTasksCount > 5 (found 3) or ec2InstanceId == i-1 (found "i-0abc")`},
		{"attribute:stack == prod and (runningTasksCount > 5 or ec2InstanceId == i-1)", web,
			`runningTasksCount > 5 (found 3) or ec2InstanceId == i-1 (found "i-0abc")`},
		{"(attribute:a exists and (attribute:b exists or attribute:c exists)) or attribute:d exists", web,
			"attribute:a exists (attribute not set) or attribute:d exists (attribute not set)"},
		{"not(attribute:stack == prod and runningTasksCount == 3)", web, "not(attribute:stack == prod and runningTasksCount == 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := e.Explain(tt.on); got != tt.want {
				t.Errorf("Explain = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExplainManyGroups(t *testing.T) {
	on := &instance{}
	for i := range 12 {
		on.groups = append(on.groups, "family:f"+string(rune('a'+i)))
	}
	e, err := Parse("task:group == service:db")
	if err != nil {
		t.Fatal(err)
	}
	want := "task:group == service:db (found [family:fa, family:fb, family:fc, family:fd, family:fe, family:ff, family:fg, family:fh, family:fi, family:fj, and 2 more])"
	if got := e.Explain(on); got != want {
		t.Errorf("Explain = %q, want %q", got, want)
	}
}

// TestEvalDoesNotAllocate checks the hot path: a compound expression with a
// list, a pattern, a map-backed list, a version and a date, per instance.
func TestEvalDoesNotAllocate(t *testing.T) {
	e, err := Parse("attribute:ecs.instance-type =~ 't[0-9]\\..*' and attribute:ecs.instance-type =~ t3.* and " +
		"attribute:ecs.availability-zone in [us-east-1a, us-east-1b] and attribute:weight > 10 and " +
		"ec2InstanceId not_in [a, b, c, d, e, f, g, h, i] and agentVersion >= 1.10 and registeredAt < 2020-01-01 and " +
		"not(task:group == service:db) and agentConnected == true and runningTasksCount < 10")
	if err != nil {
		t.Fatal(err)
	}
	if !e.Eval(web) {
		t.Fatalf("%s does not hold on the test instance: %s", e, e.Explain(web))
	}
	if n := testing.AllocsPerRun(100, func() { e.Eval(web) }); n != 0 {
		t.Errorf("Eval allocates %v times per call, want 0", n)
	}
}

// changing is an instance whose agent connects after its first look: a
// Subject that is not a snapshot.
type changing struct {
	instance
	looks int
}

func (c *changing) AgentConnected() bool {
	c.looks++
	return c.looks > 1
}

// TestExplainChangingSubject checks that Explain ends, and says something,
// when the subject no longer fails by the time it looks for why.
func TestExplainChangingSubject(t *testing.T) {
	for _, expr := range []string{
		"agentConnected == true and agentConnected == true",
		"(agentConnected == true and agentConnected == true) or attribute:a exists",
	} {
		e, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Explain(&changing{}); got == "" {
			t.Errorf("%s: Explain = \"\" for a subject that failed", expr)
		}
	}
}

func TestReadsTasks(t *testing.T) {
	tests := map[string]bool{
		"attribute:ecs.instance-type =~ m5.*":                          false,
		"agentConnected == true and ec2InstanceId != i-1":              false,
		"registeredAt >= 2026-01-01 or agentVersion > 1.0.0":           false,
		"runningTasksCount == 0":                                       true,
		"task:group == service:web":                                    true,
		"attribute:a exists and (attribute:b == x or task:group == g)": true,
		"not(runningTasksCount > 3)":                                   true,
		"not(attribute:a exists)":                                      false,
	}
	for expr, want := range tests {
		e, err := Parse(expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		if got := e.ReadsTasks(); got != want {
			t.Errorf("ReadsTasks(%q) = %v, want %v", expr, got, want)
		}
	}
}
