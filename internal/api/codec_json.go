package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

// jsonCodec is awsJson1_0 and awsJson1_1: the body is the input as JSON,
// replies carry the media type of the protocol the client spoke.
type jsonCodec struct {
	contentType string
}

var _ codec = jsonCodec{}

// serveJSON routes an awsJson call by its X-Amz-Target prefix.
func (s *Server) serveJSON(w *responseRecorder, r *http.Request, target string) {
	prefix, op, _ := cutLast(target, '.')
	w.operation = target
	s.mu.RLock()
	svc, ok := s.targets[prefix]
	s.mu.RUnlock()
	jc := jsonCodec{contentType: jsonContentType(r, svc)}
	w.writeError = func(e *awserr.Error) { awserr.EncodeJSON(w, jc.contentType, w.requestID, e) }
	if !ok {
		w.fail(awserr.UnknownOperation("Unknown service target %q", target))
		return
	}
	c := &call{s: s, w: w, r: r, rid: w.requestID, svc: svc, op: op, codec: jc}
	body, err := s.readBody(w.ResponseWriter, r)
	if err != nil {
		c.fail(err)
		return
	}
	c.body = body
	c.run(r.Context(), nil)
}

// jsonContentType mirrors the client's awsJson version, or else says the
// service's own.
func jsonContentType(r *http.Request, svc *service) string {
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, awserr.ContentTypeJSON10):
		return awserr.ContentTypeJSON10
	case strings.HasPrefix(ct, awserr.ContentTypeJSON11):
		return awserr.ContentTypeJSON11
	case svc != nil && svc.JSON.Version == "1.0":
		return awserr.ContentTypeJSON10
	}
	return awserr.ContentTypeJSON11
}

func (jsonCodec) flavor() sigv4.Flavor { return sigv4.FlavorJSON }

func (jsonCodec) decode(c *call, in any) error { return decodeJSON(c.body, in) }

func (jc jsonCodec) writeResult(c *call, out any) error {
	body := []byte("{}")
	if out != nil {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		body = b
	}
	h := c.w.Header()
	h.Set("Content-Type", jc.contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(body)
	return nil
}

func (jc jsonCodec) writeError(c *call, e *awserr.Error) {
	awserr.EncodeJSON(c.w, jc.contentType, c.rid, e)
}

func (jsonCodec) unknownOperation(c *call) *awserr.Error {
	return awserr.UnknownOperation("Operation %q is not supported by %s", c.op, c.svc.JSON.TargetPrefix)
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

// cutLast splits s around the last sep.
func cutLast(s string, sep byte) (before, after string, found bool) {
	if i := strings.LastIndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}
