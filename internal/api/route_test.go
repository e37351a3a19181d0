package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// addPlainRoutes registers a streamed SigV4 upload, a registry-like route
// taking Basic or Bearer credentials (verified by functions its owner
// supplies), and one with its own error format.
func addPlainRoutes(s *Server) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, p.Scheme+" "+p.ARN+" token="+p.SessionToken+" read="+string(b))
	})
	s.Route(Route{Pattern: "PUT /blob", Auth: []Authenticator{s.SigV4("berth")}, Handler: echo, Timeout: NoTimeout})
	registryAuth := []Authenticator{
		BasicAuth{Realm: "berth", Verify: func(_ context.Context, user, pass string) (Principal, bool, error) {
			return Principal{ARN: "arn:aws:iam::000000000000:user/" + user}, user == "AWS" && pass == "token-123", nil
		}},
		BearerAuth{Realm: "http://berth.local/token", Service: "berth-registry", Verify: func(_ context.Context, tok string) (Principal, bool, error) {
			return Principal{ARN: testRootARN}, tok == "good-bearer", nil
		}},
		s.SigV4("ecr"),
	}
	s.Route(Route{Pattern: "GET /v2/", Auth: registryAuth, Handler: echo})
	s.Route(Route{Pattern: "GET /oci/", Auth: registryAuth[:1], Handler: echo,
		WriteError: func(w http.ResponseWriter, _ *http.Request, e *awserr.Error) {
			w.WriteHeader(e.Status)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"`+e.Message+`"}]}`)
		}})
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

type plainReq struct {
	method, path, body string
	header             map[string]string
	sigv4              string // signing name; "" = unsigned
	presign            bool
	key, token         string
	payloadHash        string // declared X-Amz-Content-Sha256
	sendBody           string // what is sent if not body
}

func (p plainReq) build(t *testing.T) *http.Request {
	t.Helper()
	req := httptest.NewRequest(p.method, "http://berth.local"+p.path, strings.NewReader(p.body))
	for k, v := range p.header {
		req.Header.Set(k, v)
	}
	if p.sigv4 != "" {
		key := p.key
		if key == "" {
			key = testKey
		}
		if p.token != "" {
			req.Header.Set("X-Amz-Security-Token", p.token)
		}
		hash := p.payloadHash
		if hash != "" {
			req.Header.Set("X-Amz-Content-Sha256", hash)
		} else {
			sum := sha256.Sum256([]byte(p.body))
			hash = hex.EncodeToString(sum[:])
		}
		creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: testSecret}
		if p.presign {
			u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, hash, p.sigv4, testRegion, t0)
			if err != nil {
				t.Fatal(err)
			}
			req = httptest.NewRequest(p.method, u, strings.NewReader(p.body))
		} else if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, p.sigv4, testRegion, t0); err != nil {
			t.Fatal(err)
		}
	}
	if p.sendBody != "" {
		req.Body = io.NopCloser(strings.NewReader(p.sendBody))
	}
	return req
}

func TestPlainRoutesAndAuthenticators(t *testing.T) {
	const blob = "a gigabyte of layer, in real life"
	sum := sha256.Sum256([]byte(blob))
	blobHash := hex.EncodeToString(sum[:])
	tests := []struct {
		name          string
		req           plainReq
		wantStatus    int
		wantBody      string // substring
		wantCode      string
		wantChallenge string
	}{
		{name: "sigv4 header, streamed unsigned payload", wantStatus: 200, wantBody: "sigv4 alice token= read=" + blob,
			req: plainReq{method: "PUT", path: "/blob", body: blob, sigv4: "berth", payloadHash: "UNSIGNED-PAYLOAD"}},
		{name: "sigv4 header, streamed declared hash", wantStatus: 200, wantBody: "read=" + blob,
			req: plainReq{method: "PUT", path: "/blob", body: blob, sigv4: "berth", payloadHash: blobHash}},
		{name: "sigv4 forged stream fails the handler's read", wantStatus: 400, wantBody: "read: InvalidSignatureException",
			req: plainReq{method: "PUT", path: "/blob", body: blob, sendBody: strings.ToUpper(blob), sigv4: "berth", payloadHash: blobHash}},
		{name: "sigv4 presigned", wantStatus: 200, wantBody: "sigv4 alice",
			req: plainReq{method: "PUT", path: "/blob", sigv4: "berth", presign: true}},
		{name: "sigv4 wrong service", wantStatus: 403, wantCode: awserr.CodeInvalidSignature,
			req: plainReq{method: "PUT", path: "/blob", body: blob, sigv4: "ecs"}},
		{name: "sigv4 unsigned", wantStatus: 403, wantCode: awserr.CodeMissingAuthToken,
			req: plainReq{method: "PUT", path: "/blob", body: blob}},
		{name: "session token required and present", wantStatus: 200, wantBody: "sigv4 " + testUserARN + " token=" + testToken,
			req: plainReq{method: "PUT", path: "/blob", sigv4: "berth", key: testTempKey, token: testToken}},
		{name: "session token missing", wantStatus: 403, wantCode: awserr.CodeUnrecognizedClient,
			req: plainReq{method: "PUT", path: "/blob", sigv4: "berth", key: testTempKey}},
		{name: "session token wrong", wantStatus: 403, wantCode: awserr.CodeUnrecognizedClient,
			req: plainReq{method: "PUT", path: "/blob", sigv4: "berth", key: testTempKey, token: "forged"}},
		{name: "basic", wantStatus: 200, wantBody: "basic arn:aws:iam::000000000000:user/AWS",
			req: plainReq{method: "GET", path: "/v2/", header: map[string]string{"Authorization": basic("AWS", "token-123")}}},
		{name: "basic wrong password", wantStatus: 401, wantCode: awserr.CodeUnrecognizedClient, wantChallenge: `Basic realm="berth"`,
			req: plainReq{method: "GET", path: "/v2/", header: map[string]string{"Authorization": basic("AWS", "nope")}}},
		{name: "basic malformed", wantStatus: 401, wantCode: awserr.CodeUnrecognizedClient,
			req: plainReq{method: "GET", path: "/v2/", header: map[string]string{"Authorization": "Basic !!!"}}},
		{name: "bearer", wantStatus: 200, wantBody: "bearer " + testRootARN,
			req: plainReq{method: "GET", path: "/v2/", header: map[string]string{"Authorization": "Bearer good-bearer"}}},
		{name: "bearer scheme is case-insensitive", wantStatus: 200, wantBody: "bearer",
			req: plainReq{method: "GET", path: "/v2/", header: map[string]string{"Authorization": "bearer good-bearer"}}},
		{name: "bearer invalid", wantStatus: 401, wantCode: awserr.CodeUnrecognizedClient,
			wantChallenge: `Bearer realm="http://berth.local/token",service="berth-registry"`,
			req:           plainReq{method: "GET", path: "/v2/", header: map[string]string{"Authorization": "Bearer forged"}}},
		{name: "sigv4 beside basic and bearer", wantStatus: 200, wantBody: "sigv4 alice",
			req: plainReq{method: "GET", path: "/v2/", sigv4: "ecr"}},
		{name: "no credentials asks for them", wantStatus: 401, wantCode: awserr.CodeMissingAuthToken, wantChallenge: `Basic realm="berth"`,
			req: plainReq{method: "GET", path: "/v2/"}},
		{name: "route's own error format", wantStatus: 401, wantBody: `{"errors":[{"code":"UNAUTHORIZED"`,
			req: plainReq{method: "GET", path: "/oci/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := testServer(t, 1<<10)
			addPlainRoutes(s)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, tt.req.build(t))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tt.wantStatus, body)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("body = %s, want it to contain %q", body, tt.wantBody)
			}
			if tt.wantCode != "" {
				checkError(t, res, body, tt.wantCode, "")
			}
			if tt.wantChallenge != "" && !contains(res.Header.Values("WWW-Authenticate"), tt.wantChallenge) {
				t.Fatalf("WWW-Authenticate = %q, want %q", res.Header.Values("WWW-Authenticate"), tt.wantChallenge)
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestSessionTokenOnServiceCalls checks temporary credentials on an awsJson
// call: the principal carries the token; a missing or wrong one is refused.
func TestSessionTokenOnServiceCalls(t *testing.T) {
	tests := []struct {
		name, token, wantCode string
	}{
		{"present", testToken, ""},
		{"missing", "", awserr.CodeUnrecognizedClient},
		{"wrong", "forged", awserr.CodeUnrecognizedClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := testServer(t, 1<<10)
			var got Principal
			s.Register(Service{SigningName: "tok", JSON: &JSONProtocol{TargetPrefix: "Tok"}, Operations: map[string]Operation{
				"Who": Op(func(ctx context.Context, _ *struct{}) (*struct{}, error) {
					got, _ = PrincipalFrom(ctx)
					return nil, nil
				}, nil),
			}})
			req := plainReq{method: "POST", path: "/", body: "{}", sigv4: "tok", key: testTempKey, token: tt.token,
				header: map[string]string{"X-Amz-Target": "Tok.Who", "Content-Type": "application/x-amz-json-1.0"}}.build(t)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if tt.wantCode == "" {
				if rec.Code != 200 || got.SessionToken != testToken || got.AccessKeyID != testTempKey || got.ARN != testUserARN {
					t.Fatalf("status %d, principal %+v: %s", rec.Code, got, rec.Body)
				}
				if ct := rec.Header().Get("Content-Type"); ct != awserr.ContentTypeJSON10 {
					t.Fatalf("Content-Type = %q, want the 1.0 the client spoke", ct)
				}
				return
			}
			checkError(t, rec.Result(), rec.Body.Bytes(), tt.wantCode, "security token")
			if rec.Code != 403 {
				t.Fatalf("status = %d", rec.Code)
			}
		})
	}
}
