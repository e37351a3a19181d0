package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// countingBackend is a test server that counts the connections it
// accepted.
func countingBackend(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &n
}

// fastListener applies one HTTP listener forwarding to a group over
// addr and returns the listener's address.
func fastListener(t *testing.T, addr string) string {
	t.Helper()
	e := newTestEngine(t, nil)
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, group("G", addr)))
	return e.Addr("L").String()
}

// rawClient is one client connection speaking HTTP/1.x by hand.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

// do sends a raw request and reads the response and its body.
func (r *rawClient) do(method, raw string) (*http.Response, string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, raw); err != nil {
		r.t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the server closed the connection.
func (r *rawClient) closed() bool {
	_, err := r.br.ReadByte()
	return err == io.EOF
}

func TestFastPathReusesTargetConnections(t *testing.T) {
	s, conns := countingBackend(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	base := "http://" + fastListener(t, hostPort(s))
	c := testClient()
	for range 50 {
		if resp, body := get(t, c, base+"/"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n > 2 {
		t.Errorf("target accepted %d connections for 50 sequential requests", n)
	}
}

func TestFastPathChunkedBodies(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		// Flushing before the end makes the response chunked.
		fmt.Fprintf(w, "te=%v len=%d ", r.TransferEncoding, r.ContentLength)
		w.(http.Flusher).Flush()
		fmt.Fprint(w, string(b))

	}))
	t.Cleanup(s.Close)
	rc := dialRaw(t, fastListener(t, hostPort(s)))
	for range 2 { // twice: the connection serves on after a chunked body
		resp, body := rc.do("POST", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
		if resp.StatusCode != 200 || body != "te=[chunked] len=-1 hello world" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("response transfer encoding %v", resp.TransferEncoding)
		}
	}
	resp, body := rc.do("POST", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	if resp.StatusCode != 200 || body != "te=[] len=3 abc" {
		t.Fatalf("length body: status %d body %q", resp.StatusCode, body)
	}
}

func TestFastPathBodilessResponses(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("Etag", `"x"`)
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "5")
			fmt.Fprint(w, "hello")
		}
	}))
	t.Cleanup(s.Close)
	rc := dialRaw(t, fastListener(t, hostPort(s)))
	for _, tc := range []struct {
		method, path string
		status       int
		length       string
	}{{"HEAD", "/", 200, "5"}, {"GET", "/204", 204, ""}, {"GET", "/304", 304, ""}, {"GET", "/", 200, "5"}} {
		resp, body := rc.do(tc.method, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != tc.status || body != map[bool]string{true: "hello"}[tc.method == "GET" && tc.status == 200] {
			t.Errorf("%s %s: status %d body %q", tc.method, tc.path, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Content-Length"); got != tc.length {
			t.Errorf("%s %s: content length %q, want %q", tc.method, tc.path, got, tc.length)
		}
	}
}

func TestFastPathConnectionClose(t *testing.T) {
	s, conns := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		fmt.Fprint(w, "ok")
	})
	addr := fastListener(t, hostPort(s))

	// The target closing: the client connection stays, the target's
	// connection is not reused.
	rc := dialRaw(t, addr)
	for range 3 {
		resp, body := rc.do("GET", "GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != 200 || body != "ok" || resp.Close {
			t.Fatalf("status %d body %q close %v", resp.StatusCode, body, resp.Close)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("target accepted %d connections, want 3 (one per Connection: close)", n)
	}

	// The client closing.
	rc = dialRaw(t, addr)
	resp, body := rc.do("GET", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || body != "ok" || !resp.Close {
		t.Fatalf("status %d body %q close %v", resp.StatusCode, body, resp.Close)
	}
	if !rc.closed() {
		t.Error("connection open after Connection: close")
	}
}

func TestFastPathHTTP10Client(t *testing.T) {
	s := namedBackend(t, "a")
	addr := fastListener(t, hostPort(s))
	rc := dialRaw(t, addr)
	resp, body := rc.do("GET", "GET / HTTP/1.0\r\n\r\n")
	if resp.StatusCode != 200 || body != "a" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	if !rc.closed() {
		t.Error("HTTP/1.0 connection without keep-alive left open")
	}
	rc = dialRaw(t, addr)
	for range 2 {
		resp, body := rc.do("GET", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		if resp.StatusCode != 200 || body != "a" || resp.Header.Get("Connection") != "keep-alive" {
			t.Fatalf("keep-alive: status %d body %q connection %q", resp.StatusCode, body, resp.Header.Get("Connection"))
		}
	}
}

// rawBackend serves each connection with f, then closes it.
func rawBackend(t *testing.T, f func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				f(c, bufio.NewReader(c))
			}()
		}
	}()
	return ln.Addr().String()
}

