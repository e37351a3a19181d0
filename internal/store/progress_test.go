package store

import "testing"

func TestProgressFixed(t *testing.T) {
	tests := map[string]bool{
		"3.4.23": false, "3.4.25": true, "3.5.7": false, "3.5.8": true, "3.6.0": true, "3.7.3": true,
		"2.3.8": false, "4.0.0": true, "garbage": false, "": false,
	}
	for v, want := range tests {
		if got := progressFixed(v); got != want {
			t.Errorf("progressFixed(%q) = %v, want %v", v, got, want)
		}
	}
}
