package ecrauth_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/ecrauth"
	"github.com/berth-dev/berth/internal/agent/ecrauth/ecrfake"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var t0 = time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)

func newProvider(t *testing.T, srv *ecrfake.Server, clk *clock, mutate ...func(*ecrauth.Config)) *ecrauth.Provider {
	t.Helper()
	cfg := ecrauth.Config{
		Endpoint: srv.URL, Region: "eu-west-3", Credentials: ecrfake.Credentials(),
		Now: clk.Now, CallTimeout: 5 * time.Second,
	}
	for _, f := range mutate {
		f(&cfg)
	}
	p, err := ecrauth.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func hostOf(t *testing.T, endpoint string) string {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tokens answers the n-th call with password "pw<n>", valid 12 hours
// from now on clk.
func tokens(clk *clock) func(n int) ecrfake.Answer {
	return func(n int) ecrfake.Answer {
		return ecrfake.Answer{Password: "pw" + string(rune('0'+n)), Expires: clk.Now().Add(12 * time.Hour)}
	}
}

func TestRegionFor(t *testing.T) {
	srv := ecrfake.New(t, tokens(&clock{now: t0}))
	host := hostOf(t, srv.URL)
	p := newProvider(t, srv, &clock{now: t0}, func(c *ecrauth.Config) {
		c.RegistryHosts = []string{"berth.example.com:9320"}
	})
	tests := []struct {
		image, wantRegion string
		wantOK            bool
	}{
		{host + "/app:1", "eu-west-3", true},
		{host + "/team/app@sha256:" + strings.Repeat("a", 64), "eu-west-3", true},
		{strings.ToUpper(host[:1]) + host[1:] + "/app", "eu-west-3", true},
		{"berth.example.com:9320/app", "eu-west-3", true},
		{"berth.example.com/app", "", false}, // another port is another registry
		{"123456789012.dkr.ecr.ap-south-1.amazonaws.com/app:v2", "ap-south-1", true},
		{"12345678901.dkr.ecr.ap-south-1.amazonaws.com/app", "", false},
		{"123456789012.dkr.ecr.ap-south-1.amazonaws.com.evil.io/app", "", false},
		{"nginx:1.27", "", false},
		{"docker.io/library/busybox", "", false},
		{"ghcr.io/org/app:1", "", false},
		{"Not A Reference", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			_, region, ok := p.RegionFor(tt.image)
			if ok != tt.wantOK || region != tt.wantRegion {
				t.Errorf("RegionFor(%q) = %q, %v; want %q, %v", tt.image, region, ok, tt.wantRegion, tt.wantOK)
			}
		})
	}
}

func TestBerthImageGetsSignedToken(t *testing.T) {
	clk := &clock{now: t0}
	srv := ecrfake.New(t, tokens(clk))
	p := newProvider(t, srv, clk)
	host := hostOf(t, srv.URL)

	auth, err := p.RegistryAuth(ctxFor(t), host+"/app:1")
	if err != nil {
		t.Fatalf("RegistryAuth: %v", err)
	}
	if auth == nil || auth.Username != "AWS" || auth.Password != "pw1" || auth.ServerAddress != host {
		t.Fatalf("auth = %+v, want AWS/pw1 for %s", auth, host)
	}
	calls := srv.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	c := calls[0]
	if c.SignatureErr != nil {
		t.Errorf("signature: %v", c.SignatureErr)
	}
	if c.Service != "ecr" || c.Region != "eu-west-3" {
		t.Errorf("signed for %s in %s, want ecr in eu-west-3", c.Service, c.Region)
	}
	if c.Target != ecrfake.Target || c.ContentType != "application/x-amz-json-1.1" {
		t.Errorf("target %q, content type %q", c.Target, c.ContentType)
	}
}

func TestECRHostTokenForItsRegion(t *testing.T) {
	clk := &clock{now: t0}
	srv := ecrfake.New(t, tokens(clk))
	p := newProvider(t, srv, clk)
	const host = "123456789012.dkr.ecr.ap-south-1.amazonaws.com"

	auth, err := p.RegistryAuth(ctxFor(t), host+"/app:1")
	if err != nil {
		t.Fatalf("RegistryAuth: %v", err)
	}
	if auth == nil || auth.ServerAddress != host || auth.Password != "pw1" {
		t.Fatalf("auth = %+v", auth)
	}
	if c := srv.Calls()[0]; c.Region != "ap-south-1" || c.Service != "ecr" || c.SignatureErr != nil {
		t.Errorf("call = %+v, want signed for ecr in ap-south-1", c)
	}
	// Another region is another token; the agent's own region is not it.
	if _, err := p.RegistryAuth(ctxFor(t), hostOf(t, srv.URL)+"/app"); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Calls()); n != 2 {
		t.Errorf("%d calls, want 2 (one per region)", n)
	}
}

