package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// This file owns the HTTP/1.1 fast path's client side: an HTTP
// listener's own accept loop serving each client connection in one
// goroutine (read a request, route it, answer or forward it, next), and
// the decision to hand a connection to the listener's net/http server
// when the request is one the fast path does not serve.

// clientBufSize is the fast path's client read buffer: a request header
// that does not fit goes to net/http, which allows up to 1 MB.
const clientBufSize = 16 << 10

var (
	clientReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientBufSize) }}
	clientWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}
	// headerParsers parse a request header already peeked whole.
	headerParsers = sync.Pool{New: func() any { return &headerParser{br: bufio.NewReaderSize(nil, 4<<10)} }}
)

type headerParser struct {
	r  bytes.Reader
	br *bufio.Reader
}

// fastConns is the set of client connections the fast path serves, so
// a finishing listener can close the idle ones, cut the rest and wait.
type fastConns struct {
	mu       sync.Mutex
	m        map[*h1Conn]struct{}
	shutting atomic.Bool // set under mu; read without it per request
	wg       sync.WaitGroup
}

// add registers c; false when the listener is shutting down.
func (s *fastConns) add(c *h1Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		return false
	}
	if s.m == nil {
		s.m = map[*h1Conn]struct{}{}
	}
	s.m[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *fastConns) remove(c *h1Conn) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
	s.wg.Done()
}

// setIdle marks c waiting for a request (idle) or reading one; false
// when the listener is shutting down, and c should close.
func (s *fastConns) setIdle(c *h1Conn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.idle = idle
	return !s.shutting.Load()
}

// shutdown refuses new connections and closes the idle ones; the others
// close after their response.
func (s *fastConns) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutting.Store(true)
	for c := range s.m {
		if c.idle {
			_ = c.c.Close()
		}
	}
}

// abortAll cuts every connection and the target connection it is using.
func (s *fastConns) abortAll() {
	s.mu.Lock()
	cs := make([]*h1Conn, 0, len(s.m))
	for c := range s.m {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.c.Close()
		c.abortBackend()
	}
}

// serveFast is an HTTP listener's accept loop: each connection gets a
// goroutine of the fast path.
func (a *appListener) serveFast() {
	defer a.fast.wg.Done()
	for {
		c, err := a.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		h := &h1Conn{a: a, c: c, remote: c.RemoteAddr().String()}
		if !a.fast.add(h) {
			_ = c.Close()
			continue
		}
		go h.serve()
	}
}

// h1Conn is one client connection served by the fast path.
type h1Conn struct {
	a *appListener
	c net.Conn // as accepted (tracked): closing it cuts everything
	// rw is what requests move over: c, or its TLS server side.
	rw     net.Conn
	remote string
	br     *bufio.Reader
	bw     *bufio.Writer

	mu      sync.Mutex // guards backend and idle (the latter with fastConns.mu)
	idle    bool
	backend net.Conn // the target connection in use, closed by abortBackend
}

// setBackend records the target connection in use (nil: none).
func (h *h1Conn) setBackend(c net.Conn) {
	h.mu.Lock()
	h.backend = c
	h.mu.Unlock()
}

// abortBackend closes the target connection in use, if any.
func (h *h1Conn) abortBackend() {
	h.mu.Lock()
	c := h.backend
	h.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (h *h1Conn) serve() {
	defer h.a.fast.remove(h)
	idle := h.a.tbl.Load().l.IdleTimeout
	if idle <= 0 {
		idle = defaultAppIdleTimeout
	}
	h.rw = h.c
	if h.a.tlsConf != nil {
		tc, ok := h.handshake(idle)
		if !ok {
			return
		}
		h.rw = tc
	}
	h.br = clientReaders.Get().(*bufio.Reader)
	h.br.Reset(h.rw)
	h.bw = clientWriters.Get().(*bufio.Writer)
	h.bw.Reset(h.rw)
	handedOff := false
	defer func() {
		h.bw.Reset(nil)
		clientWriters.Put(h.bw)
		if !handedOff {
			_ = h.rw.Close()
			h.br.Reset(nil)
			clientReaders.Put(h.br)
		}
	}()
	for {
		if !h.a.fast.setIdle(h, true) {
			return
		}
		_ = h.rw.SetReadDeadline(time.Now().Add(idle))
		if _, err := h.br.Peek(1); err != nil {
			return
		}
		if !h.a.fast.setIdle(h, false) {
			return
		}
		hdr, err := h.peekHeader()
		if err != nil {
			return
		}
		var req *http.Request
		if hdr != nil {
			req = parseHeader(hdr)
		}
		tbl := h.a.tbl.Load()
		var rule *compiledRule
		var act *Action
		if req != nil && needsNetHTTP(req, hdr) {
			req = nil
		}
		if req != nil {
			req.RemoteAddr = h.remote
			rule, act = route(tbl, req)
			if act != nil && act.Type == ActionForward && !fastGroups(tbl, act) {
				req = nil
			}
		}
		if req == nil {
			// net/http serves the rest of this connection, from the
			// request's first byte.
			_ = h.rw.SetReadDeadline(time.Time{})
			handedOff = true
			h.a.hand.give(&replayConn{Conn: h.rw, br: h.br})
			return
		}
		_, _ = h.br.Discard(len(hdr))
		_ = h.rw.SetReadDeadline(time.Time{})
		if !h.serveRequest(req, tbl, rule, act) {
			return
		}
	}
}

// peekHeader returns the request header, request line to the blank line
// included, without consuming it; nil when it does not fit the buffer.
func (h *h1Conn) peekHeader() ([]byte, error) {
	for {
		n := h.br.Buffered()
		buf, _ := h.br.Peek(n)
		if end := headerEnd(buf); end > 0 {
			return buf[:end], nil
		}
		if n >= h.br.Size() {
			return nil, nil
		}
		if _, err := h.br.Peek(n + 1); err != nil {
			return nil, err
		}
	}
}

// headerEnd is the length of the header in buf up to and including its
// blank line (CRLF or bare LF, as net/http accepts), 0 when incomplete.
func headerEnd(buf []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		if i < len(buf) && buf[i] == '\n' {
			return i + 1
		}
		if i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n' {
			return i + 2
		}
	}
}

