package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Defaults ELB uses for what a Check leaves zero.
const (
	defaultInterval           = 30 * time.Second
	defaultTimeout            = 5 * time.Second
	defaultHealthyThreshold   = 5
	defaultUnhealthyThreshold = 2
)

// maxBody bounds what a probe reads of a response before closing it: the
// body does not matter, only that reading it does not hang the probe.
const maxBody = 64 << 10

// newTransport is the one transport all HTTP(S) probes share. Keep-alives
// are off: a health check is one request per interval, and idle
// connections to thousands of targets would only hold file descriptors and
// goroutines. No per-host connection limit: each target has at most one
// probe in flight, and targets of several groups sharing a host:port must
// not queue behind one another's timeouts.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:       nil, // targets are dialled directly, never via HTTP_PROXY
		DialContext: (&net.Dialer{Timeout: defaultTimeout}).DialContext,
		// ELB does not validate target certificates: targets commonly
		// serve self-signed ones.
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
		TLSHandshakeTimeout:    defaultTimeout,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// newClient does not follow redirects: a 301 is a code the matcher judges,
// as ELB does.
func newClient(t *http.Transport) *http.Client {
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// probeFunc runs one health check, bounded by its own timeout.
type probeFunc func(ctx context.Context) outcome

// normalize fills in ELB's defaults for what c leaves zero.
func normalize(c Check) Check {
	if c.Interval <= 0 {
		c.Interval = defaultInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.HealthyThreshold <= 0 {
		c.HealthyThreshold = defaultHealthyThreshold
	}
	if c.UnhealthyThreshold <= 0 {
		c.UnhealthyThreshold = defaultUnhealthyThreshold
	}
	if c.Protocol == "" {
		c.Protocol = "HTTP"
	}
	if c.Path == "" {
		c.Path = "/"
	} else if !strings.HasPrefix(c.Path, "/") {
		c.Path = "/" + c.Path
	}
	return c
}

// checkAddr is where c probes a target whose traffic address is addr.
func checkAddr(c Check, addr string) (string, error) {
	if c.Port == "" || c.Port == "traffic-port" {
		return addr, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("target address %q: %w", addr, err)
	}
	return net.JoinHostPort(host, c.Port), nil
}

// newProbe builds the probe c describes against the target at addr.
func newProbe(client *http.Client, c Check, addr string) (probeFunc, error) {
	c = normalize(c)
	addr, err := checkAddr(c, addr)
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(c.Protocol) {
	case "TCP", "TLS", "TCP_UDP":
		return func(ctx context.Context) outcome { return probeTCP(ctx, addr, c.Timeout) }, nil
	case "HTTP", "HTTPS":
		m, err := parseMatcher(c.Matcher)
		if err != nil {
			return nil, err
		}
		url := strings.ToLower(c.Protocol) + "://" + addr + c.Path
		return func(ctx context.Context) outcome { return probeHTTP(ctx, client, url, m, c.Timeout) }, nil
	default:
		return nil, fmt.Errorf("health check protocol %q is not supported", c.Protocol)
	}
}

func probeHTTP(ctx context.Context, client *http.Client, url string, m matcher, timeout time.Duration) outcome {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return failed()
	}
	req.Header.Set("User-Agent", "ELB-HealthChecker/2.0")
	resp, err := client.Do(req)
	if err != nil {
		return failure(err)
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return failure(err)
	}
	if !m.match(resp.StatusCode) {
		return outcome{
			reason:      ReasonResponseCodeMismatch,
			description: fmt.Sprintf("Health checks failed with these codes: [%d]", resp.StatusCode),
		}
	}
	return outcome{ok: true}
}

// probeTCP passes when a connection opens. NLB reports every TCP failure,
// timeouts included, as failed health checks.
func probeTCP(ctx context.Context, addr string, timeout time.Duration) outcome {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return failed()
	}
	conn.Close()
	return outcome{ok: true}
}

func failed() outcome {
	return outcome{reason: ReasonFailedHealthChecks, description: descFailedHealthChecks}
}

// failure classifies a request error: a timeout, or anything else (refused,
// reset, malformed response) as failed health checks.
func failure(err error) outcome {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return outcome{reason: ReasonTimeout, description: descTimeout}
	}
	return failed()
}
