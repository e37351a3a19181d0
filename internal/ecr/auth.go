package ecr

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/store"
)

// Authorization tokens. GetAuthorizationToken answers, as ECR does,
// base64("AWS:<password>"), valid 12 hours; `docker login -u AWS` presents
// the password to the registry with Basic authentication.
//
// The password is self-contained and signed, so that every server sharing
// the etcd verifies it without a lookup:
//
//	berth1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "berth1.<claims>"))>
//
// The claims name the principal and access key that asked, the region the
// token is for (the registry serves that region's repositories to it) and
// when it expires. The key is the account's, 32 random bytes made once and
// kept in etcd ("/berth/<account>/ecr/token-key/current"). The password
// never contains ":" (`aws ecr get-login-password` output is split on it).

// tokenTTL is how long a token is valid, as in ECR.
const tokenTTL = 12 * time.Hour

// tokenPrefix starts every password (and names its format's version).
const tokenPrefix = "berth1."

// tokenKey is the account's token signing key.
type tokenKey struct {
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
}

var tokenKeys = store.NewCollection[tokenKey]("ecr/token-key")

// tokenClaims is what a password says.
type tokenClaims struct {
	Principal   string `json:"p"`
	AccessKeyID string `json:"k,omitempty"`
	Region      string `json:"r"`
	Expires     int64  `json:"x"` // Unix seconds
}

// signingKey returns the account's token key, made on first use.
func (s *Service) signingKey(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	k := s.key
	s.mu.Unlock()
	if k != nil {
		return k.Key, nil
	}
	var got tokenKey
	err := s.acct.Update(ctx, func(tx *store.Tx) error {
		cur, err := store.Get(tx, tokenKeys, "current")
		if err == nil {
			got = cur
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("get token key: %w", err)
		}
		got = tokenKey{Key: make([]byte, 32), Created: s.now()}
		if _, err := rand.Read(got.Key); err != nil {
			return fmt.Errorf("make token key: %w", err)
		}
		store.Put(tx, tokenKeys, "current", got)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.key = &got
	s.mu.Unlock()
	return got.Key, nil
}

// GetAuthorizationToken returns a registry token for the caller, valid
// 12 hours, for the request's region.
func (s *Service) GetAuthorizationToken(ctx context.Context, in *ecrtypes.GetAuthorizationTokenRequest) (*ecrtypes.GetAuthorizationTokenResponse, error) {
	for _, id := range in.RegistryIds {
		if err := s.checkRegistry(&id); err != nil {
			return nil, err
		}
	}
	_, region, err := s.regional(ctx)
	if err != nil {
		return nil, err
	}
	p, ok := api.PrincipalFrom(ctx)
	if !ok || p.ARN == "" {
		p = api.Principal{ARN: "arn:aws:iam::" + s.cfg.AccountID + ":root"}
	}
	key, err := s.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	expires := s.now().Add(tokenTTL).Truncate(time.Second)
	password, err := signToken(key, tokenClaims{Principal: p.ARN, AccessKeyID: p.AccessKeyID, Region: region, Expires: expires.Unix()})
	if err != nil {
		return nil, err
	}
	return &ecrtypes.GetAuthorizationTokenResponse{AuthorizationData: []ecrtypes.AuthorizationData{{
		AuthorizationToken: aws.String(base64.StdEncoding.EncodeToString([]byte("AWS:" + password))),
		ExpiresAt:          ecrtypes.Time(expires),
		ProxyEndpoint:      aws.String("http://" + s.cfg.RegistryHost),
	}}}, nil
}

// signToken makes a password from claims.
func signToken(key []byte, c tokenClaims) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode token claims: %w", err)
	}
	body := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// errBadToken: a password that is not a valid, unexpired token.
var errBadToken = errors.New("ecr: the authorization token is not valid")

// verifyToken checks a password's signature and expiry at now and returns
// its claims.
func verifyToken(key []byte, password string, now time.Time) (tokenClaims, error) {
	body, sig, ok := strings.Cut(password[min(len(password), len(tokenPrefix)):], ".")
	if !ok || !strings.HasPrefix(password, tokenPrefix) {
		return tokenClaims{}, errBadToken
	}
	want, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return tokenClaims{}, errBadToken
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(tokenPrefix + body))
	if !hmac.Equal(want, mac.Sum(nil)) {
		return tokenClaims{}, errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return tokenClaims{}, errBadToken
	}
	var c tokenClaims
	if err := json.Unmarshal(raw, &c); err != nil || c.Principal == "" || c.Region == "" {
		return tokenClaims{}, errBadToken
	}
	if !now.Before(time.Unix(c.Expires, 0)) {
		return tokenClaims{}, fmt.Errorf("%w: it expired at %s", errBadToken, time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

// RegistryAuth is the registry's authenticator: HTTP Basic with user "AWS"
// and a token's password. The identity it establishes is the principal
// that asked for the token, in the token's region.
func (s *Service) RegistryAuth() api.Authenticator { return registryAuth{s} }

type registryAuth struct{ s *Service }

var (
	_ api.Authenticator = registryAuth{}
	_ api.Challenger    = registryAuth{}
)

// Authenticate implements api.Authenticator.
func (a registryAuth) Authenticate(r *http.Request) (api.Identity, error) {
	user, password, ok := r.BasicAuth()
	if !ok {
		if strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "basic ") {
			return api.Identity{}, unauthorized("The Basic credentials are malformed.")
		}
		return api.Identity{}, api.ErrNoCredentials
	}
	if user != "AWS" {
		return api.Identity{}, unauthorized("The user name must be AWS: log in with the password of `aws ecr get-login-password`.")
	}
	key, err := a.s.signingKey(r.Context())
	if err != nil {
		return api.Identity{}, err
	}
	c, err := verifyToken(key, password, a.s.now())
	if err != nil {
		return api.Identity{}, unauthorized("Your authorization token is not valid or has expired: log in again with `aws ecr get-login-password`.")
	}
	return api.Identity{
		Principal: api.Principal{ARN: c.Principal, AccessKeyID: c.AccessKeyID, Scheme: "basic"},
		Region:    c.Region,
	}, nil
}

// Challenge implements api.Challenger.
func (a registryAuth) Challenge() string {
	return `Basic realm="` + a.s.cfg.RegistryHost + `",service="ecr.amazonaws.com"`
}

func unauthorized(msg string) *awserr.Error {
	return awserr.New(awserr.CodeUnrecognizedClient, http.StatusUnauthorized, "%s", msg)
}
