package scheduler

// Plan places tasks of one demand onto one snapshot of candidates, one at a
// time, each placement seeing the ones before it (RunTask's count, a
// service's scale-out). What cannot change while its tasks are placed is
// worked out once, when the plan is made: which instances are ACTIVE with a
// connected agent, which satisfy the memberOf expressions that do not ask
// about tasks, each instance's value of the attributes spread reads, and
// the group's task counts per instance and per value. Each placement is
// then one pass over the instances still in the running, reading numbers;
// instances that can no longer take a task of the demand (resources and
// distinctInstance only shrink as tasks are placed) leave the pass for good.
//
// A plan works on req.Candidates in place: Take updates the chosen
// candidate. Candidates must not change otherwise while the plan is used.
// A plan is not safe for concurrent use.
type Plan struct {
	req Request
	// live are the candidates (indexes into req.Candidates, in order) that
	// passed the stages whose answer cannot change, and have not yet been
	// found unable to take a task.
	live []int
	// group holds the group's tasks per candidate, -1 until asked; nil when
	// no stage counts them.
	group []int32
	// distinct is set when a distinctInstance constraint applies.
	distinct bool
	// dynamic are the memberOf constraints asked at every placement (those
	// that read tasks).
	dynamic []Matcher
	// ranks say how each strategy scores a candidate.
	ranks []ranker
	key   []float64
	best  []float64
	ties  []int
}

// rankKind is a strategy, resolved once per plan.
type rankKind uint8

const (
	rankRandom rankKind = iota
	rankCPU
	rankMemory
	rankSpreadInstance
	rankSpreadValue
)

// ranker scores candidates for one strategy; for spread over an attribute
// it holds each candidate's value (an index) and the group's tasks per
// value, on every candidate of the cluster: a full instance still holds its
// value's tasks, as ECS counts them.
type ranker struct {
	kind   rankKind
	attr   string           // spread over an attribute: its name
	index  map[string]int32 // value -> value index
	of     []int32          // value index per candidate, -1 until needed
	counts []int            // group tasks per value index
}

// NewPlan prepares the placement of tasks of req.Demand onto
// req.Candidates, with req's strategies and constraints.
func NewPlan(req Request) *Plan {
	n := len(req.Candidates)
	p := &Plan{
		req:  req,
		key:  make([]float64, len(req.Strategies)),
		best: make([]float64, len(req.Strategies)),
	}
	var static []Matcher
	for _, con := range req.Constraints {
		switch con.Type {
		case "distinctInstance":
			p.distinct = true
		case "memberOf":
			if con.Member.ReadsTasks() {
				p.dynamic = append(p.dynamic, con.Member)
			} else {
				static = append(static, con.Member)
			}
		}
	}
	needGroup := p.distinct
	p.ranks = make([]ranker, len(req.Strategies))
	for k, s := range req.Strategies {
		switch {
		case s.Type == "binpack" && s.Field == "cpu":
			p.ranks[k].kind = rankCPU
		case s.Type == "binpack":
			p.ranks[k].kind = rankMemory
		case s.Type == "spread" && spreadsByInstance(s.Field):
			p.ranks[k].kind = rankSpreadInstance
			needGroup = true
		case s.Type == "spread":
			p.ranks[k].kind = rankSpreadValue
			needGroup = true
		}
	}
	if needGroup {
		p.group = make([]int32, n)
		for i := range p.group {
			p.group[i] = -1
		}
	}
	p.live = make([]int, 0, n)
	d := req.Demand
candidates:
	for i := range req.Candidates {
		c := &req.Candidates[i]
		if !c.Active || !c.Connected || !fitsResources(d, c) {
			continue
		}
		for _, m := range static {
			if !m.Match(c) {
				continue candidates
			}
		}
		p.live = append(p.live, i)
	}
	for k, s := range req.Strategies {
		if p.ranks[k].kind == rankSpreadValue {
			p.ranks[k].countValues(p, attrName(s.Field))
		}
	}
	return p
}

// countValues files candidates under their value of the attribute and
// counts the group's tasks per value, on every candidate. Only the live
// candidates (which Next scores and Take counts) and those holding tasks
// of the group need their value looked up.
func (r *ranker) countValues(p *Plan, attr string) {
	r.attr, r.index = attr, map[string]int32{}
	r.of = make([]int32, len(p.req.Candidates))
	for i := range r.of {
		r.of[i] = -1
	}
	for _, i := range p.live {
		r.valueOf(p, i)
	}
	for i := range p.req.Candidates {
		if n := p.groupOf(i); n > 0 {
			r.counts[r.valueOf(p, i)] += n
		}
	}
}

// valueOf is candidate i's value index, looked up once.
func (r *ranker) valueOf(p *Plan, i int) int32 {
	if x := r.of[i]; x >= 0 {
		return x
	}
	v := p.req.Candidates[i].Attributes[r.attr]
	x, ok := r.index[v]
	if !ok {
		x = int32(len(r.index))
		r.index[v] = x
		r.counts = append(r.counts, 0)
	}
	r.of[i] = x
	return x
}

