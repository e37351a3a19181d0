package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// This file owns the fast path's target side: a pool of idle HTTP/1.1
// connections per target address, and forwarding one request over one of
// them synchronously (write the request, read the response, relay it).

const (
	maxIdlePerTarget  = 256
	backendIdleExpiry = 90 * time.Second
)

var (
	backendReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 8<<10) }}
	backendWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}
)

// backendConn is a connection to a target with its buffers. nread counts
// the bytes read from it: a reused connection that broke before giving
// a byte of response may be retried.
type backendConn struct {
	net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	nread  int64
	idleAt time.Time
	reused bool
}

func (c *backendConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.nread += int64(n)
	return n, err
}

// close closes the connection and returns its buffers.
func (c *backendConn) close() {
	_ = c.Conn.Close()
	c.br.Reset(nil)
	backendReaders.Put(c.br)
	c.bw.Reset(nil)
	backendWriters.Put(c.bw)
}

// backendPool holds idle connections to targets by address; nothing runs
// in the background: expired ones close when next looked at.
type backendPool struct {
	dialer *net.Dialer
	mu     sync.Mutex
	idle   map[string][]*backendConn
	closed bool
}

func newBackendPool(dialTimeout time.Duration) *backendPool {
	return &backendPool{dialer: &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		idle: map[string][]*backendConn{}}
}

// get returns an idle connection to addr, or dials one.
func (p *backendPool) get(ctx context.Context, addr string) (*backendConn, error) {
	now := time.Now()
	var stale []*backendConn
	var c *backendConn
	p.mu.Lock()
	cs := p.idle[addr]
	for len(cs) > 0 {
		last := cs[len(cs)-1]
		cs[len(cs)-1] = nil
		cs = cs[:len(cs)-1]
		if now.Sub(last.idleAt) < backendIdleExpiry {
			c = last
			break
		}
		stale = append(stale, last)
	}
	p.idle[addr] = cs
	if len(cs) == 0 {
		delete(p.idle, addr)
	}
	p.mu.Unlock()
	for _, s := range stale {
		s.close()
	}
	if c != nil {
		c.reused = true
		return c, nil
	}
	nc, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial target %s: %w", addr, err)
	}
	c = &backendConn{Conn: nc}
	c.br = backendReaders.Get().(*bufio.Reader)
	c.br.Reset(c)
	c.bw = backendWriters.Get().(*bufio.Writer)
	c.bw.Reset(c)
	return c, nil
}

// put keeps c for the next request to addr, or closes it when the pool
// is full or closed.
func (p *backendPool) put(addr string, c *backendConn) {
	now := time.Now()
	c.idleAt = now
	c.nread = 0
	p.mu.Lock()
	if p.closed || len(p.idle[addr]) >= maxIdlePerTarget {
		p.mu.Unlock()
		c.close()
		return
	}
	// The oldest come first (get takes the newest): expired ones leave.
	cs := p.idle[addr]
	n := 0
	for n < len(cs) && now.Sub(cs[n].idleAt) >= backendIdleExpiry {
		n++
	}
	stale := cs[:n:n]
	p.idle[addr] = append(cs[n:], c)
	p.mu.Unlock()
	for _, s := range stale {
		s.close()
	}
}

// closeIdle closes every idle connection; with final, later ones too.
func (p *backendPool) closeIdle(final bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = map[string][]*backendConn{}
	p.closed = p.closed || final
	p.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.close()
		}
	}
}

// forward proxies req to a target of act's groups over a pooled
// connection and relays the response; it reports whether the client
// connection may serve another request.
func (h *h1Conn) forward(req *http.Request, body *h1Body, tbl *table, rule *compiledRule, act *Action, keep bool) bool {
	e := h.a.e
	call := e.choose(req, tbl, rule, act)
	if call == nil {
		return h.answerError(req, body, http.StatusServiceUnavailable, keep)
	}
	tv := call.tv
	e.acquire(tv.st)
	defer e.release(tv.st)
	var cut atomic.Bool
	defer tv.st.onCut(func() { cut.Store(true); h.abortBackend() })()

	removeHopHeaders(req.Header)
	delete(req.Header, "Content-Length") // writeRequest frames the body itself
	delete(req.Header, "Forwarded")
	delete(req.Header, "X-Forwarded-Host")
	setForwardedHeaders(req.Header, req, &tbl.l)

	for attempt := 0; ; attempt++ {
		bc, err := e.tr.fast.get(e.ctx, tv.addr)
		if err != nil {
			return h.answerError(req, body, gatewayStatus(err, false), keep)
		}
		h.setBackend(bc)
		resp, err := h.roundTrip(bc, req, body, call)
		if err != nil {
			h.setBackend(nil)
			bc.close()
			if bc.reused && bc.nread == 0 && body.empty() && replayable(req) && !cut.Load() && attempt == 0 {
				// The target closed the idle connection as we sent on it:
				// nothing reached it, so try a fresh one.
				continue
			}
			if body.started && !body.eof {
				keep = false
			}
			return h.answerError(req, body, gatewayStatus(err, cut.Load()), keep)
		}
		return h.relay(req, resp, bc, call, keep, &cut)
	}
}

// answerError sends one of the load balancer's error pages.
func (h *h1Conn) answerError(req *http.Request, body *h1Body, status int, keep bool) bool {
	var w h1Answer
	writeError(&w, status)
	return h.writeAnswer(req, body, &w, keep)
}

