package registry_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/registry"
)

// TestWriteAPIError: the API layer's errors (authentication, authorization,
// throttling) reach registry clients in the OCI form.
func TestWriteAPIError(t *testing.T) {
	tests := []struct {
		in   *awserr.Error
		code string
	}{
		{awserr.New(awserr.CodeMissingAuthToken, http.StatusUnauthorized, "Authentication required."), registry.CodeUnauthorized},
		{awserr.New(awserr.CodeAccessDenied, http.StatusForbidden, "not allowed"), registry.CodeDenied},
		{awserr.New(awserr.CodeThrottling, http.StatusTooManyRequests, "slow down"), registry.CodeTooManyRequests},
		{awserr.New(awserr.CodeInternalFailure, http.StatusInternalServerError, "boom"), registry.CodeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			rec := httptest.NewRecorder()
			registry.WriteAPIError(rec, httptest.NewRequest("GET", "/v2/", nil), tt.in)
			wantError(t, rec, tt.in.Status, tt.code)
		})
	}
}
