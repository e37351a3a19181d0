package main

import (
	"sort"
	"strings"
	"unicode"
)

type model struct {
	Metadata   map[string]any       `json:"metadata"`
	Operations map[string]operation `json:"operations"`
	Shapes     map[string]*shape    `json:"shapes"`
}

type operation struct {
	Name   string    `json:"name"`
	Input  *shapeRef `json:"input"`
	Output *shapeRef `json:"output"`
	Errors []shapeRef
}

type shapeRef struct {
	Shape string `json:"shape"`
}

type shape struct {
	Type      string               `json:"type"`
	Members   map[string]*shapeRef `json:"members"`
	Required  []string             `json:"required"`
	Member    *shapeRef            `json:"member"`
	Key       *shapeRef            `json:"key"`
	Value     *shapeRef            `json:"value"`
	Enum      []string             `json:"enum"`
	Min       *float64             `json:"min"`
	Max       *float64             `json:"max"`
	Pattern   string               `json:"pattern"`
	Exception bool                 `json:"exception"`
	Document  bool                 `json:"document"`
	Error     *struct {
		HTTPStatusCode int `json:"httpStatusCode"`
	} `json:"error"`
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// exported turns a model member name into a Go identifier.
func exported(name string) string {
	var b strings.Builder
	upper := true
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			upper = true
			continue
		}
		if upper {
			b.WriteRune(unicode.ToUpper(r))
			upper = false
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// goType is the Go type of a member whose target shape is name.
func (m *model) goType(name string) string {
	s := m.Shapes[name]
	switch s.Type {
	case "structure":
		if s.Document {
			return "json.RawMessage"
		}
		return "*" + name
	case "list":
		return "[]" + m.elemType(s.Member.Shape)
	case "map":
		return "map[string]" + m.elemType(s.Value.Shape)
	default:
		return "*" + m.scalar(s.Type)
	}
}

// elemType is the Go type of a list element or map value: structures by value.
func (m *model) elemType(name string) string {
	s := m.Shapes[name]
	switch s.Type {
	case "structure":
		if s.Document {
			return "json.RawMessage"
		}
		return name
	case "list", "map":
		return m.goType(name)
	default:
		return m.scalar(s.Type)
	}
}

func (m *model) scalar(t string) string {
	switch t {
	case "string":
		return "string"
	case "integer":
		return "int32"
	case "long":
		return "int64"
	case "boolean":
		return "bool"
	case "double", "float":
		return "float64"
	case "timestamp":
		return "Timestamp"
	case "blob":
		return "[]byte"
	}
	panic("apigen: unknown scalar type " + t)
}

// structures lists the generated struct shapes: every non-exception, non-document structure.
func (m *model) structures() []string {
	var out []string
	for _, name := range sortedKeys(m.Shapes) {
		s := m.Shapes[name]
		if s.Type == "structure" && !s.Document {
			out = append(out, name)
		}
	}
	return out
}
