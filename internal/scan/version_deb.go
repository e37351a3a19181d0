package scan

import (
	"fmt"
	"strconv"
	"strings"
)

// debVersion is a parsed Debian package version: [epoch:]upstream[-revision].
type debVersion struct {
	epoch    uint64
	upstream string
	revision string
}

// parseDebVersion splits v as dpkg does: the epoch before the first colon,
// the revision after the last hyphen. It is lenient about the characters in
// upstream and revision, as dpkg's comparison is, but refuses an empty
// upstream part or a non-numeric epoch.
func parseDebVersion(v string) (debVersion, error) {
	var d debVersion
	s := strings.TrimSpace(v)
	if s == "" {
		return d, fmt.Errorf("debian version %q: empty", v)
	}
	if strings.ContainsAny(s, " \t\n") {
		return d, fmt.Errorf("debian version %q: contains whitespace", v)
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		e, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return d, fmt.Errorf("debian version %q: bad epoch: %w", v, err)
		}
		d.epoch, s = e, s[i+1:]
	}
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		d.revision, s = s[i+1:], s[:i]
	}
	if s == "" {
		return d, fmt.Errorf("debian version %q: empty upstream version", v)
	}
	d.upstream = s
	return d, nil
}

// compareDebVersions orders two Debian versions as dpkg --compare-versions
// does; an unparseable version is an error.
func compareDebVersions(a, b string) (int, error) {
	va, err := parseDebVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseDebVersion(b)
	if err != nil {
		return 0, err
	}
	return va.compare(vb), nil
}

func (a debVersion) compare(b debVersion) int {
	switch {
	case a.epoch < b.epoch:
		return -1
	case a.epoch > b.epoch:
		return 1
	}
	if c := verrevcmp(a.upstream, b.upstream); c != 0 {
		return c
	}
	return verrevcmp(a.revision, b.revision)
}

// debOrder is dpkg's character weight: digits 0 (they are compared as
// numbers elsewhere), letters themselves, '~' below everything including the
// end of the string, other characters after all letters.
func debOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	default:
		return int(c) + 256
	}
}

// verrevcmp is dpkg's comparison of an upstream version or revision:
// alternating runs of non-digits (compared by debOrder) and digits (compared
// numerically, without overflow).
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := debOrder(a, i), debOrder(b, j)
			if ac != bc {
				return sign(ac - bc)
			}
			if i < len(a) {
				i++
			}
			if j < len(b) {
				j++
			}
		}
		si := i
		for si < len(a) && isDigit(a[si]) {
			si++
		}
		sj := j
		for sj < len(b) && isDigit(b[sj]) {
			sj++
		}
		if c := compareDigits(a[i:si], b[j:sj]); c != 0 {
			return c
		}
		i, j = si, sj
	}
	return 0
}

// compareDigits compares two runs of decimal digits as numbers of any size.
func compareDigits(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
