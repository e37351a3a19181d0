// Package acm owns Berth's AWS Certificate Manager API (awsJson1_1, target
// prefix CertificateManager, SigV4 service "acm"), as much of it as HTTPS
// and TLS listeners need: certificates operators import (a PEM
// certificate, its private key and chain, validated on import), described,
// listed, read back, tagged and deleted; and Certificate, which hands the
// ELB data plane a tls.Certificate for a certificate's ARN. Berth issues
// no certificates itself: RequestCertificate and the other actions answer
// UnsupportedFeatureException.
//
// A certificate lives in the account's store namespace "/berth/<account>",
// collection "acm/certificates", id "<region>/<uuid>" (records.go).
package acm

import (
	"context"
	"log/slog"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/acmtypes"
	"github.com/berth-dev/berth/internal/store"
)

// Config configures the ACM service.
type Config struct {
	// Store is the etcd store (any namespace: the service uses
	// "/berth/<account>").
	Store     *store.Store
	AccountID string
	// Region answers requests that carry none.
	Region string
	Logger *slog.Logger
	Now    func() time.Time
}

// Service implements the ACM API.
type Service struct {
	cfg  Config
	acct *store.Store // "/berth/<account>"
	log  *slog.Logger
	now  func() time.Time
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{
		cfg:  cfg,
		acct: cfg.Store.WithNamespace("/berth/" + cfg.AccountID),
		log:  cfg.Logger.With("service", "acm"),
		now:  func() time.Time { return cfg.Now().UTC() },
	}
}

// regionName is what a region looks like ("us-east-1", "us-gov-west-1").
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

// region is the request's region (the configured one when it carries none).
func (s *Service) region(ctx context.Context) (string, error) {
	region, ok := api.RegionFrom(ctx)
	if !ok || region == "" {
		region = s.cfg.Region
	}
	if !regionName.MatchString(region) {
		return "", awserr.Newf(acmtypes.ErrCodeValidationException, "%q is not a valid region.", region)
	}
	return region, nil
}

// APIService describes ACM for the API listener. Actions Berth does not
// implement answer UnsupportedFeatureException naming the action.
func (s *Service) APIService() api.Service {
	arn := func(a *string) []string { return []string{aws.ToString(a)} }
	ops := map[string]api.Operation{
		"ImportCertificate": api.Op(s.ImportCertificate, func(_ context.Context, in *acmtypes.ImportCertificateRequest) []string {
			if in.CertificateArn == nil {
				return nil
			}
			return arn(in.CertificateArn)
		}),
		"DescribeCertificate": api.Op(s.DescribeCertificate, func(_ context.Context, in *acmtypes.DescribeCertificateRequest) []string {
			return arn(in.CertificateArn)
		}),
		"ListCertificates": api.Op(s.ListCertificates, nil),
		"GetCertificate": api.Op(s.GetCertificate, func(_ context.Context, in *acmtypes.GetCertificateRequest) []string {
			return arn(in.CertificateArn)
		}),
		"DeleteCertificate": api.Op(s.DeleteCertificate, func(_ context.Context, in *acmtypes.DeleteCertificateRequest) []string {
			return arn(in.CertificateArn)
		}),
		"AddTagsToCertificate": api.Op(s.AddTagsToCertificate, func(_ context.Context, in *acmtypes.AddTagsToCertificateRequest) []string {
			return arn(in.CertificateArn)
		}),
		"RemoveTagsFromCertificate": api.Op(s.RemoveTagsFromCertificate, func(_ context.Context, in *acmtypes.RemoveTagsFromCertificateRequest) []string {
			return arn(in.CertificateArn)
		}),
		"ListTagsForCertificate": api.Op(s.ListTagsForCertificate, func(_ context.Context, in *acmtypes.ListTagsForCertificateRequest) []string {
			return arn(in.CertificateArn)
		}),
	}
	for _, name := range acmtypes.Operations {
		if _, ok := ops[name]; !ok {
			ops[name] = api.Unsupported(awserr.UnsupportedFeature("%s",
				"Berth does not implement the ACM action "+name+": it keeps imported certificates only (ImportCertificate)."))
		}
	}
	return api.Service{
		SigningName: acmtypes.SigningName,
		JSON:        &api.JSONProtocol{TargetPrefix: acmtypes.TargetPrefix, Version: acmtypes.JSONVersion},
		Errors: api.Errors{
			Status:     acmtypes.ErrorStatus,
			Validation: acmtypes.ErrCodeValidationException,
		},
		Operations: ops,
	}
}

// Errors in ACM's words.

func validation(format string, args ...any) error {
	return awserr.Newf(acmtypes.ErrCodeValidationException, format, args...)
}

func invalidARN(arn string) error {
	return awserr.Newf(acmtypes.ErrCodeInvalidArnException, "String '%s' is not a valid ARN.", arn)
}

func notFound(arn string) error {
	return awserr.Newf(acmtypes.ErrCodeResourceNotFoundException, "Could not find certificate %s.", arn)
}
