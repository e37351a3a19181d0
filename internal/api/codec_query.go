package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/awsquery"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

// noVersion is how AWS names a missing Version in its InvalidAction message.
const noVersion = "NO_VERSION_SPECIFIED"

// queryCodec is awsQuery: a form (POST body, or the query string of a
// GET) in, XML in the service's result wrapper out.
type queryCodec struct {
	form url.Values
}

var _ codec = queryCodec{}

// serveQuery routes an awsQuery call. Services are told apart by Version
// and by the service of the SigV4 credential scope, since several may
// share one listener (and, in principle, one version).
func (s *Server) serveQuery(w *responseRecorder, r *http.Request) {
	w.writeError = func(e *awserr.Error) { awserr.EncodeXML(w, "", w.requestID, e) }
	var body []byte
	form := r.URL.Query()
	if r.Method == http.MethodPost {
		b, err := s.readBody(w.ResponseWriter, r)
		if err != nil {
			w.fail(s.normalize(r, w.requestID, Errors{}, err))
			return
		}
		parsed, err := url.ParseQuery(string(b))
		if err != nil {
			w.fail(awserr.New("MalformedQueryString", http.StatusBadRequest, "The request body is not a valid form: %s", err.Error()))
			return
		}
		for k, vs := range parsed {
			form[k] = append(form[k], vs...)
		}
		body = b
	}
	action, version := form.Get("Action"), form.Get("Version")
	w.operation = action
	svc := s.queryService(r, version)
	if svc == nil {
		w.fail(unknownQueryAction(action, version))
		return
	}
	ns := svc.Query.XMLNamespace
	w.writeError = func(e *awserr.Error) { awserr.EncodeXML(w, ns, w.requestID, e) }
	c := &call{s: s, w: w, r: r, rid: w.requestID, svc: svc, op: action, codec: queryCodec{form: form}, body: body}
	c.run(r.Context(), func(c *call) *awserr.Error {
		if version != svc.Query.Version {
			return unknownQueryAction(action, version)
		}
		return nil
	})
}

// queryService picks the service a query request is for: among those
// with its Version, the one its credential scope names (or the only one, or
// for an unsigned request the first);
// failing that, the one query service its credential scope names, which
// then answers InvalidAction for the version after authentication.
func (s *Server) queryService(r *http.Request, version string) *service {
	_, scope, _ := sigv4.PeekScope(r)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var byVersion, byScope []*service
	for _, q := range s.queries {
		if q.Query.Version == version {
			byVersion = append(byVersion, q)
		}
		if q.SigningName == scope {
			byScope = append(byScope, q)
		}
	}
	for _, q := range byVersion {
		if q.SigningName == scope {
			return q
		}
	}
	switch {
	case len(byVersion) == 1, len(byVersion) > 1 && scope == "":
		// An unsigned request cannot say which one it meant; the first
		// answers it (with MissingAuthenticationToken, when verifying).
		return byVersion[0]
	case len(byVersion) == 0 && len(byScope) == 1:
		return byScope[0]
	}
	return nil
}

// unknownQueryAction is AWS's answer to an Action and Version that name no
// operation (or no Action at all).
func unknownQueryAction(action, version string) *awserr.Error {
	if action == "" {
		return awserr.Newf(awserr.CodeMissingAction, "The request must contain the parameter Action.")
	}
	if version == "" {
		version = noVersion
	}
	return awserr.Newf(awserr.CodeInvalidAction, "Could not find operation %s for version %s", action, version)
}

func (queryCodec) flavor() sigv4.Flavor { return sigv4.FlavorQuery }

func (q queryCodec) decode(c *call, in any) error {
	err := awsquery.Unmarshal(q.form, in)
	var fe *awsquery.FieldError
	if errors.As(err, &fe) {
		return awserr.New(c.svc.Errors.Validation, 0, "1 validation error detected: %s", fe.Error())
	}
	return err
}

// writeResult writes <OpResponse xmlns><OpResult>...</OpResult>
// <ResponseMetadata><RequestId/></ResponseMetadata></OpResponse>; an
// operation without a result wrapper has no result element.
func (queryCodec) writeResult(c *call, out any) error {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString("<" + c.op + "Response")
	if ns := c.svc.Query.XMLNamespace; ns != "" {
		b.WriteString(` xmlns="`)
		awserr.EscapeXML(&b, ns)
		b.WriteString(`"`)
	}
	b.WriteString(">")
	if wrapper := c.svc.Query.ResultWrappers[c.op]; wrapper != "" {
		b.WriteString("<" + wrapper + ">")
		if err := awsquery.AppendXML(&b, out); err != nil {
			return err
		}
		b.WriteString("</" + wrapper + ">")
	}
	b.WriteString("<ResponseMetadata><RequestId>" + c.rid + "</RequestId></ResponseMetadata>")
	b.WriteString("</" + c.op + "Response>")
	h := c.w.Header()
	h.Set("Content-Type", awserr.ContentTypeXML)
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write([]byte(b.String()))
	return nil
}

func (queryCodec) writeError(c *call, e *awserr.Error) {
	awserr.EncodeXML(c.w, c.svc.Query.XMLNamespace, c.rid, e)
}

func (queryCodec) unknownOperation(c *call) *awserr.Error {
	return unknownQueryAction(c.op, c.svc.Query.Version)
}
