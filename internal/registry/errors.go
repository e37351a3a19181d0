package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// Error codes of the OCI distribution spec (and TAG_INVALID, which ECR
// answers for a re-push of an immutable tag).
const (
	CodeBlobUnknown         = "BLOB_UNKNOWN"
	CodeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	CodeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	CodeDigestInvalid       = "DIGEST_INVALID"
	CodeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestInvalid     = "MANIFEST_INVALID"
	CodeManifestUnknown     = "MANIFEST_UNKNOWN"
	CodeNameInvalid         = "NAME_INVALID"
	CodeNameUnknown         = "NAME_UNKNOWN"
	CodeSizeInvalid         = "SIZE_INVALID"
	CodeUnauthorized        = "UNAUTHORIZED"
	CodeDenied              = "DENIED"
	CodeUnsupported         = "UNSUPPORTED"
	CodeTooManyRequests     = "TOOMANYREQUESTS"
	CodeTagInvalid          = "TAG_INVALID"
	CodeRangeInvalid        = "RANGE_INVALID" // 416 replies; not in the spec's table
	CodeUnknown             = "UNKNOWN"
)

// Error is one OCI error reply: a spec code, the HTTP status it is sent
// with, a message and an optional detail.
type Error struct {
	Code    string
	Status  int
	Message string
	Detail  any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorf builds an Error.
func errorf(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors a Meta returns (wrapped as it likes); the handler maps
// them to OCI codes.
var (
	// ErrNameUnknown: the repository does not exist (ECR's repositories are
	// created by CreateRepository, never by a push).
	ErrNameUnknown = errors.New("registry: repository not found")
	// ErrBlobUnknown: the blob is not linked in the repository.
	ErrBlobUnknown = errors.New("registry: blob unknown to repository")
	// ErrManifestUnknown: no such manifest or tag in the repository.
	ErrManifestUnknown = errors.New("registry: manifest unknown")
	// ErrUploadUnknown: no such upload session.
	ErrUploadUnknown = errors.New("registry: upload unknown")
	// ErrUploadExists: an upload session id already in use.
	ErrUploadExists = errors.New("registry: upload exists")
	// ErrTagImmutable: the repository's tags are immutable and the tag
	// already names another manifest.
	ErrTagImmutable = errors.New("registry: tag is immutable")
)

// ociError maps err to the Error sent for it.
func ociError(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, ErrNameUnknown):
		return errorf(CodeNameUnknown, http.StatusNotFound, "repository name not known to registry")
	case errors.Is(err, ErrBlobUnknown):
		return errorf(CodeBlobUnknown, http.StatusNotFound, "blob unknown to registry")
	case errors.Is(err, ErrManifestUnknown):
		return errorf(CodeManifestUnknown, http.StatusNotFound, "manifest unknown")
	case errors.Is(err, ErrUploadUnknown):
		return errorf(CodeBlobUploadUnknown, http.StatusNotFound, "blob upload unknown to registry")
	case errors.Is(err, ErrTagImmutable):
		return errorf(CodeTagInvalid, http.StatusBadRequest, "the tag already exists and cannot be overwritten because the tag is immutable")
	}
	var ae *awserr.Error
	if errors.As(err, &ae) {
		return fromAWS(ae)
	}
	return errorf(CodeUnknown, http.StatusInternalServerError, "internal error")
}

// fromAWS maps an API-layer error (authentication, authorization,
// throttling) to its OCI form.
func fromAWS(e *awserr.Error) *Error {
	code := CodeUnknown
	switch e.Status {
	case http.StatusUnauthorized:
		code = CodeUnauthorized
	case http.StatusForbidden:
		code = CodeDenied
	case http.StatusTooManyRequests:
		code = CodeTooManyRequests
	case http.StatusBadRequest:
		code = CodeUnsupported
	}
	return &Error{Code: code, Status: e.Status, Message: e.Message}
}

// WriteAPIError writes an API-layer error in the OCI form: it is the
// registry's api.Route.WriteError.
func WriteAPIError(w http.ResponseWriter, _ *http.Request, e *awserr.Error) {
	writeError(w, fromAWS(e))
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError sends e as {"errors":[...]}.
func writeError(w http.ResponseWriter, e *Error) {
	b, _ := json.Marshal(errorBody{Errors: []errorEntry{{Code: e.Code, Message: e.Message, Detail: e.Detail}}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}
