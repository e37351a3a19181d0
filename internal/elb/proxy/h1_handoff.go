package proxy

import (
	"bufio"
	"errors"
	"net"
	"sync"
)

// This file owns the hand-off of a client connection from the fast path
// (h1_server.go) to the listener's net/http server: a listener the
// http.Server serves, fed by a channel, and a connection that replays the
// bytes the fast path already read.

// handoffListener is the net.Listener the application listener's
// http.Server serves: its connections are the ones the fast path gives
// up (upgrades, Expect: 100-continue, h2c, malformed requests...).
type handoffListener struct {
	addrv net.Addr
	ch    chan net.Conn
	done  chan struct{}
	once  sync.Once
}

var _ net.Listener = (*handoffListener)(nil)

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addrv: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// Accept returns the next handed-off connection, net.ErrClosed once
// closed.
func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; connections handed off later are closed.
func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addrv }

// give hands c to the http.Server, or closes it when the listener is
// closed: no one would serve it.
func (l *handoffListener) give(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// replayConn is a client connection whose first bytes were already read
// into br: reads drain br before reading the connection again. net/http
// never reads a connection from two goroutines at once, so br needs no
// lock.
type replayConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes when the connection can (ReverseProxy's
// upgraded connections use it).
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
