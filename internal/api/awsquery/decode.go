package awsquery

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// FieldError is a form value that does not fit its member's type. The API
// layer answers it with the service's validation error.
type FieldError struct {
	Path  string // the form key, e.g. Tags.member.2.Value
	Value string
	Want  string // "an integer", "a boolean", ...
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must be %s", e.Value, e.Path, e.Want)
}

// Unmarshal fills the struct v points to from an awsQuery form. Keys the
// type does not know (Action, Version, X-Amz-*) are ignored, as AWS does; a
// value of the wrong type is a *FieldError.
func Unmarshal(form url.Values, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("awsquery: Unmarshal needs a pointer to a struct, got %T", v)
	}
	d := decoder{form: form, prefixes: make(map[string]bool, len(form))}
	for k := range form {
		for i := strings.IndexByte(k, '.'); i >= 0; i = next(k, i) {
			d.prefixes[k[:i]] = true
		}
	}
	return d.structure(rv.Elem(), "")
}

func next(k string, i int) int {
	j := strings.IndexByte(k[i+1:], '.')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

type decoder struct {
	form url.Values
	// prefixes holds every proper dotted prefix of a key ("Tags",
	// "Tags.member", "Tags.member.1" for Tags.member.1.Key), so presence of
	// a structure, list element or map entry is one lookup.
	prefixes map[string]bool
}

// has reports whether anything was sent at key or below it.
func (d *decoder) has(key string) bool {
	_, ok := d.form[key]
	return ok || d.prefixes[key]
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (d *decoder) structure(v reflect.Value, prefix string) error {
	for _, f := range fieldsOf(v.Type()) {
		if err := d.value(v.Field(f.index), join(prefix, f.name), f); err != nil {
			return err
		}
	}
	return nil
}

// value decodes whatever was sent at key into v; absent members stay zero.
func (d *decoder) value(v reflect.Value, key string, f field) error {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		if !d.has(key) {
			return nil
		}
		elem := reflect.New(t.Elem())
		if err := d.value(elem.Elem(), key, f); err != nil {
			return err
		}
		v.Set(elem)
		return nil
	case isLeaf(t):
		raw, ok := d.form[key]
		if !ok || len(raw) == 0 {
			return nil
		}
		return setLeaf(v, key, raw[0])
	case t.Kind() == reflect.Struct:
		return d.structure(v, key)
	case t.Kind() == reflect.Slice:
		return d.list(v, key, f)
	case t.Kind() == reflect.Map:
		return d.mapping(v, key, f)
	}
	return fmt.Errorf("awsquery: cannot decode into %s at %s", t, key)
}

// list reads Key.member.1, Key.member.2, ... (flattened: Key.1, ...), up to
// the first missing index; "Key=" alone is an empty list. A flattened list
// whose elements are named is read at that name, as botocore sends it
// (Attribute.1 -> AttributeName.1), or at its own, as the Go SDK does.
func (d *decoder) list(v reflect.Value, key string, f field) error {
	base := join(key, f.elemName())
	if f.flat {
		base = key
		if alt := replaceLast(key, f.member); f.member != "" && d.has(alt+".1") {
			base = alt
		}
	}
	if _, marker := d.form[key]; !marker && !d.has(base+".1") {
		return nil
	}
	out := reflect.MakeSlice(v.Type(), 0, 0)
	for i := 1; ; i++ {
		k := base + "." + strconv.Itoa(i)
		if !d.has(k) {
			break
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(elem, k, defaults); err != nil {
			return err
		}
		out = reflect.Append(out, elem)
	}
	v.Set(out)
	return nil
}

// mapping reads Key.entry.N.key / Key.entry.N.value (flattened: Key.N.key),
// with the entry parts named as the tag says.
func (d *decoder) mapping(v reflect.Value, key string, f field) error {
	base := key + ".entry"
	if f.flat {
		base = key
	}
	if !d.has(base + ".1") {
		return nil
	}
	out := reflect.MakeMap(v.Type())
	for i := 1; ; i++ {
		entry := base + "." + strconv.Itoa(i)
		if !d.has(entry) {
			break
		}
		k := reflect.New(v.Type().Key()).Elem()
		if err := d.value(k, entry+"."+f.key, defaults); err != nil {
			return err
		}
		val := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(val, entry+"."+f.value, defaults); err != nil {
			return err
		}
		out.SetMapIndex(k, val)
	}
	v.Set(out)
	return nil
}

func replaceLast(key, name string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i+1] + name
	}
	return name
}

// setLeaf parses one form value into a scalar, timestamp or blob.
func setLeaf(v reflect.Value, key, raw string) error {
	bad := func(want string) error { return &FieldError{Path: key, Value: raw, Want: want} }
	switch {
	case v.Type() == timestampType:
		t, ok := parseTime(raw)
		if !ok {
			return bad("an ISO 8601 timestamp")
		}
		v.Set(reflect.ValueOf(timestampOf(t)))
		return nil
	case v.Type() == bytesType:
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return bad("base64-encoded")
		}
		v.SetBytes(b)
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return bad("a boolean")
		}
		v.SetBool(b)
	case reflect.Int32, reflect.Int64, reflect.Int:
		n, err := strconv.ParseInt(raw, 10, v.Type().Bits())
		if err != nil {
			return bad("an integer")
		}
		v.SetInt(n)
	case reflect.Float64, reflect.Float32:
		f, err := strconv.ParseFloat(raw, v.Type().Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return bad("a number")
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("awsquery: cannot decode into %s at %s", v.Type(), key)
	}
	return nil
}

// parseTime accepts ISO 8601 (what botocore and the SDKs send) and, as AWS
// does, epoch seconds.
func parseTime(raw string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse("2006-01-02T15:04:05", raw); err == nil {
		return t.UTC(), true
	}
	if f, err := strconv.ParseFloat(raw, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC(), true
	}
	return time.Time{}, false
}
