package cql

import (
	"regexp"
	"testing"
)

// TestPatternFastPaths checks that the shapes matched without the regexp
// engine match exactly what the anchored regexp would.
func TestPatternFastPaths(t *testing.T) {
	patterns := []struct {
		src  string
		kind patternKind
	}{
		{"t2.*", patPrefix},
		{"t2\\.micro", patExact},
		{"t2.micro", patRegexp}, // . is any character
		{"", patExact},
		{".*", patPrefix},
		{"(?i)t2.*", patRegexp},
		{"(?s)t2.*", patRegexp},
		{"\uFFFD", patRegexp},
		{"t2.*x", patRegexp},
		{"a|b", patRegexp},
		{"é.*", patPrefix},
	}
	inputs := []string{"", "t2", "t2.micro", "t2xmicro", "T2.MICRO", "xt2", "t2\nx", "t2\x00", "\xff", "a", "b", "é", "éa", "\uFFFD"}
	for _, p := range patterns {
		got, err := compilePattern(p.src)
		if err != nil {
			t.Fatalf("compilePattern(%q): %v", p.src, err)
		}
		if got.kind != p.kind {
			t.Errorf("compilePattern(%q) kind = %d, want %d", p.src, got.kind, p.kind)
		}
		ref := regexp.MustCompile(`^(?:` + p.src + `)$`)
		for _, in := range inputs {
			if m, want := got.match(in), ref.MatchString(in); m != want {
				t.Errorf("pattern %q on %q = %v, regexp says %v", p.src, in, m, want)
			}
		}
	}
}

func TestCompareVersion(t *testing.T) {
	tests := []struct {
		have, want string
		cmp        int
		ok         bool
	}{
		{"1.14.5", "1.14.5", 0, true},
		{"1.14.5", "1.14.5.0.0", 0, true},
		{"1.14.5.0", "1.14.5", 0, true},
		{"1.14.5.1", "1.14.5", 1, true},
		{"1.14.5", "1.14.5.1", -1, true},
		{"1.14.10", "1.14.9", 1, true},
		{"1.9", "1.14", -1, true},
		{"2", "1.99.99", 1, true},
		{"v1.2.3", "1.2.3", 0, true},
		{"1.2.3-rc1", "1.2.3", 0, true},
		{"1.2.", "1.2", 0, true},
		{"1.2.x", "1.2.1", -1, true},
		{"99999999999999999999", "999999999", 1, true}, // saturates, no overflow
		{"", "1", 0, false},
		{"latest", "1", 0, false},
	}
	for _, tt := range tests {
		want, ok := parseVersion(tt.want)
		if !ok {
			t.Fatalf("parseVersion(%q) failed", tt.want)
		}
		c, ok := compareVersion(tt.have, want)
		if c != tt.cmp || ok != tt.ok {
			t.Errorf("compareVersion(%q, %q) = %d, %v, want %d, %v", tt.have, tt.want, c, ok, tt.cmp, tt.ok)
		}
	}
}

func TestIsDecimal(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "12": true, "-3": true, "1.5": true, "-0.25": true,
		"": false, "-": false, ".5": false, "5.": false, "1e3": false, "+1": false, "1.2.3": false, "0x1": false,
	} {
		if got := isDecimal(s); got != want {
			t.Errorf("isDecimal(%q) = %v, want %v", s, got, want)
		}
	}
}