// gatewayStatus is the status of a forward that got no response: 504
// when the target timed out, 502 otherwise (refused, broken, cut).
func gatewayStatus(err error, cut bool) int {
	var ne net.Error
	if !cut && errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// replayable reports whether a request may be sent again after a reused
// connection failed before any response (as net/http's Transport).
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := r.Header["Idempotency-Key"]
	_, b := r.Header["X-Idempotency-Key"]
	return a || b
}

// roundTrip writes req (head and body) to bc and reads the response
// head, passing interim (1xx) responses on to the client.
func (h *h1Conn) roundTrip(bc *backendConn, req *http.Request, body *h1Body, call *proxyCall) (*http.Response, error) {
	_ = bc.SetDeadline(time.Now().Add(call.idle))
	if err := writeRequest(bc.bw, req, body, call.tv.addr); err != nil {
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(bc.br, req)
		if err != nil {
			return nil, fmt.Errorf("read target response: %w", err)
		}
		if resp.StatusCode >= 200 {
			return resp, nil
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return nil, errors.New("target switched protocols unasked")
		}
		if !req.ProtoAtLeast(1, 1) {
			continue // an HTTP/1.0 client knows no interim responses
		}
		removeHopHeaders(resp.Header)
		writeHead(h.bw, req, resp.StatusCode, resp.Header, true)
		if err := h.bw.Flush(); err != nil {
			return nil, fmt.Errorf("write interim response: %w", err)
		}
	}
}

// writeRequest writes req's head and body to a target; a request without
// a host (HTTP/1.0) names the target, as net/http's Transport does.
func writeRequest(bw *bufio.Writer, req *http.Request, body *h1Body, target string) error {
	host := req.Host
	if host == "" {
		host = target
	}
	_, _ = bw.WriteString(req.Method)
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(req.URL.RequestURI())
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = bw.WriteString(host)
	_, _ = bw.WriteString("\r\n")
	_ = req.Header.Write(bw)
	switch {
	case body.chunked != nil:
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	case !body.eof:
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.WriteString(strconv.FormatInt(body.n, 10))
		_, _ = bw.WriteString("\r\n")
	case req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch:
		_, _ = bw.WriteString("Content-Length: 0\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	if !body.eof {
		buf := copyBuffers.Get()
		defer copyBuffers.Put(buf)
		for {
			n, rerr := body.Read(buf)
			if n > 0 {
				var werr error
				if body.chunked != nil {
					werr = writeChunk(bw, buf[:n])
				} else {
					_, werr = bw.Write(buf[:n])
				}
				if werr != nil {
					return fmt.Errorf("send request body: %w", werr)
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return fmt.Errorf("read request body: %w", rerr)
			}
		}
		if body.chunked != nil {
			_, _ = bw.WriteString("0\r\n\r\n")
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	return nil
}

// relay writes the target's response to the client and returns the
// target connection to the pool when it was read to its end and neither
// side asked to close. It reports whether the client connection may
// serve another request.
func (h *h1Conn) relay(req *http.Request, resp *http.Response, bc *backendConn, call *proxyCall, keep bool, cut *atomic.Bool) bool {
	removeHopHeaders(resp.Header)
	call.stick(resp.Header)
	hasBody := req.Method != http.MethodHead && resp.StatusCode != http.StatusNoContent &&
		resp.StatusCode != http.StatusNotModified
	chunk := false
	if hasBody {
		switch {
		case resp.ContentLength >= 0:
			resp.Header.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
		case len(resp.TransferEncoding) > 0 && req.ProtoAtLeast(1, 1):
			chunk = true
			resp.Header["Transfer-Encoding"] = []string{"chunked"}
		default:
			// Read to close: the client learns the end the same way.
			keep = false
		}
	}
	writeHead(h.bw, req, resp.StatusCode, resp.Header, keep)
	flushEach := resp.ContentLength < 0
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt == "text/event-stream" {
			flushEach = true
		}
	}
	if flushEach {
		if err := h.bw.Flush(); err != nil {
			keep = false
		}
	}
	// The response head arrived in time; the body moves at its own pace,
	// each read bounded by the idle timeout.
	ok := true
	if hasBody {
		ok = h.copyBody(resp.Body, bc, chunk, flushEach, call.idle)
	}
	h.setBackend(nil)
	if err := h.bw.Flush(); err != nil {
		ok = false
	}
	if ok && !resp.Close && !cut.Load() {
		_ = bc.SetDeadline(time.Time{})
		h.a.e.tr.fast.put(call.tv.addr, bc)
	} else {
		bc.close()
	}
	return ok && keep
}

// copyBody copies a response body to the client; false when either side
// broke off.
func (h *h1Conn) copyBody(body io.Reader, bc *backendConn, chunk, flushEach bool, idle time.Duration) bool {
	buf := copyBuffers.Get()
	defer copyBuffers.Put(buf)
	armed := time.Now()
	for {
		if now := time.Now(); now.Sub(armed) > idle/4 {
			_ = bc.SetReadDeadline(now.Add(idle))
			armed = now
		}
		n, rerr := body.Read(buf)
		if n > 0 {
			var werr error
			if chunk {
				werr = writeChunk(h.bw, buf[:n])
			} else {
				_, werr = h.bw.Write(buf[:n])
			}
			if werr == nil && flushEach {
				werr = h.bw.Flush()
			}
			if werr != nil {
				return false
			}
		}
		if rerr == io.EOF {
			if chunk {
				_, _ = h.bw.WriteString("0\r\n\r\n")
			}
			return true
		}
		if rerr != nil {
			return false
		}
	}
}
