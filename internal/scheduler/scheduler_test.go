package scheduler

import "testing"

func TestPlace(t *testing.T) {
	inst := func(id string, cpu, mem int32, ports ...string) Candidate {
		return Candidate{ID: id, ARN: "arn:" + id, Active: true, Connected: true, CPU: cpu, Memory: mem, Ports: ports}
	}
	tests := []struct {
		name       string
		req        Request
		wantID     string
		wantReason []string // per candidate, when no fit
	}{
		{
			name:   "fits the only instance",
			req:    Request{Demand: Demand{CPU: 256, Memory: 512}, Candidates: []Candidate{inst("a", 1024, 1024)}},
			wantID: "a",
		},
		{
			name:       "cpu then memory then ports explain",
			req:        Request{Demand: Demand{CPU: 512, Memory: 512, Ports: []string{"80"}}, Candidates: []Candidate{inst("a", 256, 4096), inst("b", 1024, 256), inst("c", 1024, 4096, "80")}},
			wantReason: []string{ReasonCPU, ReasonMemory, ReasonPorts},
		},
		{
			name: "GPUs: too few rejected, enough taken",
			req: Request{Demand: Demand{CPU: 1, Memory: 1, GPUs: 2}, Candidates: []Candidate{
				inst("none", 1024, 1024), withGPUs(inst("one", 1024, 1024), "g0"), withGPUs(inst("two", 1024, 1024), "g0", "g1"),
			}},
			wantID: "two",
		},
		{
			name: "GPUs checked after ports, before constraints",
			req: Request{Demand: Demand{CPU: 1, Memory: 1, GPUs: 1, Ports: []string{"80"}}, Candidates: []Candidate{
				inst("a", 1024, 1024), withGPUs(inst("b", 1024, 1024, "80")), withGPUs(inst("c", 1024, 1024), "g0"),
			}, Constraints: []Constraint{{Type: "memberOf", Member: matchAttr{"kind", "gpu"}}}},
			wantReason: []string{ReasonGPU, ReasonPorts, ReasonMemberOf},
		},
		{
			name: "disconnected and draining",
			req: Request{Demand: Demand{}, Candidates: []Candidate{
				{ID: "a", ARN: "arn:a", Active: true, Connected: false},
				{ID: "b", ARN: "arn:b", Active: false, Connected: true},
			}},
			wantReason: []string{ReasonAgent, ReasonInactive},
		},
		{
			name:   "binpack memory picks least remaining",
			req:    Request{Demand: Demand{Memory: 128}, Candidates: []Candidate{inst("a", 1024, 4096), inst("b", 1024, 512), inst("c", 1024, 2048)}, Strategies: []Strategy{{Type: "binpack", Field: "memory"}}},
			wantID: "b",
		},
		{
			name: "spread instanceId picks fewest group tasks",
			req: Request{Demand: Demand{Group: "g"}, Candidates: []Candidate{inst("a", 1024, 1024), inst("b", 1024, 1024)},
				Strategies: []Strategy{{Type: "spread", Field: "instanceId"}}, GroupCount: countsOf(map[string]int{"a": 2, "b": 1})},
			wantID: "b",
		},
		{
			name: "distinctInstance rejects instances with the group",
			req: Request{Demand: Demand{Group: "g"}, Candidates: []Candidate{inst("a", 1024, 1024), inst("b", 1024, 1024)},
				Constraints: []Constraint{{Type: "distinctInstance"}}, GroupCount: countsOf(map[string]int{"a": 1})},
			wantID: "b",
		},
		{
			name: "spread by attribute",
			req: Request{Demand: Demand{Group: "g"}, Candidates: []Candidate{
				{ID: "a", ARN: "arn:a", Active: true, Connected: true, CPU: 1, Memory: 1, Attributes: map[string]string{"ecs.availability-zone": "z1"}},
				{ID: "b", ARN: "arn:b", Active: true, Connected: true, CPU: 1, Memory: 1, Attributes: map[string]string{"ecs.availability-zone": "z1"}},
				{ID: "c", ARN: "arn:c", Active: true, Connected: true, CPU: 1, Memory: 1, Attributes: map[string]string{"ecs.availability-zone": "z2"}},
			}, Strategies: []Strategy{{Type: "spread", Field: "attribute:ecs.availability-zone"}}, GroupCount: countsOf(map[string]int{"a": 1})},
			wantID: "c",
		},
		{
			name: "spread by attribute counts the tasks of full instances too",
			req: Request{Demand: Demand{Group: "g", Memory: 64}, Candidates: []Candidate{
				{ID: "full", ARN: "arn:full", Active: true, Connected: true, CPU: 1, Memory: 0, Attributes: map[string]string{"zone": "z1"}},
				{ID: "b", ARN: "arn:b", Active: true, Connected: true, CPU: 1, Memory: 1024, Attributes: map[string]string{"zone": "z1"}},
				{ID: "c", ARN: "arn:c", Active: true, Connected: true, CPU: 1, Memory: 1024, Attributes: map[string]string{"zone": "z2"}},
			}, Strategies: []Strategy{{Type: "spread", Field: "attribute:zone"}}, GroupCount: countsOf(map[string]int{"full": 1}),
				Rand: func(int) int { return 0 }},
			wantID: "c",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rej, ok := Place(tt.req)
			if tt.wantID != "" {
				if !ok || got.ID != tt.wantID {
					t.Fatalf("Place = %q ok=%v rejections=%v, want %q", got.ID, ok, rej, tt.wantID)
				}
				return
			}
			if ok {
				t.Fatalf("Place chose %q, want no fit", got.ID)
			}
			if len(rej) != len(tt.wantReason) {
				t.Fatalf("rejections = %v, want %v", rej, tt.wantReason)
			}
			for i, r := range rej {
				if r.Reason != tt.wantReason[i] {
					t.Errorf("rejection %d = %q, want %q", i, r.Reason, tt.wantReason[i])
				}
			}
		})
	}
}

