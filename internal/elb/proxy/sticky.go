package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash/fnv"
	"net/http"
	"net/netip"
	"time"
)

// Stickiness cookies, named as ELB names them.
const (
	cookieLB       = "AWSALB"
	cookieApp      = "AWSALBAPP-0"
	cookieTG       = "AWSALBTG"
	stickyLB       = "lb_cookie"
	stickyApp      = "app_cookie"
	stickySourceIP = "source_ip"
	macLen         = 12
)

// cookieCodec makes and reads the opaque stickiness cookie values: a
// truncated HMAC over (scope, name) followed by the name, base64url. The
// scope (a group ARN, or "tg:" plus the rule) keeps a value minted for one
// group from steering another; the MAC keeps clients from naming targets.
type cookieCodec struct{ key []byte }

func (c cookieCodec) mac(scope, name string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write([]byte(name))
	return m.Sum(nil)[:macLen]
}

// encode returns the cookie value naming name within scope.
func (c cookieCodec) encode(scope, name string) string {
	b := append(c.mac(scope, name), name...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decode returns the name a value carries, "" when it is not one this
// codec minted for scope.
func (c cookieCodec) decode(scope, value string) string {
	b, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(b) <= macLen {
		return ""
	}
	name := string(b[macLen:])
	if !hmac.Equal(b[:macLen], c.mac(scope, name)) {
		return ""
	}
	return name
}

// stickyTarget returns the target key r's stickiness cookie names for g,
// "" when stickiness is off or the cookie is absent or not for g.
func (c cookieCodec) stickyTarget(r *http.Request, g *groupView) string {
	s := g.cfg.Stickiness
	if !s.Enabled {
		return ""
	}
	name := ""
	switch s.Type {
	case stickyLB, "":
		name = cookieLB
	case stickyApp:
		name = cookieApp
	default:
		return ""
	}
	ck, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.decode(g.cfg.ARN, ck.Value)
}

// setStickyTarget adds g's stickiness cookie for target t to the
// response headers h. For app_cookie it does so only when the target's
// response sets the application's cookie, as ELB does.
func (c cookieCodec) setStickyTarget(h http.Header, g *groupView, key string, now time.Time) {
	s := g.cfg.Stickiness
	if !s.Enabled {
		return
	}
	name := cookieLB
	switch s.Type {
	case stickyLB, "":
	case stickyApp:
		if !setsCookie(h, s.CookieName) {
			return
		}
		name = cookieApp
	default:
		return
	}
	ck := &http.Cookie{Name: name, Value: c.encode(g.cfg.ARN, key), Path: "/"}
	if s.Duration > 0 {
		ck.Expires = now.Add(s.Duration).UTC()
	}
	h.Add("Set-Cookie", ck.String())
}

// setsCookie reports whether response headers set the cookie name.
func setsCookie(h http.Header, name string) bool {
	if name == "" {
		return false
	}
	for _, sc := range h.Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(sc); err == nil && ck.Name == name {
			return true
		}
	}
	return false
}

// tgScope is the scope of a rule's group-stickiness cookie.
func tgScope(ruleKey string) string { return "tg:" + ruleKey }

// stickyGroup returns the group ARN r's AWSALBTG cookie names for the
// rule, "" when none.
func (c cookieCodec) stickyGroup(r *http.Request, ruleKey string) string {
	ck, err := r.Cookie(cookieTG)
	if err != nil {
		return ""
	}
	return c.decode(tgScope(ruleKey), ck.Value)
}

// setStickyGroup adds the AWSALBTG cookie naming groupARN.
func (c cookieCodec) setStickyGroup(h http.Header, ruleKey, groupARN string, d time.Duration, now time.Time) {
	ck := &http.Cookie{Name: cookieTG, Value: c.encode(tgScope(ruleKey), groupARN), Path: "/",
		Expires: now.Add(d).UTC()}
	h.Add("Set-Cookie", ck.String())
}

// sourceIPHash hashes a client IP for source_ip stickiness.
func sourceIPHash(ip netip.Addr) uint64 {
	h := fnv.New64a()
	b := ip.Unmap().As16()
	h.Write(b[:])
	return h.Sum64()
}

// flowHash hashes a flow's 5-tuple (protocol, client and listener
// addresses) for network target choice.
func flowHash(proto string, client, local netip.AddrPort) uint64 {
	h := fnv.New64a()
	h.Write([]byte(proto))
	for _, ap := range []netip.AddrPort{client, local} {
		b := ap.Addr().Unmap().As16()
		h.Write(b[:])
		p := ap.Port()
		h.Write([]byte{byte(p >> 8), byte(p)})
	}
	return h.Sum64()
}
