package proxy

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// appListener is an application listener (HTTP or HTTPS): an http.Server
// whose handler evaluates the current table's rules. The listener
// accepts connections itself and serves HTTP/1.x on the fast path
// (h1_server.go, h1_tls.go), which hands to the http.Server what it does
// not serve.
type appListener struct {
	e     *Engine
	tbl   atomic.Pointer[table]
	ln    net.Listener
	srv   *http.Server
	conns connSet
	reqs  tracker
	done  chan struct{} // Serve returned
	// hand feeds the http.Server the fast path's hand-offs (and, for
	// HTTPS, the connections whose ALPN chose HTTP/2); fast is the fast
	// path's connections and its accept loop.
	hand *handoffListener
	fast fastConns
	// tlsConf is the HTTPS listener's (nil for HTTP), as the fast path
	// handshakes; the http.Server's own may be changed by its Serve.
	tlsConf *tls.Config
}

var _ listenerRuntime = (*appListener)(nil)

func newAppListener(e *Engine, tbl *table) (*appListener, error) {
	raw, err := net.Listen("tcp", tbl.l.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	a := &appListener{e: e, done: make(chan struct{})}
	a.tbl.Store(tbl)
	a.ln = trackingListener{Listener: raw, set: &a.conns}
	idle := tbl.l.IdleTimeout
	if idle <= 0 {
		idle = defaultAppIdleTimeout
	}
	a.srv = &http.Server{
		Handler:           a,
		IdleTimeout:       idle,
		ReadHeaderTimeout: idle,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return e.ctx },
	}
	https := strings.EqualFold(tbl.l.Protocol, "HTTPS")
	if https {
		a.srv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: alpnProtos,
			GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
				return a.tbl.Load().certificate(h)
			},
		}
		a.tlsConf = a.srv.TLSConfig.Clone()
	}
	a.hand = newHandoffListener(a.ln.Addr())
	a.fast.wg.Add(1)
	go a.serveFast()
	go func() {
		defer close(a.done)
		err := a.srv.Serve(a.hand)
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			e.log.Warn("listener stopped", "listener", tbl.l.ARN, "err", err)
		}
	}()
	return a, nil
}

func (a *appListener) setTable(t *table) { a.tbl.Store(t) }
func (a *appListener) addr() net.Addr    { return a.ln.Addr() }
func (a *appListener) stopAccepting()    { _ = a.ln.Close() }

func (a *appListener) finish(ctx context.Context) {
	a.fast.shutdown()       // closes idle fast-path connections
	_ = a.srv.Shutdown(ctx) // waits for requests in flight
	a.conns.wait(ctx)       // and for hijacked and fast-path connections
	_ = a.srv.Close()
	a.conns.closeAll()
	a.fast.abortAll()
	a.reqs.wait()
	a.fast.wg.Wait()
	<-a.done
}

// ServeHTTP answers one request by the first matching rule's action.
func (a *appListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.reqs.add()
	defer a.reqs.done()
	tbl := a.tbl.Load()
	rule, act := route(tbl, r)
	if act != nil && act.Type == ActionForward {
		a.e.forward(w, r, tbl, rule, act)
		return
	}
	answerAction(w, r, &tbl.l, act)
}

// route is r's first matching rule and its answering (last) action; act
// is nil when no rule matches or it has no action.
func route(tbl *table, r *http.Request) (*compiledRule, *Action) {
	mr := newMatchRequest(r)
	rule := matchRules(tbl.rules, &mr)
	if rule == nil || len(rule.rule.Actions) == 0 {
		return rule, nil
	}
	return rule, &rule.rule.Actions[len(rule.rule.Actions)-1]
}

// answerAction answers r by the load balancer itself: a redirect or
// fixed-response action, or its error page when act is nil (503) or
// cannot answer (500). Forward actions are the caller's.
func answerAction(w http.ResponseWriter, r *http.Request, l *Listener, act *Action) {
	if act == nil {
		writeError(w, http.StatusServiceUnavailable)
		return
	}
	switch act.Type {
	case ActionRedirect:
		if act.Redirect == nil {
			writeError(w, http.StatusInternalServerError)
			return
		}
		writeRedirect(w, r, l, act.Redirect)
	case ActionFixedResponse:
		if act.Fixed == nil {
			writeError(w, http.StatusInternalServerError)
			return
		}
		writeFixed(w, act.Fixed)
	default:
		writeError(w, http.StatusInternalServerError)
	}
}

// proxyCall is one forwarded request's choices, carried to the
// ReverseProxy callbacks in the request context.
type proxyCall struct {
	e       *Engine
	tbl     *table
	g       *groupView
	tv      *targetView
	scheme  string
	ruleKey string
	act     *Action
	// setGroupCookie: the weighted forward's group stickiness needs
	// (re)setting on the response.
	setGroupCookie bool
	timer          *time.Timer
	idle           time.Duration
}

type callKey struct{}

