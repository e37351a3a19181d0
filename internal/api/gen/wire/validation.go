package wire

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ValidationErrors collects constraint violations in the wording AWS uses
// ("Value null at 'family' failed to satisfy constraint: Member must not be null").
type ValidationErrors []string

// ValidationError is returned by Validate; Message is AWS's summary line.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	n := len(e.Problems)
	noun := "error"
	if n > 1 {
		noun = "errors"
	}
	return fmt.Sprintf("%d validation %s detected: %s", n, noun, strings.Join(e.Problems, "; "))
}

// Err returns nil when nothing was collected.
func (e ValidationErrors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return &ValidationError{Problems: e}
}

func (e *ValidationErrors) add(path, value, constraint string) {
	*e = append(*e, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", value, path, constraint))
}

// Null records a required member that is missing.
func (e *ValidationErrors) Null(path string) { e.add(path, "null", "Member must not be null") }

// JoinPath is the path of member inside path.
func JoinPath(path, member string) string {
	if path == "" {
		return member
	}
	return path + "." + member
}

// IndexPath is the path of the i-th (0-based) element of the list at path.
func IndexPath(path string, i int) string { return path + "." + strconv.Itoa(i+1) + ".member" }

// KeyPath is the path of the value at key in the map at path.
func KeyPath(path, key string) string { return path + "." + key + ".value" }

// F returns a pointer to f, for the bounds the generated code passes.
func F(f float64) *float64 { return &f }

// CheckString checks a string against its length bounds, enum and pattern.
func CheckString(errs *ValidationErrors, path, v string, min, max *float64, enum []string, pattern *regexp.Regexp) {
	quoted := "'" + v + "'"
	n := utf8.RuneCountInString(v)
	if min != nil && float64(n) < *min {
		errs.add(path, quoted, fmt.Sprintf("Member must have length greater than or equal to %v", *min))
	}
	if max != nil && float64(n) > *max {
		errs.add(path, quoted, fmt.Sprintf("Member must have length less than or equal to %v", *max))
	}
	if enum != nil && !slices.Contains(enum, v) {
		errs.add(path, quoted, fmt.Sprintf("Member must satisfy enum value set: [%s]", strings.Join(enum, ", ")))
	}
	if pattern != nil && !pattern.MatchString(v) {
		errs.add(path, quoted, "Member must satisfy regular expression pattern: "+strings.TrimSuffix(strings.TrimPrefix(pattern.String(), "^(?:"), ")$"))
	}
}

// CheckRange checks a number against its bounds.
func CheckRange(errs *ValidationErrors, path string, v float64, min, max *float64) {
	val := "'" + strconv.FormatFloat(v, 'f', -1, 64) + "'"
	if min != nil && v < *min {
		errs.add(path, val, fmt.Sprintf("Member must have value greater than or equal to %v", *min))
	}
	if max != nil && v > *max {
		errs.add(path, val, fmt.Sprintf("Member must have value less than or equal to %v", *max))
	}
}

// CheckLength checks a list or map size against its bounds.
func CheckLength(errs *ValidationErrors, path string, n int, min, max *float64) {
	if min != nil && float64(n) < *min {
		errs.add(path, "'["+strconv.Itoa(n)+" items]'", fmt.Sprintf("Member must have length greater than or equal to %v", *min))
	}
	if max != nil && float64(n) > *max {
		errs.add(path, "'["+strconv.Itoa(n)+" items]'", fmt.Sprintf("Member must have length less than or equal to %v", *max))
	}
}
