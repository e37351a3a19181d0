package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// miniQueryModel has each serialization trait awsQuery models use: member
// and shape locationName, flattened lists and maps (on the reference or the
// shape), named list members and map entries, and a modeled error code.
const miniQueryModel = `{
 "metadata": {"protocol": "query", "apiVersion": "2020-01-01", "endpointPrefix": "mini",
   "xmlNamespace": "https://mini.amazonaws.com/doc/2020-01-01/"},
 "operations": {
  "Put": {"name": "Put", "input": {"shape": "PutInput"}, "output": {"shape": "PutOutput", "resultWrapper": "PutResult"}},
  "Delete": {"name": "Delete", "input": {"shape": "PutInput"}}
 },
 "shapes": {
  "PutInput": {"type": "structure", "required": ["RoleArn"], "members": {
    "RoleArn": {"shape": "Str"},
    "Names": {"shape": "NameList"},
    "Flat": {"shape": "NameList", "flattened": true, "locationName": "Item"},
    "Attrs": {"shape": "AttrMap", "locationName": "Attribute"},
    "Tags": {"shape": "TagMap"},
    "Renamed": {"shape": "Str", "locationName": "Other"}
  }},
  "PutOutput": {"type": "structure", "members": {"When": {"shape": "Time"}}},
  "NameList": {"type": "list", "member": {"shape": "Str", "locationName": "Name"}},
  "AttrMap": {"type": "map", "flattened": true, "key": {"shape": "Str", "locationName": "Name"}, "value": {"shape": "Str", "locationName": "Value"}},
  "TagMap": {"type": "map", "key": {"shape": "Str"}, "value": {"shape": "Str"}},
  "Str": {"type": "string", "min": 1},
  "Time": {"type": "timestamp"},
  "NotFound": {"type": "structure", "members": {}, "exception": true, "error": {"code": "ThingNotFound", "httpStatusCode": 404}}
 }
}`

func loadMini(t *testing.T, src string) *model {
	t.Helper()
	var m model
	if err := json.Unmarshal([]byte(src), &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func TestQueryGeneration(t *testing.T) {
	m := loadMini(t, miniQueryModel)
	types := genTypes("mini", m)
	for _, want := range []string{
		"RoleArn *string `json:\"RoleArn,omitzero\" query:\"RoleArn\"`",
		"Names   []string `json:\"Names,omitzero\" query:\"Names,member=Name\"`",
		"Flat    []string `json:\"Flat,omitzero\" query:\"Item,flat,member=Name\"`",
		"Attrs   map[string]string `json:\"Attrs,omitzero\" query:\"Attribute,flat,key=Name,value=Value\"`",
		"Tags    map[string]string `json:\"Tags,omitzero\" query:\"Tags\"`",
		"Renamed *string `json:\"Renamed,omitzero\" query:\"Other\"`",
		"When *wire.Timestamp",
	} {
		if !strings.Contains(strings.Join(strings.Fields(types), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("types lack %s:\n%s", want, types)
		}
	}
	ops := genOperations("mini", m)
	for _, want := range []string{
		`const XMLNamespace = "https://mini.amazonaws.com/doc/2020-01-01/"`,
		`"Put": "PutResult",`,
		`ErrCodeNotFound = "ThingNotFound"`,
		`ErrCodeNotFound: 404,`,
	} {
		if !strings.Contains(ops, want) {
			t.Errorf("operations lack %s:\n%s", want, ops)
		}
	}
	if strings.Contains(ops, `"Delete":`) {
		t.Errorf("an operation without output got a result wrapper:\n%s", ops)
	}
	if v := genValidate("mini", m); !strings.Contains(v, `wire.JoinPath(path, "roleArn")`) {
		t.Errorf("query validation paths are not lower camel case:\n%s", v)
	}
}

func TestQueryNestedNamesRefused(t *testing.T) {
	src := strings.Replace(miniQueryModel, `"Names": {"shape": "NameList"}`, `"Names": {"shape": "ListOfLists"}`, 1)
	src = strings.Replace(src, `"Str": {"type": "string", "min": 1},`,
		`"Str": {"type": "string", "min": 1}, "ListOfLists": {"type": "list", "member": {"shape": "NameList"}},`, 1)
	m := loadMini(t, src)
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "nests a list with custom XML names") {
			t.Fatalf("panic = %v, want a refusal of the nested named list", p)
		}
	}()
	genTypes("mini", m)
}

func TestGoPattern(t *testing.T) {
	tests := map[string]string{
		`[\u0009\u000A\u0020-\u007E\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+`: `[\x{0009}\x{000A}\x{0020}-\x{007E}\x{00A0}-\x{D7FF}\x{E000}-\x{FFFD}\x{10000}-\x{10FFFF}]+`,
		`\u002F[\u0021-\u007F]*`: `\x{002F}[\x{0021}-\x{007F}]*`,
		`[\w+=,.@-]+`:            `[\w+=,.@-]+`,
		`\\u0041`:                `\\u0041`,
		`\u0041BC`:               `\x{0041}BC`,
	}
	for in, want := range tests {
		if got, ok := goPattern(in); got != want || !ok {
			t.Errorf("goPattern(%s) = %s, %v; want %s", in, got, ok, want)
		}
	}
	if _, ok := goPattern(`^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$`); ok {
		t.Error("goPattern accepted a lookahead Go's regexp cannot run")
	}
}
