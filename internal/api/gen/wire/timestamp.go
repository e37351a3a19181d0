// Package wire holds what every generated wire-type package shares: the
// Timestamp type (epoch seconds in awsJson, ISO 8601 in awsQuery XML) and the
// validation helpers the generated Validate methods call, in AWS's wording.
// The generated packages alias its types, so callers import only those.
package wire

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Timestamp is a point in time on the wire: epoch seconds with fractional
// milliseconds in awsJson; the awsQuery codec writes and reads it as ISO 8601.
type Timestamp struct{ time.Time }

// Time returns a pointer to a Timestamp of t, for optional members.
func Time(t time.Time) *Timestamp { return &Timestamp{t} }

// MarshalJSON writes epoch seconds with millisecond precision.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON accepts epoch seconds (number) or an RFC 3339 string.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err == nil {
		sec, frac := math.Modf(f)
		t.Time = time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: want epoch seconds or RFC 3339 string, got %s", b)
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	t.Time = parsed.UTC()
	return nil
}
