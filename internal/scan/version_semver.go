package scan

import (
	"fmt"
	"strings"
)

// semVersion is a parsed semantic version; build metadata is dropped as it
// does not take part in ordering.
type semVersion struct {
	major, minor, patch string
	pre                 []string
}

// parseSemver parses MAJOR.MINOR.PATCH[-pre][+build] with an optional "v"
// prefix (Go module versions carry one, OSV's Go ranges do not).
func parseSemver(v string) (semVersion, error) {
	var sv semVersion
	s := strings.TrimPrefix(v, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return sv, fmt.Errorf("semver %q: want MAJOR.MINOR.PATCH", v)
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" || (len(p) > 1 && p[0] == '0') {
			return sv, fmt.Errorf("semver %q: bad number %q", v, p)
		}
	}
	sv.major, sv.minor, sv.patch = parts[0], parts[1], parts[2]
	if hasPre {
		if pre == "" {
			return sv, fmt.Errorf("semver %q: empty pre-release", v)
		}
		sv.pre = strings.Split(pre, ".")
		for _, id := range sv.pre {
			if id == "" {
				return sv, fmt.Errorf("semver %q: empty pre-release identifier", v)
			}
		}
	}
	return sv, nil
}

// compareSemver orders two semantic versions per semver 2.0.0 §11.
func compareSemver(a, b string) (int, error) {
	va, err := parseSemver(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseSemver(b)
	if err != nil {
		return 0, err
	}
	return va.compare(vb), nil
}

func (a semVersion) compare(b semVersion) int {
	if c := compareDigits(a.major, b.major); c != 0 {
		return c
	}
	if c := compareDigits(a.minor, b.minor); c != 0 {
		return c
	}
	if c := compareDigits(a.patch, b.patch); c != 0 {
		return c
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		xn, yn := isNumeric(x), isNumeric(y)
		var c int
		switch {
		case xn && yn:
			c = compareDigits(x, y)
		case xn:
			c = -1
		case yn:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return sign(len(a.pre) - len(b.pre))
}

func isNumeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// goToolchainSemver maps a Go toolchain version as debug/buildinfo reports
// it (go1.21.3, go1.21, go1.21rc2, "go1.22.1 X:nodwarf5") to the semver OSV's
// "stdlib" entries use (1.21.3, 1.21.0, 1.21.0-rc.2). ok is false for devel
// toolchains and anything else it does not recognise.
func goToolchainSemver(v string) (string, bool) {
	v, _, _ = strings.Cut(strings.TrimSpace(v), " ")
	s, found := strings.CutPrefix(v, "go")
	if !found || s == "" {
		return "", false
	}
	pre := ""
	for _, tag := range []string{"beta", "rc"} {
		if i := strings.Index(s, tag); i > 0 {
			n := s[i+len(tag):]
			if !isNumeric(n) {
				return "", false
			}
			pre = "-" + tag + "." + n
			s = s[:i]
			break
		}
	}
	parts := strings.Split(s, ".")
	switch len(parts) {
	case 2:
		parts = append(parts, "0")
	case 3:
	default:
		return "", false
	}
	out := strings.Join(parts, ".") + pre
	if _, err := parseSemver(out); err != nil {
		return "", false
	}
	return out, true
}
