// Package ecrauth owns the agent's registry credentials: it decides which
// images are pulled with an ECR token (those of the Berth registry the agent
// is attached to, and those named like ECR's own registries) and which
// anonymously, and obtains, caches and refreshes the tokens with the
// agent's own credentials through ecr:GetAuthorizationToken.
//
// The Berth registry is served on the same listener as the ECS API, so a
// repository URI's host is the host:port of the agent's endpoint. An image
// on that host gets a token for the agent's region; an image on
// <12 digits>.dkr.ecr.<region>.amazonaws.com gets one for that region, also
// asked of the agent's endpoint (the agent talks to no other server). Every
// other registry is pulled anonymously.
//
// Tokens are cached per (endpoint, region) until 30 minutes before they
// expire, as the ECS agent does, so a pull never starts with a token that
// could lapse during it. At most one GetAuthorizationToken per key runs at a
// time; concurrent pulls wait for it (each within its own context).
package ecrauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/registry"
)

// RefreshBefore is how long before its expiry a cached token is replaced.
const RefreshBefore = 30 * time.Minute

// DefaultCallTimeout bounds one GetAuthorizationToken call.
const DefaultCallTimeout = 30 * time.Second

// ecrHost matches ECR's own registry hosts and captures the region.
var ecrHost = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com$`)

// TokenAPI is the ECR call the provider makes; *ecr.Client satisfies it.
type TokenAPI interface {
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, optFns ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
}

var _ TokenAPI = (*ecr.Client)(nil)

// Config configures a Provider.
type Config struct {
	// Endpoint is the agent's ECS endpoint URL, e.g. http://127.0.0.1:9320;
	// its host:port is the Berth registry's host, and it answers
	// GetAuthorizationToken.
	Endpoint string
	// RegistryHosts are more host:ports that are this Berth registry, e.g.
	// the host of the server's advertise URL when the agent reaches the
	// server by another address (the --dev in-process agent).
	RegistryHosts []string
	// Region is the agent's region, the token's region for the Berth host.
	Region string
	// Credentials sign GetAuthorizationToken (the agent's own).
	Credentials aws.CredentialsProvider
	// HTTPClient makes the calls; nil: the SDK's default.
	HTTPClient aws.HTTPClient
	// API, when set, replaces the SDK client built from the fields above.
	API TokenAPI
	// CallTimeout bounds one GetAuthorizationToken; 0: DefaultCallTimeout.
	CallTimeout time.Duration
	// Now is the clock; nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Provider hands out registry credentials for images. It is safe for
// concurrent use.
type Provider struct {
	api         TokenAPI
	endpoint    string
	berthHosts  []string
	region      string
	callTimeout time.Duration
	now         func() time.Time
	log         *slog.Logger

	mu      sync.Mutex
	entries map[cacheKey]*entry
}

type cacheKey struct{ endpoint, region string }

// entry is one key's token and the refresh under way, if any.
type entry struct {
	auth    registry.AuthConfig // ServerAddress left empty: the caller's host
	expires time.Time
	flight  *flight
}

// flight is one GetAuthorizationToken call that several pulls may wait for.
type flight struct {
	done    chan struct{}
	auth    registry.AuthConfig
	expires time.Time
	err     error
}

// New returns a Provider for the agent at cfg.Endpoint.
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("ecrauth: endpoint %q is not a URL with a host", cfg.Endpoint)
	}
	if cfg.Region == "" {
		return nil, errors.New("ecrauth: Region is required")
	}
	api := cfg.API
	if api == nil {
		if cfg.Credentials == nil {
			return nil, errors.New("ecrauth: Credentials are required")
		}
		awsCfg := aws.Config{
			Region:      cfg.Region,
			Credentials: cfg.Credentials,
			HTTPClient:  cfg.HTTPClient,
			Retryer: func() aws.Retryer {
				return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 3 })
			},
		}
		api = ecr.NewFromConfig(awsCfg, func(o *ecr.Options) { o.BaseEndpoint = aws.String(cfg.Endpoint) })
	}
	p := &Provider{
		api:         api,
		endpoint:    cfg.Endpoint,
		berthHosts:  append([]string{u.Host}, cfg.RegistryHosts...),
		region:      cfg.Region,
		callTimeout: cfg.CallTimeout,
		now:         cfg.Now,
		log:         cfg.Logger,
		entries:     map[cacheKey]*entry{},
	}
	if p.callTimeout <= 0 {
		p.callTimeout = DefaultCallTimeout
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	return p, nil
}

// RegionFor reports whether image is pulled with an ECR token, and the
// region of that token.
func (p *Provider) RegionFor(image string) (host, region string, ok bool) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", "", false // the pull reports the bad reference itself
	}
	host = reference.Domain(named)
	for _, h := range p.berthHosts {
		if strings.EqualFold(host, h) {
			return host, p.region, true
		}
	}
	if m := ecrHost.FindStringSubmatch(strings.ToLower(host)); m != nil {
		return host, m[1], true
	}
	return "", "", false
}

// RegistryAuth returns the credentials to pull image with, or nil to pull
// it anonymously. An error means the image needs a token that could not be
// had; the pull should fail with it.
func (p *Provider) RegistryAuth(ctx context.Context, image string) (*registry.AuthConfig, error) {
	host, region, ok := p.RegionFor(image)
	if !ok {
		return nil, nil
	}
	auth, err := p.token(ctx, cacheKey{endpoint: p.endpoint, region: region})
	if err != nil {
		return nil, fmt.Errorf("ECR authorization token for %s (region %s) from %s: %w", host, region, p.endpoint, err)
	}
	auth.ServerAddress = host
	return &auth, nil
}

// token returns k's cached token, or waits for a refresh (starting one if
// none is under way).
func (p *Provider) token(ctx context.Context, k cacheKey) (registry.AuthConfig, error) {
	p.mu.Lock()
	e := p.entries[k]
	if e == nil {
		e = &entry{}
		p.entries[k] = e
	}
	if e.auth.Password != "" && p.now().Before(e.expires.Add(-RefreshBefore)) {
		auth := e.auth
		p.mu.Unlock()
		return auth, nil
	}
	f := e.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		e.flight = f
		// The call is not the caller's alone: others may wait for it, so
		// it keeps its own deadline rather than the caller's cancellation.
		go p.refresh(context.WithoutCancel(ctx), k, e, f)
	}
	p.mu.Unlock()
	select {
	case <-f.done:
		return f.auth, f.err
	case <-ctx.Done():
		return registry.AuthConfig{}, ctx.Err()
	}
}

// refresh calls GetAuthorizationToken for k and records the result in e.
func (p *Provider) refresh(ctx context.Context, k cacheKey, e *entry, f *flight) {
	f.auth, f.expires, f.err = p.fetch(ctx, k.region)
	p.mu.Lock()
	e.flight = nil
	if f.err == nil {
		e.auth, e.expires = f.auth, f.expires
	}
	p.mu.Unlock()
	close(f.done)
	if f.err != nil {
		p.log.Debug("ECR authorization token failed", "endpoint", k.endpoint, "region", k.region, "err", f.err)
		return
	}
	p.log.Debug("ECR authorization token refreshed", "endpoint", k.endpoint, "region", k.region, "expires", f.expires)
}

// fetch makes one GetAuthorizationToken call and decodes its token.
func (p *Provider) fetch(ctx context.Context, region string) (registry.AuthConfig, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, p.callTimeout)
	defer cancel()
	out, err := p.api.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{}, func(o *ecr.Options) { o.Region = region })
	if err != nil {
		return registry.AuthConfig{}, time.Time{}, err
	}
	if len(out.AuthorizationData) == 0 {
		return registry.AuthConfig{}, time.Time{}, errors.New("GetAuthorizationToken returned no authorizationData")
	}
	d := out.AuthorizationData[0]
	user, password, err := decodeToken(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return registry.AuthConfig{}, time.Time{}, err
	}
	// A token without an expiry is used once and not cached.
	return registry.AuthConfig{Username: user, Password: password}, aws.ToTime(d.ExpiresAt), nil
}

// decodeToken splits base64("AWS:<password>").
func decodeToken(token string) (user, password string, err error) {
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return "", "", fmt.Errorf("decode authorization token: %w", err)
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" || password == "" {
		return "", "", errors.New("decode authorization token: want base64(\"AWS:<password>\")")
	}
	return user, password, nil
}
