package health

import (
	"fmt"
	"strconv"
	"strings"
)

// codeRange is an inclusive range of HTTP status codes.
type codeRange struct{ lo, hi int }

// matcher is a parsed Check.Matcher: "200", "200,202", "200-299".
type matcher []codeRange

func parseMatcher(s string) (matcher, error) {
	if strings.TrimSpace(s) == "" {
		s = "200"
	}
	var m matcher
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(strings.TrimSpace(lo))
		h, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
			return nil, fmt.Errorf("health check matcher %q: %q is not a code or a range of codes", s, part)
		}
		m = append(m, codeRange{l, h})
	}
	return m, nil
}

func (m matcher) match(code int) bool {
	for _, r := range m {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}
