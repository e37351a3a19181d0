package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

const (
	testKey    = "AKIDBERTHTEST"
	testSecret = "berth-test-secret"
	testRegion = "us-east-1"
	testPrefix = "BerthTestService_20260101"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testTempKey = "ASIABERTHTEST"
	testToken   = "berth-session-token"
	testRootARN = "arn:aws:iam::000000000000:root"
	testUserARN = "arn:aws:iam::000000000000:user/alice"
)

// testLookup knows a long-term key (alice) and a temporary one that needs
// testToken.
func testLookup(id string) (sigv4.Credential, bool) {
	switch id {
	case testKey:
		return sigv4.Credential{AccessKeyID: testKey, SecretAccessKey: testSecret, Principal: "alice"}, true
	case testTempKey:
		return sigv4.Credential{SecretAccessKey: testSecret, Principal: testUserARN, SessionToken: testToken}, true
	}
	return sigv4.Credential{}, false
}

// testErrors is an ECS-like error vocabulary.
var testErrors = Errors{
	Status:       map[string]int{"ServerException": 500, "ClusterNotFoundException": 400},
	Internal:     "ServerException",
	AccessDenied: "AccessDeniedException",
	Validation:   "InvalidParameterException",
}

type echoInput struct {
	Name  string   `json:"name"`
	Count int32    `json:"count"`
	Tags  []string `json:"tags"`
}

func (in *echoInput) Validate() error {
	switch in.Name {
	case "bad":
		return errors.New("name must not be 'bad'")
	case "missing":
		return awserr.ClusterNotFound("Cluster not found.")
	}
	return nil
}

type echoOutput struct {
	Greeting  string `json:"greeting"`
	Principal string `json:"principal"`
	Count     int32  `json:"count"`
}

func echo(ctx context.Context, in *echoInput) (*echoOutput, error) {
	p, _ := PrincipalFrom(ctx)
	return &echoOutput{Greeting: "hello " + in.Name, Principal: p.ARN, Count: in.Count}, nil
}

// testServer builds a Server with a fixed clock, a captured log, an
// allow-all authorizer and a test service exercising every reply path.
func testServer(t *testing.T, maxBody int64) (*Server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	s := New(Config{
		Verifier:     &sigv4.Verifier{Lookup: testLookup, Region: testRegion, Now: func() time.Time { return t0 }},
		Authorizer:   allowAll{},
		Logger:       slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxBodyBytes: maxBody,
	})
	fail := func(err error) Operation { return Unsupported(err) }
	s.Register(Service{
		SigningName: "berth",
		JSON:        &JSONProtocol{TargetPrefix: testPrefix, Version: "1.1"},
		Errors:      testErrors,
		Operations: map[string]Operation{
			"Echo": Op(echo, nil),
			"Nil": Op(func(context.Context, *struct{}) (*echoOutput, error) {
				return nil, nil
			}, nil),
			"Panic":    Op(func(context.Context, *struct{}) (*struct{}, error) { panic("boom: handler bug") }, nil),
			"Fail":     fail(fmt.Errorf("query etcd: secret-internal-detail")),
			"NotFound": fail(fmt.Errorf("lookup: %w", awserr.ClusterNotFound("Cluster not found."))),
			"Modeled":  fail(awserr.Newf("ServerException", "modeled server fault")),
		},
	})
	s.Route(Route{Pattern: "GET /hello", Auth: []Authenticator{s.SigV4("berth")},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := PrincipalFrom(r.Context())
			region, _ := RegionFrom(r.Context())
			_, _ = io.WriteString(w, "hi "+p.ARN+" in "+region)
		})})
	s.Handle("GET /open/panic", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("plain boom") }))
	return s, &logs
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// signedRequest signs a client request with the real SDK signer and turns
// it into the server-side request net/http would hand the Server.
func signedRequest(t *testing.T, method, target, body string, sign bool, after func(*http.Request)) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	path := "http://berth.local/"
	if method == http.MethodGet {
		path = "http://berth.local" + target
	}
	req, err := http.NewRequest(method, path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", target)
	}
	if sign {
		creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha([]byte(body)), "berth", testRegion, t0); err != nil {
			t.Fatal(err)
		}
	}
	if rd != nil {
		req.Body = io.NopCloser(strings.NewReader(body))
	}
	if after != nil {
		after(req)
	}
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

