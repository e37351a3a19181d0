package awsquery

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// AppendXML writes the members of the struct v points to as XML elements,
// the content of an awsQuery result wrapper. Nil members are left out; an
// empty, non-nil list is written as an empty element. A nil v writes
// nothing.
func AppendXML(b *strings.Builder, v any) error {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil
	}
	rv = reflect.Indirect(rv)
	if rv.Kind() != reflect.Struct {
		return fmt.Errorf("awsquery: AppendXML needs a struct, got %T", v)
	}
	return members(b, rv)
}

func members(b *strings.Builder, v reflect.Value) error {
	for _, f := range fieldsOf(v.Type()) {
		if err := member(b, v.Field(f.index), f); err != nil {
			return err
		}
	}
	return nil
}

// member writes one structure member named as f says.
func member(b *strings.Builder, v reflect.Value, f field) error {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return member(b, v.Elem(), f)
	case t.Kind() == reflect.Slice && t != bytesType:
		if v.IsNil() {
			return nil
		}
		if f.flat {
			for i := range v.Len() {
				if err := element(b, f.elemName(), v.Index(i)); err != nil {
					return err
				}
			}
			return nil
		}
		open(b, f.name)
		for i := range v.Len() {
			if err := element(b, f.elemName(), v.Index(i)); err != nil {
				return err
			}
		}
		closeTag(b, f.name)
	case t.Kind() == reflect.Map:
		if v.IsNil() {
			return nil
		}
		return mapping(b, v, f)
	default:
		return element(b, f.name, v)
	}
	return nil
}

// element writes <name>v</name>; nested lists and maps use default names.
func element(b *strings.Builder, name string, v reflect.Value) error {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	t := v.Type()
	switch {
	case isLeaf(t):
		text, err := leafText(v)
		if err != nil {
			return err
		}
		open(b, name)
		awserr.EscapeXML(b, text)
		closeTag(b, name)
	case t.Kind() == reflect.Struct:
		open(b, name)
		if err := members(b, v); err != nil {
			return err
		}
		closeTag(b, name)
	default: // a list or map inside a list or map
		inner := defaults
		inner.name = name
		return member(b, v, inner)
	}
	return nil
}

// mapping writes <Name><entry><key/><value/></entry>...</Name>, or for a
// flattened map <Name><key/><value/></Name> per entry, in key order.
func mapping(b *strings.Builder, v reflect.Value, f field) error {
	keys := v.MapKeys()
	slices.SortFunc(keys, func(x, y reflect.Value) int { return strings.Compare(fmt.Sprint(x), fmt.Sprint(y)) })
	entry := "entry"
	if f.flat {
		entry = f.name
	} else {
		open(b, f.name)
	}
	for _, k := range keys {
		open(b, entry)
		if err := element(b, f.key, k); err != nil {
			return err
		}
		if err := element(b, f.value, v.MapIndex(k)); err != nil {
			return err
		}
		closeTag(b, entry)
	}
	if !f.flat {
		closeTag(b, f.name)
	}
	return nil
}

// leafText is the XML text of a scalar, timestamp or blob.
func leafText(v reflect.Value) (string, error) {
	switch {
	case v.Type() == timestampType:
		t := v.Interface().(interface{ UTC() time.Time }).UTC()
		return t.Truncate(time.Millisecond).Format(time.RFC3339Nano), nil
	case v.Type() == bytesType:
		return base64.StdEncoding.EncodeToString(v.Bytes()), nil
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), nil
	case reflect.Int, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64), nil
	}
	return "", fmt.Errorf("awsquery: cannot encode %s", v.Type())
}

func open(b *strings.Builder, name string) {
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
}

func closeTag(b *strings.Builder, name string) {
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}
