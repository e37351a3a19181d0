package scan

import "testing"

type versionCase struct {
	a, b string
	want int
}

func checkOrder(t *testing.T, cmp comparator, cases []versionCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := cmp(tc.a, tc.b)
		if err != nil {
			t.Errorf("compare(%q, %q): %v", tc.a, tc.b, err)
			continue
		}
		if got != tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if back, _ := cmp(tc.b, tc.a); back != -tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.b, tc.a, back, -tc.want)
		}
	}
}

func checkInvalid(t *testing.T, cmp comparator, bad []string) {
	t.Helper()
	for _, v := range bad {
		if _, err := cmp(v, "1.0"); err == nil {
			t.Errorf("%q: no error", v)
		}
	}
}

// Expected orders are dpkg --compare-versions's (dpkg lib/dpkg/version.c).
func TestDebianVersionOrder(t *testing.T) {
	checkOrder(t, compareDebVersions, []versionCase{
		{"1.0", "1.0", 0},
		{"1.0-1", "1.0-2", -1},
		{"1:1.0", "2.0", 1},
		{"0:1.0", "1.0", 0},
		{"1:1.2.13.dfsg-1", "1:1.3.dfsg-1", -1},
		{"1.0~rc1", "1.0", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0~", "1.0", -1},
		{"1.0", "1.0+b1", -1},
		{"1.0", "1.0a", -1},
		{"1.0a", "1.0+", -1}, // letters sort before other characters
		{"1.0.1", "1.0a", 1}, // '.' is not a letter, so after 'a'
		{"1.001", "1.1", 0},  // numbers, not strings
		{"1.0-0", "1.0", 0},  // an empty revision is 0
		{"10", "9", 1},
		{"99999999999999999999999", "1", 1}, // no overflow
		{"2.36-9+deb12u1", "2.36-9+deb12u3", -1},
		{"3.0.11-1~deb12u2", "3.0.13-1~deb12u1", -1},
		{"7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1},
		{"1.2.3-1~bpo12+1", "1.2.3-1", -1},
		{"1.0-1ubuntu1", "1.0-1", 1},
		{"2.0-1", "1.0-1-1", 1}, // revision after the last hyphen
	})
	checkInvalid(t, compareDebVersions, []string{"", "a:1.0", ":1.0", "1:", "-1", "1.0 2", "99999999999:1.0"})
}

// Expected orders are apk-tools' (apk version -t).
func TestAlpineVersionOrder(t *testing.T) {
	checkOrder(t, compareApkVersions, []versionCase{
		{"1.0", "1.0", 0},
		{"1.0", "1.0.1", -1},
		{"2.0", "10.0", -1},
		{"1.0_rc1", "1.0", -1},
		{"1.0_alpha1", "1.0_beta1", -1},
		{"1.0_beta9", "1.0_pre1", -1},
		{"1.0_pre1", "1.0_rc1", -1},
		{"1.2.3_rc2", "1.2.3_rc10", -1},
		{"1.0_p1", "1.0", 1},
		{"1.0_cvs1", "1.0_svn1", -1},
		{"1.0_git1", "1.0_hg1", -1},
		{"1.0_hg1", "1.0_p1", -1},
		{"1.0-r1", "1.0-r2", -1},
		{"1.0-r10", "1.0-r9", 1},
		{"1.0", "1.0-r0", -1},
		{"1.0a", "1.0b", -1},
		{"1.0a", "1.0", 1},
		{"1.0.1", "1.0a", 1},
		{"1.01", "1.1", -1}, // a later component with a leading zero is a fraction
		{"1.2.4_git20230717-r4", "1.2.4-r4", 1},
		{"1.36.1-r15", "1.36.1-r16", -1},
		{"3.1.4-r2", "3.1.4-r3", -1},
		{"1.0~abc123-r1", "1.0-r1", 0}, // the commit hash does not order
		{"1.0_rc1_p2", "1.0_rc1", 1},
		{"1.0_rc1_p2", "1.0", -1},
	})
	checkInvalid(t, compareApkVersions, []string{"", "a1", "1.0_foo", "1.0-r", "1.0-rx", "1..0", "1.0 ", ".1", "1.0~", "1.0~xyz"})
}

func TestSemverOrder(t *testing.T) {
	checkOrder(t, compareSemver, []versionCase{
		{"v1.2.3", "1.2.3", 0},
		{"1.2.3-rc.1", "1.2.3", -1},
		{"1.2.3-alpha", "1.2.3-alpha.1", -1},
		{"1.2.3-alpha.1", "1.2.3-alpha.beta", -1},
		{"1.2.3-beta.2", "1.2.3-beta.11", -1},
		{"1.10.0", "1.9.0", 1},
		{"v0.0.0-20240101000000-abcdefabcdef", "v0.0.1", -1},
		{"v2.0.0+incompatible", "2.0.0", 0},
	})
	checkInvalid(t, compareSemver, []string{"", "1.2", "01.2.3", "1.2.3-", "1.2.3-a..b", "x", "(devel)"})
}

func TestGoToolchainSemver(t *testing.T) {
	for in, want := range map[string]string{
		"go1.21.3":            "1.21.3",
		"go1.21":              "1.21.0",
		"go1.21rc2":           "1.21.0-rc.2",
		"go1.9beta1":          "1.9.0-beta.1",
		"go1.22.1 X:nodwarf5": "1.22.1",
		"devel go1.23-abcdef": "",
		"go1":                 "",
		"go1.21rcX":           "",
		"":                    "",
	} {
		got, ok := goToolchainSemver(in)
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v, want %q", in, got, ok, want)
		}
	}
}

// fuzzOrder checks a comparator never panics, is reflexive and antisymmetric.
func fuzzOrder(t *testing.T, cmp comparator, a, b string) {
	c, err := cmp(a, b)
	if err != nil {
		return
	}
	if back, err := cmp(b, a); err != nil || back != -c {
		t.Fatalf("compare(%q, %q) = %d but reversed %d, %v", a, b, c, back, err)
	}
	if self, _ := cmp(a, a); self != 0 {
		t.Fatalf("compare(%q, itself) = %d", a, self)
	}
}

func FuzzDebianVersion(f *testing.F) {
	f.Add("1:2.36-9+deb12u1", "2.36~rc1")
	f.Fuzz(func(t *testing.T, a, b string) { fuzzOrder(t, compareDebVersions, a, b) })
}

func FuzzAlpineVersion(f *testing.F) {
	f.Add("1.2.4_git20230717-r4", "1.2.4_rc1_p2-r0")
	f.Fuzz(func(t *testing.T, a, b string) { fuzzOrder(t, compareApkVersions, a, b) })
}

func FuzzSemver(f *testing.F) {
	f.Add("v1.2.3-rc.1+meta", "1.2.3")
	f.Fuzz(func(t *testing.T, a, b string) { fuzzOrder(t, compareSemver, a, b) })
}