func TestOtherRegistriesAnonymous(t *testing.T) {
	clk := &clock{now: t0}
	srv := ecrfake.New(t, tokens(clk))
	p := newProvider(t, srv, clk)
	for _, image := range []string{"busybox", "ghcr.io/org/app:1", "localhost:5000/app"} {
		auth, err := p.RegistryAuth(ctxFor(t), image)
		if err != nil || auth != nil {
			t.Errorf("RegistryAuth(%q) = %+v, %v; want nil, nil", image, auth, err)
		}
	}
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d token calls for anonymous images", n)
	}
}

func TestTokenCachedUntilNearExpiry(t *testing.T) {
	clk := &clock{now: t0}
	srv := ecrfake.New(t, tokens(clk))
	p := newProvider(t, srv, clk)
	image := hostOf(t, srv.URL) + "/app:1"
	steps := []struct {
		at        time.Duration // since t0
		wantPw    string
		wantCalls int
	}{
		{0, "pw1", 1},
		{time.Hour, "pw1", 1},
		{12*time.Hour - ecrauth.RefreshBefore - time.Second, "pw1", 1},
		{12*time.Hour - ecrauth.RefreshBefore, "pw2", 2}, // refreshed; valid until t0+24h-30m
		{20 * time.Hour, "pw2", 2},
		{24*time.Hour - ecrauth.RefreshBefore, "pw3", 3},
	}
	for _, s := range steps {
		clk.set(t0.Add(s.at))
		auth, err := p.RegistryAuth(ctxFor(t), image)
		if err != nil {
			t.Fatalf("at +%v: %v", s.at, err)
		}
		if auth.Password != s.wantPw || len(srv.Calls()) != s.wantCalls {
			t.Errorf("at +%v: password %q after %d calls, want %q after %d", s.at, auth.Password, len(srv.Calls()), s.wantPw, s.wantCalls)
		}
	}
}

func TestOneRefreshAtATime(t *testing.T) {
	clk := &clock{now: t0}
	release := make(chan struct{})
	srv := ecrfake.New(t, func(n int) ecrfake.Answer {
		return ecrfake.Answer{Password: "pw", Expires: t0.Add(12 * time.Hour), Wait: release}
	})
	p := newProvider(t, srv, clk)
	image := hostOf(t, srv.URL) + "/app:1"

	const pulls = 8
	errs := make(chan error, pulls)
	for range pulls {
		go func() {
			auth, err := p.RegistryAuth(ctxFor(t), image)
			if err == nil && auth.Password != "pw" {
				err = context.DeadlineExceeded
			}
			errs <- err
		}()
	}
	// Poll until the one call is in; the others must be waiting for it.
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Calls()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no token call made")
		}
		<-time.After(5 * time.Millisecond)
	}
	close(release)
	for range pulls {
		if err := <-errs; err != nil {
			t.Errorf("RegistryAuth: %v", err)
		}
	}
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("%d token calls for %d concurrent pulls, want 1", n, pulls)
	}
}

func TestWaiterHonoursItsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := ecrfake.New(t, func(int) ecrfake.Answer {
		return ecrfake.Answer{Password: "pw", Expires: t0.Add(12 * time.Hour), Wait: release}
	})
	p := newProvider(t, srv, &clock{now: t0})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.RegistryAuth(ctx, hostOf(t, srv.URL)+"/app"); err == nil || ctx.Err() == nil {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

func TestTokenCallFailure(t *testing.T) {
	clk := &clock{now: t0}
	fail := true
	var mu sync.Mutex
	srv := ecrfake.New(t, func(n int) ecrfake.Answer {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return ecrfake.Answer{Status: 400, ErrorType: "AccessDeniedException", Message: "not authorized to perform ecr:GetAuthorizationToken"}
		}
		return ecrfake.Answer{Password: "pw", Expires: clk.Now().Add(12 * time.Hour)}
	})
	p := newProvider(t, srv, clk)
	image := hostOf(t, srv.URL) + "/app:1"

	auth, err := p.RegistryAuth(ctxFor(t), image)
	if err == nil {
		t.Fatalf("auth = %+v, want an error", auth)
	}
	for _, want := range []string{"ECR authorization token", "AccessDeniedException", "not authorized"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// A failure is not cached: the next pull asks again.
	mu.Lock()
	fail = false
	mu.Unlock()
	if auth, err := p.RegistryAuth(ctxFor(t), image); err != nil || auth.Password != "pw" {
		t.Fatalf("after recovery: %+v, %v", auth, err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []ecrauth.Config{
		{Endpoint: "", Region: "us-east-1", Credentials: ecrfake.Credentials()},
		{Endpoint: "127.0.0.1:9320", Region: "us-east-1", Credentials: ecrfake.Credentials()},
		{Endpoint: "http://127.0.0.1:9320", Credentials: ecrfake.Credentials()},
		{Endpoint: "http://127.0.0.1:9320", Region: "us-east-1"},
	} {
		if _, err := ecrauth.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
