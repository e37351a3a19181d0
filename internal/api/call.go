package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

// codec is one protocol's side of the pipeline: how inputs are read and
// outputs and errors written.
type codec interface {
	flavor() sigv4.Flavor
	// decode fills in (a pointer to a generated input type) from the request.
	decode(c *call, in any) error
	writeResult(c *call, out any) error
	writeError(c *call, e *awserr.Error)
	// unknownOperation is the error for an operation the service lacks.
	unknownOperation(c *call) *awserr.Error
}

// call is one service request on its way through the pipeline.
type call struct {
	s     *Server
	w     *responseRecorder
	r     *http.Request
	rid   string
	svc   *service
	op    string // operation name as the client sent it
	codec codec
	body  []byte
}

// run authenticates, then drives the operation descriptor: decode,
// validate, authorize, handle (under the request's deadline), encode.
// Nothing is written until the outcome is known, so a failed request
// writes nothing but its error.
func (c *call) run(ctx context.Context, check func(*call) *awserr.Error) {
	ctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	ctx, err := c.authenticate(ctx)
	if err != nil {
		c.fail(err)
		return
	}
	if check != nil {
		if e := check(c); e != nil {
			c.fail(e)
			return
		}
	}
	op, ok := c.svc.Operations[c.op]
	if !ok {
		c.fail(c.codec.unknownOperation(c))
		return
	}
	in := op.newInput()
	if err := c.codec.decode(c, in); err != nil {
		c.fail(err)
		return
	}
	if v, ok := in.(validator); ok {
		if err := v.Validate(); err != nil {
			if _, isAWS := awserr.As(err); !isAWS {
				err = awserr.New(c.svc.Errors.Validation, 0, "%s", err.Error())
			}
			c.fail(err)
			return
		}
	}
	if err := c.authorize(ctx, op, in); err != nil {
		c.fail(err)
		return
	}
	out, err := c.invoke(ctx, op, in)
	if err != nil {
		c.fail(fmt.Errorf("%s.%s: %w", c.svc.SigningName, c.op, err))
		return
	}
	if err := c.codec.writeResult(c, out); err != nil {
		c.fail(fmt.Errorf("encode %s reply: %w", c.op, err))
	}
}

// authenticate verifies the request's SigV4 signature and puts the
// principal and region in ctx.
func (c *call) authenticate(ctx context.Context) (context.Context, error) {
	v := c.s.verifiers[c.codec.flavor()]
	if v == nil {
		if region, _, ok := sigv4.PeekScope(c.r); ok {
			ctx = WithRegion(ctx, region)
		}
		return ctx, nil
	}
	res, err := v.Check(c.r, c.body, c.svc.SigningName)
	if err != nil {
		return ctx, err
	}
	p := sigv4Principal(res.Credential)
	c.w.principal = p.ARN
	return WithRegion(WithPrincipal(ctx, p), res.Region), nil
}

// authorize asks the Authorizer about the action and the resources the
// operation names; a denial is the service's AccessDenied error.
func (c *call) authorize(ctx context.Context, op Operation, in any) error {
	if op.open {
		return nil
	}
	p, _ := PrincipalFrom(ctx)
	req := AuthzRequest{Principal: p, Action: op.Action, Resources: []string{"*"}}
	if op.resources != nil {
		if res := op.resources(ctx, in); len(res) > 0 {
			req.Resources = res
		}
	}
	err := c.s.authorizer.Authorize(ctx, req)
	var denied *Denied
	if errors.As(err, &denied) {
		return awserr.New(c.svc.Errors.AccessDenied, 0, "%s", denied.message(req))
	}
	if err != nil {
		return fmt.Errorf("authorize %s: %w", op.Action, err)
	}
	return nil
}

type result struct {
	out any
	err error
}

// invoke runs the handler under ctx's deadline. A handler is expected to
// return soon after its context ends; one that does not within the grace
// period is abandoned (and logged) so the client still gets the service's
// 5xx instead of a hung connection. Panics become errors here, since the
// handler runs on its own goroutine.
func (c *call) invoke(ctx context.Context, op Operation, in any) (any, error) {
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
			}
		}()
		out, err := op.handle(ctx, in)
		done <- result{out, err}
	}()
	select {
	case res := <-done:
		return res.out, res.err
	case <-ctx.Done():
	}
	timer := time.NewTimer(c.s.grace)
	defer timer.Stop()
	select {
	case res := <-done:
		return res.out, res.err
	case <-timer.C:
		c.s.log.Error("api: handler did not return after its deadline; answering without it",
			"request_id", c.rid, "operation", c.op, "grace", c.s.grace)
		return nil, fmt.Errorf("handler abandoned %v after its deadline: %w", c.s.grace, context.Cause(ctx))
	}
}

// fail normalizes err with the service's error table and writes it.
func (c *call) fail(err error) {
	c.codec.writeError(c, c.s.normalize(c.r, c.rid, c.svc.Errors, err))
}

// normalize turns any error into the AWS error sent for it: *awserr.Error
// values keep their code (status from the service's table when unset); a
// deadline is the service's internal error saying so; anything else is the
// service's internal error with a generic message, logged with the request
// ID, so internals never reach a client.
func (s *Server) normalize(r *http.Request, rid string, table Errors, err error) *awserr.Error {
	if e, ok := awserr.As(err); ok {
		c := *e
		if c.Status == 0 {
			c.Status = table.status(c.Code)
		}
		s.log.Debug("api: error reply", "request_id", rid, "code", c.Code, "message", c.Message)
		return &c
	}
	internal := table.Internal
	if internal == "" {
		internal = awserr.CodeInternalFailure
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("api: request deadline exceeded", "request_id", rid, "method", r.Method, "err", err)
		return awserr.New(internal, http.StatusInternalServerError,
			"The request did not complete within the server's deadline of %v; it may or may not have taken effect.", s.timeout)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		s.log.Debug("api: client went away", "request_id", rid, "err", err)
	default:
		s.log.Error("api: internal error", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	return awserr.New(internal, http.StatusInternalServerError, "%s", awserr.InternalMessage)
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
