package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httputil"
	"strconv"
	"time"
)

// This file owns what the fast path writes on the wire: response heads,
// the load balancer's own answers (through the same writeError,
// writeFixed and writeRedirect as the net/http path), chunk framing, and
// the hop-by-hop headers a proxy drops.

var newChunkedReader = httputil.NewChunkedReader

// h1Answer is an http.ResponseWriter collecting one of the load
// balancer's own (small) answers.
type h1Answer struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

var _ http.ResponseWriter = (*h1Answer)(nil)

func (w *h1Answer) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

func (w *h1Answer) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *h1Answer) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// writeAnswer sends an answer of the load balancer's to the client; it
// reports whether the connection may serve another request.
func (h *h1Conn) writeAnswer(req *http.Request, body *h1Body, w *h1Answer, keep bool) bool {
	keep = body.discard() && keep
	hd := w.Header()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if hd.Get("Content-Length") == "" {
		hd.Set("Content-Length", strconv.Itoa(w.body.Len()))
	}
	writeHead(h.bw, req, w.status, hd, keep)
	if req.Method != http.MethodHead {
		_, _ = h.bw.Write(w.body.Bytes())
	}
	return h.bw.Flush() == nil && keep
}

// writeHead writes a response's status line and headers, adding Date
// when absent and the Connection header keep calls for (close, or
// keep-alive to an HTTP/1.0 client).
func writeHead(bw *bufio.Writer, req *http.Request, status int, hd http.Header, keep bool) {
	var b [64]byte
	line := append(b[:0], "HTTP/1.1 "...)
	line = strconv.AppendInt(line, int64(status), 10)
	line = append(line, ' ')
	if text := http.StatusText(status); text != "" {
		line = append(line, text...)
	} else {
		line = append(line, "status code "...)
		line = strconv.AppendInt(line, int64(status), 10)
	}
	line = append(line, "\r\n"...)
	_, _ = bw.Write(line)
	_ = hd.Write(bw)
	if _, ok := hd["Date"]; !ok {
		line = append(b[:0], "Date: "...)
		line = time.Now().UTC().AppendFormat(line, http.TimeFormat)
		line = append(line, "\r\n"...)
		_, _ = bw.Write(line)
	}
	switch {
	case !keep:
		_, _ = bw.WriteString("Connection: close\r\n")
	case !req.ProtoAtLeast(1, 1):
		_, _ = bw.WriteString("Connection: keep-alive\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}

// writeChunk writes p as one chunk of a chunked body.
func writeChunk(bw *bufio.Writer, p []byte) error {
	var b [20]byte
	line := strconv.AppendInt(b[:0], int64(len(p)), 16)
	line = append(line, "\r\n"...)
	_, _ = bw.Write(line)
	_, _ = bw.Write(p)
	_, err := bw.WriteString("\r\n")
	return err
}

// hopHeaders are the hop-by-hop headers a proxy does not pass on (as
// httputil.ReverseProxy's list).
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopHeaders drops hop-by-hop headers and those the Connection
// header names.
func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for len(f) > 0 {
			var name string
			name, f, _ = cutComma(f)
			if name = trimOWS(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

func cutComma(s string) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
