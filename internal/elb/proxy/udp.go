package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// udpListener is a network listener over UDP: a flow table keyed by the
// client's address, one upstream socket per flow, replies sent back from
// the listener's socket. Flows expire after UDPIdleTimeout with no
// datagram either way.
type udpListener struct {
	e     *Engine
	tbl   atomic.Pointer[table]
	pc    *net.UDPConn
	local netip.AddrPort
	wg    sync.WaitGroup

	mu     sync.Mutex
	flows  map[netip.AddrPort]*udpFlow
	closed bool
}

var _ listenerRuntime = (*udpListener)(nil)

// udpFlow is one client's flow to one target.
type udpFlow struct {
	client netip.AddrPort
	up     *net.UDPConn
	ts     *targetState
	last   atomic.Int64 // UnixNano of the last datagram either way
	// stopCut unhooks the flow from its target's drain cut.
	stopCut func() bool
}

func newUDPListener(e *Engine, tbl *table, addr string) (*udpListener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("resolve udp %s: %w", addr, err)
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("listen udp: %w", err)
	}
	u := &udpListener{e: e, pc: pc, flows: map[netip.AddrPort]*udpFlow{}}
	u.local = addrPort(pc.LocalAddr())
	u.tbl.Store(tbl)
	u.wg.Add(1)
	go u.readLoop()
	return u, nil
}

func (u *udpListener) setTable(t *table) { u.tbl.Store(t) }
func (u *udpListener) addr() net.Addr    { return u.pc.LocalAddr() }

// stopAccepting closes the socket; UDP has nothing in flight to wait for,
// so the flows go too.
func (u *udpListener) stopAccepting() {
	u.mu.Lock()
	u.closed = true
	flows := u.flows
	u.flows = map[netip.AddrPort]*udpFlow{}
	u.mu.Unlock()
	_ = u.pc.Close()
	for _, f := range flows {
		_ = f.up.Close()
	}
}

func (u *udpListener) finish(context.Context) {
	u.stopAccepting()
	u.wg.Wait()
}

func (u *udpListener) readLoop() {
	defer u.wg.Done()
	buf := make([]byte, 64*1024)
	for {
		n, client, err := u.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			u.e.log.Debug("udp read", "addr", u.local.String(), "err", err)
			continue
		}
		f := u.flow(client)
		if f == nil {
			continue
		}
		f.last.Store(time.Now().UnixNano())
		_, err = f.up.Write(buf[:n])
		if errors.Is(err, net.ErrClosed) {
			// The flow ended (idle or cut) as this datagram came in: it
			// starts a new one.
			u.forget(f)
			if f = u.flow(client); f != nil {
				_, err = f.up.Write(buf[:n])
			}
		}
		if err != nil {
			u.e.log.Debug("udp to target", "client", client.String(), "err", err)
		}
	}
}

// flow returns the client's flow, opening one to a newly chosen target
// when it has none; nil when no target is usable.
func (u *udpListener) flow(client netip.AddrPort) *udpFlow {
	u.mu.Lock()
	defer u.mu.Unlock()
	if f := u.flows[client]; f != nil || u.closed {
		return f
	}
	tbl := u.tbl.Load()
	act := tbl.forwardAction()
	if act == nil {
		return nil
	}
	g := pickGroup(tbl.groups, act.Forward, "")
	if g == nil {
		return nil
	}
	tv := g.pick(netHint(g, "udp", client, u.local), u.e.now())
	if tv == nil {
		return nil
	}
	// Connecting a UDP socket sends nothing, so this does not block.
	ctx, cancel := context.WithTimeout(u.e.ctx, u.e.opts.DialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", tv.addr)
	if err != nil {
		u.e.log.Debug("dial udp target", "target", tv.key, "err", err)
		return nil
	}
	f := &udpFlow{client: client, up: c.(*net.UDPConn), ts: tv.st}
	f.last.Store(time.Now().UnixNano())
	u.e.acquire(tv.st)
	u.flows[client] = f
	f.stopCut = tv.st.onCut(func() { _ = f.up.Close() })
	u.wg.Add(1)
	go u.replies(f)
	return f
}

// replies sends a flow's datagrams from the target back to the client
// until the flow idles out or the listener closes.
func (u *udpListener) replies(f *udpFlow) {
	defer u.wg.Done()
	defer u.e.release(f.ts)
	defer func() {
		f.stopCut()
		_ = f.up.Close()
		u.forget(f)
	}()
	idle := u.e.opts.UDPIdleTimeout
	buf := make([]byte, 64*1024)
	for {
		_ = f.up.SetReadDeadline(time.Unix(0, f.last.Load()).Add(idle))
		n, err := f.up.Read(buf)
		if n > 0 {
			f.last.Store(time.Now().UnixNano())
			if _, werr := u.pc.WriteToUDPAddrPort(buf[:n], f.client); werr != nil && errors.Is(werr, net.ErrClosed) {
				return
			}
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if time.Since(time.Unix(0, f.last.Load())) < idle {
				continue
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		// ICMP unreachable and the like: the flow stays until idle.
	}
}

// forget drops f from the flow table if it is still there.
func (u *udpListener) forget(f *udpFlow) {
	u.mu.Lock()
	if u.flows[f.client] == f {
		delete(u.flows, f.client)
	}
	u.mu.Unlock()
}
