package proxy

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// serverHeader names the load balancer on the responses it makes itself.
const serverHeader = "awselb/2.0"

// redirectInput is what a redirect's placeholders stand for.
type redirectInput struct {
	Protocol string // HTTP or HTTPS, as the listener's protocol
	Host     string // request host without port
	Port     int32  // listener port
	Path     string // request path, leading "/" included
	Query    string // raw query without "?"
}

// redirectLocation builds the Location of a redirect as ELB does: each
// component defaults to its own placeholder, the protocol is lower-cased,
// the port is dropped when it is the protocol's default, the path gets a
// leading "/" and the query a "?" only when non-empty.
func redirectLocation(rd *Redirect, in redirectInput) string {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	rep := strings.NewReplacer(
		"#{protocol}", strings.ToLower(in.Protocol),
		"#{host}", in.Host,
		"#{port}", strconv.Itoa(int(in.Port)),
		"#{path}", strings.TrimPrefix(in.Path, "/"),
		"#{query}", in.Query,
	)
	proto := strings.ToLower(rep.Replace(or(rd.Protocol, "#{protocol}")))
	host := rep.Replace(or(rd.Host, "#{host}"))
	port := rep.Replace(or(rd.Port, "#{port}"))
	path := rep.Replace(or(rd.Path, "/#{path}"))
	query := rep.Replace(or(rd.Query, "#{query}"))

	var b strings.Builder
	b.WriteString(proto)
	b.WriteString("://")
	b.WriteString(host)
	if !(proto == "http" && port == "80") && !(proto == "https" && port == "443") && port != "" {
		b.WriteString(":")
		b.WriteString(port)
	}
	if !strings.HasPrefix(path, "/") {
		b.WriteString("/")
	}
	b.WriteString(path)
	if query != "" {
		b.WriteString("?")
		b.WriteString(query)
	}
	return b.String()
}

// redirectStatus maps HTTP_301/HTTP_302 to a status code (302 when unset
// or unknown, which the API would have refused).
func redirectStatus(code string) int {
	if code == "HTTP_301" {
		return http.StatusMovedPermanently
	}
	return http.StatusFound
}

// writeRedirect answers r with rd.
func writeRedirect(w http.ResponseWriter, r *http.Request, l *Listener, rd *Redirect) {
	loc := redirectLocation(rd, redirectInput{
		Protocol: l.Protocol,
		Host:     hostOnly(r.Host),
		Port:     l.Port,
		Path:     r.URL.EscapedPath(),
		Query:    r.URL.RawQuery,
	})
	h := w.Header()
	h.Set("Server", serverHeader)
	h.Set("Location", loc)
	h.Set("Content-Type", "text/html")
	status := redirectStatus(rd.StatusCode)
	w.WriteHeader(status)
	fmt.Fprint(w, errorPage(status))
}

// writeFixed answers r with a fixed-response action.
func writeFixed(w http.ResponseWriter, fr *FixedResponse) {
	h := w.Header()
	h.Set("Server", serverHeader)
	ct := fr.ContentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(fr.Body)))
	status := fr.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(fr.Body))
}

// writeError answers with one of the load balancer's own error pages
// (502, 503, 504...).
func writeError(w http.ResponseWriter, status int) {
	body := errorPage(status)
	h := w.Header()
	h.Set("Server", serverHeader)
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// errorPage is the small HTML body ELB sends with a status it generates.
func errorPage(status int) string {
	t := fmt.Sprintf("%d %s", status, http.StatusText(status))
	return "<html>\r\n<head><title>" + t + "</title></head>\r\n<body>\r\n<center><h1>" + t +
		"</h1></center>\r\n</body>\r\n</html>\r\n"
}
