// Package elb owns Berth's Elastic Load Balancing v2 API (awsQuery,
// Version 2015-12-01, SigV4 service "elasticloadbalancing"): application
// and network load balancers, listeners and their rules, target groups and
// their targets, attributes and tags (api_*.go), target health as the data
// plane reports it (targets*.go), and the running of that data plane
// (dataplane.go: the records, watched, become internal/elb/proxy's
// configuration). It also implements what ECS services ask of load
// balancing (ecs.LoadBalancing, through internal/lbtarget's types).
//
// State is per account and region, as in AWS; records.go says where.
package elb

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// Config configures the ELB service.
type Config struct {
	// Store is the etcd store (any namespace: the service uses
	// "/berth/<account>").
	Store     *store.Store
	AccountID string
	// Region answers requests that carry none.
	Region string
	// ListenAddress is the IP every listener binds (default 127.0.0.1);
	// load balancers' DNS names resolve to it.
	ListenAddress string
	// PortMap maps a listener's port to the local port it binds (for
	// running without root: 80 -> 8080); unmapped ports bind as they are.
	PortMap map[int32]int32
	// InstanceAddress resolves an instance target's id (a container
	// instance's ec2InstanceId) to the IP its host ports answer on; nil
	// refuses instance targets that come without an address.
	InstanceAddress func(ctx context.Context, region, instanceID string) (string, bool)
	// Certificates resolves the certificate ARNs of HTTPS and TLS
	// listeners (internal/acm); nil refuses such listeners.
	Certificates CertificateSource
	Logger       *slog.Logger
	Now          func() time.Time
}

// CertificateSource is where listener certificates come from.
type CertificateSource interface {
	// Certificate returns the certificate an ARN names (in the region the
	// ARN names); an error when there is none.
	Certificate(ctx context.Context, arn string) (tls.Certificate, error)
}

// Service implements the ELBv2 API.
type Service struct {
	cfg  Config
	st   *store.Store // "/berth/<account>"
	log  *slog.Logger
	now  func() time.Time
	arns arns
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ListenAddress == "" {
		cfg.ListenAddress = "127.0.0.1"
	}
	return &Service{
		cfg:  cfg,
		st:   cfg.Store.WithNamespace("/berth/" + cfg.AccountID),
		log:  cfg.Logger.With("service", "elb"),
		now:  func() time.Time { return cfg.Now().UTC() },
		arns: arns{account: cfg.AccountID},
	}
}

// region is the request's region (the server's when it names none).
func (s *Service) region(ctx context.Context) string {
	if r, ok := api.RegionFrom(ctx); ok && r != "" {
		return r
	}
	return s.cfg.Region
}

// APIService describes ELBv2 for the API listener. Actions Berth does not
// implement answer InvalidAction naming the action, as STS's do.
func (s *Service) APIService() api.Service {
	ops := map[string]api.Operation{}
	for name, op := range s.resourceOps() { // api_*.go
		ops[name] = op
	}
	for name, op := range s.targetOps() { // targets*.go
		ops[name] = op
	}
	for _, name := range elbv2types.Operations {
		if _, ok := ops[name]; !ok {
			ops[name] = api.Unsupported(notImplemented(name))
		}
	}
	return api.Service{
		SigningName: elbv2types.SigningName,
		Query: &api.QueryProtocol{
			Version:        elbv2types.APIVersion,
			XMLNamespace:   elbv2types.XMLNamespace,
			ResultWrappers: elbv2types.ResultWrappers,
		},
		Errors:     api.Errors{Status: elbv2types.ErrorStatus},
		Operations: ops,
	}
}
