package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Property tests: random clusters and random requests, placed one task after
// another as RunTask does (Place, then Take on the chosen instance, with a
// GroupCount that counts what was placed), each step checked against a
// brute-force judgement written here independently of the scheduler. Seeds
// are fixed: a failure names its seed and the steps that led to it.

const (
	propSeeds    = 3000 // random clusters per property
	propMaxSteps = 40   // placements per cluster, at most
	propGroup    = "service:web"
	propZoneAttr = "zone"
	propTypeAttr = "type"
)

var (
	propZones = []string{"a", "b", "c"}
	propTypes = []string{"m5.large", "c5.large", "t3.micro"}
	propTCP   = []string{"80", "443", "8080", "9000"}
	propUDP   = []string{"53", "514"}
)

// typeIn is a memberOf expression: attribute:type in [...]. An instance
// without the attribute fails it, as in the Cluster Query Language.
type typeIn []string

func (m typeIn) Match(c *Candidate) bool {
	v, ok := c.Attributes[propTypeAttr]
	return ok && slices.Contains(m, v)
}

func (m typeIn) ReadsTasks() bool { return false }

func (m typeIn) String() string { return "attribute:type in [" + strings.Join(m, ", ") + "]" }

// shape says what random requests one property draws.
type shape struct {
	// roomy gives every instance room for every task of the sequence,
	// makes it ACTIVE and connected, and draws no constraint: every instance
	// fits at every step.
	roomy bool
	// healthy makes every instance ACTIVE and connected.
	healthy bool
	// first is the most significant strategy, if set; more are drawn after it.
	first *Strategy
	// distinct and memberOf force those constraints (otherwise drawn at
	// random); noDistinct and noMemberOf forbid them.
	distinct, noDistinct, memberOf, noMemberOf bool
	// groupAlready lets instances start with tasks of the group.
	groupAlready bool
}

// sim is one random cluster and the sequence placed on it so far.
type sim struct {
	seed  uint64
	req   Request
	group map[string]int // tasks of the group per instance id: initial and placed
	log   []string
}

func newSim(seed uint64, sh shape) *sim {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	s := &sim{seed: seed, group: map[string]int{}}
	n := 1 + r.IntN(12)
	// Port slices share one backing array with spare capacity, as candidates
	// built from one snapshot may: Take must not write through it.
	backing := make([]string, 0, 64)
	cands := make([]Candidate, n)
	for i := range cands {
		c := Candidate{
			ID: "i" + strconv.Itoa(i), ARN: "arn:i" + strconv.Itoa(i),
			Active: r.IntN(8) != 0, Connected: r.IntN(8) != 0,
			CPU: int32(r.IntN(9)) * 128, Memory: int32(r.IntN(9)) * 128,
			Attributes: map[string]string{propZoneAttr: propZones[r.IntN(len(propZones))]},
		}
		if r.IntN(8) != 0 {
			c.Attributes[propTypeAttr] = propTypes[r.IntN(len(propTypes))]
		}
		start := len(backing)
		backing = append(backing, subset(r, propTCP)...)
		c.Ports = backing[start:len(backing):len(backing)]
		if r.IntN(2) == 0 {
			c.Ports = backing[start:] // spare capacity, shared with the next instance
		}
		c.PortsUDP = subset(r, propUDP)
		if sh.roomy || sh.healthy {
			c.Active, c.Connected = true, true
		}
		if sh.roomy {
			c.CPU, c.Memory = 1<<20, 1<<20
		}
		if sh.groupAlready && r.IntN(3) == 0 {
			s.group[c.ID] = 1 + r.IntN(2)
		}
		cands[i] = c
	}
	d := Demand{CPU: int32(r.IntN(5)) * 128, Memory: int32(r.IntN(5)) * 128, Group: propGroup}
	if !sh.roomy {
		if r.IntN(3) == 0 {
			d.Ports = subset(r, propTCP)
		}
		if r.IntN(4) == 0 {
			d.PortsUDP = subset(r, propUDP)
		}
	}
	if !sh.roomy {
		addGPUs(seed, cands, &d)
	}
	pool := []Strategy{
		{Type: "binpack", Field: "cpu"}, {Type: "binpack", Field: "memory"},
		{Type: "spread", Field: "instanceId"}, {Type: "spread", Field: "host"},
		{Type: "spread", Field: "attribute:" + propZoneAttr}, {Type: "spread", Field: "attribute:" + propTypeAttr},
		{Type: "random"},
	}
	var strategies []Strategy
	if sh.first != nil {
		strategies = append(strategies, *sh.first)
	}
	for range r.IntN(3) {
		strategies = append(strategies, pool[r.IntN(len(pool))])
	}
	var constraints []Constraint
	if sh.distinct || (!sh.roomy && !sh.noDistinct && r.IntN(3) == 0) {
		constraints = append(constraints, Constraint{Type: "distinctInstance"})
	}
	if sh.memberOf || (!sh.roomy && !sh.noMemberOf && r.IntN(3) == 0) {
		for range 1 + r.IntN(2) {
			m := typeIn(subset(r, propTypes))
			constraints = append(constraints, Constraint{Type: "memberOf", Member: m})
		}
	}
	r.Shuffle(len(constraints), func(i, j int) { constraints[i], constraints[j] = constraints[j], constraints[i] })
	s.req = Request{
		Demand: d, Candidates: cands, Strategies: strategies, Constraints: constraints,
		GroupCount: func(id string) int { return s.group[id] },
		Rand:       r.IntN,
	}
	s.logf("seed %d: demand cpu=%d mem=%d ports=%v udp=%v gpus=%d; strategies %v; constraints %s",
		seed, d.CPU, d.Memory, d.Ports, d.PortsUDP, d.GPUs, strategies, constraintsText(constraints))
	for _, c := range cands {
		s.logf("  %s active=%v connected=%v cpu=%d mem=%d ports=%v udp=%v gpus=%v attrs=%v group=%d",
			c.ID, c.Active, c.Connected, c.CPU, c.Memory, c.Ports, c.PortsUDP, c.GPUs, c.Attributes, s.group[c.ID])
	}
	return s
}

