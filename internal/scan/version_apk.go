package scan

import (
	"fmt"
	"strings"
)

// apkSuffixes ranks apk's version suffixes; those before "" (the absence of
// a suffix) are pre-releases and sort below the plain version.
var apkSuffixes = map[string]int{
	"alpha": 0, "beta": 1, "pre": 2, "rc": 3,
	"cvs": 5, "svn": 6, "git": 7, "hg": 8, "p": 9,
}

const apkNoSuffix = 4

type apkSuffix struct {
	rank int
	num  string
}

// apkVersion is a parsed Alpine package version:
// digits{.digits}[letter]{_suffix[digits]}[~hash][-r<digits>].
type apkVersion struct {
	nums     []string
	letter   byte
	suffixes []apkSuffix
	rev      string // "" when absent, which sorts below -r0 as in apk-tools
}

// parseApkVersion parses v as apk-tools does, refusing what apk would call
// an invalid version.
func parseApkVersion(v string) (apkVersion, error) {
	var p apkVersion
	s := v
	bad := func(why string) (apkVersion, error) {
		return apkVersion{}, fmt.Errorf("apk version %q: %s", v, why)
	}
	if i := strings.LastIndex(s, "-r"); i >= 0 {
		rev := s[i+2:]
		if rev == "" || strings.Trim(rev, "0123456789") != "" {
			return bad("bad revision")
		}
		p.rev, s = rev, s[:i]
	}
	if i := strings.IndexByte(s, '~'); i >= 0 {
		hash := s[i+1:]
		if hash == "" || strings.Trim(strings.ToLower(hash), "0123456789abcdef") != "" {
			return bad("bad commit hash")
		}
		s = s[:i]
	}
	for {
		n := 0
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		if n == 0 {
			return bad("expected a number")
		}
		p.nums = append(p.nums, s[:n])
		s = s[n:]
		if len(s) > 1 && s[0] == '.' && isDigit(s[1]) {
			s = s[1:]
			continue
		}
		break
	}
	if len(s) > 0 && s[0] >= 'a' && s[0] <= 'z' {
		p.letter, s = s[0], s[1:]
	}
	for len(s) > 0 {
		if s[0] != '_' {
			return bad(fmt.Sprintf("unexpected %q", s))
		}
		s = s[1:]
		n := 0
		for n < len(s) && s[n] >= 'a' && s[n] <= 'z' {
			n++
		}
		rank, ok := apkSuffixes[s[:n]]
		if !ok {
			return bad(fmt.Sprintf("unknown suffix %q", s[:n]))
		}
		s = s[n:]
		d := 0
		for d < len(s) && isDigit(s[d]) {
			d++
		}
		p.suffixes = append(p.suffixes, apkSuffix{rank: rank, num: s[:d]})
		s = s[d:]
	}
	return p, nil
}

// compareApkVersions orders two Alpine versions as apk version -t does.
func compareApkVersions(a, b string) (int, error) {
	va, err := parseApkVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseApkVersion(b)
	if err != nil {
		return 0, err
	}
	return va.compare(vb), nil
}

func (a apkVersion) compare(b apkVersion) int {
	for i := 0; i < len(a.nums) && i < len(b.nums); i++ {
		x, y := a.nums[i], b.nums[i]
		var c int
		// apk-tools compares a later component with a leading zero as a
		// decimal fraction (1.01 < 1.1), i.e. as a string.
		if i > 0 && (x[0] == '0' || y[0] == '0') {
			c = strings.Compare(x, y)
		} else {
			c = compareDigits(x, y)
		}
		if c != 0 {
			return c
		}
	}
	if len(a.nums) != len(b.nums) {
		return sign(len(a.nums) - len(b.nums))
	}
	if a.letter != b.letter {
		return sign(int(a.letter) - int(b.letter))
	}
	for i := 0; i < len(a.suffixes) || i < len(b.suffixes); i++ {
		x, y := apkSuffix{rank: apkNoSuffix}, apkSuffix{rank: apkNoSuffix}
		if i < len(a.suffixes) {
			x = a.suffixes[i]
		}
		if i < len(b.suffixes) {
			y = b.suffixes[i]
		}
		if x.rank != y.rank {
			return sign(x.rank - y.rank)
		}
		if c := compareDigits(x.num, y.num); c != 0 {
			return c
		}
	}
	switch {
	case a.rev == "" && b.rev == "":
		return 0
	case a.rev == "":
		return -1
	case b.rev == "":
		return 1
	}
	return compareDigits(a.rev, b.rev)
}
