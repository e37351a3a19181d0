// Package sts owns Berth's AWS Security Token Service API, Berth's first
// awsQuery service: GetCallerIdentity answers who a request's credentials
// belong to, as AWS does; STS's other actions answer InvalidAction naming
// the action until IAM roles and temporary credentials exist.
package sts

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ststypes"
)

// Config configures the STS service.
type Config struct {
	// AccountID is the account of the server's root credentials; it
	// answers for requests that carry no principal (no verifier).
	AccountID string
}

// Service implements the STS API.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// APIService describes STS for the API listener. Operations Berth does not
// implement yet answer InvalidAction (400): it is the awsQuery common error
// for an action the endpoint does not offer, so every client reports it
// cleanly, names no retry, and the message says it is Berth's gap. (There
// is no "not implemented" code among the awsQuery common errors; a 501
// would be an HTTP-level answer no AWS query service gives.)
func (s *Service) APIService() api.Service {
	ops := map[string]api.Operation{
		// AWS requires no permission for it, and an explicit deny does not
		// stop it either.
		"GetCallerIdentity": api.Op(s.GetCallerIdentity, nil).AlwaysAllowed(),
	}
	for _, name := range ststypes.Operations {
		if _, ok := ops[name]; !ok {
			ops[name] = api.Unsupported(NotImplemented(name))
		}
	}
	return api.Service{
		SigningName: ststypes.SigningName,
		Query: &api.QueryProtocol{
			Version:        ststypes.APIVersion,
			XMLNamespace:   ststypes.XMLNamespace,
			ResultWrappers: ststypes.ResultWrappers,
		},
		Errors:     api.Errors{Status: ststypes.ErrorStatus},
		Operations: ops,
	}
}

// NotImplemented is the answer to an STS action Berth does not implement.
func NotImplemented(action string) *awserr.Error {
	return awserr.Newf(awserr.CodeInvalidAction, "%s", "Berth does not implement the STS action "+action+" yet.")
}

// GetCallerIdentity answers the account, ARN and user id of the caller. For
// an account's root user AWS answers the account id as UserId; for other
// principals (there are none until IAM users exist) the access key id
// stands in for IAM's unique id.
func (s *Service) GetCallerIdentity(ctx context.Context, _ *ststypes.GetCallerIdentityRequest) (*ststypes.GetCallerIdentityResponse, error) {
	p, ok := api.PrincipalFrom(ctx)
	if !ok || p.ARN == "" {
		p = api.Principal{ARN: "arn:aws:iam::" + s.cfg.AccountID + ":root"}
	}
	account := p.Account()
	if account == "" {
		account = s.cfg.AccountID
	}
	userID := p.AccessKeyID
	if p.IsRoot() {
		userID = account
	}
	return &ststypes.GetCallerIdentityResponse{
		Account: aws.String(account),
		Arn:     aws.String(p.ARN),
		UserId:  aws.String(userID),
	}, nil
}
