package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth-dev/berth/internal/api/awserr"
)

const (
	testKey    = "AKIDBERTHTEST"
	testSecret = "berth/secret+KEY/example"
	testRegion = "us-east-1"
	testTarget = "AmazonEC2ContainerServiceV20141113.ListClusters"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testVerifier() *Verifier {
	return &Verifier{
		Lookup: func(id string) (Credential, bool) {
			if id == testKey {
				return Credential{AccessKeyID: testKey, SecretAccessKey: testSecret, Principal: "alice"}, true
			}
			return Credential{}, false
		},
		Region: testRegion,
		Now:    func() time.Time { return t0 },
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// signSpec describes how a test request is signed by the real SDK signer.
type signSpec struct {
	method   string
	url      string
	body     string
	key      string
	secret   string
	region   string
	service  string
	at       time.Time
	presign  bool
	payload  string // payload hash given to the signer; default sha256(body)
	before   func(*http.Request)
	after    func(*http.Request)
	sendBody string // body sent on the wire if different from body
}

// build signs a client request with aws-sdk-go-v2 and round-trips it
// through the wire format so the verifier sees a server-side request.
func build(t *testing.T, s signSpec) (*http.Request, []byte) {
	t.Helper()
	if s.method == "" {
		s.method = http.MethodPost
	}
	if s.url == "" {
		s.url = "http://berth.local:8080/"
	}
	if s.key == "" {
		s.key, s.secret = testKey, testSecret
	}
	if s.region == "" {
		s.region = testRegion
	}
	if s.service == "" {
		s.service = "ecs"
	}
	if s.at.IsZero() {
		s.at = t0
	}
	if s.payload == "" {
		s.payload = sha([]byte(s.body))
	}
	var body io.Reader
	if s.body != "" {
		body = strings.NewReader(s.body)
	}
	req, err := http.NewRequest(s.method, s.url, body)
	if err != nil {
		t.Fatal(err)
	}
	if s.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", testTarget)
	}
	if s.before != nil {
		s.before(req)
	}
	creds := aws.Credentials{AccessKeyID: s.key, SecretAccessKey: s.secret}
	signer := v4.NewSigner()
	if s.presign {
		u, hdr, err := signer.PresignHTTP(context.Background(), creds, req, s.payload, s.service, s.region, s.at)
		if err != nil {
			t.Fatal(err)
		}
		req, err = http.NewRequest(s.method, u, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = hdr
	} else if err := signer.SignHTTP(context.Background(), creds, req, s.payload, s.service, s.region, s.at); err != nil {
		t.Fatal(err)
	}
	if s.after != nil {
		s.after(req)
	}
	if s.sendBody != "" {
		req.Body = io.NopCloser(strings.NewReader(s.sendBody))
		req.ContentLength = int64(len(s.sendBody))
	} else if s.body != "" {
		req.Body = io.NopCloser(strings.NewReader(s.body))
	}
	return wire(t, req)
}

func wire(t *testing.T, req *http.Request) (*http.Request, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(sr.Body)
	if err != nil {
		t.Fatal(err)
	}
	return sr, b
}

func TestVerify(t *testing.T) {
	const body = `{"maxResults":10}`
	tests := []struct {
		name     string
		spec     signSpec
		flavor   Flavor
		wantCode string
		wantMsg  string
	}{
		{name: "good request", spec: signSpec{body: body}},
		{name: "good empty body GET", spec: signSpec{method: http.MethodGet, url: "http://berth.local/v1/tasks?b=2&a=1&a=0"}},
		{name: "good odd path and query", spec: signSpec{method: http.MethodGet,
			url: "http://berth.local/a%20b/c~d/%E2%82%AC?x=hello%20world&y=a%2Fb&y=a-b&z="}},
		{name: "good with content sha header", spec: signSpec{body: body, before: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", sha([]byte(body)))
		}}},
		{name: "session token with a long-term key is ignored", spec: signSpec{body: body, before: func(r *http.Request) {
			r.Header.Set("X-Amz-Security-Token", "session-token-ignored")
		}}},
		{name: "good presigned", spec: signSpec{method: http.MethodGet, url: "http://berth.local/ws?cluster=default",
			presign: true, before: func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Expires=60" }}},
		{name: "good presigned unsigned payload", spec: signSpec{method: http.MethodGet, url: "http://berth.local/ws",
			presign: true, payload: "UNSIGNED-PAYLOAD"}},
		{name: "good presigned within expiry", spec: signSpec{method: http.MethodGet, url: "http://berth.local/ws",
			presign: true, at: t0.Add(-50 * time.Minute), before: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Expires=3600" }}},
		{name: "presigned past expiry", spec: signSpec{method: http.MethodGet, url: "http://berth.local/ws",
			presign: true, at: t0.Add(-2 * time.Minute), before: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Expires=60" }},
			wantCode: awserr.CodeInvalidSignature, wantMsg: "Signature expired: 20260301T115800Z is now earlier than 20260301T115900Z (20260301T120000Z - 1 min.)"},
		{name: "tampered payload", spec: signSpec{body: body, sendBody: `{"maxResults":99}`},
			wantCode: awserr.CodeInvalidSignature, wantMsg: msgMismatch},
		{name: "tampered payload with declared hash", spec: signSpec{body: body, sendBody: `{"maxResults":99}`,
			before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", sha([]byte(body))) }},
			wantCode: awserr.CodeInvalidSignature, wantMsg: msgPayloadMismatch},
		{name: "unsigned payload on header form", spec: signSpec{body: body, payload: "UNSIGNED-PAYLOAD",
			before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") }},
			wantCode: awserr.CodeInvalidSignature, wantMsg: "only accepted on presigned"},
		{name: "tampered header", spec: signSpec{body: body,
			after: func(r *http.Request) {
				r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")
			}},
			wantCode: awserr.CodeInvalidSignature, wantMsg: msgMismatch},
		{name: "tampered query", spec: signSpec{method: http.MethodGet, url: "http://berth.local/x?a=1",
			after: func(r *http.Request) { r.URL.RawQuery = "a=2" }},
			wantCode: awserr.CodeInvalidSignature, wantMsg: msgMismatch},
		{name: "tampered presigned query", spec: signSpec{method: http.MethodGet, url: "http://berth.local/ws?cluster=a",
			presign: true, after: func(r *http.Request) { r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "cluster=a", "cluster=b", 1) }},
			wantCode: awserr.CodeInvalidSignature, wantMsg: msgMismatch},
		{name: "wrong secret", spec: signSpec{body: body, key: testKey, secret: "nope"},
			wantCode: awserr.CodeInvalidSignature, wantMsg: msgMismatch},
		{name: "wrong region scope", spec: signSpec{body: body, region: "eu-west-1"},
			wantCode: awserr.CodeInvalidSignature, wantMsg: "Credential should be scoped to a valid region, not 'eu-west-1'. Expected 'us-east-1'."},
		{name: "wrong service scope", spec: signSpec{body: body, service: "ecr"},
			wantCode: awserr.CodeInvalidSignature, wantMsg: "Credential should be scoped to correct service: 'ecs'."},
		{name: "clock skew past", spec: signSpec{body: body, at: t0.Add(-6 * time.Minute)},
			wantCode: awserr.CodeInvalidSignature, wantMsg: "Signature expired: 20260301T115400Z is now earlier than 20260301T115500Z (20260301T120000Z - 5 min.)"},
		{name: "clock skew future", spec: signSpec{body: body, at: t0.Add(6 * time.Minute)},
			wantCode: awserr.CodeInvalidSignature, wantMsg: "Signature not yet current: 20260301T120600Z is still later than 20260301T120500Z (20260301T120000Z + 5 min.)"},
		{name: "clock skew within window", spec: signSpec{body: body, at: t0.Add(-4*time.Minute - 59*time.Second)}},
		{name: "unknown key", spec: signSpec{body: body, key: "AKIDUNKNOWN", secret: "x"},
			wantCode: awserr.CodeUnrecognizedClient, wantMsg: msgUnknownKey},
		{name: "unknown key query flavor", flavor: FlavorQuery, spec: signSpec{body: body, key: "AKIDUNKNOWN", secret: "x"},
			wantCode: awserr.CodeQueryInvalidClientToken, wantMsg: msgUnknownKey},
		{name: "bad signature query flavor", flavor: FlavorQuery, spec: signSpec{body: body, sendBody: `{"maxResults":99}`},
			wantCode: awserr.CodeQuerySignatureMismatch, wantMsg: msgMismatch},
		{name: "missing authorization", spec: signSpec{body: body, after: func(r *http.Request) { r.Header.Del("Authorization") }},
			wantCode: awserr.CodeMissingAuthToken, wantMsg: msgMissing},
		{name: "missing authorization query flavor", flavor: FlavorQuery,
			spec:     signSpec{body: body, after: func(r *http.Request) { r.Header.Del("Authorization") }},
			wantCode: awserr.CodeQueryMissingAuthToken, wantMsg: msgMissing},
		{name: "malformed authorization", spec: signSpec{body: body,
			after: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x") }},
			wantCode: awserr.CodeIncompleteSignature, wantMsg: "Authorization header requires 'Signature' parameter."},
		{name: "malformed authorization component", spec: signSpec{body: body,
			after: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage") }},
			wantCode: awserr.CodeIncompleteSignature, wantMsg: "key=value"},
		{name: "unsupported algorithm", spec: signSpec{body: body,
			after: func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }},
			wantCode: awserr.CodeIncompleteSignature, wantMsg: "Unsupported AWS 'algorithm': 'Bearer'"},
		{name: "malformed credential", spec: signSpec{body: body, after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/aws4_request", "", 1))
		}}, wantCode: awserr.CodeIncompleteSignature, wantMsg: "exactly 5 slash-delimited elements"},
		{name: "unsigned host", spec: signSpec{body: body, after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
		}}, wantCode: awserr.CodeIncompleteSignature, wantMsg: "'Host' must be a 'SignedHeader'"},
		{name: "unsigned x-amz-date", spec: signSpec{body: body, after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-amz-date", "", 1))
		}}, wantCode: awserr.CodeIncompleteSignature, wantMsg: "'X-Amz-Date' must be a 'SignedHeader'"},
		{name: "missing x-amz-date", spec: signSpec{body: body, after: func(r *http.Request) { r.Header.Del("X-Amz-Date") }},
			wantCode: awserr.CodeIncompleteSignature, wantMsg: "'X-Amz-Date' header"},
		{name: "bad x-amz-date", spec: signSpec{body: body, after: func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }},
			wantCode: awserr.CodeIncompleteSignature, wantMsg: "ISO-8601"},
		{name: "scope date differs from x-amz-date", spec: signSpec{body: body,
			after: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20260302T000000Z") }},
			wantCode: awserr.CodeInvalidSignature, wantMsg: "Date in Credential scope does not match"},
		{name: "both header and query auth", spec: signSpec{body: body,
			after: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256" }},
			wantCode: awserr.CodeIncompleteSignature, wantMsg: "Only one auth mechanism"},
		{name: "presigned missing signature", spec: signSpec{method: http.MethodGet, url: "http://berth.local/ws", presign: true,
			after: func(r *http.Request) {
				q := r.URL.Query()
				q.Del("X-Amz-Signature")
				r.URL.RawQuery = q.Encode()
			}},
			wantCode: awserr.CodeIncompleteSignature, wantMsg: "'X-Amz-Signature'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, body := build(t, tt.spec)
			v := testVerifier()
			v.Flavor = tt.flavor
			cred, err := v.Verify(req, body, "ecs")
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if cred.Principal != "alice" || cred.AccessKeyID != testKey {
					t.Fatalf("credential = %+v", cred)
				}
				return
			}
			e, ok := awserr.As(err)
			if !ok {
				t.Fatalf("Verify error = %v, want *awserr.Error %s", err, tt.wantCode)
			}
			if e.Code != tt.wantCode || !strings.Contains(e.Message, tt.wantMsg) {
				t.Fatalf("Verify error = %s (%d), want %s containing %q", e, e.Status, tt.wantCode, tt.wantMsg)
			}
			if e.Status != awserr.Status(tt.wantCode) {
				t.Fatalf("status = %d, want %d", e.Status, awserr.Status(tt.wantCode))
			}
		})
	}
}

// TestVerifyBotocoreStyle checks a request signed the way botocore signs
// awsJson calls: only content-type, host, x-amz-date and x-amz-target are
// signed, and Content-Length is sent but not signed.
func TestVerifyBotocoreStyle(t *testing.T) {
	const body = `{"clusterName":"default"}`
	req, err := http.NewRequest(http.MethodPost, "http://localhost:4566/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.CreateCluster")
	req.ContentLength = 0 // botocore signs before Content-Length is added
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha([]byte(body)), "ecs", testRegion, t0); err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("User-Agent", "aws-cli/2.15.0 Python/3.11 botocore/2.4.5")
	if got := req.Header.Get("Authorization"); !strings.Contains(got, "SignedHeaders=content-type;host;x-amz-date;x-amz-target,") {
		t.Fatalf("unexpected signed headers in %q", got)
	}
	sr, b := wire(t, req)
	if _, err := testVerifier().Verify(sr, b, "ecs"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// TestVerifySuiteVectors checks against AWS's published SigV4 test suite
// (get-vanilla, get-vanilla-query-order-key-case), independent of the SDK.
func TestVerifySuiteVectors(t *testing.T) {
	v := &Verifier{
		Lookup: func(id string) (Credential, bool) {
			return Credential{AccessKeyID: id, SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}, id == "AKIDEXAMPLE"
		},
		Region: "us-east-1",
		Now:    func() time.Time { return time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC) },
	}
	tests := []struct {
		name, target, sig string
	}{
		{"get-vanilla", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query-order-key-case", "/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "GET " + tt.target + " HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n" +
				"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, " +
				"SignedHeaders=host;x-amz-date, Signature=" + tt.sig + "\r\n\r\n"
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(r, nil, "service"); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyRegions(t *testing.T) {
	tests := []struct {
		name    string
		region  string
		fixed   string
		regions func(string) bool
		ok      bool
	}{
		{"empty region accepts any", "ap-south-2", "", nil, true},
		{"fixed region", "us-east-1", "us-east-1", nil, true},
		{"any region predicate wins over Region", "ap-south-2", "us-east-1", AnyRegion, true},
		{"list accepts a member", "eu-west-1", "", RegionList("us-east-1", "eu-west-1"), true},
		{"list refuses others", "eu-west-2", "", RegionList("us-east-1", "eu-west-1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, body := build(t, signSpec{body: "{}", region: tt.region})
			v := testVerifier()
			v.Region, v.Regions = tt.fixed, tt.regions
			res, err := v.Check(req, body, "ecs")
			if tt.ok != (err == nil) {
				t.Fatalf("Check: %v, want ok=%v", err, tt.ok)
			}
			if err == nil && (res.Region != tt.region || res.Service != "ecs") {
				t.Fatalf("Verified = %+v", res)
			}
			if e, _ := awserr.As(err); err != nil && !strings.Contains(e.Message, "scoped to a valid region") {
				t.Fatalf("error = %v", err)
			}
		})
	}
}

func TestCollapseSpaces(t *testing.T) {
	tests := map[string]string{
		"  a   b  c ": "a b c",
		"abc":         "abc",
		"":            "",
		"a  b":        "a b",
	}
	for in, want := range tests {
		if got := collapseSpaces(in); got != want {
			t.Errorf("collapseSpaces(%q) = %q, want %q", in, got, want)
		}
	}
}
