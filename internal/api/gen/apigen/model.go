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

// shapeRef is a reference to a shape, with the serialization traits a
// reference may set (awsQuery/XML names and flattening).
type shapeRef struct {
	Shape         string `json:"shape"`
	LocationName  string `json:"locationName"`
	Flattened     bool   `json:"flattened"`
	ResultWrapper string `json:"resultWrapper"`
}

type shape struct {
	Type         string               `json:"type"`
	LocationName string               `json:"locationName"`
	Flattened    bool                 `json:"flattened"`
	Members      map[string]*shapeRef `json:"members"`
	Required     []string             `json:"required"`
	Member       *shapeRef            `json:"member"`
	Key          *shapeRef            `json:"key"`
	Value        *shapeRef            `json:"value"`
	Enum         []string             `json:"enum"`
	Min          *float64             `json:"min"`
	Max          *float64             `json:"max"`
	Pattern      string               `json:"pattern"`
	Exception    bool                 `json:"exception"`
	Document     bool                 `json:"document"`
	Error        *struct {
		Code           string `json:"code"`
		HTTPStatusCode int    `json:"httpStatusCode"`
	} `json:"error"`
}

// query reports whether the model is an awsQuery service (form requests,
// XML replies) rather than awsJson.
func (m *model) query() bool { return m.Metadata["protocol"] == "query" }

// errorCode is the code an exception shape is sent with: the model's error
// code for awsQuery services (LoadBalancerNotFound), the shape name for
// awsJson ones (ClusterNotFoundException).
func (m *model) errorCode(name string) string {
	if s := m.Shapes[name]; m.query() && s.Error != nil && s.Error.Code != "" {
		return s.Error.Code
	}
	return name
}

// pathName is how a member is named in validation messages: as on the wire
// for awsJson, with a lower-case first letter for awsQuery ('roleArn'), as
// AWS words them.
func (m *model) pathName(member string) string {
	if !m.query() || member == "" {
		return member
	}
	return strings.ToLower(member[:1]) + member[1:]
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
		return "wire.Timestamp"
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
