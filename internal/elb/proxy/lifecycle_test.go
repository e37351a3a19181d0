package proxy

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsEchoBackend echoes websocket messages.
func wsEchoBackend(t testing.TB) *httptest.Server {
	up := websocket.Upgrader{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func wsRoundTrip(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("websocket write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, got, err := c.ReadMessage()
	if err != nil || string(got) != msg {
		t.Fatalf("websocket echo: %q, %v", got, err)
	}
}

func TestApplyKeepsInflightRequestAndWebsocket(t *testing.T) {
	e := newTestEngine(t, nil)
	held, release := make(chan string, 1), make(chan struct{})
	hold := holdBackend(t, "a", held, release)
	ws := wsEchoBackend(t)
	rules := []Rule{{ARN: "ws", Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/ws"}}},
		Actions: []Action{forward("WS")}}}
	cfg := config([]Listener{httpListener("L", forward("G"), rules...)}, group("G", hostPort(hold)), group("WS", hostPort(ws)))
	mustApply(t, e, cfg)
	base := baseURL(t, e, "L")

	done := make(chan string, 1)
	go func() {
		resp, err := testClient().Get(base + "/hold")
		if err != nil {
			done <- err.Error()
			return
		}
		resp.Body.Close()
		done <- fmt.Sprint(resp.StatusCode)
	}()
	<-held
	wc, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	defer wc.Close()
	wsRoundTrip(t, wc, "before")

	// New rules, a new listener, new groups: the listener stays bound.
	for i := range 5 {
		l := httpListener("L", Action{Type: ActionFixedResponse, Fixed: &FixedResponse{StatusCode: 200, Body: fmt.Sprint(i)}}, rules...)
		cfg := config([]Listener{l, httpListener("L2", forward("G"))}, group("G", hostPort(hold)), group("WS", hostPort(ws)))
		mustApply(t, e, cfg)
	}
	if _, body := get(t, testClient(), base+"/"); body != "4" {
		t.Errorf("new rules not in effect: %q", body)
	}
	wsRoundTrip(t, wc, "after apply")
	close(release)
	if got := <-done; got != "200" {
		t.Fatalf("in-flight request across Apply: %s", got)
	}

	// Removing the listener lets the websocket live until drained, but
	// stops new connections.
	mustApply(t, e, config(nil))
	wsRoundTrip(t, wc, "after removal")
	if _, err := testClient().Get(base + "/"); err == nil {
		t.Error("removed listener still accepts")
	}
}

func TestListenerRemovalAndRebind(t *testing.T) {
	e := newTestEngine(t, nil)
	fixed := func(arn, body string) Listener {
		return httpListener(arn, Action{Type: ActionFixedResponse, Fixed: &FixedResponse{StatusCode: 200, Body: body}})
	}
	mustApply(t, e, config([]Listener{fixed("L1", "one")}))
	addr := e.Addr("L1").String()

	// Another listener ARN on the same address takes it over.
	l2 := fixed("L2", "two")
	l2.Addr = addr
	mustApply(t, e, config([]Listener{l2}))
	if _, body := get(t, testClient(), "http://"+addr+"/"); body != "two" {
		t.Errorf("after rebind: %q", body)
	}
	if e.Addr("L1") != nil {
		t.Error("L1 still bound")
	}

	// A protocol change rebinds on the same address.
	l2.Protocol = "TCP"
	l2.Type = TypeNetwork
	mustApply(t, e, config([]Listener{l2}))
	l2.Protocol, l2.Type = "HTTP", TypeApplication
	mustApply(t, e, config([]Listener{l2}))
	if _, body := get(t, testClient(), "http://"+addr+"/"); body != "two" {
		t.Errorf("after protocol round trip: %q", body)
	}

	// An address someone else holds fails that listener only.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	l3 := fixed("L3", "three")
	l3.Addr = busy.Addr().String()
	err = e.Apply(config([]Listener{l2, l3}))
	if err == nil || !strings.Contains(err.Error(), "L3") {
		t.Errorf("apply with a taken address: %v", err)
	}
	if _, body := get(t, testClient(), "http://"+addr+"/"); body != "two" {
		t.Errorf("other listener after a bind failure: %q", body)
	}

	// A TLS listener without a certificate is refused by name.
	l4 := fixed("L4", "four")
	l4.Protocol = "HTTPS"
	if err := e.Apply(config([]Listener{l2, l4})); err == nil || !strings.Contains(err.Error(), "L4") {
		t.Errorf("HTTPS without a certificate: %v", err)
	}

	mustApply(t, e, config(nil))
	_, err = testClient().Get("http://" + addr + "/")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("after removal: %v, want connection refused", err)
	}
}

// selfSigned makes a certificate for names.
func selfSigned(t testing.TB, names ...string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, leaf
}

func TestHTTPSWithSNI(t *testing.T) {
	e := newTestEngine(t, nil)
	certA, leafA := selfSigned(t, "a.test")
	certB, leafB := selfSigned(t, "*.b.test")
	protos := make(chan string, 4)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.Header.Get("X-Forwarded-Proto") + " " + r.Header.Get("X-Forwarded-Port")
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(s.Close)
	l := httpListener("L", forward("G"))
	l.Protocol, l.Port = "HTTPS", 443
	l.Certificates = []tls.Certificate{certA, certB}
	mustApply(t, e, config([]Listener{l}, group("G", hostPort(s))))
	addr := e.Addr("L").String()

	roots := x509.NewCertPool()
	roots.AddCert(leafA)
	roots.AddCert(leafB)
	for _, tc := range []struct{ sni, wantCN string }{{"a.test", "a.test"}, {"x.b.test", "*.b.test"}, {"", "a.test"}} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: tc.sni, InsecureSkipVerify: tc.sni == ""},
			ForceAttemptHTTP2: true}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, body := get(t, c, "https://"+addr+"/")
		tr.CloseIdleConnections()
		if body != "ok" {
			t.Errorf("sni %q: body %q", tc.sni, body)
		}
		if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != tc.wantCN {
			t.Errorf("sni %q: certificate %q, want %q", tc.sni, cn, tc.wantCN)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("sni %q: %s, want HTTP/2 by ALPN", tc.sni, resp.Proto)
		}
		if got := <-protos; got != "https 443" {
			t.Errorf("forwarded proto/port %q", got)
		}
	}
}

