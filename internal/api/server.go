// Package api owns Berth's single HTTP listener: it routes awsJson requests
// by X-Amz-Target to registered services, verifies SigV4 before decoding,
// maps errors to AWS error replies in one place, recovers panics, and hosts
// plain HTTP routes (websockets and the like) beside the JSON services.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

// DefaultMaxBodyBytes caps request bodies when Config.MaxBodyBytes is zero.
const DefaultMaxBodyBytes int64 = 10 << 20

// Config configures a Server. A nil Verifier disables authentication
// (requests then carry no principal); a nil Logger means slog.Default.
type Config struct {
	Verifier     *sigv4.Verifier
	Logger       *slog.Logger
	MaxBodyBytes int64
}

// JSONService is one awsJson service: the X-Amz-Target prefix it answers
// to, the SigV4 signing name its clients sign with, and its operations by
// name.
type JSONService struct {
	TargetPrefix string
	SigningName  string
	Operations   map[string]Handler
}

// Server is the API's http.Handler.
type Server struct {
	verifier *sigv4.Verifier
	log      *slog.Logger
	maxBody  int64
	mux      *http.ServeMux

	mu       sync.RWMutex
	services map[string]JSONService
}

var _ http.Handler = (*Server)(nil)

// New builds a Server from cfg.
func New(cfg Config) *Server {
	s := &Server{
		verifier: cfg.Verifier,
		log:      cfg.Logger,
		maxBody:  cfg.MaxBodyBytes,
		mux:      http.NewServeMux(),
		services: map[string]JSONService{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.verifier == nil {
		s.log.Warn("api: no SigV4 verifier configured; requests are not authenticated")
	}
	return s
}

// RegisterJSON adds an awsJson service. Like http.ServeMux.Handle it panics
// on a programming error: an empty or duplicate prefix, or no signing name.
func (s *Server) RegisterJSON(svc JSONService) {
	if svc.TargetPrefix == "" || svc.SigningName == "" {
		panic("api: RegisterJSON needs a TargetPrefix and a SigningName")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.services[svc.TargetPrefix]; dup {
		panic("api: JSON service " + svc.TargetPrefix + " registered twice")
	}
	ops := make(map[string]Handler, len(svc.Operations))
	for name, h := range svc.Operations {
		ops[name] = h
	}
	svc.Operations = ops
	s.services[svc.TargetPrefix] = svc
}

// Handle registers a plain HTTP route, with http.ServeMux pattern syntax.
// It is not authenticated unless h is wrapped with Authenticate.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
}

// Authenticate wraps h with SigV4 verification for service (a signing
// name). The body is read (within MaxBodyBytes) for verification and handed
// on to h intact; the credential is put in the request context.
func (s *Server) Authenticate(service string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rid, ok := RequestIDFrom(r.Context())
		if !ok { // mounted outside this Server
			rid = newRequestID()
			r = r.WithContext(withRequestID(r.Context(), rid))
		}
		body, err := s.readBody(w, r)
		if err != nil {
			s.writeError(w, r, rid, err)
			return
		}
		ctx := r.Context()
		if s.verifier != nil {
			cred, err := s.verifier.Verify(r, body, service)
			if err != nil {
				s.writeError(w, r, rid, err)
				return
			}
			ctx = WithPrincipal(ctx, cred)
			if rec, ok := w.(*responseRecorder); ok {
				rec.principal = cred.Principal
			}
		}
		r = r.WithContext(ctx)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP dispatches awsJson calls (POST with X-Amz-Target) to their
// service and everything else to the plain routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := newRequestID()
	r = r.WithContext(withRequestID(r.Context(), rid))
	rec := &responseRecorder{ResponseWriter: w}
	rec.Header().Set(awserr.HeaderRequestID, rid)
	target := r.Header.Get("X-Amz-Target")

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p) // net/http's deliberate abort; let it through
			}
			s.log.Error("api: panic in handler", "request_id", rid, "method", r.Method, "path", r.URL.Path,
				"target", target, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rec.started && !rec.hijacked {
				s.writeError(rec, r, rid, awserr.InternalFailure("An internal error occurred."))
			}
		}
		s.log.Debug("api request", "request_id", rid, "method", r.Method, "path", r.URL.Path, "target", target,
			"status", rec.status, "duration", time.Since(start), "principal", rec.principal)
	}()

	if r.Method == http.MethodPost && target != "" {
		s.serveJSON(rec, r, rid, target)
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.writeErrorStatus(rec, r, rid, http.StatusNotFound,
			awserr.UnknownOperation("No route for %s %s", r.Method, r.URL.Path))
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// serveJSON authenticates, decodes and runs one awsJson operation.
func (s *Server) serveJSON(w *responseRecorder, r *http.Request, rid, target string) {
	prefix, op, _ := cutLast(target, '.')
	s.mu.RLock()
	svc, ok := s.services[prefix]
	s.mu.RUnlock()
	if !ok {
		s.writeError(w, r, rid, awserr.UnknownOperation("Unknown service target %q", target))
		return
	}
	body, err := s.readBody(w.ResponseWriter, r)
	if err != nil {
		s.writeError(w, r, rid, err)
		return
	}
	ctx := r.Context()
	if s.verifier != nil {
		cred, err := s.verifier.Verify(r, body, svc.SigningName)
		if err != nil {
			s.writeError(w, r, rid, err)
			return
		}
		ctx = WithPrincipal(ctx, cred)
		w.principal = cred.Principal
	}
	h, ok := svc.Operations[op]
	if !ok || h == nil {
		s.writeError(w, r, rid, awserr.UnknownOperation("Operation %q is not supported by %s", op, prefix))
		return
	}
	out, err := h(ctx, body)
	if err != nil {
		s.writeError(w, r, rid, fmt.Errorf("%s: %w", target, err))
		return
	}
	s.writeResult(w, r, rid, out)
}

// readBody reads the whole body within the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := awserr.RequestEntityTooLarge("Request body exceeds the limit of %d bytes.", s.maxBody)
	if r.ContentLength > s.maxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, tooLarge
	case err != nil:
		return nil, awserr.Serialization("Unable to read request body: %s", err.Error())
	}
	return body, nil
}

