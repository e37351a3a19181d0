package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
)

// connSet tracks open connections so a listener can wait for them to end
// and force the rest closed: the ones http.Server forgets once hijacked
// (websockets) included.
type connSet struct {
	mu    sync.Mutex
	m     map[*trackedConn]struct{}
	empty chan struct{} // closed when m empties; nil until someone waits
}

func (s *connSet) add(c *trackedConn) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[*trackedConn]struct{}{}
	}
	s.m[c] = struct{}{}
	s.mu.Unlock()
}

func (s *connSet) remove(c *trackedConn) {
	s.mu.Lock()
	delete(s.m, c)
	if len(s.m) == 0 && s.empty != nil {
		close(s.empty)
		s.empty = nil
	}
	s.mu.Unlock()
}

// wait returns when no connection is open or ctx is done.
func (s *connSet) wait(ctx context.Context) {
	for {
		s.mu.Lock()
		if len(s.m) == 0 {
			s.mu.Unlock()
			return
		}
		if s.empty == nil {
			s.empty = make(chan struct{})
		}
		ch := s.empty
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// closeAll closes every open connection.
func (s *connSet) closeAll() {
	s.mu.Lock()
	cs := make([]*trackedConn, 0, len(s.m))
	for c := range s.m {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}

// trackedConn is a connection in a connSet; it leaves the set when
// closed.
type trackedConn struct {
	net.Conn
	set  *connSet
	once sync.Once
}

func track(set *connSet, c net.Conn) *trackedConn {
	tc := &trackedConn{Conn: c, set: set}
	set.add(tc)
	return tc
}

// Close closes the connection and forgets it.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.set.remove(c) })
	return err
}

// CloseWrite half-closes when the connection can.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// trackingListener tracks every connection it accepts.
type trackingListener struct {
	net.Listener
	set *connSet
}

// Accept wraps the next connection in the set.
func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return track(l.set, c), nil
}

// tracker counts running handlers so a listener can wait for them after
// forcing its connections closed.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{}
}

func (t *tracker) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
	t.mu.Unlock()
}

// wait returns when no handler runs.
func (t *tracker) wait() {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	ch := t.idle
	t.mu.Unlock()
	<-ch
}
