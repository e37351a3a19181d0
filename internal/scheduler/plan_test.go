package scheduler

import (
	"reflect"
	"testing"
)

// groupBelow is a memberOf expression that reads tasks, as
// "runningTasksCount < n" does: the instance holds fewer than limit tasks
// of the group, counting those placed so far (as internal/ecs counts the
// decision's tasks).
type groupBelow struct {
	group map[string]int
	limit int
}

func (m groupBelow) Match(c *Candidate) bool { return m.group[c.ID] < m.limit }
func (m groupBelow) ReadsTasks() bool        { return true }
func (m groupBelow) String() string          { return "runningTasksCount < limit" }

// A plan that places a sequence of tasks must choose exactly what one
// Place per task chooses, given the same random numbers (every property
// checked of Place sequences then holds of plans): its incremental state
// (the instances it dropped, the group's counts per instance and per
// value) must agree with a decision made from scratch at every step. When
// nothing fits, both must give the same rejections.
func TestPlanAgreesWithPlacePerTask(t *testing.T) {
	shapes := map[string]shape{
		"any":               {},
		"healthy":           {healthy: true},
		"distinct":          {distinct: true, groupAlready: true},
		"roomy spread zone": {roomy: true, first: &Strategy{Type: "spread", Field: "attribute:" + propZoneAttr}},
		"spread instance":   {healthy: true, groupAlready: true, first: &Strategy{Type: "spread", Field: "instanceId"}},
		"memberOf":          {memberOf: true},
	}
	for name, sh := range shapes {
		t.Run(name, func(t *testing.T) {
			for seed := uint64(1); seed <= propSeeds; seed++ {
				each, plan := newSim(seed, sh), newSim(seed, sh)
				if seed%3 == 0 { // a constraint asked at every placement
					limit := 1 + int(seed%4)
					each.req.Constraints = append(each.req.Constraints, Constraint{Type: "memberOf", Member: groupBelow{each.group, limit}})
					plan.req.Constraints = append(plan.req.Constraints, Constraint{Type: "memberOf", Member: groupBelow{plan.group, limit}})
				}
				p := NewPlan(plan.req)
				for step := range 2 + int(seed%propMaxSteps) {
					want, wantRej := each.step(t)
					got, ok := p.Next()
					if !ok {
						got = -1
					}
					if got != want {
						each.fatalf(t, "step %d: the plan chose %d, Place %d", step, got, want)
					}
					if !ok {
						if rej := p.Rejections(); !reflect.DeepEqual(rej, wantRej) {
							each.fatalf(t, "step %d: the plan's rejections %v, Place's %v", step, rej, wantRej)
						}
						break
					}
					p.Take(got)
					plan.group[plan.req.Candidates[got].ID]++ // what the caller records of its decision
					if !reflect.DeepEqual(plan.req.Candidates[got], each.req.Candidates[want]) {
						each.fatalf(t, "step %d: after Take the plan's candidate is %+v, Place's %+v", step, plan.req.Candidates[got], each.req.Candidates[want])
					}
				}
			}
		})
	}
}
