package scan

import "strings"

// ECR's finding severities (ecr FindingSeverity).
const (
	SeverityCritical      = "CRITICAL"
	SeverityHigh          = "HIGH"
	SeverityMedium        = "MEDIUM"
	SeverityLow           = "LOW"
	SeverityInformational = "INFORMATIONAL"
	SeverityUndefined     = "UNDEFINED"
)

// Severities lists ECR's severities from the most to the least severe; it is
// the order findings are sorted in.
var Severities = []string{
	SeverityCritical, SeverityHigh, SeverityMedium,
	SeverityLow, SeverityInformational, SeverityUndefined,
}

func severityRank(s string) int {
	for i, x := range Severities {
		if x == s {
			return i
		}
	}
	return len(Severities)
}

// severityFromLabel maps the textual severities OSV sources put in
// database_specific.severity (GitHub: CRITICAL/HIGH/MODERATE/LOW; Ubuntu and
// Debian: critical/high/medium/low/negligible/unimportant; Red Hat:
// important/moderate) to ECR's names. ok is false for labels that say
// nothing ("unknown", "not yet assigned"), so a CVSS vector can decide.
func severityFromLabel(label string) (sev string, ok bool) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "critical":
		return SeverityCritical, true
	case "high", "important":
		return SeverityHigh, true
	case "medium", "moderate":
		return SeverityMedium, true
	case "low":
		return SeverityLow, true
	case "negligible", "unimportant", "informational", "none":
		return SeverityInformational, true
	}
	return "", false
}
