package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/store"
)

// CreateRepository creates a private repository with ECR's defaults:
// MUTABLE tags, no scan on push, AES256 encryption.
func (s *Service) CreateRepository(ctx context.Context, in *ecrtypes.CreateRepositoryRequest) (*ecrtypes.CreateRepositoryResponse, error) {
	st, region, err := s.regional(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	mutability := aws.ToString(in.ImageTagMutability)
	switch mutability {
	case "":
		mutability = ecrtypes.ImageTagMutabilityMUTABLE
	case ecrtypes.ImageTagMutabilityIMMUTABLEWITHEXCLUSION, ecrtypes.ImageTagMutabilityMUTABLEWITHEXCLUSION:
		return nil, awserr.UnsupportedFeature("Berth does not support tag mutability exclusion filters yet.")
	}
	if len(in.ImageTagMutabilityExclusionFilters) > 0 {
		return nil, awserr.UnsupportedFeature("Berth does not support tag mutability exclusion filters yet.")
	}
	enc := in.EncryptionConfiguration
	switch {
	case enc == nil:
		enc = &ecrtypes.EncryptionConfiguration{EncryptionType: aws.String(ecrtypes.EncryptionTypeAES256)}
	case aws.ToString(enc.EncryptionType) != ecrtypes.EncryptionTypeAES256:
		return nil, awserr.UnsupportedFeature("Berth stores images encrypted at rest only as AES256; KMS keys are not supported yet.")
	case enc.KmsKey != nil:
		return nil, awserr.InvalidParameter("Invalid parameter at 'encryptionConfiguration' failed to satisfy constraint: 'kmsKey can be specified only with encryptionType KMS'")
	}
	scan := in.ImageScanningConfiguration
	if scan == nil {
		scan = &ecrtypes.ImageScanningConfiguration{ScanOnPush: aws.Bool(false)}
	} else if scan.ScanOnPush == nil {
		scan = &ecrtypes.ImageScanningConfiguration{ScanOnPush: aws.Bool(false)}
	}
	repo := ecrtypes.Repository{
		RepositoryArn:              aws.String(s.repositoryARN(ctx, name)),
		RegistryId:                 aws.String(s.cfg.AccountID),
		RepositoryName:             aws.String(name),
		RepositoryUri:              aws.String(s.repositoryURI(name)),
		CreatedAt:                  ecrtypes.Time(s.now()),
		ImageTagMutability:         aws.String(mutability),
		ImageScanningConfiguration: scan,
		EncryptionConfiguration:    enc,
	}
	// The controllers visit the regions with repositories.
	if err := s.markRegion(ctx, region); err != nil {
		return nil, err
	}
	// What a crashed purge of a deleted namesake left must not show in
	// the new repository (a no-op when the name exists: the purge stops).
	if err := s.purgeRepository(ctx, st, name); err != nil {
		return nil, err
	}
	err = st.Update(ctx, func(tx *store.Tx) error {
		_, err := store.Get(tx, repositories, name)
		if err == nil {
			return repositoryExists(name, s.cfg.AccountID)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("get repository %s: %w", name, err)
		}
		store.Put(tx, repositories, name, repoRecord{Repository: repo, Tags: in.Tags})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecrtypes.CreateRepositoryResponse{Repository: &repo}, nil
}

// maxDescribePage is DescribeRepositories' page size without maxResults.
const maxDescribePage = 100

// DescribeRepositories describes the named repositories (all must exist),
// or pages through every repository in name order.
func (s *Service) DescribeRepositories(ctx context.Context, in *ecrtypes.DescribeRepositoriesRequest) (*ecrtypes.DescribeRepositoriesResponse, error) {
	st, _, err := s.regional(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	out := &ecrtypes.DescribeRepositoriesResponse{Repositories: []ecrtypes.Repository{}}
	if len(in.RepositoryNames) > 0 {
		if in.MaxResults != nil || in.NextToken != nil {
			return nil, awserr.InvalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'maxResults and nextToken cannot be used with repositoryNames'")
		}
		err := st.View(ctx, func(tx *store.Tx) error {
			found, err := store.GetMany(tx, repositories, in.RepositoryNames)
			if err != nil {
				return fmt.Errorf("get repositories: %w", err)
			}
			for _, name := range in.RepositoryNames {
				rec, ok := found[name]
				if !ok {
					return repositoryNotFound(name, s.cfg.AccountID)
				}
				out.Repositories = append(out.Repositories, rec.Repository)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	limit, after, err := pageArgs(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	err = st.View(ctx, func(tx *store.Tx) error {
		out.Repositories, out.NextToken = out.Repositories[:0], nil
		return store.Scan(tx, repositories, "", after, false, func(name string, rec repoRecord) (bool, error) {
			if len(out.Repositories) == limit {
				out.NextToken = nextToken(out.Repositories[limit-1].RepositoryName)
				return false, nil
			}
			out.Repositories = append(out.Repositories, rec.Repository)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// pageArgs validates maxResults (1-1000, ECR's bound) and nextToken and
// returns the page size and the last name of the previous page.
func pageArgs(maxResults *int32, token *string) (limit int, after string, err error) {
	limit = maxDescribePage
	if maxResults != nil {
		limit = int(*maxResults) // the model bounds it to 1-1000
	}
	if token != nil && *token != "" {
		last, err := base64.RawURLEncoding.DecodeString(*token)
		if err != nil || len(last) == 0 {
			return 0, "", awserr.InvalidParameter("Invalid parameter at 'nextToken' failed to satisfy constraint: 'the token is not valid'")
		}
		after = string(last)
	}
	return limit, after, nil
}

// nextToken is the token of the page after the one ending with name.
func nextToken(name *string) *string {
	tok := base64.RawURLEncoding.EncodeToString([]byte(aws.ToString(name)))
	return &tok
}

// DeleteRepository deletes a repository: with force its images too,
// otherwise only an empty one.
func (s *Service) DeleteRepository(ctx context.Context, in *ecrtypes.DeleteRepositoryRequest) (*ecrtypes.DeleteRepositoryResponse, error) {
	st, _, err := s.regional(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	var out ecrtypes.Repository
	err = st.Update(ctx, func(tx *store.Tx) error {
		rec, err := s.getRepository(tx, name)
		if err != nil {
			return err
		}
		// Whether it has any image: one read, however many it has (a push
		// racing the delete leaves records deleteImages removes below).
		some := false
		err = store.Scan(tx, images, imagePrefix(name), "", false, func(string, imageRecord) (bool, error) {
			some = true
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("list images of %s: %w", name, err)
		}
		if some && !aws.ToBool(in.Force) {
			return repositoryNotEmpty(name, s.cfg.AccountID)
		}
		out = rec.Repository
		store.Delete(tx, repositories, name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The repository is gone: what it owned is unreachable, and removed in
	// batches (a crash leaves records no API shows, which a
	// CreateRepository of the same name purges first).
	if err := s.purgeRepository(ctx, st, name); err != nil {
		s.log.Warn("delete the images of a deleted repository", "repository", name, "err", err)
	}
	return &ecrtypes.DeleteRepositoryResponse{Repository: &out}, nil
}

// getRepository reads repository name, or answers RepositoryNotFound.
func (s *Service) getRepository(tx *store.Tx, name string) (repoRecord, error) {
	rec, err := store.Get(tx, repositories, name)
	if errors.Is(err, store.ErrNotFound) {
		return repoRecord{}, repositoryNotFound(name, s.cfg.AccountID)
	}
	if err != nil {
		return repoRecord{}, fmt.Errorf("get repository %s: %w", name, err)
	}
	return rec, nil
}

// updateRepository applies change to repository name in one transaction
// and returns the record as written.
func (s *Service) updateRepository(ctx context.Context, registryID *string, name string, change func(*repoRecord) error) (repoRecord, error) {
	st, _, err := s.regional(ctx)
	if err != nil {
		return repoRecord{}, err
	}
	if err := s.checkRegistry(registryID); err != nil {
		return repoRecord{}, err
	}
	var out repoRecord
	err = st.Update(ctx, func(tx *store.Tx) error {
		rec, err := s.getRepository(tx, name)
		if err != nil {
			return err
		}
		if err := change(&rec); err != nil {
			return err
		}
		store.Put(tx, repositories, name, rec)
		out = rec
		return nil
	})
	return out, err
}

// viewRepository reads repository name.
func (s *Service) viewRepository(ctx context.Context, registryID *string, name string) (repoRecord, error) {
	st, _, err := s.regional(ctx)
	if err != nil {
		return repoRecord{}, err
	}
	if err := s.checkRegistry(registryID); err != nil {
		return repoRecord{}, err
	}
	var out repoRecord
	err = st.View(ctx, func(tx *store.Tx) error {
		var err error
		out, err = s.getRepository(tx, name)
		return err
	})
	return out, err
}

// PutImageTagMutability sets whether a repository's tags may move.
func (s *Service) PutImageTagMutability(ctx context.Context, in *ecrtypes.PutImageTagMutabilityRequest) (*ecrtypes.PutImageTagMutabilityResponse, error) {
	m := aws.ToString(in.ImageTagMutability)
	if !slices.Contains([]string{ecrtypes.ImageTagMutabilityMUTABLE, ecrtypes.ImageTagMutabilityIMMUTABLE}, m) || len(in.ImageTagMutabilityExclusionFilters) > 0 {
		return nil, awserr.UnsupportedFeature("Berth does not support tag mutability exclusion filters yet.")
	}
	name := aws.ToString(in.RepositoryName)
	_, err := s.updateRepository(ctx, in.RegistryId, name, func(r *repoRecord) error {
		r.Repository.ImageTagMutability = aws.String(m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecrtypes.PutImageTagMutabilityResponse{
		RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name), ImageTagMutability: aws.String(m),
	}, nil
}

// PutImageScanningConfiguration sets whether images are scanned on push.
func (s *Service) PutImageScanningConfiguration(ctx context.Context, in *ecrtypes.PutImageScanningConfigurationRequest) (*ecrtypes.PutImageScanningConfigurationResponse, error) {
	name := aws.ToString(in.RepositoryName)
	cfg := &ecrtypes.ImageScanningConfiguration{ScanOnPush: aws.Bool(aws.ToBool(in.ImageScanningConfiguration.ScanOnPush))}
	_, err := s.updateRepository(ctx, in.RegistryId, name, func(r *repoRecord) error {
		r.Repository.ImageScanningConfiguration = cfg
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecrtypes.PutImageScanningConfigurationResponse{
		RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name), ImageScanningConfiguration: cfg,
	}, nil
}
