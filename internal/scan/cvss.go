package scan

import (
	"fmt"
	"math"
	"strings"
)

// cvss3Weights are the CVSS v3.x base metric weights from the FIRST
// specification (https://www.first.org/cvss/v3.1/specification-document,
// section 7.4). Privileges Required depends on Scope and is handled apart.
var cvss3Weights = map[string]map[string]float64{
	"AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
	"AC": {"L": 0.77, "H": 0.44},
	"UI": {"N": 0.85, "R": 0.62},
	"C":  {"H": 0.56, "L": 0.22, "N": 0},
	"I":  {"H": 0.56, "L": 0.22, "N": 0},
	"A":  {"H": 0.56, "L": 0.22, "N": 0},
}

// CVSS3BaseScore computes the base score of a CVSS v3.0 or v3.1 vector such
// as "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" (9.8). Temporal and
// environmental metrics, when present, are checked for shape and ignored.
func CVSS3BaseScore(vector string) (float64, error) {
	parts := strings.Split(strings.TrimSpace(vector), "/")
	var minor string
	switch parts[0] {
	case "CVSS:3.0":
		minor = "0"
	case "CVSS:3.1":
		minor = "1"
	default:
		return 0, fmt.Errorf("cvss vector %q: not CVSS v3.0 or v3.1", vector)
	}
	m := make(map[string]string, 8)
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, ":")
		if !ok || k == "" || v == "" {
			return 0, fmt.Errorf("cvss vector %q: bad metric %q", vector, p)
		}
		if _, dup := m[k]; dup {
			return 0, fmt.Errorf("cvss vector %q: metric %s repeated", vector, k)
		}
		m[k] = v
	}
	w := make(map[string]float64, 6)
	for k, table := range cvss3Weights {
		x, ok := table[m[k]]
		if !ok {
			return 0, fmt.Errorf("cvss vector %q: missing or bad %s", vector, k)
		}
		w[k] = x
	}
	var changed bool
	switch m["S"] {
	case "U":
	case "C":
		changed = true
	default:
		return 0, fmt.Errorf("cvss vector %q: missing or bad S", vector)
	}
	var pr float64
	switch m["PR"] {
	case "N":
		pr = 0.85
	case "L":
		pr = 0.62
		if changed {
			pr = 0.68
		}
	case "H":
		pr = 0.27
		if changed {
			pr = 0.5
		}
	default:
		return 0, fmt.Errorf("cvss vector %q: missing or bad PR", vector)
	}
	iss := 1 - (1-w["C"])*(1-w["I"])*(1-w["A"])
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	if impact <= 0 {
		return 0, nil
	}
	exploitability := 8.22 * w["AV"] * w["AC"] * pr * w["UI"]
	total := impact + exploitability
	if changed {
		total *= 1.08
	}
	roundup := roundup31
	if minor == "0" {
		roundup = roundup30
	}
	return roundup(math.Min(total, 10)), nil
}

// roundup31 is CVSS v3.1's Roundup (Appendix A), which works in integers to
// avoid floating-point artefacts such as 4.000000001 rounding to 4.1.
func roundup31(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

// roundup30 is CVSS v3.0's Roundup: the smallest one-decimal number >= x.
func roundup30(x float64) float64 {
	return math.Ceil(x*10) / 10
}

// severityFromScore maps a CVSS v3 base score to ECR's severity names with
// the qualitative scale of the CVSS v3.1 specification, section 5 (None is
// reported as INFORMATIONAL).
func severityFromScore(score float64) string {
	switch {
	case score >= 9.0:
		return SeverityCritical
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	case score > 0:
		return SeverityLow
	}
	return SeverityInformational
}