// writeResult sends a successful awsJson reply.
func (s *Server) writeResult(w http.ResponseWriter, r *http.Request, rid string, out any) {
	body := []byte("{}")
	if out != nil {
		b, err := json.Marshal(out)
		if err != nil {
			s.writeError(w, r, rid, fmt.Errorf("encode %T reply: %w", out, err))
			return
		}
		if !bytes.Equal(b, []byte("null")) { // a typed nil pointer
			body = b
		}
	}
	h := w.Header()
	h.Set("Content-Type", awserr.ContentTypeJSON11)
	h.Set(awserr.HeaderRequestID, rid)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeError is the one place errors become AWS error replies.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, rid string, err error) {
	s.writeErrorStatus(w, r, rid, 0, err)
}

// writeErrorStatus is writeError with the HTTP status overridden (non-zero).
func (s *Server) writeErrorStatus(w http.ResponseWriter, r *http.Request, rid string, status int, err error) {
	e, unexpected := awserr.Normalize(err)
	if unexpected {
		s.log.Error("api: internal error", "request_id", rid, "method", r.Method, "path", r.URL.Path,
			"target", r.Header.Get("X-Amz-Target"), "err", err)
	} else {
		s.log.Debug("api: error reply", "request_id", rid, "code", e.Code, "message", e.Message)
	}
	if status != 0 {
		c := *e
		c.Status = status
		e = &c
	}
	awserr.WriteJSONLogged(w, s.log, rid, e)
}

// cutLast splits s around the last sep.
func cutLast(s string, sep byte) (before, after string, found bool) {
	if i := strings.LastIndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}
