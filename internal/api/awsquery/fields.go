// Package awsquery owns the awsQuery wire format of Berth's API: reading a
// form-encoded request (Action=...&Tags.member.1.Key=...) into a generated
// input type and writing an output value as the XML of a query reply. It is
// driven by the `query` struct tags apigen emits from the botocore models:
//
//	Name                      member name on the wire (locationName)
//	Name,flat                 flattened list or map: no wrapper element
//	Name,member=Item          list elements named Item (default "member")
//	Name,key=K,value=V        map entry parts (default "key" and "value")
//
// Nested lists and maps use the default names; apigen refuses models that
// name them otherwise. Timestamps are ISO 8601, booleans true/false, blobs
// base64, as botocore and the AWS SDKs send and expect.
package awsquery

import (
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/api/gen/wire"
)

// field is one struct member and how it is named on the wire.
type field struct {
	index  int
	name   string
	flat   bool
	member string // list element name
	key    string // map key name
	value  string // map value name
}

// elemName is the name list elements are sent with; for a flattened list it
// is also the member's own name on the wire (botocore's _member_key_name).
func (f field) elemName() string {
	if f.member != "" {
		return f.member
	}
	if f.flat {
		return f.name
	}
	return "member"
}

// defaults is how nested lists and maps, which have no tag, are named.
var defaults = field{key: "key", value: "value"}

var fieldCache sync.Map // reflect.Type -> []field

// fieldsOf returns t's wire members in declaration order. A member without a
// query tag is named as its Go field; `query:"-"` skips it.
func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag, ok := sf.Tag.Lookup("query")
		if tag == "-" {
			continue
		}
		if !ok {
			tag = sf.Name
		}
		parts := strings.Split(tag, ",")
		f := field{index: i, name: parts[0], key: "key", value: "value"}
		for _, opt := range parts[1:] {
			k, v, _ := strings.Cut(opt, "=")
			switch k {
			case "flat":
				f.flat = true
			case "member":
				f.member = v
			case "key":
				f.key = v
			case "value":
				f.value = v
			}
		}
		fs = append(fs, f)
	}
	fieldCache.Store(t, fs)
	return fs
}

var (
	timestampType = reflect.TypeFor[wire.Timestamp]()
	bytesType     = reflect.TypeFor[[]byte]()
)

// isLeaf reports whether values of t are single form values / XML text.
func isLeaf(t reflect.Type) bool {
	switch {
	case t == timestampType, t == bytesType:
		return true
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Slice, t.Kind() == reflect.Map:
		return false
	}
	return true
}

func timestampOf(t time.Time) wire.Timestamp { return wire.Timestamp{Time: t} }
