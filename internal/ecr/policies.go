package ecr

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
)

// Repository policies are stored and returned; evaluating them is the IAM
// issue's. Lifecycle policies are validated as ECR documents them and
// stored; the lifecycle controller applies them.

// SetRepositoryPolicy sets a repository's policy (a JSON document).
func (s *Service) SetRepositoryPolicy(ctx context.Context, in *ecrtypes.SetRepositoryPolicyRequest) (*ecrtypes.SetRepositoryPolicyResponse, error) {
	text := aws.ToString(in.PolicyText)
	if err := checkPolicyDocument(text); err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	_, err := s.updateRepository(ctx, in.RegistryId, name, func(r *repoRecord) error {
		r.Policy = text
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecrtypes.SetRepositoryPolicyResponse{RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name), PolicyText: aws.String(text)}, nil
}

// GetRepositoryPolicy returns a repository's policy.
func (s *Service) GetRepositoryPolicy(ctx context.Context, in *ecrtypes.GetRepositoryPolicyRequest) (*ecrtypes.GetRepositoryPolicyResponse, error) {
	name := aws.ToString(in.RepositoryName)
	rec, err := s.viewRepository(ctx, in.RegistryId, name)
	if err != nil {
		return nil, err
	}
	if rec.Policy == "" {
		return nil, policyNotFound(name, s.cfg.AccountID)
	}
	return &ecrtypes.GetRepositoryPolicyResponse{RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name), PolicyText: aws.String(rec.Policy)}, nil
}

