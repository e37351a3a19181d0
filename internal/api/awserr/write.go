package awserr

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
)

// ContentTypeJSON11 is the media type of awsJson1_1 requests and replies.
const ContentTypeJSON11 = "application/x-amz-json-1.1"

// Header names of the AWS reply envelope.
const (
	HeaderRequestID = "x-amzn-RequestId"
	HeaderErrorType = "X-Amzn-ErrorType"
)

// internalMessage is all a client learns about an unexpected error; the
// details go to the log, keyed by request ID.
const internalMessage = "An internal error occurred. Check the server log for the request ID."

// jsonBody is the awsJson error body. botocore reads only "__type"; the Go
// SDK reads the X-Amzn-ErrorType header first.
type jsonBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// Normalize turns any error into the *Error that will be sent: *Error values
// (anywhere in the chain) are kept, anything else becomes a 500
// InternalFailure with a generic message, so internals never leak. The
// second result reports whether err was unexpected, for the caller to log.
func Normalize(err error) (*Error, bool) {
	if e, ok := As(err); ok {
		if e.Status == 0 {
			c := *e
			c.Status = Status(e.Code)
			return &c, false
		}
		return e, false
	}
	return InternalFailure(internalMessage), true
}

// WriteJSON writes err as an awsJson1_1 error reply. Unexpected (non-*Error)
// errors are logged with slog.Default and sent as a generic InternalFailure.
func WriteJSON(w http.ResponseWriter, requestID string, err error) {
	WriteJSONLogged(w, slog.Default(), requestID, err)
}

// WriteJSONLogged is WriteJSON with an explicit logger.
func WriteJSONLogged(w http.ResponseWriter, logger *slog.Logger, requestID string, err error) {
	e, unexpected := Normalize(err)
	if unexpected {
		logger.Error("internal error", "request_id", requestID, "err", err)
	}
	var v any = jsonBody{Type: e.Code, Message: e.Message}
	if len(e.Fields) > 0 {
		m := make(map[string]any, len(e.Fields)+2)
		for k, f := range e.Fields {
			m[k] = f
		}
		m["__type"], m["message"] = e.Code, e.Message
		v = m
	}
	body, merr := json.Marshal(v)
	if merr != nil {
		// Unreachable for two strings; keep a valid reply anyway.
		body = []byte(`{"__type":"InternalFailure","message":""}`)
	}
	h := w.Header()
	h.Set("Content-Type", ContentTypeJSON11)
	h.Set(HeaderErrorType, e.Code)
	h.Set(HeaderRequestID, requestID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}
