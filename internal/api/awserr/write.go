package awserr

import (
	"encoding/json"
	"encoding/xml"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// Media types of AWS replies.
const (
	ContentTypeJSON10 = "application/x-amz-json-1.0"
	ContentTypeJSON11 = "application/x-amz-json-1.1"
	ContentTypeXML    = "text/xml"
)

// Header names of the AWS reply envelope.
const (
	HeaderRequestID = "x-amzn-RequestId"
	HeaderErrorType = "X-Amzn-ErrorType"
)

// InternalMessage is all a client learns about an unexpected error; the
// details go to the log, keyed by request ID.
const InternalMessage = "An internal error occurred. Check the server log for the request ID."

// jsonBody is the awsJson error body. botocore reads only "__type"; the Go
// SDK reads the X-Amzn-ErrorType header first.
type jsonBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// Normalize turns any error into the *Error that will be sent, using only
// the common codes' statuses: *Error values (anywhere in the chain) are
// kept, anything else becomes a 500 InternalFailure with a generic message,
// so internals never leak. The second result reports whether err was
// unexpected, for the caller to log. The API listener does the same with
// each service's own table; this is for handlers outside it.
func Normalize(err error) (*Error, bool) {
	if e, ok := As(err); ok {
		if e.Status == 0 {
			c := *e
			c.Status = Status(e.Code)
			return &c, false
		}
		return e, false
	}
	return InternalFailure(InternalMessage), true
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
	EncodeJSON(w, ContentTypeJSON11, requestID, e)
}

// EncodeJSON writes e, whose Status is already decided, as an awsJson error
// reply with the given media type (1.0 or 1.1). The error shape's other
// members (Fields) are sent beside __type and message.
func EncodeJSON(w http.ResponseWriter, contentType, requestID string, e *Error) {
	var v any = jsonBody{Type: e.Code, Message: e.Message}
	if len(e.Fields) > 0 {
		m := make(map[string]any, len(e.Fields)+2)
		for k, f := range e.Fields {
			m[k] = f
		}
		m["__type"], m["message"] = e.Code, e.Message
		v = m
	}
	body, err := json.Marshal(v)
	if err != nil {
		// Unreachable for two strings; keep a valid reply anyway.
		body = []byte(`{"__type":"InternalFailure","message":""}`)
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set(HeaderErrorType, e.Code)
	writeReply(w, requestID, e.Status, body)
}

// EncodeXML writes e, whose Status is already decided, as an awsQuery error
// reply: <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>.
// namespace is the service's xmlNamespace ("" for none).
func EncodeXML(w http.ResponseWriter, namespace, requestID string, e *Error) {
	var b strings.Builder
	b.WriteString(xml.Header[:len(xml.Header)-1])
	b.WriteString("<ErrorResponse")
	if namespace != "" {
		b.WriteString(` xmlns="`)
		EscapeXML(&b, namespace)
		b.WriteString(`"`)
	}
	b.WriteString("><Error><Type>")
	b.WriteString(e.Fault())
	b.WriteString("</Type><Code>")
	EscapeXML(&b, e.Code)
	b.WriteString("</Code><Message>")
	EscapeXML(&b, e.Message)
	b.WriteString("</Message></Error><RequestId>")
	EscapeXML(&b, requestID)
	b.WriteString("</RequestId></ErrorResponse>")
	w.Header().Set("Content-Type", ContentTypeXML)
	writeReply(w, requestID, e.Status, []byte(b.String()))
}

// EscapeXML writes s as XML character data.
func EscapeXML(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s)) // a strings.Builder never fails
}

func writeReply(w http.ResponseWriter, requestID string, status int, body []byte) {
	h := w.Header()
	h.Set(HeaderRequestID, requestID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
