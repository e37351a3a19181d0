package ecs

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// tasksOf builds n rollout tasks with ids prefix0..prefixN-1, created in
// that order.
func tasksOf(prefix string, n int, primary bool, set func(*rolloutTask)) []rolloutTask {
	var out []rolloutTask
	for i := range n {
		t := rolloutTask{ID: prefix + strconv.Itoa(i), Primary: primary, Healthy: true,
			CreatedAt: time.Unix(int64(i), 0)}
		if set != nil {
			set(&t)
		}
		out = append(out, t)
	}
	return out
}

func pending(t *rolloutTask)   { t.Healthy, t.Pending = false, true }
func unhealthy(t *rolloutTask) { t.Healthy, t.Unhealthy = false, true }

func TestPlanRollout(t *testing.T) {
	cases := []struct {
		name        string
		in          rolloutInput
		start       int
		stop        []string
		done, stuck bool
	}{
		{name: "new service starts desired", in: rolloutInput{Desired: 3, MinPercent: 100, MaxPercent: 200},
			start: 3},
		{name: "pending tasks are waited for", in: rolloutInput{Desired: 3, MinPercent: 100, MaxPercent: 200,
			Tasks: tasksOf("n", 3, true, pending)}},
		{name: "steady", in: rolloutInput{Desired: 3, MinPercent: 100, MaxPercent: 200,
			Tasks: tasksOf("n", 3, true, nil)}, done: true},
		{name: "scale up", in: rolloutInput{Desired: 5, MinPercent: 100, MaxPercent: 200,
			Tasks: tasksOf("n", 3, true, nil)}, start: 2},
		{name: "scale up stays within maximumPercent", in: rolloutInput{Desired: 5, MinPercent: 100, MaxPercent: 100,
			Tasks: tasksOf("n", 3, true, nil)}, start: 2},
		{name: "scale down stops newest", in: rolloutInput{Desired: 1, MinPercent: 100, MaxPercent: 200,
			Tasks: tasksOf("n", 3, true, nil)}, stop: []string{"n2", "n1"}},
		{name: "scale down stops pending first", in: rolloutInput{Desired: 2, MinPercent: 100, MaxPercent: 200,
			Tasks: append(tasksOf("n", 2, true, nil), tasksOf("p", 1, true, pending)...)}, stop: []string{"p0"}},
		{name: "scale to zero", in: rolloutInput{Desired: 0, MinPercent: 100, MaxPercent: 200,
			Tasks: tasksOf("n", 2, true, nil)}, stop: []string{"n1", "n0"}},
		{name: "scale down balances zones", in: rolloutInput{Desired: 2, MinPercent: 100, MaxPercent: 200,
			Tasks: []rolloutTask{
				{ID: "a1", Primary: true, Healthy: true, Zone: "a", CreatedAt: time.Unix(1, 0)},
				{ID: "a2", Primary: true, Healthy: true, Zone: "a", CreatedAt: time.Unix(2, 0)},
				{ID: "b1", Primary: true, Healthy: true, Zone: "b", CreatedAt: time.Unix(3, 0)},
				{ID: "a3", Primary: true, Healthy: true, Zone: "a", CreatedAt: time.Unix(0, 0)},
			}}, stop: []string{"a2", "a1"}},
		{name: "replacement of a stopped task", in: rolloutInput{Desired: 3, MinPercent: 100, MaxPercent: 200,
			Tasks: tasksOf("n", 2, true, nil)}, start: 1},
		{name: "deploy min 50 max 200 starts 4 and stops 2", in: rolloutInput{Desired: 4, MinPercent: 50, MaxPercent: 200,
			Tasks: tasksOf("o", 4, false, nil)}, start: 4, stop: []string{"o0", "o1"}},
		{name: "deploy min 50 max 200 second step", in: rolloutInput{Desired: 4, MinPercent: 50, MaxPercent: 200,
			Tasks: append(tasksOf("o", 2, false, nil), tasksOf("n", 4, true, nil)...)}, stop: []string{"o0", "o1"}},
		{name: "deploy min 50 max 200 while new ones are pending", in: rolloutInput{Desired: 4, MinPercent: 50, MaxPercent: 200,
			Tasks: append(tasksOf("o", 2, false, nil), tasksOf("n", 4, true, pending)...)}},
		{name: "deploy min 100 max 200 starts first", in: rolloutInput{Desired: 4, MinPercent: 100, MaxPercent: 200,
			Tasks: tasksOf("o", 4, false, nil)}, start: 4},
		{name: "deploy min 0 max 100 stops first", in: rolloutInput{Desired: 2, MinPercent: 0, MaxPercent: 100,
			Tasks: tasksOf("o", 2, false, nil)}, stop: []string{"o0", "o1"}},
		{name: "deploy min 100 max 100 cannot proceed", in: rolloutInput{Desired: 2, MinPercent: 100, MaxPercent: 100,
			Tasks: tasksOf("o", 2, false, nil)}, stuck: true},
		{name: "old pending tasks go first", in: rolloutInput{Desired: 2, MinPercent: 100, MaxPercent: 100,
			Tasks: append(tasksOf("o", 2, false, nil), tasksOf("p", 1, false, pending)...)}, stop: []string{"p0"}},
		{name: "unhealthy replaced first within maximumPercent", in: rolloutInput{Desired: 2, MinPercent: 100, MaxPercent: 200,
			Tasks: append(tasksOf("n", 1, true, nil), tasksOf("u", 1, true, unhealthy)...)}, start: 1},
		{name: "unhealthy stopped once its replacement runs", in: rolloutInput{Desired: 2, MinPercent: 100, MaxPercent: 200,
			Tasks: append(tasksOf("n", 2, true, nil), tasksOf("u", 1, true, unhealthy)...)}, stop: []string{"u0"}},
		{name: "unhealthy stopped when maximumPercent leaves no room", in: rolloutInput{Desired: 2, MinPercent: 100, MaxPercent: 100,
			Tasks: append(tasksOf("n", 1, true, nil), tasksOf("u", 1, true, unhealthy)...)}, stop: []string{"u0"}},
		// A task told to stop is RUNNING until it has: maximumPercent
		// counts it, so its replacement waits (found by the e2e test
		// TestServiceSurvivesServerRestartMidRollout: 6 live at 125% of 4).
		{name: "deploy min 75 max 125 waits for the stopped task", in: rolloutInput{Desired: 4, MinPercent: 75, MaxPercent: 125,
			Tasks: append(tasksOf("o", 3, false, nil), tasksOf("n", 1, true, pending)...), Stopping: 1}},
		{name: "deploy min 75 max 125 starts once it has stopped", in: rolloutInput{Desired: 4, MinPercent: 75, MaxPercent: 125,
			Tasks: append(tasksOf("o", 3, false, nil), tasksOf("n", 1, true, pending)...)}, start: 1},
		{name: "deploy min 0 max 100 starts once the old ones have stopped", in: rolloutInput{Desired: 2, MinPercent: 0, MaxPercent: 100,
			Stopping: 2}},
		{name: "stopping tasks leave the rest of maximumPercent", in: rolloutInput{Desired: 4, MinPercent: 50, MaxPercent: 200,
			Tasks: tasksOf("o", 2, false, nil), Stopping: 2}, start: 4},
		{name: "draining stops all", in: rolloutInput{Desired: 2, MinPercent: 100, MaxPercent: 200, Draining: true,
			Tasks: append(tasksOf("n", 1, true, nil), tasksOf("o", 1, false, nil)...)}, stop: []string{"n0", "o0"}},
		{name: "draining with none left", in: rolloutInput{Desired: 2, MinPercent: 100, MaxPercent: 200, Draining: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := planRollout(c.in)
			if got.Start != c.start || !slices.Equal(got.Stop, c.stop) || got.Done != c.done || got.Blocked != c.stuck {
				t.Fatalf("planRollout = start %d stop %v done %v blocked %v; want start %d stop %v done %v blocked %v",
					got.Start, got.Stop, got.Done, got.Blocked, c.start, c.stop, c.done, c.stuck)
			}
		})
	}
}

func TestRolloutBounds(t *testing.T) {
	for _, c := range []struct{ desired, min, max, wantMax, wantMin int }{
		{4, 50, 200, 8, 2},
		{3, 50, 200, 6, 2},  // min rounds up
		{3, 100, 150, 4, 3}, // max rounds down
		{1, 0, 100, 1, 0},
	} {
		gotMax, gotMin := rolloutBounds(c.desired, c.min, c.max)
		if gotMax != c.wantMax || gotMin != c.wantMin {
			t.Errorf("rolloutBounds(%d, %d, %d) = %d, %d; want %d, %d", c.desired, c.min, c.max, gotMax, gotMin, c.wantMax, c.wantMin)
		}
	}
}

func TestStartRetryDelay(t *testing.T) {
	for n, want := range map[int]time.Duration{3: 15 * time.Second, 4: 30 * time.Second, 10: 15 * time.Minute, 100: 15 * time.Minute} {
		if got := startRetryDelay(n); got != want {
			t.Errorf("startRetryDelay(%d) = %v, want %v", n, got, want)
		}
	}
}
