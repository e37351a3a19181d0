// Package api owns Berth's single HTTP listener and the one path every
// request takes through it. Services register operation descriptors
// (decode, validate, authorize, handle, encode); a codec per protocol —
// awsJson1_0/1_1 by X-Amz-Target, awsQuery by Action and Version — turns
// the wire into typed inputs and typed outputs or errors back into the
// wire, so handlers never see it. Plain HTTP routes (the agents' websocket,
// the registry) sit beside the services with pluggable authenticators
// (SigV4, Basic, Bearer) and streamed bodies. Every request gets a request
// ID, a deadline, SigV4 verification, an authorize step before its handler,
// panic recovery, and errors mapped to each service's AWS error table.
package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

// Defaults for Config's zero values.
const (
	DefaultMaxBodyBytes   int64 = 10 << 20
	DefaultRequestTimeout       = 30 * time.Second
	// abandonGrace is how long past its deadline a handler may take to
	// return before the listener answers without it.
	abandonGrace = 2 * time.Second
)

// Config configures a Server. A nil Verifier disables authentication
// (requests then carry no principal); a nil Authorizer allows everything; a
// nil Logger means slog.Default.
type Config struct {
	Verifier   *sigv4.Verifier
	Authorizer Authorizer
	Logger     *slog.Logger
	// MaxBodyBytes caps awsJson and awsQuery bodies (plain routes stream).
	MaxBodyBytes int64
	// RequestTimeout is every request's deadline unless its route says
	// otherwise; default 30s.
	RequestTimeout time.Duration
}

// Server is the API's http.Handler.
type Server struct {
	verifier   *sigv4.Verifier
	verifiers  [2]*sigv4.Verifier // by sigv4.Flavor
	authorizer Authorizer
	log        *slog.Logger
	maxBody    int64
	timeout    time.Duration
	grace      time.Duration
	mux        *http.ServeMux

	mu      sync.RWMutex
	targets map[string]*service // awsJson target prefix -> service
	queries []*service          // awsQuery services
}

var _ http.Handler = (*Server)(nil)

// New builds a Server from cfg.
func New(cfg Config) *Server {
	s := &Server{
		verifier: cfg.Verifier,
		log:      cfg.Logger,
		maxBody:  cfg.MaxBodyBytes,
		timeout:  cfg.RequestTimeout,
		grace:    abandonGrace,
		mux:      http.NewServeMux(),
		targets:  map[string]*service{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	if s.verifier == nil {
		s.log.Warn("api: no SigV4 verifier configured; requests are not authenticated")
	} else {
		s.verifiers[sigv4.FlavorJSON] = s.verifier.WithFlavor(sigv4.FlavorJSON)
		s.verifiers[sigv4.FlavorQuery] = s.verifier.WithFlavor(sigv4.FlavorQuery)
	}
	s.authorizer = authorizerOrDefault(cfg.Authorizer, s.log)
	return s
}

// SigV4 returns the SigV4 authenticator for plain routes of the service
// clients sign as (nil when the Server has no verifier).
func (s *Server) SigV4(signingName string) Authenticator {
	if s.verifier == nil {
		return nil
	}
	return SigV4Auth{Verifier: s.verifiers[sigv4.FlavorJSON], Service: signingName, MaxBuffer: s.maxBody}
}

// ServeHTTP gives every request an ID and recovery, then dispatches:
// awsJson calls (POST with X-Amz-Target), awsQuery calls (Action=... on /),
// then plain routes; anything else is an AWS-shaped 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := newRequestID()
	r = r.WithContext(withRequestID(r.Context(), rid))
	rec := &responseRecorder{ResponseWriter: w, requestID: rid}
	rec.Header().Set(awserr.HeaderRequestID, rid)

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p) // net/http's deliberate abort; let it through
			}
			s.log.Error("api: panic in handler", "request_id", rid, "method", r.Method, "path", r.URL.Path,
				"operation", rec.operation, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rec.started && !rec.hijacked {
				rec.fail(awserr.InternalFailure(awserr.InternalMessage))
			}
		}
		s.log.Debug("api request", "request_id", rid, "method", r.Method, "path", r.URL.Path, "operation", rec.operation,
			"status", rec.status, "duration", time.Since(start), "principal", rec.principal)
	}()

	switch target := r.Header.Get("X-Amz-Target"); {
	case r.Method == http.MethodPost && target != "":
		s.serveJSON(rec, r, target)
	case isQueryRequest(r):
		s.serveQuery(rec, r)
	default:
		if _, pattern := s.mux.Handler(r); pattern == "" {
			e := awserr.New(awserr.CodeUnknownOperation, http.StatusNotFound, "No route for %s %s", r.Method, r.URL.Path)
			awserr.EncodeJSON(rec, awserr.ContentTypeJSON11, rid, e)
			return
		}
		s.mux.ServeHTTP(rec, r)
	}
}

// isQueryRequest reports whether r is an awsQuery call: a form POST to /,
// or a request to / with Action in its query string (presigned GETs).
func isQueryRequest(r *http.Request) bool {
	if r.URL.Path != "/" {
		return false
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return true
	}
	return (r.Method == http.MethodGet || r.Method == http.MethodPost) && r.URL.Query().Has("Action")
}

// service is a registered Service with its defaults filled in.
type service struct {
	Service
}

// Register adds a service to the listener. Like http.ServeMux.Handle it
// panics on a programming error: no signing name, no protocol, or a target
// prefix or (signing name, version) already taken.
func (s *Server) Register(svc Service) {
	if svc.SigningName == "" || svc.JSON == nil && svc.Query == nil {
		panic("api: Register needs a SigningName and a JSON or Query protocol")
	}
	if svc.ActionPrefix == "" {
		svc.ActionPrefix = svc.SigningName
	}
	e := &svc.Errors
	if e.Internal == "" {
		e.Internal = awserr.CodeInternalFailure
	}
	queryOnly := svc.JSON == nil
	if e.AccessDenied == "" {
		e.AccessDenied = map[bool]string{true: awserr.CodeQueryAccessDenied, false: awserr.CodeAccessDenied}[queryOnly]
	}
	if e.Validation == "" {
		e.Validation = map[bool]string{true: awserr.CodeQueryValidation, false: awserr.CodeValidation}[queryOnly]
	}
	ops := make(map[string]Operation, len(svc.Operations))
	for name, op := range svc.Operations {
		if op.handle == nil {
			panic("api: operation " + name + " of " + svc.SigningName + " was not built with api.Op")
		}
		if op.Action == "" {
			op.Action = svc.ActionPrefix + ":" + name
		}
		ops[name] = op
	}
	svc.Operations = ops
	reg := &service{Service: svc}

	s.mu.Lock()
	defer s.mu.Unlock()
	if svc.JSON != nil {
		if svc.JSON.TargetPrefix == "" {
			panic("api: JSON service " + svc.SigningName + " needs a TargetPrefix")
		}
		if _, dup := s.targets[svc.JSON.TargetPrefix]; dup {
			panic("api: JSON service " + svc.JSON.TargetPrefix + " registered twice")
		}
		s.targets[svc.JSON.TargetPrefix] = reg
	}
	if svc.Query != nil {
		for _, q := range s.queries {
			if q.SigningName == svc.SigningName && q.Query.Version == svc.Query.Version {
				panic("api: query service " + svc.SigningName + " " + svc.Query.Version + " registered twice")
			}
		}
		s.queries = append(s.queries, reg)
	}
}
