package main

import (
	"reflect"
	"testing"
)

func TestShorthand(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
		bad  bool
	}{
		{in: "type=distinctInstance", want: map[string]string{"type": "distinctInstance"}},
		{in: "type=memberOf,expression=attribute:stack == edge", want: map[string]string{"type": "memberOf", "expression": "attribute:stack == edge"}},
		{in: "type=memberOf,expression=attribute:zone in [a, b],", want: map[string]string{"type": "memberOf", "expression": "attribute:zone in [a, b],"}},
		{in: `expression="attribute:zone in [a, b]",type=memberOf`, want: map[string]string{"type": "memberOf", "expression": "attribute:zone in [a, b]"}},
		{in: "type=spread,field=attribute:ecs.availability-zone", want: map[string]string{"type": "spread", "field": "attribute:ecs.availability-zone"}},
		{in: "kind=spread", bad: true},
		{in: "expression=x", bad: true},
		{in: "spread", bad: true},
	}
	for _, tt := range tests {
		got, err := shorthand(tt.in, "type", "expression", "field")
		if tt.bad {
			if err == nil {
				t.Errorf("shorthand(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("shorthand(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
}
