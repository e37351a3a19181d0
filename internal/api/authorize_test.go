package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

// fakeAuthorizer records what it was asked and answers with decide.
type fakeAuthorizer struct {
	mu     sync.Mutex
	seen   []AuthzRequest
	decide func(AuthzRequest) error
}

func (f *fakeAuthorizer) Authorize(_ context.Context, req AuthzRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, req)
	if f.decide == nil {
		return nil
	}
	return f.decide(req)
}

var denyAll = func(req AuthzRequest) error {
	return &Denied{Resource: req.Resources[0], Reason: "because no identity-based policy allows the " + req.Action + " action"}
}

// authzServer has a JSON and a query service whose operations count their
// calls, a plain route with an action, and the given authorizer.
func authzServer(t *testing.T, authz Authorizer, lookup func(string) (sigv4.Credential, bool)) (*Server, *int) {
	t.Helper()
	calls := new(int)
	s := New(Config{
		Verifier:   &sigv4.Verifier{Lookup: lookup, Now: func() time.Time { return t0 }},
		Authorizer: authz,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	counted := func(ctx context.Context, in *greetInput) (*greetOutput, error) {
		*calls++
		return greet(ctx, in)
	}
	resources := func(ctx context.Context, in *greetInput) []string {
		region, _ := RegionFrom(ctx)
		return []string{"arn:aws:berth:" + region + ":000000000000:thing/" + *in.Name}
	}
	ops := map[string]Operation{
		"Greet":    Op(counted, resources),
		"Anything": Op(counted, nil).WithAction("berth:DoAnything"),
		"Whoami":   Op(counted, nil).AlwaysAllowed(),
	}
	s.Register(Service{SigningName: "berth", JSON: &JSONProtocol{TargetPrefix: testPrefix}, Errors: testErrors, Operations: ops})
	s.Register(Service{SigningName: "berthq", Query: &QueryProtocol{Version: queryVersion, ResultWrappers: map[string]string{}},
		Operations: ops})
	s.Route(Route{Pattern: "GET /secret", Auth: []Authenticator{s.SigV4("berth")}, Action: "berth:ReadSecret",
		Resources: func(*http.Request) []string { return []string{"arn:aws:berth:::secret"} },
		Handler:   http.HandlerFunc(func(http.ResponseWriter, *http.Request) { *calls++ })})
	return s, calls
}

func rootLookup(id string) (sigv4.Credential, bool) {
	c, ok := testLookup(id)
	if id == testKey {
		c.Principal = testRootARN
	}
	return c, ok
}

func TestAuthorize(t *testing.T) {
	jsonCall := func(op string) plainReq {
		return plainReq{method: "POST", path: "/", body: `{"Name":"web"}`, sigv4: "berth",
			header: map[string]string{"X-Amz-Target": testPrefix + "." + op, "Content-Type": "application/x-amz-json-1.1"}}
	}
	queryCall := plainReq{method: "POST", path: "/", body: "Action=Greet&Version=" + queryVersion + "&Name=web", sigv4: "berthq",
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}
	tests := []struct {
		name         string
		decide       func(AuthzRequest) error
		root         bool // the signing key is the account root
		req          plainReq
		wantStatus   int
		wantCode     string
		wantMsg      string
		wantCalls    int
		wantAction   string
		wantResource string
	}{
		{name: "allowed: action and resources seen before the handler", req: jsonCall("Greet"), wantStatus: 200, wantCalls: 1,
			wantAction: "berth:Greet", wantResource: "arn:aws:berth:us-east-1:000000000000:thing/web"},
		{name: "denied json: service's AccessDenied, handler not called", decide: denyAll, req: jsonCall("Greet"),
			wantStatus: 400, wantCode: "AccessDeniedException", wantAction: "berth:Greet",
			wantMsg: "User: alice is not authorized to perform: berth:Greet on resource: arn:aws:berth:us-east-1:000000000000:thing/web " +
				"because no identity-based policy allows the berth:Greet action"},
		{name: "denied query: AccessDenied 403", decide: denyAll, req: queryCall,
			wantStatus: 403, wantCode: awserr.CodeQueryAccessDenied, wantAction: "berthq:Greet"},
		{name: "not resource-scoped: *", decide: denyAll, req: jsonCall("Anything"), wantStatus: 400, wantCode: "AccessDeniedException",
			wantAction: "berth:DoAnything", wantResource: "*", wantMsg: "on resource: *"},
		{name: "always-allowed operation skips the authorizer", decide: denyAll, req: jsonCall("Whoami"), wantStatus: 200, wantCalls: 1},
		{name: "authorizer failure is internal", decide: func(AuthzRequest) error { return errors.New("policy store down") },
			req: jsonCall("Greet"), wantStatus: 500, wantCode: "ServerException"},
		{name: "plain route action denied", decide: denyAll, req: plainReq{method: "GET", path: "/secret", sigv4: "berth"},
			wantStatus: 403, wantCode: awserr.CodeAccessDenied, wantAction: "berth:ReadSecret", wantResource: "arn:aws:berth:::secret"},
		{name: "plain route action allowed", req: plainReq{method: "GET", path: "/secret", sigv4: "berth"}, wantStatus: 200, wantCalls: 1},
		{name: "RootAuthorizer allows root", root: true, req: jsonCall("Greet"), wantStatus: 200, wantCalls: 1},
		{name: "RootAuthorizer denies others", root: true, req: func() plainReq { r := jsonCall("Greet"); r.key, r.token = testTempKey, testToken; return r }(),
			wantStatus: 400, wantCode: "AccessDeniedException", wantMsg: "User: " + testUserARN + " is not authorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeAuthorizer{decide: tt.decide}
			var authz Authorizer = fake
			lookup := testLookup
			if tt.root {
				authz, lookup = RootAuthorizer{}, rootLookup
			}
			s, calls := authzServer(t, authz, lookup)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, tt.req.build(t))
			if rec.Code != tt.wantStatus || *calls != tt.wantCalls {
				t.Fatalf("status %d and %d handler calls, want %d and %d: %s", rec.Code, *calls, tt.wantStatus, tt.wantCalls, rec.Body)
			}
			if tt.wantCode != "" && (!strings.Contains(rec.Body.String(), tt.wantCode) || !strings.Contains(rec.Body.String(), tt.wantMsg)) {
				t.Fatalf("body = %s, want %s %q", rec.Body, tt.wantCode, tt.wantMsg)
			}
			if tt.wantAction != "" {
				if len(fake.seen) != 1 || fake.seen[0].Action != tt.wantAction {
					t.Fatalf("authorizer saw %+v, want action %s", fake.seen, tt.wantAction)
				}
				if tt.wantResource != "" && !slices.Equal(fake.seen[0].Resources, []string{tt.wantResource}) {
					t.Fatalf("resources = %v, want [%s]", fake.seen[0].Resources, tt.wantResource)
				}
			}
		})
	}
}

