package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// Handler serves one JSON operation: it gets the raw (already authenticated)
// request body and returns the value to encode as the reply, or an error
// (an *awserr.Error for anything the client should see).
type Handler func(ctx context.Context, body []byte) (any, error)

// validator is implemented by operation inputs that check themselves.
type validator interface {
	Validate() error
}

// JSONOp adapts a typed operation to a Handler: the body is decoded into a
// new I (unknown members are ignored, as AWS does), validated if *I has a
// Validate method, and passed to fn. A nil *O is sent as {}.
func JSONOp[I any, O any](fn func(context.Context, *I) (*O, error)) Handler {
	return func(ctx context.Context, body []byte) (any, error) {
		in := new(I)
		if err := decodeJSON(body, in); err != nil {
			return nil, err
		}
		if v, ok := any(in).(validator); ok {
			if err := v.Validate(); err != nil {
				if e, ok := awserr.As(err); ok {
					return nil, e
				}
				return nil, awserr.InvalidParameter("%s", err.Error())
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		if out == nil {
			return struct{}{}, nil
		}
		return out, nil
	}
}

// decodeJSON decodes an awsJson request body, turning decoder errors into
// SerializationExceptions that tell the caller what was wrong and where.
// An empty body means {}.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var syntax *json.SyntaxError
	var mismatch *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return awserr.Serialization("Malformed JSON request body at offset %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &mismatch) && mismatch.Field == "":
		return awserr.Serialization("Request body must be a JSON object, got a JSON %s", mismatch.Value)
	case errors.As(err, &mismatch):
		return awserr.Serialization("Invalid type for member %q: expected %s, got a JSON %s",
			mismatch.Field, shapeName(mismatch.Type), mismatch.Value)
	default:
		if e, ok := awserr.As(err); ok {
			return e
		}
		return awserr.Serialization("Unable to parse request body: %s", err.Error())
	}
}

// shapeName names a Go type the way the AWS models name shapes.
func shapeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a map"
	case reflect.Struct:
		return "a structure"
	default:
		return "a " + t.Kind().String()
	}
}
