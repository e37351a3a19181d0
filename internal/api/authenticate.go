package api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

// Authenticator checks one scheme of credentials on a plain route's request.
type Authenticator interface {
	// Authenticate returns who r acts as, ErrNoCredentials when r carries no
	// credentials of this scheme (the next authenticator is tried), or an
	// error (an *awserr.Error for bad credentials). It may replace r.Body,
	// to verify a streamed payload as the handler reads it.
	Authenticate(r *http.Request) (Identity, error)
}

// Challenger is an Authenticator that can ask for credentials: its
// challenge is sent in WWW-Authenticate with a 401.
type Challenger interface {
	Challenge() string
}

// Identity is what an authenticator established about a request.
type Identity struct {
	Principal Principal
	// Region is the SigV4 credential scope's region; "" for other schemes.
	Region string
}

// ErrNoCredentials is returned by an Authenticator for a request that
// carries none of its scheme's credentials.
var ErrNoCredentials = errors.New("api: no credentials of this scheme")

// SigV4Auth verifies SigV4 signatures (Authorization header or presigned
// query) for one signing name. Bodies are not buffered: a declared payload
// hash is checked as the handler reads (see sigv4.Verifier.VerifyStream).
type SigV4Auth struct {
	Verifier *sigv4.Verifier
	Service  string // the SigV4 signing name, e.g. "ecs"
	// MaxBuffer bounds a body that declares no X-Amz-Content-Sha256 and so
	// must be read to be hashed; 0 means DefaultMaxBodyBytes.
	MaxBuffer int64
}

var _ Authenticator = SigV4Auth{}

// Authenticate implements Authenticator.
func (a SigV4Auth) Authenticate(r *http.Request) (Identity, error) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-") && !r.URL.Query().Has("X-Amz-Credential") {
		return Identity{}, ErrNoCredentials
	}
	max := a.MaxBuffer
	if max <= 0 {
		max = DefaultMaxBodyBytes
	}
	res, body, err := a.Verifier.VerifyStream(r, a.Service, max)
	if err != nil {
		return Identity{}, err
	}
	r.Body = body
	return Identity{Principal: sigv4Principal(res.Credential), Region: res.Region}, nil
}

func sigv4Principal(c sigv4.Credential) Principal {
	return Principal{ARN: c.Principal, AccessKeyID: c.AccessKeyID, SessionToken: c.SessionToken, Scheme: "sigv4"}
}

// BasicAuth checks HTTP Basic credentials with a function the route's owner
// supplies (the registry's `docker login`, for one).
type BasicAuth struct {
	Realm string
	// Verify returns the principal for user and password; ok false means
	// the credentials are wrong, an error that it could not tell.
	Verify func(ctx context.Context, user, password string) (p Principal, ok bool, err error)
}

var (
	_ Authenticator = BasicAuth{}
	_ Challenger    = BasicAuth{}
)

// Authenticate implements Authenticator.
func (a BasicAuth) Authenticate(r *http.Request) (Identity, error) {
	cred, ok := schemeValue(r, "Basic")
	if !ok {
		return Identity{}, ErrNoCredentials
	}
	raw, err := base64.StdEncoding.DecodeString(cred)
	user, pass, found := strings.Cut(string(raw), ":")
	if err != nil || !found {
		return Identity{}, badCredentials("The Basic credentials are malformed.")
	}
	p, ok, err := a.Verify(r.Context(), user, pass)
	if err != nil {
		return Identity{}, err
	}
	if !ok {
		return Identity{}, badCredentials("The user name or password is not valid.")
	}
	p.Scheme = "basic"
	return Identity{Principal: p}, nil
}

// Challenge implements Challenger.
func (a BasicAuth) Challenge() string { return `Basic realm="` + a.Realm + `"` }

// BearerAuth checks bearer tokens with a function the route's owner
// supplies.
type BearerAuth struct {
	Realm   string
	Service string
	Verify  func(ctx context.Context, token string) (p Principal, ok bool, err error)
}

var (
	_ Authenticator = BearerAuth{}
	_ Challenger    = BearerAuth{}
)

// Authenticate implements Authenticator.
func (a BearerAuth) Authenticate(r *http.Request) (Identity, error) {
	token, ok := schemeValue(r, "Bearer")
	if !ok {
		return Identity{}, ErrNoCredentials
	}
	p, ok, err := a.Verify(r.Context(), token)
	if err != nil {
		return Identity{}, err
	}
	if !ok {
		return Identity{}, badCredentials("The bearer token is not valid.")
	}
	p.Scheme = "bearer"
	return Identity{Principal: p}, nil
}

// Challenge implements Challenger.
func (a BearerAuth) Challenge() string {
	c := `Bearer realm="` + a.Realm + `"`
	if a.Service != "" {
		c += `,service="` + a.Service + `"`
	}
	return c
}

// schemeValue returns the credentials of an Authorization header of scheme
// (matched case-insensitively, as RFC 9110 says).
func schemeValue(r *http.Request, scheme string) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme)+1:]), true
}

func badCredentials(msg string) *awserr.Error {
	return awserr.New(awserr.CodeUnrecognizedClient, http.StatusUnauthorized, "%s", msg)
}