// TestServerAuthorize: a handler that knows its action only once it has
// parsed the request (the registry) asks the Server, and gets the same
// AccessDenied a Route.Action would.
func TestServerAuthorize(t *testing.T) {
	authz := &fakeAuthorizer{decide: func(req AuthzRequest) error {
		if req.Principal.IsRoot() {
			return nil
		}
		return denyAll(req)
	}}
	s, _ := authzServer(t, authz, rootLookup)
	root := Principal{ARN: "arn:aws:iam::000000000000:root"}
	if err := s.Authorize(context.Background(), AuthzRequest{Principal: root, Action: "ecr:PutImage"}); err != nil {
		t.Fatalf("root: %v", err)
	}
	alice := Principal{ARN: "arn:aws:iam::000000000000:user/alice"}
	err := s.Authorize(context.Background(), AuthzRequest{Principal: alice, Action: "ecr:BatchGetImage",
		Resources: []string{"arn:aws:ecr:us-east-1:000000000000:repository/app"}})
	e, ok := awserr.As(err)
	if !ok || e.Status != http.StatusForbidden || e.Code != awserr.CodeAccessDenied {
		t.Fatalf("alice: err = %v, want a 403 AccessDenied", err)
	}
	want := "User: arn:aws:iam::000000000000:user/alice is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:000000000000:repository/app"
	if !strings.HasPrefix(e.Message, want) {
		t.Errorf("message = %q, want it to start %q", e.Message, want)
	}
	authz.mu.Lock()
	defer authz.mu.Unlock()
	if got := authz.seen[0].Resources; !slices.Equal(got, []string{"*"}) {
		t.Errorf("resources of a request naming none = %v, want [*]", got)
	}
}
