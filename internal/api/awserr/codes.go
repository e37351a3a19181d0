package awserr

import "net/http"

// Error codes used across services: the ECS-style (Coral) JSON codes Berth's
// handlers build with the helpers below, the awsQuery protocol's codes, and
// the authentication errors in both their awsJson and awsQuery spellings.
const (
	CodeInvalidParameter        = "InvalidParameterException"
	CodeClient                  = "ClientException"
	CodeClusterNotFound         = "ClusterNotFoundException"
	CodeSerialization           = "SerializationException"
	CodeUnknownOperation        = "UnknownOperationException"
	CodeServer                  = "ServerException"
	CodeInternalFailure         = "InternalFailure"
	CodeAccessDenied            = "AccessDeniedException"
	CodeUnsupportedFeature      = "UnsupportedFeatureException"
	CodeRequestEntityTooLarge   = "RequestEntityTooLargeException"
	CodeThrottling              = "ThrottlingException"
	CodeValidation              = "ValidationException"
	CodeMissingAuthToken        = "MissingAuthenticationTokenException"
	CodeIncompleteSignature     = "IncompleteSignatureException"
	CodeInvalidSignature        = "InvalidSignatureException"
	CodeUnrecognizedClient      = "UnrecognizedClientException"
	CodeExpiredToken            = "ExpiredTokenException"
	CodeQueryMissingAuthToken   = "MissingAuthenticationToken"
	CodeQueryIncompleteSig      = "IncompleteSignature"
	CodeQuerySignatureMismatch  = "SignatureDoesNotMatch"
	CodeQueryInvalidClientToken = "InvalidClientTokenId"
	CodeQueryExpiredToken       = "ExpiredToken"
	CodeQueryAccessDenied       = "AccessDenied"
	CodeQueryValidation         = "ValidationError"
	CodeInvalidAction           = "InvalidAction"
	CodeMissingAction           = "MissingAction"
	CodeServiceUnavailable      = "ServiceUnavailable"
)

// commonStatus holds the codes every service shares, from AWS's "Common
// Errors" pages. Codes a service models itself (ClusterNotFoundException,
// ServerException, ...) are in that service's generated table instead; it
// is data, not behaviour: adding a code is adding a row.
var commonStatus = map[string]int{
	CodeSerialization:           http.StatusBadRequest,
	CodeUnknownOperation:        http.StatusBadRequest,
	CodeInternalFailure:         http.StatusInternalServerError,
	CodeServiceUnavailable:      http.StatusServiceUnavailable,
	CodeAccessDenied:            http.StatusBadRequest,
	CodeRequestEntityTooLarge:   http.StatusRequestEntityTooLarge,
	CodeThrottling:              http.StatusBadRequest,
	CodeValidation:              http.StatusBadRequest,
	CodeMissingAuthToken:        http.StatusForbidden,
	CodeIncompleteSignature:     http.StatusBadRequest,
	CodeInvalidSignature:        http.StatusForbidden,
	CodeUnrecognizedClient:      http.StatusForbidden,
	CodeExpiredToken:            http.StatusForbidden,
	CodeQueryMissingAuthToken:   http.StatusForbidden,
	CodeQueryIncompleteSig:      http.StatusBadRequest,
	CodeQuerySignatureMismatch:  http.StatusForbidden,
	CodeQueryInvalidClientToken: http.StatusForbidden,
	CodeQueryExpiredToken:       http.StatusForbidden,
	CodeQueryAccessDenied:       http.StatusForbidden,
	CodeQueryValidation:         http.StatusBadRequest,
	CodeInvalidAction:           http.StatusBadRequest,
	CodeMissingAction:           http.StatusBadRequest,
}

// The helpers below build the errors Berth's handlers share. The ECS-modeled
// ones carry the status ECS's model gives them.

// InvalidParameter is ECS's InvalidParameterException (400).
func InvalidParameter(format string, args ...any) *Error {
	return New(CodeInvalidParameter, http.StatusBadRequest, format, args...)
}

// Client is ECS's ClientException (400): the caller did something wrong that
// is not a single bad parameter.
func Client(format string, args ...any) *Error {
	return New(CodeClient, http.StatusBadRequest, format, args...)
}

// ClusterNotFound is ClusterNotFoundException (400).
func ClusterNotFound(format string, args ...any) *Error {
	return New(CodeClusterNotFound, http.StatusBadRequest, format, args...)
}

// Serialization is SerializationException (400): the body could not be read.
func Serialization(format string, args ...any) *Error {
	return Newf(CodeSerialization, format, args...)
}

// UnknownOperation is UnknownOperationException (400).
func UnknownOperation(format string, args ...any) *Error {
	return Newf(CodeUnknownOperation, format, args...)
}

// Server is ECS's ServerException (500).
func Server(format string, args ...any) *Error {
	return New(CodeServer, http.StatusInternalServerError, format, args...)
}

// InternalFailure is the generic InternalFailure (500).
func InternalFailure(format string, args ...any) *Error {
	return Newf(CodeInternalFailure, format, args...)
}

// AccessDenied is AccessDeniedException (400, as in the ECS model).
func AccessDenied(format string, args ...any) *Error {
	return Newf(CodeAccessDenied, format, args...)
}

// UnsupportedFeature is UnsupportedFeatureException (400).
func UnsupportedFeature(format string, args ...any) *Error {
	return New(CodeUnsupportedFeature, http.StatusBadRequest, format, args...)
}

// RequestEntityTooLarge is RequestEntityTooLargeException (413).
func RequestEntityTooLarge(format string, args ...any) *Error {
	return Newf(CodeRequestEntityTooLarge, format, args...)
}

// MissingAuthenticationToken is MissingAuthenticationTokenException (403).
func MissingAuthenticationToken(format string, args ...any) *Error {
	return Newf(CodeMissingAuthToken, format, args...)
}

// IncompleteSignature is IncompleteSignatureException (400).
func IncompleteSignature(format string, args ...any) *Error {
	return Newf(CodeIncompleteSignature, format, args...)
}

// InvalidSignature is InvalidSignatureException (403).
func InvalidSignature(format string, args ...any) *Error {
	return Newf(CodeInvalidSignature, format, args...)
}

// UnrecognizedClient is UnrecognizedClientException (403).
func UnrecognizedClient(format string, args ...any) *Error {
	return Newf(CodeUnrecognizedClient, format, args...)
}

// ExpiredToken is ExpiredTokenException (403).
func ExpiredToken(format string, args ...any) *Error {
	return Newf(CodeExpiredToken, format, args...)
}