// addGPUs gives the instances 0-3 free GPUs and the task, one time in
// three, 1-2 GPUs to ask for. It draws from its own stream, so the rest of
// a seed's cluster is what it was before GPUs were drawn.
func addGPUs(seed uint64, cands []Candidate, d *Demand) {
	r := rand.New(rand.NewPCG(seed, 0x6a09e667f3bcc908))
	for i := range cands {
		for g := range r.IntN(4) {
			cands[i].GPUs = append(cands[i].GPUs, cands[i].ID+"-gpu"+strconv.Itoa(g))
		}
	}
	if r.IntN(3) == 0 {
		d.GPUs = 1 + int32(r.IntN(2))
	}
}

// subset draws a random subset of xs, in xs's order, without duplicates.
func subset(r *rand.Rand, xs []string) []string {
	var out []string
	for _, x := range xs {
		if r.IntN(3) == 0 {
			out = append(out, x)
		}
	}
	return out
}

func constraintsText(cs []Constraint) string {
	var parts []string
	for _, c := range cs {
		if c.Member != nil {
			parts = append(parts, "memberOf("+c.Member.String()+")")
		} else {
			parts = append(parts, c.Type)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (s *sim) logf(format string, args ...any) { s.log = append(s.log, fmt.Sprintf(format, args...)) }

// fatalf fails the test with the seed and everything that led to the failure.
func (s *sim) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf("seed %d: %s\n%s", s.seed, fmt.Sprintf(format, args...), strings.Join(s.log, "\n"))
}

// step places one task as RunTask does: Place, then on success Take on the
// chosen instance and count the task in its group. It returns the chosen
// index, -1 when nothing fit, and the rejections.
func (s *sim) step(t *testing.T) (int, []Rejection) {
	t.Helper()
	chosen, rej, ok := Place(s.req)
	if !ok {
		s.logf("step: no fit")
		return -1, rej
	}
	i := slices.IndexFunc(s.req.Candidates, func(c Candidate) bool { return c.ID == chosen.ID })
	if i < 0 {
		s.fatalf(t, "Place chose %q, not a candidate", chosen.ID)
	}
	if rej != nil {
		s.fatalf(t, "Place chose %s and returned rejections %v", chosen.ID, rej)
	}
	s.req.Candidates[i].Take(s.req.Demand)
	s.group[chosen.ID]++
	s.logf("step: placed on %s", chosen.ID)
	return i, nil
}

// whyNot judges from scratch every reason c cannot take the request's task;
// none means it can.
func whyNot(req Request, c *Candidate, groupCount int) []string {
	d := req.Demand
	var why []string
	if !c.Active {
		why = append(why, ReasonInactive)
	}
	if !c.Connected {
		why = append(why, ReasonAgent)
	}
	if c.CPU < d.CPU {
		why = append(why, ReasonCPU)
	}
	if c.Memory < d.Memory {
		why = append(why, ReasonMemory)
	}
	for _, p := range d.Ports {
		if slices.Contains(c.Ports, p) {
			why = append(why, ReasonPorts)
		}
	}
	for _, p := range d.PortsUDP {
		if slices.Contains(c.PortsUDP, p) {
			why = append(why, ReasonPorts)
		}
	}
	if len(c.GPUs) < int(d.GPUs) {
		why = append(why, ReasonGPU)
	}
	for _, con := range req.Constraints {
		switch con.Type {
		case "distinctInstance":
			if groupCount > 0 {
				why = append(why, ReasonDistinct)
			}
		case "memberOf":
			v, ok := c.Attributes[propTypeAttr]
			if !ok || !slices.Contains(con.Member.(typeIn), v) {
				why = append(why, ReasonMemberOf)
			}
		}
	}
	return why
}

func (s *sim) fits(i int) bool {
	c := &s.req.Candidates[i]
	return len(whyNot(s.req, c, s.group[c.ID])) == 0
}

// runProperty drives one sequence per seed and calls check after every
// step with the chosen index (-1: no fit), the rejections and the state
// before the step; a sequence ends at its first no-fit, as nothing changes
// after it.
func runProperty(t *testing.T, sh shape, check func(t *testing.T, s *sim, before *sim, chosen int, rej []Rejection)) {
	for seed := uint64(1); seed <= propSeeds; seed++ {
		s := newSim(seed, sh)
		steps := 1 + int(seed%propMaxSteps)
		for range steps {
			before := s.snapshot()
			chosen, rej := s.step(t)
			check(t, s, before, chosen, rej)
			if chosen < 0 {
				break
			}
		}
	}
}

// snapshot copies the cluster's state (candidates and group counts), so a
// check can compare before and after a step.
func (s *sim) snapshot() *sim {
	c := &sim{seed: s.seed, req: s.req, group: map[string]int{}}
	c.req.Candidates = make([]Candidate, len(s.req.Candidates))
	for i, o := range s.req.Candidates {
		o.Ports, o.PortsUDP, o.GPUs = slices.Clone(o.Ports), slices.Clone(o.PortsUDP), slices.Clone(o.GPUs)
		c.req.Candidates[i] = o
	}
	for k, v := range s.group {
		c.group[k] = v
	}
	c.req.GroupCount = func(id string) int { return c.group[id] }
	return c
}

func TestPropertyNoOvercommit(t *testing.T) {
	runProperty(t, shape{}, func(t *testing.T, s, before *sim, chosen int, _ []Rejection) {
		if chosen >= 0 && !before.fits(chosen) {
			c := &before.req.Candidates[chosen]
			s.fatalf(t, "placed on %s, which cannot take the task: %v", c.ID, whyNot(before.req, c, before.group[c.ID]))
		}
		for i := range s.req.Candidates {
			c, was := &s.req.Candidates[i], &before.req.Candidates[i]
			if c.CPU < 0 || c.Memory < 0 {
				s.fatalf(t, "%s left with cpu=%d memory=%d", c.ID, c.CPU, c.Memory)
			}
			if p, ok := duplicate(c.Ports); ok {
				s.fatalf(t, "%s has TCP port %s in use twice: %v", c.ID, p, c.Ports)
			}
			if p, ok := duplicate(c.PortsUDP); ok {
				s.fatalf(t, "%s has UDP port %s in use twice: %v", c.ID, p, c.PortsUDP)
			}
			wantGPUs := was.GPUs
			if i == chosen {
				wantGPUs = was.GPUs[s.req.Demand.GPUs:] // the lowest ids went to the task
			}
			if !slices.Equal(c.GPUs, wantGPUs) {
				s.fatalf(t, "%s has free GPUs %v after the step, want %v (before: %v)", c.ID, c.GPUs, wantGPUs, was.GPUs)
			}
			if i != chosen && (!slices.Equal(c.Ports, was.Ports) || !slices.Equal(c.PortsUDP, was.PortsUDP) || c.CPU != was.CPU || c.Memory != was.Memory) {
				s.fatalf(t, "placing on another instance changed %s: ports %v -> %v, udp %v -> %v, cpu %d -> %d, memory %d -> %d",
					c.ID, was.Ports, c.Ports, was.PortsUDP, c.PortsUDP, was.CPU, c.CPU, was.Memory, c.Memory)
			}
		}
	})
}

func duplicate(ports []string) (string, bool) {
	seen := map[string]bool{}
	for _, p := range ports {
		if seen[p] {
			return p, true
		}
		seen[p] = true
	}
	return "", false
}

func TestPropertyNoFitMeansEveryCandidateFails(t *testing.T) {
	noFits := 0
	runProperty(t, shape{}, func(t *testing.T, s, before *sim, chosen int, rej []Rejection) {
		if chosen >= 0 {
			return
		}
		noFits++
		cands := before.req.Candidates
		if len(rej) != len(cands) {
			s.fatalf(t, "no fit with %d rejections for %d candidates: %v", len(rej), len(cands), rej)
		}
		for i := range cands {
			c := &cands[i]
			why := whyNot(before.req, c, before.group[c.ID])
			if len(why) == 0 {
				s.fatalf(t, "no fit, but %s can take the task (rejected for %q)", c.ID, rej[i].Reason)
			}
			if rej[i].ARN != c.ARN {
				s.fatalf(t, "rejection %d is for %s, want %s", i, rej[i].ARN, c.ARN)
			}
			if !slices.Contains(why, rej[i].Reason) {
				s.fatalf(t, "%s rejected for %q; its reasons are %v", c.ID, rej[i].Reason, why)
			}
			if rej[i].Reason == ReasonMemberOf && !failsMemberOf(c, before.req.Constraints, rej[i].Expr) {
				s.fatalf(t, "%s rejected for memberOf(%s), which it does not fail", c.ID, rej[i].Expr)
			}
		}
		e := Explain(before.req, rej)
		total, sum, err := explainCounts(e)
		if err != nil {
			s.fatalf(t, "Explain = %q: %v", e, err)
		}
		if total != len(cands) || sum != len(cands) {
			s.fatalf(t, "Explain = %q: says %d instances, its parts add up to %d; there are %d candidates", e, total, sum, len(cands))
		}
	})
	if noFits < propSeeds/10 {
		t.Fatalf("only %d sequences ended without a fit: the generator no longer exercises this property", noFits)
	}
}

// failsMemberOf says whether c fails a memberOf constraint whose expression
// prints as expr.
func failsMemberOf(c *Candidate, cs []Constraint, expr string) bool {
	for _, con := range cs {
		if con.Type == "memberOf" && con.Member.String() == expr && !con.Member.Match(c) {
			return true
		}
	}
	return false
}

// explainCounts reads Explain's "N instances: a ..., b ..." and returns N
// and a+b+...; commas inside parentheses and brackets (port lists,
// expressions) do not separate parts.
func explainCounts(e string) (total, sum int, err error) {
	head, rest, ok := strings.Cut(e, ": ")
	if !ok {
		return 0, 0, fmt.Errorf("no %q", ": ")
	}
	if total, err = leadingInt(head); err != nil {
		return 0, 0, err
	}
	depth, start := 0, 0
	for i := 0; i <= len(rest); i++ {
		if i < len(rest) {
			switch rest[i] {
			case '(', '[':
				depth++
			case ')', ']':
				depth--
			}
			if depth != 0 || !strings.HasPrefix(rest[i:], ", ") {
				continue
			}
		}
		n, err := leadingInt(rest[start:i])
		if err != nil {
			return 0, 0, err
		}
		sum += n
		start = i + 2
	}
	return total, sum, nil
}

func leadingInt(s string) (int, error) {
	num, _, _ := strings.Cut(s, " ")
	return strconv.Atoi(num)
}

func TestPropertyDistinctInstance(t *testing.T) {
	runProperty(t, shape{distinct: true, groupAlready: true}, func(t *testing.T, s, before *sim, chosen int, _ []Rejection) {
		if chosen < 0 {
			return
		}
		id := s.req.Candidates[chosen].ID
		if n := before.group[id]; n > 0 {
			s.fatalf(t, "distinctInstance: placed on %s, which already ran %d tasks of the group", id, n)
		}
	})
}

func TestPropertyMemberOf(t *testing.T) {
	runProperty(t, shape{memberOf: true}, func(t *testing.T, s, before *sim, chosen int, _ []Rejection) {
		if chosen < 0 {
			return
		}
		c := &s.req.Candidates[chosen]
		for _, con := range s.req.Constraints {
			if con.Type != "memberOf" {
				continue
			}
			v, ok := c.Attributes[propTypeAttr]
			if !ok || !slices.Contains(con.Member.(typeIn), v) {
				s.fatalf(t, "placed on %s (type %q) outside memberOf(%s)", c.ID, v, con.Member)
			}
		}
	})
}

func TestPropertySpreadInstanceID(t *testing.T) {
	for _, field := range []string{"instanceId", "host"} {
		spread := &Strategy{Type: "spread", Field: field}
		t.Run(field+"/every instance fits", func(t *testing.T) {
			// No constraints and room everywhere: every instance fits at
			// every step, so the counts stay within 1 of each other.
			runProperty(t, shape{roomy: true, first: spread}, func(t *testing.T, s, _ *sim, chosen int, _ []Rejection) {
				lo, hi := spreadRange(s)
				if chosen < 0 || hi-lo > 1 {
					s.fatalf(t, "spread(%s) with every instance fitting: group counts range %d..%d (chosen %d)", field, lo, hi, chosen)
				}
			})
		})
		t.Run(field+"/as fits allow", func(t *testing.T) {
			// The chosen instance runs the fewest tasks of the group among
			// the instances that can take the task.
			runProperty(t, shape{first: spread, groupAlready: true}, func(t *testing.T, s, before *sim, chosen int, _ []Rejection) {
				if chosen < 0 {
					return
				}
				got := before.group[before.req.Candidates[chosen].ID]
				for i := range before.req.Candidates {
					c := &before.req.Candidates[i]
					if before.fits(i) && before.group[c.ID] < got {
						s.fatalf(t, "spread(%s): chose %s with %d tasks of the group; %s fits with %d",
							field, before.req.Candidates[chosen].ID, got, c.ID, before.group[c.ID])
					}
				}
			})
		})
	}
}

func spreadRange(s *sim) (lo, hi int) {
	lo = 1 << 30
	for _, c := range s.req.Candidates {
		lo, hi = min(lo, s.group[c.ID]), max(hi, s.group[c.ID])
	}
	return lo, hi
}

func TestPropertySpreadAttribute(t *testing.T) {
	spread := &Strategy{Type: "spread", Field: "attribute:" + propZoneAttr}
	t.Run("every instance fits", func(t *testing.T) {
		runProperty(t, shape{roomy: true, first: spread}, func(t *testing.T, s, _ *sim, chosen int, _ []Rejection) {
			counts := zoneCounts(s)
			lo, hi := 1<<30, 0
			for _, n := range counts {
				lo, hi = min(lo, n), max(hi, n)
			}
			if chosen < 0 || hi-lo > 1 {
				s.fatalf(t, "spread(attribute:zone) with every instance fitting: tasks per zone %v (chosen %d)", counts, chosen)
			}
		})
	})
	// The zone a task goes to must be one with the fewest tasks of the group
	// among the zones where some instance can take it. A zone's count is
	// every task of the group there, on instances that can take one more or
	// not: spread evens out the group over the zones, and the tasks on a
	// full instance, or on one distinctInstance rules out, still run in its
	// zone. Every instance is ACTIVE, connected and in no memberOf.
	for _, tc := range []struct {
		name string
		sh   shape
	}{
		{"as instances fill up", shape{healthy: true, first: spread, noMemberOf: true, noDistinct: true}},
		{"with distinctInstance", shape{healthy: true, first: spread, noMemberOf: true, distinct: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runProperty(t, tc.sh, func(t *testing.T, s, before *sim, chosen int, _ []Rejection) {
				if chosen < 0 {
					return
				}
				counts := zoneCounts(before)
				got := before.req.Candidates[chosen].Attributes[propZoneAttr]
				for i := range before.req.Candidates {
					z := before.req.Candidates[i].Attributes[propZoneAttr]
					if before.fits(i) && counts[z] < counts[got] {
						s.fatalf(t, "spread(attribute:zone): chose %s in zone %s; zone %s has fewer tasks of the group and %s fits there; tasks per zone before %v",
							before.req.Candidates[chosen].ID, got, z, before.req.Candidates[i].ID, counts)
					}
				}
			})
		})
	}
}

// zoneCounts counts the group's tasks per zone over every instance.
func zoneCounts(s *sim) map[string]int {
	counts := map[string]int{}
	for _, c := range s.req.Candidates {
		counts[c.Attributes[propZoneAttr]] += s.group[c.ID]
	}
	return counts
}
