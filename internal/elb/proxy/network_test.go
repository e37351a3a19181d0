package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// tcpEcho echoes each connection (prefixed by name) until the client
// half-closes, then writes "bye" and closes.
func tcpEcho(t testing.TB, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.WriteString(c, name+":")
				_, _ = io.Copy(c, c)
				_, _ = io.WriteString(c, "bye")
			})
		}
	})
	return ln.Addr().String()
}

// udpEcho echoes datagrams prefixed by name.
func udpEcho(t testing.TB, name string, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
	return pc.LocalAddr().String()
}

func netListener(arn, proto string, groupARN string) Listener {
	return Listener{ARN: arn, Type: TypeNetwork, Addr: "127.0.0.1:0", Port: 9000, Protocol: proto,
		Rules: []Rule{{ARN: arn + "/default", Actions: []Action{forward(groupARN)}}}}
}

func netGroup(arn, proto string, addrs ...string) *TargetGroup {
	g := group(arn, addrs...)
	g.Protocol = proto
	g.ProtocolVersion = ""
	return g
}

// tcpExchange writes msg, half-closes and reads everything back.
func tcpExchange(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("close write: %v", err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func TestTCPPassThrough(t *testing.T) {
	e := newTestEngine(t, nil)
	g := netGroup("G", "TCP", tcpEcho(t, "a"))
	mustApply(t, e, config([]Listener{netListener("N", "TCP", "G")}, g))
	c, err := net.Dial("tcp", e.Addr("N").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := tcpExchange(t, c, "hello"); got != "a:hellobye" {
		t.Errorf("got %q, want a:hellobye (half-close passed through)", got)
	}
}

func TestTLSListenerToTCPAndTLSTargets(t *testing.T) {
	e := newTestEngine(t, nil)
	cert, leaf := selfSigned(t, "nlb.test")
	// A TLS target: terminate in front of an echo.
	tlsTarget, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	echo := tcpEcho(t, "b")
	var wg sync.WaitGroup
	t.Cleanup(func() { tlsTarget.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := tlsTarget.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				up, err := net.Dial("tcp", echo)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(c, up)
			})
		}
	})

	for _, tc := range []struct {
		name, groupProto, target, want string
	}{
		{"tcp target", "TCP", tcpEcho(t, "a"), "a:hi"},
		{"tls target", "TLS", tlsTarget.Addr().String(), "b:hi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := netListener("N", "TLS", "G")
			l.Certificates = []tls.Certificate{cert}
			mustApply(t, e, config([]Listener{l}, netGroup("G", tc.groupProto, tc.target)))
			pool := newPool(leaf)
			c, err := tls.Dial("tcp", e.Addr("N").String(), &tls.Config{RootCAs: pool, ServerName: "nlb.test"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "hi")
			r := bufio.NewReader(c)
			buf := make([]byte, len(tc.want))
			if _, err := io.ReadFull(r, buf); err != nil || string(buf) != tc.want {
				t.Errorf("got %q, %v; want %q", buf, err, tc.want)
			}
		})
	}
}

