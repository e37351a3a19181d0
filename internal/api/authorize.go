package api

import (
	"context"
	"fmt"
	"log/slog"
)

// Authorizer decides whether a principal may perform an action on
// resources. It runs after the request is decoded and validated and before
// the handler: a denial means the handler never runs.
type Authorizer interface {
	// Authorize returns nil to allow, a *Denied to refuse, or another error
	// when it could not decide (an internal failure).
	Authorize(ctx context.Context, req AuthzRequest) error
}

// AuthzRequest is what an operation declares about one request.
type AuthzRequest struct {
	Principal Principal
	// Action is the IAM action, e.g. "ecs:RunTask".
	Action string
	// Resources are the ARNs the request acts on; "*" when the action is not
	// resource-scoped.
	Resources []string
}

// Denied is an Authorizer's refusal, naming the resource it refused.
type Denied struct {
	Resource string
	// Reason ends AWS's message: "because no identity-based policy allows
	// the ecs:RunTask action".
	Reason string
}

func (d *Denied) Error() string { return "access denied to " + d.Resource + ": " + d.Reason }

// message is AWS's wording of a denial.
func (d *Denied) message(req AuthzRequest) string {
	who := req.Principal.ARN
	if who == "" {
		who = "anonymous"
	}
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", who, req.Action, d.Resource)
	if d.Reason != "" {
		msg += " " + d.Reason
	}
	return msg
}

// RootAuthorizer allows an account's root user everything and denies
// every other principal, as an account without IAM policies does. It is
// the authorizer until IAM policy evaluation exists.
type RootAuthorizer struct{}

var _ Authorizer = RootAuthorizer{}

// Authorize implements Authorizer.
func (RootAuthorizer) Authorize(_ context.Context, req AuthzRequest) error {
	if req.Principal.IsRoot() {
		return nil
	}
	res := "*"
	if len(req.Resources) > 0 {
		res = req.Resources[0]
	}
	return &Denied{Resource: res, Reason: "because no identity-based policy allows the " + req.Action + " action"}
}

// allowAll is the authorizer of a Server configured without one.
type allowAll struct{}

func (allowAll) Authorize(context.Context, AuthzRequest) error { return nil }

// authorizerOrDefault warns, like a missing verifier, when nothing decides.
func authorizerOrDefault(a Authorizer, log *slog.Logger) Authorizer {
	if a == nil {
		log.Warn("api: no authorizer configured; every authenticated request is allowed")
		return allowAll{}
	}
	return a
}
