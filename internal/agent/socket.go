package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/acs"
)

// What the ACS and TCS clients share: the signed websocket upgrade, the
// server's error envelopes, and how the agent names itself.

// emptyPayloadHash is the SigV4 payload hash of the body-less upgrade request.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// writeTimeout bounds one websocket write.
const writeTimeout = 10 * time.Second

// maxRefusalBody bounds what is read of a refused upgrade's body.
const maxRefusalBody = 4 << 10

// versionInfo is how the agent names itself on both sockets' queries.
type versionInfo struct {
	agentVersion string // "berth-<Version>"
	agentHash    string // the build's git hash, or "berth"
	// dockerVersion is the runtime's version as the ECS agent sends it
	// ("DockerVersion: 20.10.24"); "" when the runtime names none.
	dockerVersion string
}

// newVersionInfo names this build, with the container runtime's version
// when known.
func newVersionInfo(runtimeVersion string) versionInfo {
	v := versionInfo{agentVersion: "berth-" + Version, agentHash: GitHash}
	if v.agentHash == "" {
		v.agentHash = "berth"
	}
	if runtimeVersion != "" {
		v.dockerVersion = "DockerVersion: " + runtimeVersion
	}
	return v
}

// serverError is an error envelope from the server: the answer to a
// refused upgrade (Status set), or a message that ends the session.
type serverError struct {
	Type    string // the envelope's type: acs.ErrorType*, tcs.ErrorType*
	Message string
	Status  int // HTTP status of a refused upgrade; 0 on an open socket
}

func (e *serverError) Error() string {
	s := e.Type
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	return s
}

// isServerError reports whether err is a server error envelope of type typ.
func isServerError(err error, typ string) bool {
	var se *serverError
	return errors.As(err, &se) && se.Type == typ
}

// errorEnvelope returns the error an envelope carries, if its type names
// an error (ECS's error types all end in "Exception").
func errorEnvelope(env acs.Envelope) (*serverError, bool) {
	if !strings.HasSuffix(env.Type, "Exception") {
		return nil, false
	}
	var msg acs.ErrorMessage
	_ = json.Unmarshal(env.Message, &msg) // the type alone is the error
	return &serverError{Type: env.Type, Message: msg.Message}, true
}

// signedDialer opens SigV4-signed websockets (service "ecs", empty payload
// hash), as the ECS agent does for ACS and TCS.
type signedDialer struct {
	creds  aws.CredentialsProvider
	region string
	dialer *websocket.Dialer
	now    func() time.Time
}

// dial opens the websocket at u (an http or https URL, query included). A
// refused upgrade whose body is an error envelope returns a *serverError.
func (d signedDialer) dial(ctx context.Context, u *url.URL) (*websocket.Conn, error) {
	header, err := d.sign(ctx, u)
	if err != nil {
		return nil, err
	}
	wsURL := *u
	wsURL.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	conn, resp, err := d.dialer.DialContext(ctx, wsURL.String(), header)
	if err == nil {
		return conn, nil
	}
	if resp == nil {
		return nil, fmt.Errorf("dial %s: %w", wsURL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRefusalBody))
	if env, derr := acs.Decode(body); derr == nil {
		if se, ok := errorEnvelope(env); ok {
			se.Status = resp.StatusCode
			return nil, fmt.Errorf("dial %s: refused: %w", wsURL.Redacted(), se)
		}
	}
	return nil, fmt.Errorf("dial %s: %w (HTTP %d: %s)", wsURL.Redacted(), err, resp.StatusCode, strings.TrimSpace(string(body)))
}

// sign SigV4-signs the upgrade GET and returns the headers to send with it.
func (d signedDialer) sign(ctx context.Context, u *url.URL) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build upgrade request: %w", err)
	}
	creds, err := d.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieve credentials for the upgrade: %w", err)
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptyPayloadHash, "ecs", d.region, d.now()); err != nil {
		return nil, fmt.Errorf("sign upgrade request: %w", err)
	}
	return req.Header, nil
}

// endpointURL parses an endpoint DiscoverPollEndpoint returned as an http
// or https URL (ws and wss are taken as their http counterparts).
func endpointURL(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("parse endpoint %q: %w", endpoint, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("endpoint %q: unsupported scheme", endpoint)
	}
	return u, nil
}

// wsWriter serialises writes on one socket (gorilla allows one writer at a
// time) and bounds each.
type wsWriter struct {
	conn *websocket.Conn
	mu   sync.Mutex
}

// write sends one text message.
func (w *wsWriter) write(data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	return w.conn.WriteMessage(websocket.TextMessage, data)
}

// ping sends a websocket ping; its pong proves the server alive. Gorilla
// lets control frames be written alongside a message.
func (w *wsWriter) ping() error {
	return w.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout))
}

func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// readEnvelopes reads a socket's messages and hands each to handle until
// the connection fails, handle returns an error, or the server stays
// silent for three heartbeat intervals: any message or pong (the answer to
// our pings) moves the read deadline. name ("acs", "tcs") prefixes errors
// and logs.
func readEnvelopes(ctx context.Context, conn *websocket.Conn, heartbeat time.Duration, name string, log *slog.Logger, handle func(acs.Envelope) error) error {
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(3 * heartbeat))
	})
	for {
		if err := conn.SetReadDeadline(time.Now().Add(3 * heartbeat)); err != nil {
			return fmt.Errorf("%s read: %w", name, err)
		}
		_, data, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s read: %w", name, err)
		}
		env, err := acs.Decode(data)
		if err != nil {
			log.Warn(name+": ignoring malformed message", "err", err)
			continue
		}
		if err := handle(env); err != nil {
			return err
		}
	}
}

// redial runs session until ctx is done, waiting the backoff between
// sessions. A connection that lived a heartbeat interval restarts the
// backoff; one the server drops at once (e.g. an error on connect) does
// not, so the agent does not hammer it. wait may lengthen the delay after
// a given error and logs it; sleep nil means sleepCtx.
func redial(ctx context.Context, heartbeat time.Duration, reconnect backoff, sleep func(context.Context, time.Duration) bool,
	session func(context.Context) (connected bool, err error), wait func(err error, d time.Duration) time.Duration) {
	if sleep == nil {
		sleep = sleepCtx
	}
	attempt := 0
	for ctx.Err() == nil {
		began := time.Now()
		connected, err := session(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected && time.Since(began) >= heartbeat {
			attempt = 0
		}
		d := wait(err, reconnect.delay(attempt))
		attempt++
		if !sleep(ctx, d) {
			return
		}
	}
}