func TestUDPPassThrough(t *testing.T) {
	e := newTestEngine(t, nil)
	g := netGroup("G", "UDP", udpEcho(t, "a", "127.0.0.1:0"))
	mustApply(t, e, config([]Listener{netListener("N", "UDP", "G")}, g))
	c, err := net.Dial("udp", e.Addr("N").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, msg := range []string{"one", "two"} {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "a:"+msg {
			t.Errorf("got %q, %v", buf[:n], err)
		}
	}
}

func TestUDPFlowIdleExpiry(t *testing.T) {
	rep := newFakeReporter()
	e := New(Options{Reporter: rep, Logger: quietLogger(), UDPIdleTimeout: 50 * time.Millisecond, newProber: noProber})
	t.Cleanup(e.Close)
	g := netGroup("G", "UDP", udpEcho(t, "a", "127.0.0.1:0"))
	mustApply(t, e, config([]Listener{netListener("N", "UDP", "G")}, g))
	c, err := net.Dial("udp", e.Addr("N").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "x")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	// Drain the target: its one flow ends when it idles out.
	g.Targets[0].Draining = true
	mustApply(t, e, config([]Listener{netListener("N", "UDP", "G")}, g))
	waitFor(t, "flow expiry drains the target", func() bool { return rep.drainCount("G", "t0:80") == 1 })
}

func TestTCPUDPSamePort(t *testing.T) {
	e := newTestEngine(t, nil)
	tcpAddr := tcpEcho(t, "t")
	host, port, _ := net.SplitHostPort(tcpAddr)
	// The target serves both on one port, as a TCP_UDP target does.
	udpEcho(t, "u", net.JoinHostPort(host, port))
	g := netGroup("G", "TCP_UDP", tcpAddr)
	mustApply(t, e, config([]Listener{netListener("N", "TCP_UDP", "G")}, g))
	addr := e.Addr("N").String()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := tcpExchange(t, c, "x"); got != "t:xbye" {
		t.Errorf("tcp: %q", got)
	}
	u, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	_ = u.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(u, "y")
	buf := make([]byte, 64)
	n, err := u.Read(buf)
	if err != nil || string(buf[:n]) != "u:y" {
		t.Errorf("udp: %q, %v", buf[:n], err)
	}
}

func TestNetworkSourceIPStickinessAndHealth(t *testing.T) {
	e := newTestEngine(t, nil)
	g := netGroup("G", "TCP", tcpEcho(t, "a"), tcpEcho(t, "b"), tcpEcho(t, "c"))
	g.Stickiness = Stickiness{Enabled: true, Type: "source_ip"}
	mustApply(t, e, config([]Listener{netListener("N", "TCP", "G")}, g))
	markHealthy(e, g)
	addr := e.Addr("N").String()
	first := ""
	for range 10 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(tcpExchange(t, c, ""), ":")[0]
		c.Close()
		if first == "" {
			first = got
		} else if got != first {
			t.Fatalf("source_ip stickiness: %s then %s", first, got)
		}
	}
}

// TestTargetRemovedStopsReceiving: a target gone from the config gets no
// new connection while one already open to it goes on.
func TestTargetRemovedStopsReceiving(t *testing.T) {
	e := newTestEngine(t, nil)
	a, b := tcpEcho(t, "a"), tcpEcho(t, "b")
	g := netGroup("G", "TCP", a)
	mustApply(t, e, config([]Listener{netListener("N", "TCP", "G")}, g))
	addr := e.Addr("N").String()
	open, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	_ = open.SetDeadline(time.Now().Add(10 * time.Second))
	hello := make([]byte, 2)
	if _, err := io.ReadFull(open, hello); err != nil || string(hello) != "a:" {
		t.Fatalf("open connection greeting %q, %v", hello, err)
	}
	mustApply(t, e, config([]Listener{netListener("N", "TCP", "G")}, netGroup("G", "TCP", b)))
	for range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := tcpExchange(t, c, ""); got != "b:bye" {
			t.Errorf("new connection after removal: %q", got)
		}
		c.Close()
	}
	if got := tcpExchange(t, open, "still"); got != "stillbye" {
		t.Errorf("open connection: %q", got)
	}
}

func newPool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestTCPConnectionCutAtDrainUntil(t *testing.T) {
	rep := newFakeReporter()
	e := newTestEngine(t, rep)
	g := netGroup("G", "TCP", tcpEcho(t, "a"))
	mustApply(t, e, config([]Listener{netListener("N", "TCP", "G")}, g))
	c, err := net.Dial("tcp", e.Addr("N").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	hello := make([]byte, 2)
	if _, err := io.ReadFull(c, hello); err != nil {
		t.Fatal(err)
	}
	g.Targets[0].Draining = true
	g.Targets[0].DrainUntil = time.Now().Add(20 * time.Millisecond)
	mustApply(t, e, config([]Listener{netListener("N", "TCP", "G")}, g))
	if n := rep.drainCount("G", "t0:80"); n != 0 {
		t.Fatalf("drained with a connection open")
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("read after cut: %v", err)
	}
	waitFor(t, "drain reported", func() bool { return rep.drainCount("G", "t0:80") == 1 })
}