// DeleteRepositoryPolicy removes a repository's policy and returns it.
func (s *Service) DeleteRepositoryPolicy(ctx context.Context, in *ecrtypes.DeleteRepositoryPolicyRequest) (*ecrtypes.DeleteRepositoryPolicyResponse, error) {
	name := aws.ToString(in.RepositoryName)
	var text string
	_, err := s.updateRepository(ctx, in.RegistryId, name, func(r *repoRecord) error {
		if r.Policy == "" {
			return policyNotFound(name, s.cfg.AccountID)
		}
		text, r.Policy = r.Policy, ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecrtypes.DeleteRepositoryPolicyResponse{RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name), PolicyText: aws.String(text)}, nil
}

// checkPolicyDocument checks that text is an IAM policy document: a JSON
// object with a Statement.
func checkPolicyDocument(text string) error {
	var doc struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil || len(doc.Statement) == 0 {
		return awserr.InvalidParameter("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'")
	}
	return nil
}

// PutLifecyclePolicy validates and sets a repository's lifecycle policy.
func (s *Service) PutLifecyclePolicy(ctx context.Context, in *ecrtypes.PutLifecyclePolicyRequest) (*ecrtypes.PutLifecyclePolicyResponse, error) {
	text := aws.ToString(in.LifecyclePolicyText)
	if _, err := ParseLifecyclePolicy(text); err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	_, err := s.updateRepository(ctx, in.RegistryId, name, func(r *repoRecord) error {
		r.Lifecycle = &lifecycleRecord{Text: text}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecrtypes.PutLifecyclePolicyResponse{RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name), LifecyclePolicyText: aws.String(text)}, nil
}

// GetLifecyclePolicy returns a repository's lifecycle policy.
func (s *Service) GetLifecyclePolicy(ctx context.Context, in *ecrtypes.GetLifecyclePolicyRequest) (*ecrtypes.GetLifecyclePolicyResponse, error) {
	name := aws.ToString(in.RepositoryName)
	rec, err := s.viewRepository(ctx, in.RegistryId, name)
	if err != nil {
		return nil, err
	}
	if rec.Lifecycle == nil {
		return nil, lifecycleNotFound(name, s.cfg.AccountID)
	}
	out := &ecrtypes.GetLifecyclePolicyResponse{RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name),
		LifecyclePolicyText: aws.String(rec.Lifecycle.Text)}
	if !rec.Lifecycle.LastEvaluatedAt.IsZero() {
		out.LastEvaluatedAt = ecrtypes.Time(rec.Lifecycle.LastEvaluatedAt)
	}
	return out, nil
}

// DeleteLifecyclePolicy removes a repository's lifecycle policy and returns it.
func (s *Service) DeleteLifecyclePolicy(ctx context.Context, in *ecrtypes.DeleteLifecyclePolicyRequest) (*ecrtypes.DeleteLifecyclePolicyResponse, error) {
	name := aws.ToString(in.RepositoryName)
	var old lifecycleRecord
	_, err := s.updateRepository(ctx, in.RegistryId, name, func(r *repoRecord) error {
		if r.Lifecycle == nil {
			return lifecycleNotFound(name, s.cfg.AccountID)
		}
		old, r.Lifecycle = *r.Lifecycle, nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &ecrtypes.DeleteLifecyclePolicyResponse{RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name),
		LifecyclePolicyText: aws.String(old.Text)}
	if !old.LastEvaluatedAt.IsZero() {
		out.LastEvaluatedAt = ecrtypes.Time(old.LastEvaluatedAt)
	}
	return out, nil
}

// LifecyclePolicy is a parsed lifecycle policy: its rules, by ascending
// rulePriority.
type LifecyclePolicy struct {
	Rules []LifecycleRule `json:"rules"`
}

// LifecycleRule is one rule of a lifecycle policy, as ECR documents it.
type LifecycleRule struct {
	RulePriority int    `json:"rulePriority"`
	Description  string `json:"description,omitempty"`
	Selection    struct {
		TagStatus      string   `json:"tagStatus"`
		TagPrefixList  []string `json:"tagPrefixList,omitempty"`
		TagPatternList []string `json:"tagPatternList,omitempty"`
		CountType      string   `json:"countType"`
		CountUnit      string   `json:"countUnit,omitempty"`
		CountNumber    int      `json:"countNumber"`
	} `json:"selection"`
	Action struct {
		Type string `json:"type"`
	} `json:"action"`
}

// maxTagPatternWildcards is ECR's limit of "*" in a tagPatternList entry.
const maxTagPatternWildcards = 4

// ParseLifecyclePolicy parses and checks a lifecycle policy as ECR does:
// at least one rule, distinct positive priorities, tagStatus
// tagged|untagged|any (tagged needs a tagPrefixList or a tagPatternList,
// not both, whose entries have at most four "*"; the others must have
// neither), countType imageCountMoreThan (no countUnit) or
// sinceImagePushed (countUnit days), countNumber > 0, action expire; a rule
// with tagStatus any must have the highest priority number.
func ParseLifecyclePolicy(text string) (*LifecyclePolicy, error) {
	bad := func(format string, args ...any) error {
		return awserr.Newf("InvalidParameterException", "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: '%s'", fmt.Sprintf(format, args...))
	}
	var p LifecyclePolicy
	if err := json.Unmarshal([]byte(text), &p); err != nil {
		return nil, bad("Lifecycle policy validation failure: the policy is not valid JSON")
	}
	if len(p.Rules) == 0 {
		return nil, bad("Lifecycle policy validation failure: at least one rule is required")
	}
	seen := map[int]bool{}
	maxPriority, anyPriority := 0, 0
	for _, r := range p.Rules {
		sel := r.Selection
		switch {
		case r.RulePriority < 1:
			return nil, bad("Lifecycle policy validation failure: rulePriority must be a positive integer")
		case seen[r.RulePriority]:
			return nil, bad("Lifecycle policy validation failure: rulePriority %d is used more than once", r.RulePriority)
		case !slices.Contains([]string{"tagged", "untagged", "any"}, sel.TagStatus):
			return nil, bad("Lifecycle policy validation failure: tagStatus must be one of tagged, untagged, any")
		case sel.TagStatus == "tagged" && len(sel.TagPrefixList) == 0 && len(sel.TagPatternList) == 0:
			return nil, bad("Lifecycle policy validation failure: tagPrefixList or tagPatternList is required when tagStatus is tagged")
		case sel.TagStatus != "tagged" && (len(sel.TagPrefixList) > 0 || len(sel.TagPatternList) > 0):
			return nil, bad("Lifecycle policy validation failure: tagPrefixList and tagPatternList can be used only when tagStatus is tagged")
		case len(sel.TagPrefixList) > 0 && len(sel.TagPatternList) > 0:
			return nil, bad("Lifecycle policy validation failure: a rule can have a tagPrefixList or a tagPatternList, not both")
		case slices.ContainsFunc(sel.TagPatternList, func(p string) bool { return strings.Count(p, "*") > maxTagPatternWildcards }):
			return nil, bad("Lifecycle policy validation failure: a tagPatternList entry can have at most %d wildcards (*)", maxTagPatternWildcards)
		case sel.CountType == "imageCountMoreThan" && sel.CountUnit != "":
			return nil, bad("Lifecycle policy validation failure: countUnit cannot be used with countType imageCountMoreThan")
		case sel.CountType == "sinceImagePushed" && sel.CountUnit != "days":
			return nil, bad("Lifecycle policy validation failure: countUnit must be days with countType sinceImagePushed")
		case sel.CountType != "imageCountMoreThan" && sel.CountType != "sinceImagePushed":
			return nil, bad("Lifecycle policy validation failure: countType must be imageCountMoreThan or sinceImagePushed")
		case sel.CountNumber < 1:
			return nil, bad("Lifecycle policy validation failure: countNumber must be a positive integer")
		case r.Action.Type != "expire":
			return nil, bad("Lifecycle policy validation failure: action type must be expire")
		}
		seen[r.RulePriority] = true
		maxPriority = max(maxPriority, r.RulePriority)
		if sel.TagStatus == "any" {
			anyPriority = r.RulePriority
		}
	}
	if anyPriority != 0 && anyPriority != maxPriority {
		return nil, bad("Lifecycle policy validation failure: a rule with tagStatus any must have the highest rulePriority")
	}
	slices.SortFunc(p.Rules, func(a, b LifecycleRule) int { return a.RulePriority - b.RulePriority })
	return &p, nil
}
