package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// tcpListener is a network listener over TCP or TLS: each connection is
// (TLS-terminated and) piped to one target.
type tcpListener struct {
	e     *Engine
	tbl   atomic.Pointer[table]
	ln    net.Listener
	tls   bool
	conns connSet // client and target connections
	wg    sync.WaitGroup
	// ctx ends when the listener is cut: dials and handshakes stop.
	ctx    context.Context
	cancel context.CancelFunc
}

var _ listenerRuntime = (*tcpListener)(nil)

func newTCPListener(e *Engine, tbl *table, addr string) (*tcpListener, error) {
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen tcp: %w", err)
	}
	t := &tcpListener{e: e, tls: strings.EqualFold(tbl.l.Protocol, "TLS")}
	t.ctx, t.cancel = context.WithCancel(e.ctx)
	t.tbl.Store(tbl)
	t.ln = trackingListener{Listener: raw, set: &t.conns}
	t.wg.Add(1)
	go t.acceptLoop()
	return t, nil
}

func (t *tcpListener) setTable(tbl *table) { t.tbl.Store(tbl) }
func (t *tcpListener) addr() net.Addr      { return t.ln.Addr() }
func (t *tcpListener) stopAccepting()      { _ = t.ln.Close() }

func (t *tcpListener) finish(ctx context.Context) {
	t.conns.wait(ctx)
	t.cancel()
	t.conns.closeAll()
	t.wg.Wait()
}

func (t *tcpListener) acceptLoop() {
	defer t.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait, then go on.
			t.e.log.Warn("accept", "addr", t.ln.Addr().String(), "err", err)
			select {
			case <-time.After(backoff):
			case <-t.ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		t.wg.Add(1)
		go t.serve(c)
	}
}

// serve pipes one client connection to a target.
func (t *tcpListener) serve(c net.Conn) {
	defer t.wg.Done()
	defer c.Close()
	tbl := t.tbl.Load()
	idle := tbl.l.IdleTimeout
	if idle <= 0 {
		idle = defaultNetIdleTimeout
	}
	client := c
	if t.tls {
		tc := tls.Server(c, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: tbl.certificate})
		ctx, cancel := context.WithTimeout(t.ctx, t.e.opts.DialTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			t.e.log.Debug("tls handshake", "listener", tbl.l.ARN, "client", c.RemoteAddr().String(), "err", err)
			return
		}
		client = tc
	}
	tv, g := t.choose(tbl, c)
	if tv == nil {
		return // no target: the client sees a reset, as with NLB
	}
	t.e.acquire(tv.st)
	defer t.e.release(tv.st)

	up, err := t.dial(g, tv)
	if err != nil {
		t.e.log.Debug("dial target", "group", g.cfg.ARN, "target", tv.key, "err", err)
		return
	}
	defer up.Close()
	defer tv.st.onCut(func() {
		client.Close()
		up.Close()
	})()
	pipe(client, up, idle)
}

// choose picks the target for a connection: by client IP under source_ip
// stickiness, else by flow hash.
func (t *tcpListener) choose(tbl *table, c net.Conn) (*targetView, *groupView) {
	act := tbl.forwardAction()
	if act == nil {
		return nil, nil
	}
	g := pickGroup(tbl.groups, act.Forward, "")
	if g == nil {
		return nil, nil
	}
	return g.pick(netHint(g, "tcp", addrPort(c.RemoteAddr()), addrPort(c.LocalAddr())), t.e.now()), g
}

// netHint is a network listener's pick hint.
func netHint(g *groupView, proto string, client, local netip.AddrPort) pickHint {
	if g.cfg.Stickiness.Enabled && g.cfg.Stickiness.Type == stickySourceIP {
		return pickHint{useHash: true, hash: sourceIPHash(client.Addr())}
	}
	return pickHint{useHash: true, hash: flowHash(proto, client, local)}
}

// dial connects to a target (TLS to a TLS group), bounded by DialTimeout;
// the connection joins the listener's set so a cut closes it.
func (t *tcpListener) dial(g *groupView, tv *targetView) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.e.opts.DialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", tv.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", tv.addr, err)
	}
	up := net.Conn(track(&t.conns, raw))
	if strings.EqualFold(g.cfg.Protocol, "TLS") {
		tc := tls.Client(up, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // ELB does not verify targets
		if err := tc.HandshakeContext(ctx); err != nil {
			up.Close()
			return nil, fmt.Errorf("tls to %s: %w", tv.addr, err)
		}
		up = tc
	}
	return up, nil
}

// pipe copies both ways until both sides finish; an EOF one way
// half-closes the other side, an error or idle timeout closes both.
func pipe(a, b net.Conn, idle time.Duration) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyHalf(b, a, idle, &last)
	}()
	copyHalf(a, b, idle, &last)
	<-done
}

// copyHalf copies src to dst. Activity either way (last) keeps both
// directions alive; only when neither moved for idle is the pair cut.
func copyHalf(dst, src net.Conn, idle time.Duration, last *atomic.Int64) {
	buf := make([]byte, 32*1024)
	for {
		_ = src.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			_ = dst.SetWriteDeadline(time.Now().Add(idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				dst.Close()
				return
			}
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < idle {
			continue
		}
		if errors.Is(err, io.EOF) {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return
			}
		}
		src.Close()
		dst.Close()
		return
	}
}

// addrPort converts a net.Addr of TCP or UDP to netip.
func addrPort(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.TCPAddr:
		return v.AddrPort()
	case *net.UDPAddr:
		return v.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
