package sigv4

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api/awserr"
)

const (
	tempKey   = "ASIABERTHTEMP"
	tempToken = "FwoGZXIvYXdzEBerthSessionToken"
)

// tokenVerifier knows testKey (long-term) and tempKey, a temporary
// credential whose requests must carry tempToken until expires.
func tokenVerifier(expires time.Time) *Verifier {
	v := testVerifier()
	v.Lookup = func(id string) (Credential, bool) {
		switch id {
		case testKey:
			return Credential{SecretAccessKey: testSecret, Principal: "alice"}, true
		case tempKey:
			return Credential{SecretAccessKey: testSecret, Principal: "role-session", SessionToken: tempToken, Expiration: expires}, true
		}
		return Credential{}, false
	}
	return v
}

func TestVerifySessionToken(t *testing.T) {
	withToken := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", tok) }
	}
	tests := []struct {
		name     string
		spec     signSpec
		expires  time.Time
		flavor   Flavor
		wantCode string
		wantMsg  string
	}{
		{name: "required and present", spec: signSpec{key: tempKey, secret: testSecret, body: "{}", before: withToken(tempToken)}},
		{name: "required and present presigned", spec: signSpec{key: tempKey, secret: testSecret, method: http.MethodGet,
			url: "http://berth.local/ws", presign: true,
			before: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Security-Token=" + tempToken }}},
		{name: "required and missing", spec: signSpec{key: tempKey, secret: testSecret, body: "{}"},
			wantCode: awserr.CodeUnrecognizedClient, wantMsg: msgUnknownKey},
		{name: "required and wrong", spec: signSpec{key: tempKey, secret: testSecret, body: "{}", before: withToken("forged")},
			wantCode: awserr.CodeUnrecognizedClient, wantMsg: msgUnknownKey},
		{name: "wrong in query flavor", flavor: FlavorQuery,
			spec:     signSpec{key: tempKey, secret: testSecret, body: "{}", before: withToken("forged")},
			wantCode: awserr.CodeQueryInvalidClientToken, wantMsg: msgUnknownKey},
		{name: "expired", expires: t0, spec: signSpec{key: tempKey, secret: testSecret, body: "{}", before: withToken(tempToken)},
			wantCode: awserr.CodeExpiredToken, wantMsg: msgExpired},
		{name: "expired query flavor", expires: t0.Add(-time.Second), flavor: FlavorQuery,
			spec:     signSpec{key: tempKey, secret: testSecret, body: "{}", before: withToken(tempToken)},
			wantCode: awserr.CodeQueryExpiredToken, wantMsg: msgExpired},
		{name: "not yet expired", expires: t0.Add(time.Second),
			spec: signSpec{key: tempKey, secret: testSecret, body: "{}", before: withToken(tempToken)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, body := build(t, tt.spec)
			v := tokenVerifier(tt.expires).WithFlavor(tt.flavor)
			res, err := v.Check(req, body, "ecs")
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if res.Credential.SessionToken != tempToken || res.Credential.AccessKeyID != tempKey {
					t.Fatalf("credential = %+v", res.Credential)
				}
				return
			}
			e, ok := awserr.As(err)
			if !ok || e.Code != tt.wantCode || !strings.Contains(e.Message, tt.wantMsg) || e.Status != 403 {
				t.Fatalf("Check error = %v, want %s containing %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestPeekScope(t *testing.T) {
	hdr, _ := build(t, signSpec{body: "{}", region: "eu-west-1", service: "sts"})
	pre, _ := build(t, signSpec{method: http.MethodGet, url: "http://berth.local/?Action=GetCallerIdentity", presign: true, service: "sts"})
	none, _ := http.NewRequest(http.MethodPost, "http://berth.local/", nil)
	tests := []struct {
		name            string
		r               *http.Request
		region, service string
		ok              bool
	}{
		{"header", hdr, "eu-west-1", "sts", true},
		{"presigned", pre, testRegion, "sts", true},
		{"unsigned", none, "", "", false},
	}
	for _, tt := range tests {
		region, service, ok := PeekScope(tt.r)
		if region != tt.region || service != tt.service || ok != tt.ok {
			t.Errorf("%s: PeekScope = %q %q %v", tt.name, region, service, ok)
		}
	}
}