func TestServer(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		target     string
		body       string
		unsigned   bool
		after      func(*http.Request)
		wantStatus int
		wantCode   string // "" for success
		wantMsg    string
		wantBody   string // exact JSON on success
		wantLog    string
	}{
		{name: "success round trip", target: testPrefix + ".Echo",
			body:       `{"name":"berth","count":3,"unknownMember":{"x":[1,2]}}`,
			wantStatus: 200, wantBody: `{"greeting":"hello berth","principal":"alice","count":3}`, wantLog: "principal=alice"},
		{name: "empty body is {}", target: testPrefix + ".Echo",
			wantStatus: 200, wantBody: `{"greeting":"hello ","principal":"alice","count":0}`},
		{name: "nil output is {}", target: testPrefix + ".Nil", body: `{}`, wantStatus: 200, wantBody: `{}`},
		{name: "unknown target prefix", target: "AmazonEC2ContainerServiceV20141113.ListClusters", body: `{}`,
			wantStatus: 400, wantCode: awserr.CodeUnknownOperation, wantMsg: "Unknown service target"},
		{name: "unknown operation", target: testPrefix + ".Nope", body: `{}`,
			wantStatus: 400, wantCode: awserr.CodeUnknownOperation, wantMsg: `Operation "Nope" is not supported`},
		{name: "target without dot", target: "Echo", body: `{}`,
			wantStatus: 400, wantCode: awserr.CodeUnknownOperation},
		{name: "missing auth", target: testPrefix + ".Echo", body: `{}`, unsigned: true,
			wantStatus: 403, wantCode: awserr.CodeMissingAuthToken, wantMsg: "Missing Authentication Token"},
		{name: "missing auth checked before unknown op", target: testPrefix + ".Nope", body: `{}`, unsigned: true,
			wantStatus: 403, wantCode: awserr.CodeMissingAuthToken},
		{name: "bad signature", target: testPrefix + ".Echo", body: `{"name":"a"}`,
			after:      func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader(`{"name":"b"}`)) },
			wantStatus: 403, wantCode: awserr.CodeInvalidSignature, wantMsg: "does not match"},
		{name: "malformed JSON", target: testPrefix + ".Echo", body: `{"name":`,
			wantStatus: 400, wantCode: awserr.CodeSerialization, wantMsg: "Malformed JSON"},
		{name: "trailing garbage", target: testPrefix + ".Echo", body: `{} x`,
			wantStatus: 400, wantCode: awserr.CodeSerialization, wantMsg: "Malformed JSON"},
		{name: "type mismatch", target: testPrefix + ".Echo", body: `{"count":"three"}`,
			wantStatus: 400, wantCode: awserr.CodeSerialization, wantMsg: `member "count": expected an integer, got a JSON string`},
		{name: "list type mismatch", target: testPrefix + ".Echo", body: `{"tags":"a"}`,
			wantStatus: 400, wantCode: awserr.CodeSerialization, wantMsg: `member "tags": expected a list`},
		{name: "body not an object", target: testPrefix + ".Echo", body: `[1]`,
			wantStatus: 400, wantCode: awserr.CodeSerialization, wantMsg: "must be a JSON object"},
		{name: "validation failure is the service's validation code", target: testPrefix + ".Echo", body: `{"name":"bad"}`,
			wantStatus: 400, wantCode: awserr.CodeInvalidParameter, wantMsg: "name must not be 'bad'"},
		{name: "validation awserr kept", target: testPrefix + ".Echo", body: `{"name":"missing"}`,
			wantStatus: 400, wantCode: awserr.CodeClusterNotFound, wantMsg: "Cluster not found."},
		{name: "wrapped awserr from handler", target: testPrefix + ".NotFound", body: `{}`,
			wantStatus: 400, wantCode: awserr.CodeClusterNotFound, wantMsg: "Cluster not found."},
		{name: "internal error is the service's and not leaked", target: testPrefix + ".Fail", body: `{}`,
			wantStatus: 500, wantCode: "ServerException", wantLog: "secret-internal-detail"},
		{name: "status from the service's table", target: testPrefix + ".Modeled", body: `{}`,
			wantStatus: 500, wantCode: "ServerException", wantMsg: "modeled server fault"},
		{name: "panic recovered", target: testPrefix + ".Panic", body: `{}`,
			wantStatus: 500, wantCode: "ServerException", wantLog: "boom: handler bug"},
		{name: "body too large", target: testPrefix + ".Echo", body: `{"name":"` + strings.Repeat("x", 200) + `"}`,
			wantStatus: 413, wantCode: awserr.CodeRequestEntityTooLarge, wantMsg: "limit of 128 bytes"},
		{name: "body too large chunked", target: testPrefix + ".Echo", body: `{"name":"` + strings.Repeat("x", 200) + `"}`,
			after:      func(r *http.Request) { r.ContentLength = -1 }, // sent chunked: size unknown up front
			wantStatus: 413, wantCode: awserr.CodeRequestEntityTooLarge},
		{name: "no route", method: http.MethodGet, target: "/nothing/here", unsigned: true,
			wantStatus: 404, wantCode: awserr.CodeUnknownOperation, wantMsg: "No route for GET /nothing/here"},
		{name: "GET with target is not a JSON call", method: http.MethodGet, target: "/nothing",
			after:      func(r *http.Request) { r.Header.Set("X-Amz-Target", testPrefix+".Echo") },
			wantStatus: 404, wantCode: awserr.CodeUnknownOperation},
		{name: "plain authenticated route", method: http.MethodGet, target: "/hello", wantStatus: 200, wantLog: "principal=alice",
			wantBody: "hi alice in us-east-1"},
		{name: "plain authenticated route unsigned", method: http.MethodGet, target: "/hello", unsigned: true,
			wantStatus: 403, wantCode: awserr.CodeMissingAuthToken},
		{name: "plain route panic", method: http.MethodGet, target: "/open/panic", unsigned: true,
			wantStatus: 500, wantCode: awserr.CodeInternalFailure, wantLog: "plain boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, logs := testServer(t, 128)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := signedRequest(t, method, tt.target, tt.body, !tt.unsigned, tt.after)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)

			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", res.StatusCode, tt.wantStatus, body)
			}
			rid := res.Header.Get("X-Amzn-RequestId")
			if len(rid) != 36 {
				t.Errorf("request id = %q, want a UUID", rid)
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log does not contain %q:\n%s", tt.wantLog, logs.String())
			}
			if !strings.Contains(logs.String(), "request_id="+rid) {
				t.Errorf("no access log line for request %s:\n%s", rid, logs.String())
			}
			if tt.wantCode == "" {
				if tt.wantBody != "" && string(body) != tt.wantBody {
					t.Fatalf("body = %s, want %s", body, tt.wantBody)
				}
				return
			}
			checkError(t, res, body, tt.wantCode, tt.wantMsg)
			if res.StatusCode == 500 && strings.Contains(string(body), "secret") {
				t.Errorf("internal detail leaked: %s", body)
			}
		})
	}
}

