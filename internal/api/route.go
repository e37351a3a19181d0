package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// NoTimeout is a Route.Timeout for long-lived requests (websockets, blob
// uploads) that must not get the listener's request deadline.
const NoTimeout time.Duration = -1

// Route is a plain HTTP route beside the AWS services: the agents'
// websocket, the OCI registry. Its body is streamed to the handler, never
// buffered whole.
type Route struct {
	// Pattern is an http.ServeMux pattern ("GET /v2/", "/ws").
	Pattern string
	Handler http.Handler
	// Auth lists the accepted credential schemes, tried in order; the first
	// that finds its credentials decides. Empty means unauthenticated.
	Auth []Authenticator
	// Action, when set, is authorized (on Resources, or "*") before the
	// handler runs.
	Action    string
	Resources func(*http.Request) []string
	// Timeout is the request deadline: 0 means Config.RequestTimeout,
	// NoTimeout none.
	Timeout time.Duration
	// WriteError writes an error in the route's own format (the registry's
	// OCI errors); nil means an awsJson error reply.
	WriteError func(w http.ResponseWriter, r *http.Request, e *awserr.Error)
}

// Route registers a plain route. Like http.ServeMux.Handle it panics on a
// bad or duplicate pattern.
func (s *Server) Route(rt Route) {
	if rt.Handler == nil {
		panic("api: route " + rt.Pattern + " has no handler")
	}
	for _, a := range rt.Auth {
		if a == nil {
			panic("api: route " + rt.Pattern + " has a nil authenticator")
		}
	}
	s.mux.Handle(rt.Pattern, &routeHandler{s: s, rt: rt})
}

// Handle registers an unauthenticated plain route.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.Route(Route{Pattern: pattern, Handler: h})
}

type routeHandler struct {
	s  *Server
	rt Route
}

func (h *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid, ok := RequestIDFrom(r.Context())
	if !ok { // mounted outside this Server
		rid = newRequestID()
		r = r.WithContext(withRequestID(r.Context(), rid))
	}
	rec, ok := w.(*responseRecorder)
	if !ok {
		rec = &responseRecorder{ResponseWriter: w, requestID: rid}
	}
	rec.operation = h.rt.Pattern
	rec.writeError = func(e *awserr.Error) {
		if h.rt.WriteError != nil {
			h.rt.WriteError(rec, r, e)
			return
		}
		awserr.EncodeJSON(rec, awserr.ContentTypeJSON11, rid, e)
	}
	ctx := r.Context()
	switch {
	case h.rt.Timeout == 0:
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.s.timeout)
		defer cancel()
	case h.rt.Timeout > 0:
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.rt.Timeout)
		defer cancel()
	}
	r = r.WithContext(ctx)
	if len(h.rt.Auth) > 0 {
		id, err := h.authenticate(rec, r)
		if err != nil {
			rec.fail(h.s.normalize(r, rid, Errors{}, err))
			return
		}
		rec.principal = id.Principal.ARN
		r = r.WithContext(WithRegion(WithPrincipal(r.Context(), id.Principal), id.Region))
	}
	if h.rt.Action != "" {
		if err := h.authorize(r); err != nil {
			rec.fail(h.s.normalize(r, rid, Errors{}, err))
			return
		}
	}
	h.rt.Handler.ServeHTTP(rec, r)
}

// authenticate runs the route's authenticators; with no credentials at all
// it asks for them (401 and the challenges) or, for SigV4-only routes,
// answers MissingAuthenticationToken as AWS does.
func (h *routeHandler) authenticate(w http.ResponseWriter, r *http.Request) (Identity, error) {
	var challenges []string
	for _, a := range h.rt.Auth {
		id, err := a.Authenticate(r)
		if errors.Is(err, ErrNoCredentials) {
			if c, ok := a.(Challenger); ok {
				challenges = append(challenges, c.Challenge())
			}
			continue
		}
		if e, ok := awserr.As(err); ok && e.Status == http.StatusUnauthorized {
			h.challenge(w, nil)
		}
		return id, err
	}
	if len(challenges) > 0 {
		h.challenge(w, challenges)
		return Identity{}, awserr.New(awserr.CodeMissingAuthToken, http.StatusUnauthorized, "Authentication required.")
	}
	return Identity{}, awserr.MissingAuthenticationToken("Missing Authentication Token")
}

// challenge sends the given challenges, or every one the route's
// authenticators make.
func (h *routeHandler) challenge(w http.ResponseWriter, challenges []string) {
	if len(challenges) == 0 {
		for _, a := range h.rt.Auth {
			if c, ok := a.(Challenger); ok {
				challenges = append(challenges, c.Challenge())
			}
		}
	}
	for _, c := range challenges {
		w.Header().Add("WWW-Authenticate", c)
	}
}

func (h *routeHandler) authorize(r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	req := AuthzRequest{Principal: p, Action: h.rt.Action, Resources: []string{"*"}}
	if h.rt.Resources != nil {
		if res := h.rt.Resources(r); len(res) > 0 {
			req.Resources = res
		}
	}
	return h.s.Authorize(r.Context(), req)
}

// Authorize asks the Server's Authorizer about req, for a plain route whose
// action depends on more than its pattern (the registry's pull or push,
// known once the handler has parsed the path). A refusal is an
// AccessDenied *awserr.Error (403) in AWS's words, as a Route.Action's is.
func (s *Server) Authorize(ctx context.Context, req AuthzRequest) error {
	if len(req.Resources) == 0 {
		req.Resources = []string{"*"}
	}
	err := s.authorizer.Authorize(ctx, req)
	var denied *Denied
	if errors.As(err, &denied) {
		return awserr.New(awserr.CodeAccessDenied, http.StatusForbidden, "%s", denied.message(req))
	}
	return err
}