// parseHeader parses a whole request header with net/http's parser; nil
// when it is malformed (net/http then answers it as it always has). The
// body is the caller's to attach.
func parseHeader(hdr []byte) *http.Request {
	p := headerParsers.Get().(*headerParser)
	p.r.Reset(hdr)
	p.br.Reset(&p.r)
	req, err := http.ReadRequest(p.br)
	p.br.Reset(nil)
	p.r.Reset(nil)
	headerParsers.Put(p)
	if err != nil {
		return nil
	}
	return req
}

// needsNetHTTP reports whether a request is one net/http serves: not
// HTTP/1.x, upgrades (websockets, h2c), Expect: 100-continue, CONNECT,
// OPTIONS *, and whatever net/http's server would refuse (missing or
// malformed Host, invalid header names or values), which it answers.
// hdr is the raw header: http.ReadRequest drops the Host header.
func needsNetHTTP(r *http.Request, hdr []byte) bool {
	if r.ProtoMajor != 1 || r.Method == http.MethodConnect || r.Method == "PRI" || r.RequestURI == "*" {
		return true
	}
	if _, ok := r.Header["Upgrade"]; ok {
		return true
	}
	if _, ok := r.Header["Expect"]; ok {
		return true
	}
	host, ok := hostLine(hdr)
	if (r.ProtoAtLeast(1, 1) && !ok) || (ok && !httpguts.ValidHostHeader(host)) {
		return true
	}
	for k, vv := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return true
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return true
			}
		}
	}
	return len(r.TransferEncoding) > 0 && (len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked")
}

// hostLine finds the Host header's value in a raw request header.
func hostLine(hdr []byte) (string, bool) {
	for len(hdr) > 0 {
		i := bytes.IndexByte(hdr, '\n')
		if i < 0 {
			break
		}
		line := hdr[:i]
		hdr = hdr[i+1:]
		if len(line) >= 5 && bytes.EqualFold(line[:5], []byte("host:")) {
			return string(bytes.TrimSpace(line[5:])), true
		}
	}
	return "", false
}

// fastGroups reports whether every group a forward names is one the fast
// path reaches: cleartext HTTP/1.1 targets. HTTPS and HTTP/2 targets go
// through net/http's transports.
func fastGroups(tbl *table, act *Action) bool {
	for _, wg := range act.Forward {
		g := tbl.groups[wg.ARN]
		if g == nil {
			continue
		}
		if strings.EqualFold(g.cfg.Protocol, "HTTPS") {
			return false
		}
		if v := strings.ToUpper(g.cfg.ProtocolVersion); v == "HTTP2" || v == "GRPC" {
			return false
		}
	}
	return true
}

// serveRequest answers one request; it reports whether the connection
// may serve another.
func (h *h1Conn) serveRequest(req *http.Request, tbl *table, rule *compiledRule, act *Action) bool {
	h.a.reqs.add()
	defer h.a.reqs.done()
	body := newH1Body(h.br, req)
	req.Body = body
	// A listener shutting down closes the connection after this
	// response, and says so in it.
	keep := !req.Close && !h.a.fast.shutting.Load()
	if act != nil && act.Type == ActionForward {
		keep = h.forward(req, body, tbl, rule, act, keep)
	} else {
		var w h1Answer
		answerAction(&w, req, &tbl.l, act)
		keep = h.writeAnswer(req, body, &w, keep)
	}
	return keep && !h.a.fast.shutting.Load()
}

// h1Body is a request body read from the client connection: a length or
// chunked. It knows whether it was read to its end, so the connection
// can serve the next request.
type h1Body struct {
	br      *bufio.Reader
	chunked io.Reader // nil: n bytes remain
	n       int64
	eof     bool
	started bool // a byte was read
}

func newH1Body(br *bufio.Reader, r *http.Request) *h1Body {
	b := &h1Body{br: br}
	switch {
	case len(r.TransferEncoding) == 1:
		b.chunked = newChunkedReader(br)
	case r.ContentLength > 0:
		b.n = r.ContentLength
	default:
		b.eof = true
	}
	return b
}

// empty reports whether the request has no body at all.
func (b *h1Body) empty() bool { return b.eof && !b.started }

func (b *h1Body) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.chunked != nil {
		n, err := b.chunked.Read(p)
		b.started = b.started || n > 0
		if err == io.EOF {
			b.eof = true
			if err := skipTrailer(b.br); err != nil {
				return n, err
			}
		}
		return n, err
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.br.Read(p)
	b.started = b.started || n > 0
	b.n -= int64(n)
	if b.n == 0 {
		b.eof = true
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *h1Body) Close() error { return nil }

// discard reads what is left of the body, up to 256 KiB as net/http
// does; false when the connection cannot serve another request.
func (b *h1Body) discard() bool {
	if b.eof {
		return true
	}
	_, err := io.CopyN(io.Discard, b, 256<<10)
	return b.eof && (err == nil || err == io.EOF)
}

// skipTrailer reads a chunked body's trailer section (dropped) and its
// final blank line.
func skipTrailer(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return errors.Join(errors.New("read chunked trailer"), err)
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}