func TestFastPathResponseReadToClose(t *testing.T) {
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
	})
	rc := dialRaw(t, fastListener(t, addr))
	resp, body := rc.do("GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || body != "until the end" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	if !rc.closed() {
		t.Error("client connection open after a response read to close")
	}
}

func TestFastPathTargetClosesIdleConnection(t *testing.T) {
	var bodies atomic.Int64
	// One response per connection, advertised as keep-alive: the pooled
	// connection is dead when the next request comes.
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if b, _ := io.ReadAll(req.Body); len(b) > 0 {
			bodies.Add(1)
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	rc := dialRaw(t, fastListener(t, addr))
	for i := range 3 {
		// A GET without body is sent again on a fresh connection.
		if resp, body := rc.do("GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("GET %d: status %d body %q", i, resp.StatusCode, body)
		}
	}
	// A request with a body is never sent twice: it fails with 502.
	resp, _ := rc.do("POST", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("POST on a dead pooled connection: status %d, want 502", resp.StatusCode)
	}
	if n := bodies.Load(); n != 0 {
		t.Errorf("target read %d bodies, want 0", n)
	}
	// The next POST goes on a fresh connection.
	resp, _ = rc.do("POST", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
	if resp.StatusCode != 200 || bodies.Load() != 1 {
		t.Errorf("POST on a fresh connection: status %d, bodies %d", resp.StatusCode, bodies.Load())
	}
}

func TestFastPathHandsOffWebsocketAndExpectContinue(t *testing.T) {
	e := newTestEngine(t, nil)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Header.Get("Expect"), b)
	}))
	t.Cleanup(echo.Close)
	rules := []Rule{{ARN: "ws", Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/ws"}}},
		Actions: []Action{forward("WS")}}}
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"), rules...)},
		group("G", hostPort(echo)), group("WS", hostPort(wsEchoBackend(t)))))
	addr := e.Addr("L").String()

	// A websocket after a fast-path request on the same connection.
	rc := dialRaw(t, addr)
	if resp, body := rc.do("GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 200 || body != " " {
		t.Fatalf("first request: status %d body %q", resp.StatusCode, body)
	}
	u, _ := url.Parse("ws://" + addr + "/ws")
	wc, _, err := websocket.NewClient(rc.c, u, nil, 1024, 1024)
	if err != nil {
		t.Fatalf("websocket on a fast-path connection: %v", err)
	}
	wsRoundTrip(t, wc, "handed off")

	// Expect: 100-continue goes through net/http, which sends the 100.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader("payload"))
	req.Header.Set("Expect", "100-continue")
	resp, body := do(t, c, req)
	if resp.StatusCode != 200 || body != "100-continue payload" {
		t.Errorf("expect continue: status %d body %q", resp.StatusCode, body)
	}
}

func TestFastPathHTTPS(t *testing.T) {
	e := newTestEngine(t, nil)
	cert, _ := selfSigned(t, "a.test")
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Port"), b)
	}))
	t.Cleanup(s.Close)
	l := httpListener("L", forward("G"), Rule{ARN: "ws", Priority: 1,
		Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/ws"}}}, Actions: []Action{forward("WS")}})
	l.Protocol, l.Port = "HTTPS", 443
	l.Certificates = []tls.Certificate{cert}
	mustApply(t, e, config([]Listener{l}, group("G", hostPort(s)), group("WS", hostPort(wsEchoBackend(t)))))
	addr := e.Addr("L").String()

	// No ALPN (Go's client without ForceAttemptHTTP2): HTTP/1.1 on the
	// fast path, chunked upload included.
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // test certificate
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/", io.MultiReader(strings.NewReader("up"), strings.NewReader("load")))
		resp, body := do(t, c, req)
		if resp.ProtoMajor != 1 || body != "https 443 upload" {
			t.Fatalf("%s: body %q", resp.Proto, body)
		}
	}
	// A websocket over TLS is handed to net/http after the handshake.
	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // test certificate
	wc, _, err := d.Dial("wss://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer wc.Close()
	wsRoundTrip(t, wc, "over tls")
}

func TestFastPathSendsOneContentLength(t *testing.T) {
	addr := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		n := 0
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(strings.ToLower(line), "content-length:") {
				n++
			}
			if line == "\r\n" {
				break
			}
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d", n)
	})
	rc := dialRaw(t, fastListener(t, addr))
	resp, body := rc.do("POST", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	if resp.StatusCode != 200 || body != "1" {
		t.Errorf("status %d, target saw %s Content-Length headers, want 1", resp.StatusCode, body)
	}
}
