package api

import (
	"context"

	"github.com/berth-dev/berth/internal/api/sigv4"
)

type ctxKey int

const (
	principalKey ctxKey = iota
	requestIDKey
)

// WithPrincipal returns ctx carrying the authenticated credential. The
// server does this after SigV4 verification; tests of handlers may too.
func WithPrincipal(ctx context.Context, cred sigv4.Credential) context.Context {
	return context.WithValue(ctx, principalKey, cred)
}

// PrincipalFrom returns the credential that authenticated the request.
func PrincipalFrom(ctx context.Context) (sigv4.Credential, bool) {
	cred, ok := ctx.Value(principalKey).(sigv4.Credential)
	return cred, ok
}

// RequestIDFrom returns the request ID the server assigned, the same value
// sent back in x-amzn-RequestId.
func RequestIDFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(requestIDKey).(string)
	return id, ok
}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}