// checkError asserts the awsJson error envelope.
func checkError(t *testing.T, res *http.Response, body []byte, code, msg string) {
	t.Helper()
	if got := res.Header.Get("Content-Type"); got != awserr.ContentTypeJSON11 && got != awserr.ContentTypeJSON10 {
		t.Errorf("Content-Type = %q", got)
	}
	if got := res.Header.Get("X-Amzn-ErrorType"); got != code {
		t.Errorf("X-Amzn-ErrorType = %q, want %q", got, code)
	}
	var env struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if env.Type != code || !strings.Contains(env.Message, msg) {
		t.Fatalf("error = %s %q, want %s containing %q", env.Type, env.Message, code, msg)
	}
}

func TestRegisterPanicsOnProgrammingErrors(t *testing.T) {
	ok := Service{SigningName: "x", JSON: &JSONProtocol{TargetPrefix: "X"}}
	q := Service{SigningName: "q", Query: &QueryProtocol{Version: "2020-01-01"}}
	tests := []struct {
		name  string
		first *Service
		svc   Service
	}{
		{"duplicate target", &ok, ok},
		{"duplicate query version", &q, q},
		{"no protocol", nil, Service{SigningName: "x"}},
		{"no signing name", nil, Service{JSON: &JSONProtocol{TargetPrefix: "Y"}}},
		{"operation not from Op", nil, Service{SigningName: "x", JSON: &JSONProtocol{TargetPrefix: "Z"},
			Operations: map[string]Operation{"A": {}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if tt.first != nil {
				s.Register(*tt.first)
			}
			defer func() {
				if recover() == nil {
					t.Fatal("Register did not panic")
				}
			}()
			s.Register(tt.svc)
		})
	}
}

func TestNoVerifierSkipsAuth(t *testing.T) {
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s.Register(Service{SigningName: "berth", JSON: &JSONProtocol{TargetPrefix: testPrefix},
		Operations: map[string]Operation{"Echo": Op(echo, nil)}})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, signedRequest(t, http.MethodPost, testPrefix+".Echo", `{"name":"x"}`, false, nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"principal":""`) {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}

func TestNewRequestID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := newRequestID()
		if len(id) != 36 || id[14] != '4' || strings.Count(id, "-") != 4 || seen[id] {
			t.Fatalf("bad or repeated request id %q", id)
		}
		seen[id] = true
	}
}
