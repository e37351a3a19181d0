package api

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRequestDeadline: a handler blocked on something that honours its
// context (an etcd call, a lock with a context) is cut off at the request
// deadline; one that ignores it is abandoned after the grace period. Either
// way the client gets the service's 5xx promptly, never a hung request.
func TestRequestDeadline(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	tests := []struct {
		name    string
		handler func(ctx context.Context, _ *struct{}) (*struct{}, error)
		wantMsg string
	}{
		{"blocked until the deadline", func(ctx context.Context, _ *struct{}) (*struct{}, error) {
			<-ctx.Done()
			return nil, fmt.Errorf("etcd get: %w", ctx.Err())
		}, "did not complete within the server's deadline of 50ms"},
		{"ignores its deadline", func(ctx context.Context, _ *struct{}) (*struct{}, error) {
			<-release
			return nil, nil
		}, "did not complete within the server's deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, logs := testServer(t, 1<<10)
			s.timeout, s.grace = 50*time.Millisecond, 100*time.Millisecond
			s.Register(Service{SigningName: "slow", JSON: &JSONProtocol{TargetPrefix: "Slow"}, Errors: testErrors,
				Operations: map[string]Operation{"Wait": Op(tt.handler, nil)}})
			req := plainReq{method: "POST", path: "/", body: "{}", sigv4: "slow",
				header: map[string]string{"X-Amz-Target": "Slow.Wait", "Content-Type": "application/x-amz-json-1.1"}}.build(t)
			rec := httptest.NewRecorder()
			start := time.Now()
			s.ServeHTTP(rec, req)
			// Generous bound: the point is "not hung", not a timing assertion.
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("answered after %v", took)
			}
			checkError(t, rec.Result(), rec.Body.Bytes(), "ServerException", tt.wantMsg)
			if rec.Code != 500 || !strings.Contains(logs.String(), "deadline") {
				t.Fatalf("status %d; log:\n%s", rec.Code, logs)
			}
		})
	}
}