func TestHTTP2AndHTTPSTargets(t *testing.T) {
	e := newTestEngine(t, nil)
	h2c := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Proto)
	}))
	h2c.Config.Protocols = new(http.Protocols)
	h2c.Config.Protocols.SetHTTP1(true)
	h2c.Config.Protocols.SetUnencryptedHTTP2(true)
	h2c.Start()
	t.Cleanup(h2c.Close)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "tls "+r.Proto)
	}))
	t.Cleanup(tlsSrv.Close)

	g2 := group("H2", hostPort(h2c))
	g2.ProtocolVersion = "HTTP2"
	gs := group("TLS", strings.TrimPrefix(tlsSrv.URL, "https://"))
	gs.Protocol = "HTTPS"
	l := httpListener("L", forward("H2"), Rule{ARN: "tls", Priority: 1,
		Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/tls"}}}, Actions: []Action{forward("TLS")}})
	mustApply(t, e, config([]Listener{l}, g2, gs))
	base, c := baseURL(t, e, "L"), testClient()
	if _, body := get(t, c, base+"/"); body != "HTTP/2.0" {
		t.Errorf("HTTP2 group: target saw %q", body)
	}
	if _, body := get(t, c, base+"/tls"); body != "tls HTTP/1.1" {
		t.Errorf("HTTPS group: target saw %q", body)
	}
}

func TestStreamingPassesThrough(t *testing.T) {
	e := newTestEngine(t, nil)
	next := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			<-next // the client saw this event before the next is written
		}
	}))
	t.Cleanup(s.Close)
	mustApply(t, e, config([]Listener{httpListener("L", forward("G"))}, group("G", hostPort(s))))
	resp, err := testClient().Get(baseURL(t, e, "L") + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := r.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: %d\n", i) {
			t.Fatalf("event %d: %q, %v", i, line, err)
		}
		_, _ = r.ReadString('\n')
		next <- struct{}{}
	}
}

func TestWebsocketIdlesOut(t *testing.T) {
	e := newTestEngine(t, nil)
	l := httpListener("L", forward("WS"))
	l.IdleTimeout = 300 * time.Millisecond
	mustApply(t, e, config([]Listener{l}, group("WS", hostPort(wsEchoBackend(t)))))
	wc, _, err := websocket.DefaultDialer.Dial("ws://"+e.Addr("L").String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	// Traffic keeps it open past the idle timeout...
	for range 8 {
		wsRoundTrip(t, wc, "ping")
		time.Sleep(50 * time.Millisecond) // spacing traffic, not waiting for state
	}
	// ...silence closes it.
	_ = wc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := wc.ReadMessage(); err == nil {
		t.Error("idle websocket still open")
	}
}
