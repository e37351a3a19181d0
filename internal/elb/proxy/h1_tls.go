package proxy

import (
	"crypto/tls"
	"time"
)

// This file owns the fast path's TLS side: an HTTPS listener's
// connections are handshaken by the fast path; those whose ALPN chose
// HTTP/2 go to the net/http server as they are, the others (http/1.1 or
// no ALPN) are served like cleartext ones.

// alpnProtos are what an HTTPS listener offers, as net/http's ServeTLS
// would.
var alpnProtos = []string{"h2", "http/1.1"}

// handshake runs the TLS handshake on h's connection, bounded by the idle
// timeout. ok is false when the connection ended: it failed, or it
// negotiated HTTP/2 and was handed to net/http.
func (h *h1Conn) handshake(idle time.Duration) (tc *tls.Conn, ok bool) {
	tc = tls.Server(h.c, h.a.tlsConf)
	_ = h.c.SetDeadline(time.Now().Add(idle))
	if err := tc.HandshakeContext(h.a.e.ctx); err != nil {
		h.a.e.log.Debug("tls handshake", "remote", h.remote, "err", err)
		_ = h.c.Close()
		return nil, false
	}
	_ = h.c.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		// net/http's server finds a *tls.Conn and serves it HTTP/2.
		h.a.hand.give(tc)
		return nil, false
	}
	return tc, true
}