func TestPlaceRandomTieBreak(t *testing.T) {
	req := Request{Candidates: []Candidate{
		{ID: "a", ARN: "a", Active: true, Connected: true},
		{ID: "b", ARN: "b", Active: true, Connected: true},
	}, Rand: func(n int) int { return n - 1 }}
	got, _, ok := Place(req)
	if !ok || got.ID != "b" {
		t.Fatalf("Place = %q, want b (Rand picks the last tie)", got.ID)
	}
}

// withGPUs gives c free GPUs with the given ids.
func withGPUs(c Candidate, ids ...string) Candidate {
	c.GPUs = ids
	return c
}

func TestTakeGPUsLowestFirst(t *testing.T) {
	snapshot := []string{"g0", "g1", "g2"}
	c := Candidate{GPUs: snapshot}
	c.Take(Demand{GPUs: 2})
	if len(c.GPUs) != 1 || c.GPUs[0] != "g2" {
		t.Fatalf("after taking 2 GPUs: %v, want [g2]", c.GPUs)
	}
	if snapshot[0] != "g0" || snapshot[1] != "g1" || snapshot[2] != "g2" {
		t.Fatalf("Take wrote through to the snapshot: %v", snapshot)
	}
	c.Take(Demand{GPUs: 5})
	if len(c.GPUs) != 0 {
		t.Fatalf("after taking more than left: %v, want none", c.GPUs)
	}
}

// countsOf adapts a map of group counts to Request.GroupCount.
func countsOf(m map[string]int) func(string) int {
	return func(id string) int { return m[id] }
}

// matchAttr is a memberOf expression requiring an attribute value.
type matchAttr struct{ name, value string }

func (m matchAttr) Match(c *Candidate) bool { return c.Attributes[m.name] == m.value }
func (m matchAttr) ReadsTasks() bool        { return false }
func (m matchAttr) String() string          { return "attribute:" + m.name + " == " + m.value }

