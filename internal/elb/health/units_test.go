package health

import (
	"testing"

	"github.com/berth-dev/berth/internal/lbtarget"
)

func TestParseMatcher(t *testing.T) {
	tests := []struct {
		in       string
		match    []int
		miss     []int
		wantsErr bool
	}{
		{in: "", match: []int{200}, miss: []int{201, 500}},
		{in: "200", match: []int{200}, miss: []int{199, 201}},
		{in: "200,202", match: []int{200, 202}, miss: []int{201}},
		{in: "200-299", match: []int{200, 250, 299}, miss: []int{300, 199}},
		{in: " 200-204 , 302 ", match: []int{204, 302}, miss: []int{205}},
		{in: "2xx", wantsErr: true},
		{in: "300-200", wantsErr: true},
		{in: "200,", wantsErr: true},
		{in: "700", wantsErr: true},
	}
	for _, tt := range tests {
		m, err := parseMatcher(tt.in)
		if (err != nil) != tt.wantsErr {
			t.Fatalf("parseMatcher(%q) error %v, wantsErr %v", tt.in, err, tt.wantsErr)
		}
		for _, c := range tt.match {
			if !m.match(c) {
				t.Errorf("%q does not match %d", tt.in, c)
			}
		}
		for _, c := range tt.miss {
			if m.match(c) {
				t.Errorf("%q matches %d", tt.in, c)
			}
		}
	}
}

func TestCounter(t *testing.T) {
	pass := outcome{ok: true}
	fail := failed()
	down := Result{State: lbtarget.StateUnhealthy, Reason: ReasonFailedHealthChecks, Description: descFailedHealthChecks}
	tests := []struct {
		name  string
		from  Result
		feed  []outcome
		wants []Result
	}{
		{"initial to healthy", registering, []outcome{pass, pass, pass}, []Result{checking, checking, healthy}},
		{"initial to unhealthy", registering, []outcome{fail, fail}, []Result{checking, down}},
		{"a failure resets passes", registering, []outcome{pass, pass, fail, pass, pass, pass},
			[]Result{checking, checking, checking, checking, checking, healthy}},
		{"healthy tolerates one failure", healthy, []outcome{fail, pass, fail, fail}, []Result{healthy, healthy, healthy, down}},
		{"unhealthy needs three passes", down, []outcome{pass, pass, pass}, []Result{down, down, healthy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &counter{healthyThreshold: 3, unhealthyThreshold: 2}
			cur := tt.from
			for i, o := range tt.feed {
				cur = c.observe(cur, o)
				if cur != tt.wants[i] {
					t.Fatalf("after %d: %+v, want %+v", i+1, cur, tt.wants[i])
				}
			}
		})
	}
}