// groupOf is how many of the group's tasks candidate i holds.
func (p *Plan) groupOf(i int) int {
	if p.group == nil {
		return p.req.groupCount(p.req.Candidates[i].ID)
	}
	if p.group[i] < 0 {
		p.group[i] = int32(p.req.groupCount(p.req.Candidates[i].ID))
	}
	return int(p.group[i])
}

func fitsResources(d Demand, c *Candidate) bool {
	return d.CPU <= c.CPU && d.Memory <= c.Memory &&
		!overlaps(d.Ports, c.Ports) && !overlaps(d.PortsUDP, c.PortsUDP) &&
		int(d.GPUs) <= len(c.GPUs)
}

// Next picks the candidate (an index into req.Candidates) for the next
// task: among those that can take it, one of those the strategies rank best
// (first strategy most significant), at random among ties. ok is false when
// none can; Rejections then says why. Next does not take the resources:
// Take does, once the caller commits to the choice.
func (p *Plan) Next() (i int, ok bool) {
	d := p.req.Demand
	ties := p.ties[:0]
	live := p.live[:0] // compacted in place: the pass drops who cannot fit again
	for _, i := range p.live {
		c := &p.req.Candidates[i]
		if !fitsResources(d, c) || p.distinct && p.groupOf(i) > 0 {
			continue
		}
		live = append(live, i)
		if !p.matchDynamic(c) {
			continue
		}
		for k := range p.ranks {
			p.key[k] = p.score(k, i, c)
		}
		switch cmp := compareKeys(p.key, p.best); {
		case len(ties) == 0 || cmp < 0:
			copy(p.best, p.key)
			ties = append(ties[:0], i)
		case cmp == 0:
			ties = append(ties, i)
		}
	}
	p.live, p.ties = live, ties
	switch {
	case len(ties) == 0:
		return -1, false
	case len(ties) > 1 && p.req.Rand != nil:
		return ties[p.req.Rand(len(ties))], true
	}
	return ties[0], true
}

func (p *Plan) matchDynamic(c *Candidate) bool {
	for _, m := range p.dynamic {
		if !m.Match(c) {
			return false
		}
	}
	return true
}

// score is lower-is-better for strategy k.
func (p *Plan) score(k, i int, c *Candidate) float64 {
	r := &p.ranks[k]
	switch r.kind {
	case rankCPU:
		return float64(c.CPU)
	case rankMemory:
		return float64(c.Memory)
	case rankSpreadInstance:
		return float64(p.groupOf(i))
	case rankSpreadValue:
		// Fewer group tasks on instances sharing this instance's value is better.
		return float64(r.counts[r.of[i]])
	}
	return 0 // random: every fit ties, Rand picks
}

// Take records that candidate i (from Next) now runs a task of the demand:
// its resources, and the group's counts that spread and distinctInstance
// read.
func (p *Plan) Take(i int) {
	p.req.Candidates[i].Take(p.req.Demand)
	if p.group != nil {
		p.group[i] = int32(p.groupOf(i) + 1)
	}
	for k := range p.ranks {
		if r := &p.ranks[k]; r.kind == rankSpreadValue {
			r.counts[r.valueOf(p, i)]++
		}
	}
}

// Rejections says, for every candidate, why it cannot take the next task
// now: the first stage that rejects it, in the order of the stages. It is
// for when Next found none.
func (p *Plan) Rejections() []Rejection {
	out := make([]Rejection, 0, len(p.req.Candidates))
	for i := range p.req.Candidates {
		reason, con := p.reject(i)
		r := Rejection{ARN: p.req.Candidates[i].ARN, Reason: reason}
		if con >= 0 {
			r.Expr = p.req.Constraints[con].Member.String()
		}
		out = append(out, r)
	}
	return out
}

// reject runs the filter stages in order on candidate i and returns the
// first reason, and the index in req.Constraints of the memberOf
// constraint that failed when that was it (-1 otherwise).
func (p *Plan) reject(i int) (reason string, constraint int) {
	c := &p.req.Candidates[i]
	d := p.req.Demand
	switch {
	case !c.Active:
		return ReasonInactive, -1
	case !c.Connected:
		return ReasonAgent, -1
	case d.CPU > c.CPU:
		return ReasonCPU, -1
	case d.Memory > c.Memory:
		return ReasonMemory, -1
	case overlaps(d.Ports, c.Ports) || overlaps(d.PortsUDP, c.PortsUDP):
		return ReasonPorts, -1
	case int(d.GPUs) > len(c.GPUs):
		return ReasonGPU, -1
	}
	for k, con := range p.req.Constraints {
		switch con.Type {
		case "distinctInstance":
			if p.groupOf(i) > 0 {
				return ReasonDistinct, -1
			}
		case "memberOf":
			if !con.Member.Match(c) {
				return ReasonMemberOf, k
			}
		}
	}
	return "", -1
}
