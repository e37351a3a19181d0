package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// VerifyStream authenticates r without reading its body first, for routes
// whose bodies may be gigabytes. The payload hash the client signed with is
// taken as declared: UNSIGNED-PAYLOAD is accepted, and a declared SHA-256 is
// checked as the returned body is read, which then fails at its end on a
// mismatch. A request that declares nothing has its body read (up to
// maxBuffer bytes) and hashed, as Check does. The returned body replaces
// r.Body.
func (v *Verifier) VerifyStream(r *http.Request, service string, maxBuffer int64) (Verified, io.ReadCloser, error) {
	p, cred, aerr := v.prepare(r, service)
	if aerr != nil {
		return Verified{}, nil, aerr
	}
	declared := r.Header.Get("X-Amz-Content-Sha256")
	if declared == "" && p.presigned {
		declared = p.query.Get("X-Amz-Content-Sha256")
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	var hashes []string
	switch {
	case declared == unsignedPayload:
		hashes = []string{unsignedPayload}
	case strings.HasPrefix(declared, "STREAMING-"):
		return Verified{}, nil, v.fail(failIncomplete, "Chunked payload signing (%s) is not supported; "+
			"sign with UNSIGNED-PAYLOAD or the payload's SHA-256.", declared)
	case declared != "":
		want, err := hex.DecodeString(declared)
		if err != nil || len(want) != sha256.Size {
			return Verified{}, nil, v.fail(failSignature, msgPayloadMismatch)
		}
		hashes = []string{strings.ToLower(declared)}
		body = &hashingBody{rc: body, h: sha256.New(), want: want, mismatch: v.fail(failSignature, msgPayloadMismatch)}
	default:
		buf, err := io.ReadAll(io.LimitReader(body, maxBuffer+1))
		if err != nil {
			return Verified{}, nil, awserr.Serialization("Unable to read request body: %s", err.Error())
		}
		if int64(len(buf)) > maxBuffer {
			return Verified{}, nil, awserr.RequestEntityTooLarge("A body over %d bytes must be signed with "+
				"X-Amz-Content-Sha256 (its SHA-256, or UNSIGNED-PAYLOAD) to be streamed.", maxBuffer)
		}
		if hashes, aerr = v.payloadHashes(r, p, buf); aerr != nil {
			return Verified{}, nil, aerr
		}
		body = io.NopCloser(bytes.NewReader(buf))
	}
	if aerr := v.checkSignature(r, p, cred, hashes); aerr != nil {
		return Verified{}, nil, aerr
	}
	return Verified{Credential: cred, Region: p.region, Service: p.service}, body, nil
}

// hashingBody hashes what is read through it and, at the end of the body,
// fails with mismatch instead of io.EOF when the hash is not the one the
// request was signed with: a reader sees the error before it could act on
// a complete but forged payload.
type hashingBody struct {
	rc       io.ReadCloser
	h        hash.Hash
	want     []byte
	mismatch error
	done     bool
}

func (b *hashingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.h.Write(p[:n])
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		if !bytes.Equal(b.h.Sum(nil), b.want) {
			return n, b.mismatch
		}
	}
	return n, err
}

func (b *hashingBody) Close() error { return b.rc.Close() }