// errTargetTimeout is the cause when a target sends no response header
// within the idle timeout.
var errTargetTimeout = errors.New("target timed out")

// errDrainCut is the cause when a draining target's DrainUntil passes
// with the request in flight.
var errDrainCut = errors.New("target's deregistration delay passed")

// forward proxies r to a target chosen from the action's groups.
func (e *Engine) forward(w http.ResponseWriter, r *http.Request, tbl *table, rule *compiledRule, act *Action) {
	call := e.choose(r, tbl, rule, act)
	if call == nil {
		writeError(w, http.StatusServiceUnavailable)
		return
	}
	tv, g := call.tv, call.g
	e.acquire(tv.st)
	defer e.release(tv.st)

	ctx, cancel := context.WithCancelCause(context.WithValue(r.Context(), callKey{}, call))
	defer cancel(nil)
	call.timer = time.AfterFunc(call.idle, func() { cancel(errTargetTimeout) })
	defer call.timer.Stop()
	defer tv.st.onCut(func() { cancel(errDrainCut) })()

	rp := e.tr.rp1
	if v := strings.ToUpper(g.cfg.ProtocolVersion); v == "HTTP2" || v == "GRPC" {
		rp = e.tr.rp2
	}
	rp.ServeHTTP(w, r.WithContext(ctx))
}

// choose picks the group and target for a forward of r (stickiness
// cookies, group weights, health, balancing); nil when there is none,
// which is a 503. Both the net/http path and the fast path call it.
func (e *Engine) choose(r *http.Request, tbl *table, rule *compiledRule, act *Action) *proxyCall {
	now := e.now()
	ruleKey := rule.rule.ARN
	if ruleKey == "" {
		ruleKey = tbl.l.ARN + "/" + strconv.Itoa(rule.rule.Priority)
	}
	groupSticky := act.Stickiness > 0 && len(act.Forward) > 1
	stickyG := ""
	if groupSticky {
		stickyG = e.codec.stickyGroup(r, ruleKey)
	}
	g := pickGroup(tbl.groups, act.Forward, stickyG)
	if g == nil {
		return nil
	}
	tv := g.pick(pickHint{sticky: e.codec.stickyTarget(r, g)}, now)
	if tv == nil && stickyG != "" {
		// The sticky group has nothing to offer: weigh the groups afresh.
		if g = pickGroup(tbl.groups, act.Forward, ""); g != nil {
			tv = g.pick(pickHint{}, now)
		}
	}
	if tv == nil {
		return nil
	}
	call := &proxyCall{e: e, tbl: tbl, g: g, tv: tv, scheme: "http", ruleKey: ruleKey, act: act,
		setGroupCookie: groupSticky, idle: tbl.l.IdleTimeout}
	if strings.EqualFold(g.cfg.Protocol, "HTTPS") {
		call.scheme = "https"
	}
	if call.idle <= 0 {
		call.idle = defaultAppIdleTimeout
	}
	return call
}

// stick adds the stickiness cookies the call's choice needs to the
// response headers h.
func (call *proxyCall) stick(h http.Header) {
	now := call.e.now()
	if call.setGroupCookie {
		call.e.codec.setStickyGroup(h, call.ruleKey, call.g.cfg.ARN, call.act.Stickiness, now)
	}
	call.e.codec.setStickyTarget(h, call.g, call.tv.key, now)
}

// transports are the shared connections to targets: HTTP/1.1 (HTTP and
// HTTPS groups) and HTTP/2 (ProtocolVersion HTTP2 or GRPC; h2c to HTTP
// groups). Targets' certificates are not verified, as ELB does not.
type transports struct {
	h1, h2   *http.Transport
	rp1, rp2 *httputil.ReverseProxy
	// fast is the HTTP listeners' fast path's pool (h1_backend.go).
	fast *backendPool
}

func newTransports(dialTimeout time.Duration, log *slog.Logger) *transports {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	mk := func(p http.Protocols) *http.Transport {
		return &http.Transport{
			DialContext:           d.DialContext,
			MaxIdleConnsPerHost:   1024,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   dialTimeout,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true,
			TLSClientConfig:       &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // ELB does not verify targets
			Protocols:             &p,
		}
	}
	var p1, p2 http.Protocols
	p1.SetHTTP1(true)
	p2.SetHTTP2(true)
	p2.SetUnencryptedHTTP2(true)
	t := &transports{h1: mk(p1), h2: mk(p2), fast: newBackendPool(dialTimeout)}
	t.rp1 = newReverseProxy(t.h1, log)
	t.rp2 = newReverseProxy(t.h2, log)
	return t
}

func (t *transports) closeIdle() {
	t.h1.CloseIdleConnections()
	t.h2.CloseIdleConnections()
	t.fast.closeIdle(true)
}