func TestMemberOfAndExplain(t *testing.T) {
	inst := func(id string, cpu, mem int32, gpu string) Candidate {
		return Candidate{ID: id, ARN: "arn:" + id, Active: true, Connected: true, CPU: cpu, Memory: mem,
			Attributes: map[string]string{"kind": gpu}}
	}
	tests := []struct {
		name    string
		req     Request
		wantID  string
		explain string
	}{
		{
			name: "memberOf picks the matching instance",
			req: Request{Demand: Demand{CPU: 1, Memory: 1}, Candidates: []Candidate{inst("a", 1024, 1024, "cpu"), inst("b", 1024, 1024, "gpu")},
				Constraints: []Constraint{{Type: "memberOf", Member: matchAttr{"kind", "gpu"}}}},
			wantID: "b",
		},
		{
			name: "every stage explained, resources with the best instance",
			req: Request{Demand: Demand{CPU: 128, Memory: 512}, Candidates: []Candidate{
				inst("a", 1024, 256, "gpu"), inst("b", 1024, 128, "gpu"), inst("c", 1024, 100, "gpu"),
				inst("d", 1024, 4096, "cpu"), inst("e", 1024, 4096, "cpu"),
			}, Constraints: []Constraint{{Type: "memberOf", Member: matchAttr{"kind", "gpu"}}}},
			explain: "5 instances: 3 lacked memory (need 512 MiB, best had 256), 2 failed memberOf(attribute:kind == gpu)",
		},
		{
			name: "agent, draining, cpu, ports",
			req: Request{Demand: Demand{CPU: 2048, Ports: []string{"80"}, PortsUDP: []string{"53"}}, Candidates: []Candidate{
				{ID: "a", ARN: "arn:a", Active: true}, {ID: "b", ARN: "arn:b", Connected: true},
				inst("c", 1024, 1, ""), {ID: "d", ARN: "arn:d", Active: true, Connected: true, CPU: 4096, Ports: []string{"80"}},
			}},
			explain: "4 instances: 1 had no connected agent, 1 was not ACTIVE (draining or deregistered), 1 lacked CPU (need 2048 units, best had 1024), 1 had a needed host port in use (80, 53/udp)",
		},
		{
			name: "GPUs with the best instance",
			req: Request{Demand: Demand{CPU: 1, Memory: 1, GPUs: 2}, Candidates: []Candidate{
				inst("a", 1024, 1024, "gpu"), withGPUs(inst("b", 1024, 1024, "gpu"), "g0"), inst("c", 0, 1024, "gpu"),
			}},
			explain: "3 instances: 2 lacked GPUs (need 2, best had 1), 1 lacked CPU (need 1 units, best had 0)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rej, ok := Place(tt.req)
			if tt.wantID != "" {
				if !ok || got.ID != tt.wantID {
					t.Fatalf("Place = %q ok=%v rejections=%v, want %q", got.ID, ok, rej, tt.wantID)
				}
				return
			}
			if ok {
				t.Fatalf("Place chose %q, want no fit", got.ID)
			}
			if e := Explain(tt.req, rej); e != tt.explain {
				t.Fatalf("Explain =\n  %s\nwant\n  %s", e, tt.explain)
			}
		})
	}
}

// explainedMatch is a memberOf that says what it found.
type explainedMatch struct{ matchAttr }

func (m explainedMatch) Explain(c *Candidate) string {
	return m.String() + ` (found "` + c.Attributes[m.name] + `")`
}

func TestDetail(t *testing.T) {
	c := Candidate{ID: "i1", CPU: 100, Memory: 256, Ports: []string{"80"}, PortsUDP: []string{"53"},
		GPUs: []string{"g0"}, Attributes: map[string]string{"stack": "core"}}
	req := Request{
		Demand: Demand{CPU: 512, Memory: 512, Ports: []string{"80", "443"}, PortsUDP: []string{"53"}, GPUs: 2, Group: "service:web"},
		Constraints: []Constraint{
			{Type: "memberOf", Member: matchAttr{"stack", "core"}},
			{Type: "memberOf", Member: explainedMatch{matchAttr{"stack", "edge"}}},
		},
		GroupCount: countsOf(map[string]int{"i1": 2}),
	}
	tests := map[string]string{
		"":             "",
		ReasonInactive: "not ACTIVE (draining or deregistered)",
		ReasonAgent:    "its agent is not connected",
		ReasonCPU:      "needs 512 CPU units, has 100",
		ReasonMemory:   "needs 512 MiB, has 256",
		ReasonPorts:    "host port 80, 53/udp in use",
		ReasonGPU:      "needs 2 GPUs, has 1 free",
		ReasonDistinct: "already runs 2 tasks of group service:web (distinctInstance)",
		ReasonMemberOf: `fails memberOf: attribute:stack == edge (found "core")`,
	}
	for reason, want := range tests {
		if got := Detail(req, &c, reason); got != want {
			t.Errorf("Detail(%q) = %q, want %q", reason, got, want)
		}
	}
}
