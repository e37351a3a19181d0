// Package awserr owns Berth's AWS-shaped errors: the Error type every API
// handler returns, the table of AWS error codes and their HTTP statuses, and
// the awsJson1_0/1_1 wire encoding of an error reply.
package awserr

import (
	"errors"
	"fmt"
	"sync"
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

// Newf builds an Error whose HTTP status comes from the code table
// (400 for codes that were never registered).
func Newf(code string, format string, args ...any) *Error {
	return New(code, Status(code), format, args...)
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

var (
	registryMu sync.RWMutex
	registry   = seedRegistry()
)

// seedRegistry loads the built-in table; a function rather than init so the
// package has no registration side effects.
func seedRegistry() map[string]int {
	m := make(map[string]int, len(codeTable))
	for _, row := range codeTable {
		m[row.code] = row.status
	}
	return m
}

// Register records the HTTP status for an error code. Service packages call
// it (from a constructor, not init) for their own modeled errors; registering
// a code again with a different status panics, since that is a programming
// error that would make replies depend on registration order.
func Register(code string, status int) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if old, ok := registry[code]; ok && old != status {
		panic(fmt.Sprintf("awserr: code %s registered with status %d and %d", code, old, status))
	}
	registry[code] = status
}

// Status is the HTTP status registered for code, or 400 if it is unknown:
// every unregistered modeled error is a client error in the AWS models.
func Status(code string) int {
	registryMu.RLock()
	defer registryMu.RUnlock()
	if s, ok := registry[code]; ok {
		return s
	}
	return 400
}
