package cql

import (
	"fmt"
	"testing"
	"time"
)

// fleet returns n instances shaped like an ECS cluster's: about 48 attributes
// each (the agent's capabilities), a mix of types and zones, a few tasks.
func fleet(n int) []*instance {
	types := []string{"t3.micro", "t3.large", "m5.large", "c5.xlarge", "g4dn.xlarge"}
	zones := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	groups := []string{"service:web", "service:api", "service:db", "family:batch"}
	out := make([]*instance, n)
	for i := range out {
		in := &instance{
			attrs: map[string]string{
				"ecs.instance-type":     types[i%len(types)],
				"ecs.availability-zone": zones[i%len(zones)],
				"ecs.os-type":           "linux",
				"ecs.cpu-architecture":  "x86_64",
				"ecs.ami-id":            "ami-1234abcd",
			},
			id:         fmt.Sprintf("i-%017x", i),
			connected:  i%20 != 0,
			version:    "1.82.0",
			registered: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute),
			running:    i % 5,
		}
		for j := range 43 {
			in.attrs[fmt.Sprintf("com.amazonaws.ecs.capability.attr-%d", j)] = ""
		}
		for j := range i % 5 {
			in.groups = append(in.groups, groups[(i+j)%len(groups)])
		}
		out[i] = in
	}
	return out
}

// BenchmarkEval evaluates an expression against 5,000 instances per op, the
// candidates of one placement in a large cluster. Each op also runs a
// reference over the same instances, interleaved so that both see the same
// machine: a hand-written filter that looks the instance type up in each
// instance's attribute map and compares it with a string. It reports each
// side's time per 5,000 instances (eval-ns/op, ref-ns/op; ns/op is their sum)
// and the ratio eval/ref.
func BenchmarkEval(b *testing.B) {
	insts := fleet(5000)
	cases := []struct{ name, expr string }{
		{"compound", "attribute:ecs.instance-type =~ t3.* and attribute:ecs.availability-zone in [us-east-1a, us-east-1b] and " +
			"not(task:group == service:db) and agentConnected == true"},
		{"regexp", `attribute:ecs.instance-type =~ '(t3|m5)\.(large|xlarge)'`},
		{"every-subject", "attribute:ecs.os-type == linux and agentConnected == true and agentVersion >= 1.70 and " +
			"registeredAt >= 2024-01-02 and runningTasksCount < 4 and ec2InstanceId !~ 'i-0+' and " +
			"task:group not_in [service:db, family:a, family:b, family:c, family:d, family:e, family:f, family:g]"},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			e, err := Parse(bc.expr)
			if err != nil {
				b.Fatal(err)
			}
			var evalTime, refTime time.Duration
			var ops, matched, refMatched int
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				for _, in := range insts {
					if e.Eval(in) {
						matched++
					}
				}
				t1 := time.Now()
				for _, in := range insts {
					if in.attrs["ecs.instance-type"] == "t3.micro" {
						refMatched++
					}
				}
				refTime += time.Since(t1)
				evalTime += t1.Sub(t0)
				ops++
			}
			if matched == 0 || refMatched == 0 {
				b.Fatalf("nothing matched (%d, %d): the benchmark measures nothing useful", matched, refMatched)
			}
			b.ReportMetric(float64(evalTime.Nanoseconds())/float64(ops), "eval-ns/op")
			b.ReportMetric(float64(refTime.Nanoseconds())/float64(ops), "ref-ns/op")
			b.ReportMetric(float64(evalTime)/float64(refTime), "eval/ref")
		})
	}
}

// BenchmarkParse parses a typical memberOf expression.
func BenchmarkParse(b *testing.B) {
	const expr = "attribute:ecs.instance-type =~ t3.* and attribute:ecs.availability-zone in [us-east-1a, us-east-1b] and not(task:group == service:db)"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(expr); err != nil {
			b.Fatal(err)
		}
	}
}
