package ecs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// The wire shape of a reply, as clients see it: the JSON the API layer
// writes (encoding/json over the generated, omitzero types).

// Expectations for one member of a reply.
const (
	absent   = "absent"  // not in the JSON at all
	emptyArr = "[]"      // present as an empty list
	nonEmpty = "[...]"   // present as a list with elements
	anyList  = "[?]"     // present as a list, empty or not
	present  = "present" // present, any value
)

// wireJSON marshals a reply as the API layer does and decodes it generically.
func wireJSON(t *testing.T, reply any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(reply)
	if err != nil {
		t.Fatalf("marshal reply: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("reply is not a JSON object: %v\n%s", err, raw)
	}
	return m
}

// lookup follows a dotted path ("tasks.0.tags") through decoded JSON.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, part := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[part]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// checkShape reports every member of reply whose shape is not as want says
// (path -> absent, emptyArr, nonEmpty, present), with the JSON for context.
func checkShape(t *testing.T, reply any, want map[string]string) {
	t.Helper()
	doc := wireJSON(t, reply)
	for path, exp := range want {
		if err := shapeMismatch(doc, path, exp); err != nil {
			raw, _ := json.MarshalIndent(doc, "", "  ")
			t.Errorf("%s: %v\nreply: %s", path, err, raw)
		}
	}
}

func shapeMismatch(doc any, path, exp string) error {
	v, ok := lookup(doc, path)
	switch exp {
	case absent:
		if ok {
			return fmt.Errorf("present (%v), want absent", v)
		}
		return nil
	case present:
		if !ok {
			return fmt.Errorf("absent, want present")
		}
		return nil
	}
	list, isList := v.([]any)
	switch {
	case !ok:
		return fmt.Errorf("absent, want %s", exp)
	case !isList:
		return fmt.Errorf("%v is not a list, want %s", v, exp)
	case exp == emptyArr && len(list) != 0:
		return fmt.Errorf("%v, want []", list)
	case exp == nonEmpty && len(list) == 0:
		return fmt.Errorf("[], want a non-empty list")
	}
	return nil
}

func TestCheckShape(t *testing.T) {
	doc := map[string]any{"a": []any{}, "b": []any{map[string]any{"c": 1}}, "d": "x"}
	tests := []struct {
		path, exp string
		ok        bool
	}{
		{"a", emptyArr, true}, {"a", nonEmpty, false}, {"a", absent, false},
		{"b", nonEmpty, true}, {"b.0.c", present, true}, {"b.1.c", absent, true},
		{"d", present, true}, {"d", emptyArr, false}, {"e", absent, true}, {"e", emptyArr, false},
		{"a", anyList, true}, {"b", anyList, true}, {"d", anyList, false}, {"e", anyList, false},
	}
	for _, tt := range tests {
		if err := shapeMismatch(doc, tt.path, tt.exp); (err == nil) != tt.ok {
			t.Errorf("shapeMismatch(%s, %s) = %v, want ok=%v", tt.path, tt.exp, err, tt.ok)
		}
	}
}
