package api

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// responseRecorder remembers the status (for the access log) and whether a
// reply was started or the connection hijacked, so panic recovery never
// writes over a reply or onto a websocket.
type responseRecorder struct {
	http.ResponseWriter
	status    int
	started   bool
	hijacked  bool
	requestID string
	// principal and operation are set as the request is understood, for
	// the access log.
	principal string
	operation string
	// writeError writes an error reply in the request's protocol, once it
	// is known; recovery uses it too. nil means awsJson 1.1.
	writeError func(*awserr.Error)
}

// fail writes e, whose status is decided, in the request's protocol.
func (r *responseRecorder) fail(e *awserr.Error) {
	if r.writeError != nil {
		r.writeError(e)
		return
	}
	awserr.EncodeJSON(r, awserr.ContentTypeJSON11, r.requestID, e)
}

var (
	_ http.Hijacker = (*responseRecorder)(nil)
	_ http.Flusher  = (*responseRecorder)(nil)
	_ io.ReaderFrom = (*responseRecorder)(nil)
)

func (r *responseRecorder) WriteHeader(code int) {
	if !r.started && code >= 200 {
		r.status, r.started = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	if !r.started {
		r.status, r.started = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

// ReadFrom forwards to the underlying writer's, so that io.Copy of a file
// into a reply (a registry blob) reaches net/http's, which sends it with
// sendfile instead of through a 32 KiB buffer in user space.
func (r *responseRecorder) ReadFrom(src io.Reader) (int64, error) {
	if !r.started {
		r.status, r.started = http.StatusOK, true
	}
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{r.ResponseWriter}, src)
}

// writerOnly hides a writer's other methods (ReadFrom) from io.Copy.
type writerOnly struct{ io.Writer }

func (r *responseRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		if !r.started {
			r.status, r.started = http.StatusOK, true
		}
		f.Flush()
	}
}

// Hijack is forwarded explicitly because gorilla/websocket type-asserts
// http.Hijacker rather than using http.ResponseController.
func (r *responseRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("api: underlying ResponseWriter does not support hijacking")
	}
	conn, rw, err := h.Hijack()
	if err == nil {
		r.hijacked, r.started, r.status = true, true, http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *responseRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// newRequestID returns a random RFC 4122 version 4 UUID, the shape of
// AWS request IDs.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
