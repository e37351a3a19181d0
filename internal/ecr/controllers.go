package ecr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/store"
)

// ecrRegion marks, in the account's namespace ("/berth/<account>"), a
// region where a repository was created: the regions the controllers
// visit (ECS keeps its own "regions" list the same way).
type ecrRegion struct {
	Region string `json:"region"`
}

var ecrRegions = store.NewCollection[ecrRegion]("ecr/regions")

// markRegion records that region has ECR state, once per service and
// region.
func (s *Service) markRegion(ctx context.Context, region string) error {
	s.mu.Lock()
	done := s.marked[region]
	s.mu.Unlock()
	if done {
		return nil
	}
	err := s.acct.Update(ctx, func(tx *store.Tx) error {
		store.Put(tx, ecrRegions, region, ecrRegion{Region: region})
		return nil
	})
	if err != nil {
		return fmt.Errorf("record region %s: %w", region, err)
	}
	s.mu.Lock()
	s.marked[region] = true
	s.mu.Unlock()
	return nil
}

// knownRegions lists the regions with ECR state, whichever server made
// them, and the default region.
func (s *Service) knownRegions(ctx context.Context) ([]string, error) {
	var out []string
	err := s.acct.View(ctx, func(tx *store.Tx) error {
		out = out[:0]
		return store.Scan(tx, ecrRegions, "", "", false, func(id string, _ ecrRegion) (bool, error) {
			if regionName.MatchString(id) {
				out = append(out, id)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list ecr regions: %w", err)
	}
	if !slices.Contains(out, s.cfg.Region) {
		out = append(out, s.cfg.Region)
	}
	return out, nil
}

// regionPass is one piece of background work done in every region with
// ECR state, on every round of RunControllers.
type regionPass struct {
	name string
	run  func(ctx context.Context, region string) error
}

// regionPasses are the passes of a round, run in this order in each
// region. More per-region passes are added here: the registry's garbage
// collection of unreferenced blobs is meant to be appended after the
// lifecycle pass, so that it collects what the lifecycle expired.
func (s *Service) regionPasses() []regionPass {
	return []regionPass{
		{name: "lifecycle", run: s.LifecyclePass},
	}
}

// RunControllers runs ECR's background work until ctx is done: a round at
// once, then one every interval, each running every regionPasses pass in
// every region with ECR state. A pass's failure is logged and the round
// goes on. The server runs it under its leader election, next to the ECS
// controllers: one server of those sharing an etcd at a time.
func (s *Service) RunControllers(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		s.runRound(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// runRound runs every pass in every known region once.
func (s *Service) runRound(ctx context.Context) {
	regions, err := s.knownRegions(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "ecr controllers", "err", err)
		}
		return
	}
	for _, region := range regions {
		for _, p := range s.regionPasses() {
			if ctx.Err() != nil {
				return
			}
			if err := p.run(ctx, region); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "ecr controller pass", "pass", p.name, "region", region, "err", err)
			}
		}
	}
}

// LifecyclePass applies the lifecycle policy of every repository of
// region that has one: it deletes the images the policy expires now, as
// BatchDeleteImage deletes an image by digest (each image in its own
// bounded transactions, an image whose tags changed since it was planned
// left alone), then sets the policy's LastEvaluatedAt. One repository's
// failure does not stop the others; the failures are returned together.
func (s *Service) LifecyclePass(ctx context.Context, region string) error {
	if !regionName.MatchString(region) {
		return fmt.Errorf("lifecycle pass: %q is not a region", region)
	}
	st := s.regionStore(region)
	type withPolicy struct{ name, text string }
	var repos []withPolicy
	err := st.View(ctx, func(tx *store.Tx) error {
		repos = repos[:0]
		return store.Scan(tx, repositories, "", "", false, func(name string, rec repoRecord) (bool, error) {
			if rec.Lifecycle != nil {
				repos = append(repos, withPolicy{name, rec.Lifecycle.Text})
			}
			return true, nil
		})
	})
	if err != nil {
		return fmt.Errorf("lifecycle pass in %s: list repositories: %w", region, err)
	}
	var errs []error
	for _, r := range repos {
		if err := s.applyLifecycle(ctx, st, r.name, r.text); err != nil {
			errs = append(errs, fmt.Errorf("lifecycle of %s in %s: %w", r.name, region, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// applyLifecycle applies policy text to repository repo.
func (s *Service) applyLifecycle(ctx context.Context, st *store.Store, repo, text string) error {
	policy, err := ParseLifecyclePolicy(text)
	if err != nil {
		return fmt.Errorf("parse the stored policy: %w", err)
	}
	imgs, err := lifecycleImages(ctx, st, repo)
	if err != nil {
		return err
	}
	now := s.now()
	expired := 0
	for _, e := range PlanLifecycle(policy, imgs, now) {
		planned := e.Image
		_, fail, err := s.deleteImageIf(ctx, st, repo, ecrtypes.ImageIdentifier{ImageDigest: aws.String(planned.Digest)},
			func(img imageRecord) bool {
				return slices.Equal(img.Tags, planned.Tags) && img.PushedAt.Equal(planned.PushedAt)
			})
		switch {
		case errors.Is(err, errImageChanged):
			continue // re-planned on the next pass
		case err != nil:
			if errors.Is(err, &awserr.Error{Code: ecrtypes.ErrCodeRepositoryNotFoundException}) {
				return nil // deleted meanwhile
			}
			return fmt.Errorf("expire image %s: %w", planned.Digest, err)
		case fail != nil:
			continue // gone, or listed by an index pushed meanwhile
		}
		expired++
		s.log.InfoContext(ctx, "lifecycle policy expired an image", "repository", repo, "digest", planned.Digest,
			"tags", planned.Tags, "rulePriority", e.RulePriority)
	}
	err = st.Update(ctx, func(tx *store.Tx) error {
		rec, err := store.Get(tx, repositories, repo)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if rec.Lifecycle == nil || rec.Lifecycle.Text != text {
			return nil // replaced meanwhile: the next pass applies the new one
		}
		rec.Lifecycle.LastEvaluatedAt = now
		store.Put(tx, repositories, repo, rec)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the evaluation (%d images expired): %w", expired, err)
	}
	return nil
}

// lifecycleImages reads what planning needs of every image of repo, in
// one snapshot (Scan reads it in bounded batches).
func lifecycleImages(ctx context.Context, st *store.Store, repo string) ([]LifecycleImage, error) {
	var out []LifecycleImage
	listed := map[string]bool{} // digests an index of repo lists
	err := st.View(ctx, func(tx *store.Tx) error {
		out = out[:0]
		clear(listed)
		return store.Scan(tx, images, imagePrefix(repo), "", false, func(_ string, img imageRecord) (bool, error) {
			out = append(out, LifecycleImage{Digest: img.Digest, Tags: img.Tags, PushedAt: img.PushedAt})
			for _, m := range img.Manifests {
				listed[m] = true
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list images of %s: %w", repo, err)
	}
	for i := range out {
		out[i].Referenced = listed[out[i].Digest]
	}
	return out, nil
}
