package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// countingBody counts what the verifier read before the handler did.
type countingBody struct {
	r io.Reader
	n int
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func (c *countingBody) Close() error { return nil }

func TestVerifyStream(t *testing.T) {
	const blob = "layer bytes: a gigabyte in real life"
	declare := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", v) }
	}
	tests := []struct {
		name       string
		spec       signSpec
		maxBuffer  int64
		wantCode   string // from VerifyStream
		wantRead   string // error code when reading the body; "" = clean EOF
		streamed   bool   // nothing read before the handler reads
		wantBodyIs string
	}{
		{name: "unsigned payload streams", spec: signSpec{method: http.MethodPut, url: "http://berth.local/v2/x/blobs/uploads/1",
			body: blob, payload: "UNSIGNED-PAYLOAD", before: declare("UNSIGNED-PAYLOAD")}, streamed: true, wantBodyIs: blob},
		{name: "declared hash streams and checks at the end", spec: signSpec{method: http.MethodPut, url: "http://berth.local/v2/x",
			body: blob, before: declare(sha([]byte(blob)))}, streamed: true, wantBodyIs: blob},
		{name: "declared hash with a forged body fails the read", spec: signSpec{method: http.MethodPut, url: "http://berth.local/v2/x",
			body: blob, sendBody: strings.ToUpper(blob), before: declare(sha([]byte(blob)))},
			streamed: true, wantRead: awserr.CodeInvalidSignature},
		{name: "undeclared small body is buffered", spec: signSpec{method: http.MethodPut, url: "http://berth.local/v2/x", body: blob},
			maxBuffer: 1 << 10, wantBodyIs: blob},
		{name: "undeclared forged body", spec: signSpec{method: http.MethodPut, url: "http://berth.local/v2/x",
			body: blob, sendBody: strings.ToUpper(blob)}, maxBuffer: 1 << 10, wantCode: awserr.CodeInvalidSignature},
		{name: "undeclared body over the buffer", spec: signSpec{method: http.MethodPut, url: "http://berth.local/v2/x", body: blob},
			maxBuffer: 8, wantCode: awserr.CodeRequestEntityTooLarge},
		{name: "websocket GET presigned", spec: signSpec{method: http.MethodGet, url: "http://berth.local/ws", presign: true}},
		{name: "chunked signing is refused", spec: signSpec{method: http.MethodPut, url: "http://berth.local/v2/x", body: blob,
			payload: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", before: declare("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")},
			wantCode: awserr.CodeIncompleteSignature},
		{name: "wrong secret", spec: signSpec{method: http.MethodPut, url: "http://berth.local/v2/x", body: blob,
			secret: "nope", key: testKey, payload: "UNSIGNED-PAYLOAD", before: declare("UNSIGNED-PAYLOAD")},
			wantCode: awserr.CodeInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, sent := build(t, tt.spec)
			cb := &countingBody{r: bytes.NewReader(sent)}
			req.Body = cb
			_, body, err := testVerifier().VerifyStream(req, "ecs", tt.maxBuffer)
			if tt.wantCode != "" {
				if e, ok := awserr.As(err); !ok || e.Code != tt.wantCode {
					t.Fatalf("VerifyStream error = %v, want %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyStream: %v", err)
			}
			if tt.streamed && cb.n != 0 {
				t.Fatalf("verifier read %d bytes of a streamed body", cb.n)
			}
			got, err := io.ReadAll(body)
			if tt.wantRead != "" {
				if e, ok := awserr.As(err); !ok || e.Code != tt.wantRead {
					t.Fatalf("read error = %v, want %s", err, tt.wantRead)
				}
				return
			}
			if err != nil || string(got) != tt.wantBodyIs {
				t.Fatalf("body = %q, %v; want %q", got, err, tt.wantBodyIs)
			}
		})
	}
}
