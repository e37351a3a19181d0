// Package ecr owns Berth's Amazon ECR API (awsJson1_1, target prefix
// AmazonEC2ContainerRegistry_V20150921, SigV4 service "ecr"): private
// repositories and their settings (tag mutability, scanning, encryption),
// repository and lifecycle policies (lifecycle.go plans what a policy
// expires; the controllers of controllers.go apply it, and
// lifecycle_preview.go previews it), tags, the authorization tokens that
// `docker login` presents to the registry (auth.go), the registry's
// metadata on etcd (RegistryMeta: meta.go, meta_manifests.go, keys in
// images_records.go) and the image and layer APIs on the same records
// (images_*.go, layers.go), whose bytes are the registry's blob store, and
// that store's garbage collection (gc.go: GCPass).
//
// State is per account and region, as in AWS: a repository lives in the
// store namespace "/berth/<account>/<region>" under "ecr/repositories". The
// registry (/v2/ on the same listener) serves one region per login: the
// region of the GetAuthorizationToken call that issued the token, as an ECR
// registry host serves one region.
package ecr

import (
	"context"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/scan"
	"github.com/berth-dev/berth/internal/store"
)

// Config configures the ECR service.
type Config struct {
	// Store is the etcd store (any namespace: the service uses
	// "/berth/<account>/...").
	Store     *store.Store
	AccountID string
	// Region answers requests that carry none.
	Region string
	// RegistryHost is the registry's host:port as clients reach it: the
	// repositoryUri's host and the token's proxyEndpoint.
	RegistryHost string
	// Blobs holds the image bytes: the registry's blob store, which the
	// layer upload APIs and PutImage write to and the registry reads. Nil
	// makes those APIs unavailable (and image sizes unknown).
	Blobs blob.Store
	// GCGrace is how young a blob GCPass never deletes, referenced or
	// not: longer than any one push request takes from committing a blob
	// to recording it (default DefaultGCGrace; gc.go says why).
	GCGrace time.Duration
	// UploadMaxAge is how old an upload in progress GCPass discards
	// (default DefaultUploadMaxAge).
	UploadMaxAge time.Duration
	Logger       *slog.Logger
	Now          func() time.Time

	// ScanTimeout bounds a basic scan from StartImageScan (or the push)
	// to its result (default 10 minutes).
	ScanTimeout time.Duration
	// ScanWorkers is how many scans run at once (default 2).
	ScanWorkers int
	// ScanQuota is how often an image may be scanned against the same
	// vulnerability database (ECR's once a day, the default); negative
	// means no limit.
	ScanQuota time.Duration
}

// Defaults of Config's garbage collection settings.
const (
	DefaultGCGrace      = time.Hour
	DefaultUploadMaxAge = 24 * time.Hour
)

// Service implements the ECR API.
type Service struct {
	cfg  Config
	acct *store.Store // "/berth/<account>"
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	regions map[string]*store.Store // region -> "/berth/<account>/<region>"
	marked  map[string]bool         // regions known to be in ecrRegions
	key     *tokenKey               // the account's token key, once read

	// The vulnerability database this server loaded (vulndb.go), under
	// vdbMu; vdbLoad serializes loads, so that a status call never waits
	// for one.
	vdbLoad   sync.Mutex
	vdbMu     sync.Mutex
	vdb       *scan.DB
	vdbDigest string

	// The scan workers (scans.go), started on the first scan; Close ends
	// them.
	scanMu     sync.Mutex
	scanQueue  chan scanJob
	scanStop   context.CancelFunc
	scanClosed bool
	scanWG     sync.WaitGroup
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.GCGrace <= 0 {
		cfg.GCGrace = DefaultGCGrace
	}
	if cfg.UploadMaxAge <= 0 {
		cfg.UploadMaxAge = DefaultUploadMaxAge
	}
	if cfg.ScanTimeout <= 0 {
		cfg.ScanTimeout = defaultScanTimeout
	}
	if cfg.ScanWorkers <= 0 {
		cfg.ScanWorkers = defaultScanWorkers
	}
	if cfg.ScanQuota == 0 {
		cfg.ScanQuota = defaultScanQuota
	}
	return &Service{
		cfg:     cfg,
		acct:    cfg.Store.WithNamespace("/berth/" + cfg.AccountID),
		log:     cfg.Logger.With("service", "ecr"),
		now:     func() time.Time { return cfg.Now().UTC() },
		regions: map[string]*store.Store{},
		marked:  map[string]bool{},
	}
}

// regionName is what a region looks like ("us-east-1", "us-gov-west-1").
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

// regional returns the store of the request's region and its name.
func (s *Service) regional(ctx context.Context) (*store.Store, string, error) {
	region, ok := api.RegionFrom(ctx)
	if !ok || region == "" {
		region = s.cfg.Region
	}
	st, err := s.regionStore(region)
	return st, region, err
}

