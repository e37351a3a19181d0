// Package awserr owns Berth's AWS-shaped errors: the Error type every API
// handler returns, the statuses of the codes every service shares (each
// service brings its own table of modeled errors), and the wire encodings of
// an error reply: awsJson1_0/1_1 and the awsQuery XML envelope.
package awserr

import (
	"errors"
	"fmt"
)

// Error is an AWS service error as clients see it: a modeled error name
// (the "__type" of a JSON reply, the <Code> of a query reply), a human
// message and the HTTP status it is sent with.
type Error struct {
	Code    string
	Message string
	Status  int
	// Fields are the error shape's other modelled members (ECS's
	// ConflictException has resourceIds, say), sent beside the message.
	Fields map[string]any
}

var _ error = (*Error)(nil)

// Error renders "Code: Message", the way the AWS SDKs print service errors.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Is reports whether target is an *Error with the same Code, so callers can
// write errors.Is(err, &awserr.Error{Code: awserr.CodeClusterNotFound}).
// A target with a Message also has to match it.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Fault is the awsQuery <Type> of the error: "Receiver" for server faults
// (5xx), "Sender" otherwise.
func (e *Error) Fault() string {
	if e.Status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

// New builds an Error with an explicit HTTP status.
func New(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Message: sprintf(format, args...), Status: status}
}

// Newf builds an Error whose HTTP status comes from the table of common
// codes. For any other code the status is left zero: the table of the
// service that answers decides when the reply is written (400 if it does
// not know the code either).
func Newf(code string, format string, args ...any) *Error {
	status, _ := CommonStatus(code)
	return New(code, status, format, args...)
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// sprintf avoids treating a message without arguments as a format string, so
// a message containing '%' (an ARN, a user value) is passed through intact.
func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// CommonStatus is the HTTP status of a code every service shares (the
// authentication errors, InternalFailure, ...), and whether code is one.
func CommonStatus(code string) (int, bool) {
	s, ok := commonStatus[code]
	return s, ok
}

// Status is CommonStatus, or 400 for any other code: every unknown modeled
// error is a client error in the AWS models.
func Status(code string) int {
	if s, ok := commonStatus[code]; ok {
		return s
	}
	return 400
}
