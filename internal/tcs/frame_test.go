package tcs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/sigv4"
)

const (
	testKey    = "AKIDTCSTEST"
	testSecret = "tcs/secret+KEY"
	testRegion = "us-east-1"
)

var t0 = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

// telemetryURL is the URL the official agent dials and signs: the
// endpoint from DiscoverPollEndpoint, "/ws" and its query (a "+" and a
// "%3A" in dockerVersion, as the agent encodes it).
const telemetryURL = "http://127.0.0.1:8080/tcs/ws?agentHash=4ed2e3a1&agentVersion=1.105.1&cluster=default" +
	"&containerInstance=arn%3Aaws%3Aecs%3Aus-east-1%3A000000000000%3Acontainer-instance%2Fdefault%2Fabc" +
	"&dockerVersion=DockerVersion%3A+20.10.24%2Bdfsg1"

func verifier() *sigv4.Verifier {
	return &sigv4.Verifier{
		Lookup: func(id string) (sigv4.Credential, bool) {
			return sigv4.Credential{AccessKeyID: testKey, SecretAccessKey: testSecret}, id == testKey
		},
		Region: testRegion,
		Now:    func() time.Time { return t0 },
	}
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func hmacOf(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// agentFrame builds a frame byte for byte as the official agent's TCS
// client does (aws-sdk-go v1's signer: host, content-length and
// x-amz-date signed; Header.Write of X-Amz-Date, Authorization and Host;
// "\r\n"; the envelope), computing the signature from the SigV4
// specification rather than with any library.
func agentFrame(t *testing.T, envelope []byte, secret string) []byte {
	t.Helper()
	u, err := url.Parse(telemetryURL)
	if err != nil {
		t.Fatal(err)
	}
	amzDate := t0.Format("20060102T150405Z")
	date := t0.Format("20060102")
	// Canonical query: decoded values re-encoded per SigV4, sorted.
	q := u.Query()
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, enc(k)+"="+enc(v))
		}
	}
	slices.Sort(pairs)
	canonical := strings.Join([]string{
		"GET", u.Path, strings.Join(pairs, "&"),
		"content-length:" + strconv.Itoa(len(envelope)) + "\nhost:" + u.Host + "\nx-amz-date:" + amzDate + "\n",
		"content-length;host;x-amz-date", hexSHA(envelope),
	}, "\n")
	scope := date + "/" + testRegion + "/ecs/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hexSHA([]byte(canonical))
	k := hmacOf([]byte("AWS4"+secret), date)
	k = hmacOf(k, testRegion)
	k = hmacOf(k, "ecs")
	k = hmacOf(k, "aws4_request")
	sig := hex.EncodeToString(hmacOf(k, toSign))
	h := http.Header{}
	h.Set("X-Amz-Date", amzDate)
	h.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testKey+"/"+scope+
		", SignedHeaders=content-length;host;x-amz-date, Signature="+sig)
	h.Add("Host", u.Host)
	var b bytes.Buffer
	if err := h.Write(&b); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\r\n")
	b.Write(envelope)
	return b.Bytes()
}

func enc(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

func upgradeURL(t *testing.T) *url.URL {
	t.Helper()
	u, err := url.Parse(telemetryURL)
	if err != nil {
		t.Fatal(err)
	}
	// What the server sees of the upgrade: the request URI only.
	return &url.URL{Path: u.Path, RawQuery: u.RawQuery}
}

func TestFrameVerifies(t *testing.T) {
	env, err := Encode(TypePublishHealth, PublishHealthRequest{
		Metadata: &HealthMetadata{Cluster: "default", ContainerInstance: "abc", MessageID: "m1"},
		Tasks:    []TaskHealth{{TaskArn: "arn:task", Containers: []ContainerHealth{{ContainerName: "web", HealthStatus: "HEALTHY"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	berth, err := SignFrame(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, testRegion, telemetryURL, env, t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		frame   []byte
		wantErr bool
	}{
		{"official agent's frame", agentFrame(t, env, testSecret), false},
		{"Berth agent's frame", berth, false},
		{"wrong secret", agentFrame(t, env, "other"), true},
		{"body changed after signing", append(agentFrame(t, env, testSecret)[:len(agentFrame(t, env, testSecret))-1], '}', ' '), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, body, err := ParseFrame(tc.frame, upgradeURL(t))
			if err != nil {
				t.Fatalf("ParseFrame: %v", err)
			}
			_, err = verifier().Check(req, body, SigningName)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Check err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if !bytes.Equal(body, env) {
				t.Fatalf("body = %q, want %q", body, env)
			}
			got, err := Decode(body)
			if err != nil || got.Type != TypePublishHealth {
				t.Fatalf("Decode = %+v, %v", got, err)
			}
		})
	}
}

func TestFrameSignedForAnotherURL(t *testing.T) {
	env := []byte(`{"type":"PublishMetricsRequest","message":{}}`)
	frame := agentFrame(t, env, testSecret)
	other := upgradeURL(t)
	other.RawQuery = strings.Replace(other.RawQuery, "cluster=default", "cluster=other", 1)
	req, body, err := ParseFrame(frame, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifier().Check(req, body, SigningName); err == nil {
		t.Fatal("a frame signed for another socket's URL verified")
	}
}

func TestParseFrameMalformed(t *testing.T) {
	for _, frame := range []string{
		`{"type":"PublishMetricsRequest","message":{}}`,
		"X-Amz-Date: 20261129T080000Z\r\n{}",
		"",
	} {
		if _, _, err := ParseFrame([]byte(frame), upgradeURL(t)); !errors.Is(err, ErrFrame) {
			t.Errorf("ParseFrame(%q) err = %v, want ErrFrame", frame, err)
		}
	}
}
