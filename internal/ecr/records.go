package ecr

import (
	"context"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/store"
)

// repoRecord is a repository as stored, id its name.
type repoRecord struct {
	// Repository is the reply shape, repositoryUri included as it was
	// when created.
	Repository ecrtypes.Repository `json:"repository"`
	Tags       []ecrtypes.Tag      `json:"tags,omitempty"`
	// Policy is the repository policy's text ("" when none).
	Policy string `json:"policy,omitempty"`
	// Lifecycle is the lifecycle policy, nil when none.
	Lifecycle *lifecycleRecord `json:"lifecycle,omitempty"`
	// Preview is the last lifecycle policy preview, nil when none.
	Preview *previewRecord `json:"preview,omitempty"`
}

// previewRecord is a lifecycle policy preview: the policy previewed and
// when. Its results are planned when asked for (lifecycle_preview.go).
type previewRecord struct {
	Text      string    `json:"text"`
	StartedAt time.Time `json:"startedAt"`
}

// lifecycleRecord is a repository's lifecycle policy.
type lifecycleRecord struct {
	Text string `json:"text"`
	// LastEvaluatedAt is when the lifecycle controller last applied it.
	LastEvaluatedAt time.Time `json:"lastEvaluatedAt,omitzero"`
}

var repositories = store.NewCollection[repoRecord]("ecr/repositories")

// repositoryARN is a repository's ARN in the request's region.
func (s *Service) repositoryARN(ctx context.Context, name string) string {
	region, ok := api.RegionFrom(ctx)
	if !ok || region == "" {
		region = s.cfg.Region
	}
	return "arn:aws:ecr:" + region + ":" + s.cfg.AccountID + ":repository/" + name
}

// repositoryFromARN returns the repository name of an ARN of this account
// and region.
func (s *Service) repositoryFromARN(ctx context.Context, arn string) (string, bool) {
	prefix := s.repositoryARN(ctx, "")
	name, ok := strings.CutPrefix(arn, prefix)
	return name, ok && name != ""
}

// repositoryURI is what docker pulls and pushes: the registry host and the
// repository name.
func (s *Service) repositoryURI(name string) string { return s.cfg.RegistryHost + "/" + name }

// checkRegistry refuses a registryId other than the account's: Berth has
// one registry per account and region.
func (s *Service) checkRegistry(id *string) error {
	if id != nil && *id != s.cfg.AccountID {
		return awserr.InvalidParameter("%s", "Invalid parameter at 'registryId' failed to satisfy constraint: 'must be the registry of account "+s.cfg.AccountID+"'")
	}
	return nil
}

// Errors in ECR's words.

func repositoryNotFound(name, registry string) error {
	return awserr.Newf(ecrtypes.ErrCodeRepositoryNotFoundException,
		"%s", "The repository with name '"+name+"' does not exist in the registry with id '"+registry+"'")
}

func repositoryExists(name, registry string) error {
	return awserr.Newf(ecrtypes.ErrCodeRepositoryAlreadyExistsException,
		"%s", "The repository with name '"+name+"' already exists in the registry with id '"+registry+"'")
}

func repositoryNotEmpty(name, registry string) error {
	return awserr.Newf(ecrtypes.ErrCodeRepositoryNotEmptyException,
		"%s", "The repository with name '"+name+"' in registry with id '"+registry+"' cannot be deleted because it still contains images")
}

func policyNotFound(name, registry string) error {
	return awserr.Newf(ecrtypes.ErrCodeRepositoryPolicyNotFoundException,
		"%s", "Repository policy does not exist for the repository with name '"+name+"' in the registry with id '"+registry+"'")
}

func previewNotFound(name, registry string) error {
	return awserr.Newf(ecrtypes.ErrCodeLifecyclePolicyPreviewNotFoundException,
		"%s", "There is no lifecycle policy preview for the repository with name '"+name+"' in the registry with id '"+registry+"'")
}

func lifecycleNotFound(name, registry string) error {
	return awserr.Newf(ecrtypes.ErrCodeLifecyclePolicyNotFoundException,
		"%s", "Lifecycle policy does not exist for the repository with name '"+name+"' in the registry with id '"+registry+"'")
}