func newReverseProxy(tr http.RoundTripper, log *slog.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport: tr,
		// Body copy errors (a client or target gone mid-response) are
		// routine for a proxy.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		// Streaming responses (unknown length, text/event-stream) flush
		// on every write anyway; a body of known length is not worth a
		// syscall per write.
		FlushInterval:  0,
		BufferPool:     &copyBuffers,
		Rewrite:        rewrite,
		ModifyResponse: modifyResponse,
		ErrorHandler:   proxyError,
	}
}

// copyBuffers are the proxies' body copy buffers: without a pool every
// response, however small, would allocate ReverseProxy's own 32 KiB.
var copyBuffers bufferPool

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// rewrite points the outgoing request at the chosen target and adds the
// headers ELB adds.
func rewrite(pr *httputil.ProxyRequest) {
	call := pr.In.Context().Value(callKey{}).(*proxyCall)
	pr.Out.URL.Scheme = call.scheme
	pr.Out.URL.Host = call.tv.addr
	pr.Out.Host = pr.In.Host

	setForwardedHeaders(pr.Out.Header, pr.In, &call.tbl.l)
}

// setForwardedHeaders sets the headers ELB adds to a forwarded request
// (X-Forwarded-For/-Proto/-Port, X-Amzn-Trace-Id) on h, the outgoing
// headers of in.
func setForwardedHeaders(h http.Header, in *http.Request, l *Listener) {
	client := clientAddr(in.RemoteAddr)
	xff := ""
	if client.IsValid() {
		xff = client.String()
	}
	if prior := in.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		xff = strings.Join(prior, ", ") + ", " + xff
	}
	h.Set("X-Forwarded-For", xff)
	h.Set("X-Forwarded-Proto", strings.ToLower(l.Protocol))
	h.Set("X-Forwarded-Port", strconv.Itoa(int(l.Port)))
	if h.Get("X-Amzn-Trace-Id") == "" {
		h.Set("X-Amzn-Trace-Id", newTraceID(time.Now()))
	}
}

// newTraceID is an X-Amzn-Trace-Id root: 1-<epoch seconds hex>-<96 random
// bits hex>.
func newTraceID(now time.Time) string {
	var b [12]byte
	for i := 0; i < len(b); i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	// "Root=1-" + 8 hex digits + "-" + 24 hex digits, built in place: one
	// allocation per request instead of Sprintf's several.
	var out [7 + 8 + 1 + 24]byte
	copy(out[:], "Root=1-")
	var ts [4]byte
	binary.BigEndian.PutUint32(ts[:], uint32(now.Unix()))
	hex.Encode(out[7:15], ts[:])
	out[15] = '-'
	hex.Encode(out[16:], b[:])
	return string(out[:])
}

// modifyResponse runs when the target's response header arrives: the
// target answered in time, and stickiness cookies go on the response.
func modifyResponse(resp *http.Response) error {
	call, ok := resp.Request.Context().Value(callKey{}).(*proxyCall)
	if !ok {
		return nil
	}
	call.timer.Stop()
	call.stick(resp.Header)
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		// An upgraded connection (websocket) idles out like any other.
		resp.Body = newIdleCloser(rwc, call.idle)
	}
	return nil
}

// idleCloser closes an upgraded connection's target side once nothing
// has moved either way for idle; ReverseProxy then closes the client side.
type idleCloser struct {
	io.ReadWriteCloser
	idle  time.Duration
	last  atomic.Int64
	timer *time.Timer
}

func newIdleCloser(rwc io.ReadWriteCloser, idle time.Duration) *idleCloser {
	c := &idleCloser{ReadWriteCloser: rwc, idle: idle}
	c.last.Store(time.Now().UnixNano())
	c.timer = time.AfterFunc(idle, c.check)
	return c
}

func (c *idleCloser) check() {
	if quiet := time.Since(time.Unix(0, c.last.Load())); quiet < c.idle {
		c.timer.Reset(c.idle - quiet)
		return
	}
	_ = c.ReadWriteCloser.Close()
}

func (c *idleCloser) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	c.last.Store(time.Now().UnixNano())
	return n, err
}

func (c *idleCloser) Write(p []byte) (int, error) {
	c.last.Store(time.Now().UnixNano())
	return c.ReadWriteCloser.Write(p)
}

// Close stops the idle timer and closes the target side.
func (c *idleCloser) Close() error {
	c.timer.Stop()
	return c.ReadWriteCloser.Close()
}

// proxyError answers a request the target did not: 504 when it timed
// out, 502 when it could not be reached or broke off.
func proxyError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	switch {
	case errors.Is(context.Cause(ctx), errTargetTimeout):
		writeError(w, http.StatusGatewayTimeout)
	case errors.Is(context.Cause(ctx), errDrainCut):
		writeError(w, http.StatusBadGateway)
	case ctx.Err() != nil:
		// The client went away; nobody hears an answer.
		return
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			writeError(w, http.StatusGatewayTimeout)
			return
		}
		writeError(w, http.StatusBadGateway)
	}
}
