package api

import (
	"context"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// Service is one AWS-compatible API on the listener: how clients address
// it (awsJson target prefix, awsQuery version, or both), the SigV4 name they
// sign with, its error vocabulary and its operations.
type Service struct {
	// SigningName is the SigV4 service name ("ecs", "sts").
	SigningName string
	// ActionPrefix is the IAM service prefix of its actions; default
	// SigningName.
	ActionPrefix string
	JSON         *JSONProtocol
	Query        *QueryProtocol
	Errors       Errors
	// Operations by name. Every model operation should be here: the ones
	// not implemented answer the service's "not implemented" error, so
	// clients get an AWS-shaped reply naming the action.
	Operations map[string]Operation
}

// JSONProtocol says how awsJson clients address a service.
type JSONProtocol struct {
	TargetPrefix string // X-Amz-Target before the dot
	Version      string // "1.0" or "1.1" (the reply's media type)
}

// QueryProtocol says how awsQuery clients address a service and how its
// XML replies look.
type QueryProtocol struct {
	Version        string            // the Version parameter, e.g. "2011-06-15"
	XMLNamespace   string            // xmlns of replies
	ResultWrappers map[string]string // operation -> result element (GetCallerIdentityResult)
}

// Errors is a service's error vocabulary.
type Errors struct {
	// Status maps the service's modeled error codes to HTTP statuses (the
	// generated ErrorStatus); common codes need not be listed.
	Status map[string]int
	// Internal answers unexpected failures, timeouts included, with 500:
	// ServerException for ECS; default InternalFailure.
	Internal string
	// AccessDenied answers authorization denials: AccessDeniedException for
	// ECS, AccessDenied for awsQuery services (the default for those).
	AccessDenied string
	// Validation answers requests that break the model's constraints:
	// InvalidParameterException for ECS, ValidationError for awsQuery
	// services (the default for those), ValidationException otherwise.
	Validation string
}

// status is the HTTP status of code: the service's table, then the common
// codes, then 400.
func (e Errors) status(code string) int {
	if s, ok := e.Status[code]; ok {
		return s
	}
	return awserr.Status(code)
}

// Operation is one action of a service, the descriptor the listener drives
// every request through: decode into a new input, validate it, authorize
// the action on the resources it names, handle it, encode the output.
// Build one with Op.
type Operation struct {
	// Action is the IAM action; default "<ActionPrefix>:<operation name>".
	Action string
	// open operations skip the authorize step (see AlwaysAllowed).
	open      bool
	newInput  func() any
	resources func(context.Context, any) []string
	handle    func(context.Context, any) (any, error)
}

// validator is implemented by inputs that check themselves (the generated
// Validate methods).
type validator interface {
	Validate() error
}

// Op describes an operation from its typed handler and a function naming
// the ARNs a request acts on (nil: the action is not resource-scoped and
// is authorized on "*"). Handlers see only typed values, never the wire; a
// nil *O is sent as an empty reply.
func Op[I, O any](handle func(context.Context, *I) (*O, error), resources func(context.Context, *I) []string) Operation {
	op := Operation{
		newInput: func() any { return new(I) },
		handle: func(ctx context.Context, in any) (any, error) {
			out, err := handle(ctx, in.(*I))
			if err != nil || out == nil {
				return nil, err
			}
			return out, nil
		},
	}
	if resources != nil {
		op.resources = func(ctx context.Context, in any) []string { return resources(ctx, in.(*I)) }
	}
	return op
}

// Unsupported describes an operation Berth does not implement: any input
// is accepted and err is the answer, after authentication and
// authorization like any other operation.
func Unsupported(err error) Operation {
	return Op(func(context.Context, *struct{}) (*struct{}, error) { return nil, err }, nil)
}

// WithAction returns o with an explicit IAM action, for operations whose
// action is not named after them.
func (o Operation) WithAction(action string) Operation {
	o.Action = action
	return o
}

// AlwaysAllowed returns o without an authorize step, for the few actions
// AWS lets every authenticated principal perform whatever its policies say
// (sts:GetCallerIdentity).
func (o Operation) AlwaysAllowed() Operation {
	o.open = true
	return o
}