// regionStore returns the store of region (InvalidParameter when it is
// not a region's name).
func (s *Service) regionStore(region string) (*store.Store, error) {
	if !regionName.MatchString(region) {
		return nil, awserr.InvalidParameter("%q is not a valid region.", region)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.regions[region]
	if !ok {
		st = s.acct.WithNamespace("/berth/" + s.cfg.AccountID + "/" + region)
		s.regions[region] = st
	}
	return st, nil
}

// APIService describes ECR for the API listener. Actions Berth does not
// implement yet answer UnsupportedFeatureException naming the action.
func (s *Service) APIService() api.Service {
	repo := func(name *string) func(context.Context) []string {
		return func(ctx context.Context) []string { return []string{s.repositoryARN(ctx, aws.ToString(name))} }
	}
	ops := map[string]api.Operation{
		"CreateRepository": api.Op(s.CreateRepository, func(ctx context.Context, in *ecrtypes.CreateRepositoryRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"DescribeRepositories": api.Op(s.DescribeRepositories, func(ctx context.Context, in *ecrtypes.DescribeRepositoriesRequest) []string {
			if len(in.RepositoryNames) == 0 {
				return []string{"*"}
			}
			out := make([]string, 0, len(in.RepositoryNames))
			for _, n := range in.RepositoryNames {
				out = append(out, s.repositoryARN(ctx, n))
			}
			return out
		}),
		"DeleteRepository": api.Op(s.DeleteRepository, func(ctx context.Context, in *ecrtypes.DeleteRepositoryRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"GetAuthorizationToken": api.Op(s.GetAuthorizationToken, nil),
		"PutImageTagMutability": api.Op(s.PutImageTagMutability, func(ctx context.Context, in *ecrtypes.PutImageTagMutabilityRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"PutImageScanningConfiguration": api.Op(s.PutImageScanningConfiguration, func(ctx context.Context, in *ecrtypes.PutImageScanningConfigurationRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"SetRepositoryPolicy": api.Op(s.SetRepositoryPolicy, func(ctx context.Context, in *ecrtypes.SetRepositoryPolicyRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"GetRepositoryPolicy": api.Op(s.GetRepositoryPolicy, func(ctx context.Context, in *ecrtypes.GetRepositoryPolicyRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"DeleteRepositoryPolicy": api.Op(s.DeleteRepositoryPolicy, func(ctx context.Context, in *ecrtypes.DeleteRepositoryPolicyRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"PutLifecyclePolicy": api.Op(s.PutLifecyclePolicy, func(ctx context.Context, in *ecrtypes.PutLifecyclePolicyRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"GetLifecyclePolicy": api.Op(s.GetLifecyclePolicy, func(ctx context.Context, in *ecrtypes.GetLifecyclePolicyRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"DeleteLifecyclePolicy": api.Op(s.DeleteLifecyclePolicy, func(ctx context.Context, in *ecrtypes.DeleteLifecyclePolicyRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"StartLifecyclePolicyPreview": api.Op(s.StartLifecyclePolicyPreview, func(ctx context.Context, in *ecrtypes.StartLifecyclePolicyPreviewRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"GetLifecyclePolicyPreview": api.Op(s.GetLifecyclePolicyPreview, func(ctx context.Context, in *ecrtypes.GetLifecyclePolicyPreviewRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"ListImages": api.Op(s.ListImages, func(ctx context.Context, in *ecrtypes.ListImagesRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"DescribeImages": api.Op(s.DescribeImages, func(ctx context.Context, in *ecrtypes.DescribeImagesRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"BatchGetImage": api.Op(s.BatchGetImage, func(ctx context.Context, in *ecrtypes.BatchGetImageRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"BatchDeleteImage": api.Op(s.BatchDeleteImage, func(ctx context.Context, in *ecrtypes.BatchDeleteImageRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"PutImage": api.Op(s.PutImage, func(ctx context.Context, in *ecrtypes.PutImageRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"BatchCheckLayerAvailability": api.Op(s.BatchCheckLayerAvailability, func(ctx context.Context, in *ecrtypes.BatchCheckLayerAvailabilityRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"InitiateLayerUpload": api.Op(s.InitiateLayerUpload, func(ctx context.Context, in *ecrtypes.InitiateLayerUploadRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"UploadLayerPart": api.Op(s.UploadLayerPart, func(ctx context.Context, in *ecrtypes.UploadLayerPartRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"CompleteLayerUpload": api.Op(s.CompleteLayerUpload, func(ctx context.Context, in *ecrtypes.CompleteLayerUploadRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"GetDownloadUrlForLayer": api.Op(s.GetDownloadUrlForLayer, func(ctx context.Context, in *ecrtypes.GetDownloadUrlForLayerRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"StartImageScan": api.Op(s.StartImageScan, func(ctx context.Context, in *ecrtypes.StartImageScanRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"DescribeImageScanFindings": api.Op(s.DescribeImageScanFindings, func(ctx context.Context, in *ecrtypes.DescribeImageScanFindingsRequest) []string {
			return repo(in.RepositoryName)(ctx)
		}),
		"TagResource": api.Op(s.TagResource, func(_ context.Context, in *ecrtypes.TagResourceRequest) []string {
			return []string{aws.ToString(in.ResourceArn)}
		}),
		"UntagResource": api.Op(s.UntagResource, func(_ context.Context, in *ecrtypes.UntagResourceRequest) []string {
			return []string{aws.ToString(in.ResourceArn)}
		}),
		"ListTagsForResource": api.Op(s.ListTagsForResource, func(_ context.Context, in *ecrtypes.ListTagsForResourceRequest) []string {
			return []string{aws.ToString(in.ResourceArn)}
		}),
	}
	for _, name := range ecrtypes.Operations {
		if _, ok := ops[name]; !ok {
			ops[name] = api.Unsupported(awserr.UnsupportedFeature("%s", "Berth does not implement the ECR action "+name+" yet."))
		}
	}
	return api.Service{
		SigningName: ecrtypes.SigningName,
		JSON:        &api.JSONProtocol{TargetPrefix: ecrtypes.TargetPrefix, Version: ecrtypes.JSONVersion},
		Errors: api.Errors{
			Status:     ecrtypes.ErrorStatus,
			Internal:   ecrtypes.ErrCodeServerException,
			Validation: ecrtypes.ErrCodeInvalidParameterException,
		},
		Operations: ops,
	}
}
