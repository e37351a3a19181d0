package tcs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SigningName is the SigV4 service name of the telemetry frames (and of
// the websocket upgrade): ECS's own.
const SigningName = "ecs"

// maxHeaderBlock bounds a frame's header block.
const maxHeaderBlock = 16 << 10

// SignFrame frames an envelope as the official agent does: the header
// block of a SigV4-signed GET of telemetryURL (the http(s) URL of the
// websocket, query included) with the envelope as its body, a blank line,
// then the envelope.
func SignFrame(ctx context.Context, creds aws.Credentials, region, telemetryURL string, envelope []byte, now time.Time) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, telemetryURL, bytes.NewReader(envelope))
	if err != nil {
		return nil, fmt.Errorf("tcs frame: %w", err)
	}
	sum := sha256.Sum256(envelope)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), SigningName, region, now); err != nil {
		return nil, fmt.Errorf("tcs frame: sign: %w", err)
	}
	var b bytes.Buffer
	req.Header.Add("Host", req.Host)
	if err := req.Header.Write(&b); err != nil {
		return nil, fmt.Errorf("tcs frame: %w", err)
	}
	b.WriteString("\r\n")
	b.Write(envelope)
	return b.Bytes(), nil
}

// ErrFrame says a frame is not a header block, a blank line and a body.
var ErrFrame = errors.New("tcs: malformed frame")

// ParseFrame splits a frame into the request its header block signed and
// its envelope. The request is the websocket's (upgrade's) path and query
// with the frame's headers, its Host and the envelope's length: what a
// sigv4 verifier checks, with the envelope as the body.
func ParseFrame(frame []byte, upgrade *url.URL) (*http.Request, []byte, error) {
	r := textproto.NewReader(bufio.NewReader(io.LimitReader(bytes.NewReader(frame), maxHeaderBlock)))
	hdr, err := r.ReadMIMEHeader()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrFrame, err)
	}
	// ReadMIMEHeader consumed the header block through its blank line; the
	// envelope starts there. Find it in the frame itself, since the reader
	// buffers ahead.
	i := bytes.Index(frame, []byte("\r\n\r\n"))
	if i < 0 {
		return nil, nil, ErrFrame
	}
	body := frame[i+4:]
	h := http.Header(hdr)
	host := h.Get("Host")
	h.Del("Host")
	u := &url.URL{Path: upgrade.Path, RawPath: upgrade.RawPath, RawQuery: upgrade.RawQuery}
	req := &http.Request{
		Method: http.MethodGet, URL: u, Host: host, Header: h,
		ContentLength: int64(len(body)), RequestURI: u.RequestURI(),
	}
	return req, body, nil
}
