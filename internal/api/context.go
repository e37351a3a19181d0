package api

import (
	"context"
	"strings"
)

type ctxKey int

const (
	principalKey ctxKey = iota
	requestIDKey
	regionKey
)

// Principal is who a request acts as, as authentication established it.
type Principal struct {
	// ARN is the identity: arn:aws:iam::<account>:root, ...:user/alice, ...
	ARN string
	// AccessKeyID is the SigV4 key the request was signed with, if any.
	AccessKeyID string
	// SessionToken is the request's X-Amz-Security-Token, for temporary
	// credentials.
	SessionToken string
	// Scheme is how the request authenticated: "sigv4", "basic" or "bearer".
	Scheme string
}

// Account is the account id in the principal's ARN.
func (p Principal) Account() string {
	parts := strings.SplitN(p.ARN, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// IsRoot reports whether the principal is an account's root user.
func (p Principal) IsRoot() bool {
	return strings.HasPrefix(p.ARN, "arn:") && strings.HasSuffix(p.ARN, ":root") && p.Account() != ""
}

// WithPrincipal returns ctx carrying the authenticated principal. The
// server does this after authentication; tests of handlers may too.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFrom returns the principal that authenticated the request.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey).(Principal)
	return p, ok
}

// WithRegion returns ctx carrying the request's region.
func WithRegion(ctx context.Context, region string) context.Context {
	return context.WithValue(ctx, regionKey, region)
}

// RegionFrom returns the region of the request's SigV4 credential scope:
// the region the client addressed.
func RegionFrom(ctx context.Context) (string, bool) {
	r, ok := ctx.Value(regionKey).(string)
	return r, ok && r != ""
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
