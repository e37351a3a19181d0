package ecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// The service history API: DescribeServiceDeployments,
// ListServiceDeployments and DescribeServiceRevisions read the records
// services_history.go keeps; ListServicesByNamespace answers that no
// namespace exists, since Berth has no Cloud Map (CreateService refuses
// Service Connect).

const (
	// maxDescribeHistory is the most ARNs one Describe call takes.
	maxDescribeHistory = 20
	// defaultServiceDeploymentsPage is ListServiceDeployments' page without maxResults.
	defaultServiceDeploymentsPage = 20
)

// checkDescribeARNs checks a Describe call's list of ARNs (field is its
// name on the wire, for ECS's message).
func checkDescribeARNs(field string, arns []string) error {
	if len(arns) == 0 {
		return awserr.InvalidParameter("%s cannot be empty.", field)
	}
	if len(arns) > maxDescribeHistory {
		return awserr.InvalidParameter("%s can have at most %d items.", field, maxDescribeHistory)
	}
	return nil
}

// missing is a Describe call's failure for an ARN it has no record of.
func missing(arn string) ecstypes.Failure {
	return ecstypes.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")}
}

// DescribeServiceDeployments describes up to 20 service deployments by
// ARN; unknown and malformed ones are MISSING failures. One still ongoing
// shows its counts as the service has them now.
func (s *Service) DescribeServiceDeployments(ctx context.Context, in *ecstypes.DescribeServiceDeploymentsRequest) (*ecstypes.DescribeServiceDeploymentsResponse, error) {
	if err := checkDescribeARNs("serviceDeploymentArns", in.ServiceDeploymentArns); err != nil {
		return nil, err
	}
	out := &ecstypes.DescribeServiceDeploymentsResponse{}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		out.ServiceDeployments, out.Failures = []ecstypes.ServiceDeployment{}, []ecstypes.Failure{}
		ids := map[string]string{}
		var refs []store.Ref
		for _, arn := range in.ServiceDeploymentArns {
			if id, ok := s.arns.historyRef(arn, "service-deployment"); ok {
				ids[arn] = id
				refs = append(refs, store.RefTo(s.st, serviceDeployments, id))
			}
		}
		if err := store.Prefetch(tx, refs...); err != nil {
			return err
		}
		svcs := map[string]*serviceRecord{} // by service id, read once
		for _, arn := range in.ServiceDeploymentArns {
			id, ok := ids[arn]
			if !ok {
				out.Failures = append(out.Failures, missing(arn))
				continue
			}
			rec, err := store.Get(tx, serviceDeployments, id)
			if errors.Is(err, store.ErrNotFound) {
				out.Failures = append(out.Failures, missing(arn))
				continue
			}
			if err != nil {
				return fmt.Errorf("get service deployment %s: %w", id, err)
			}
			sd := rec.ServiceDeployment
			if ongoing(aws.ToString(sd.Status)) {
				if err := s.withLiveCounts(tx, id, &sd, svcs); err != nil {
					return err
				}
			}
			out.ServiceDeployments = append(out.ServiceDeployments, serviceDeploymentReply(sd))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// withLiveCounts sets an ongoing service deployment's counts from its
// service's record (read once per call into svcs); id is the service
// deployment's store id, "<cluster>/<service>/<digits>".
func (s *Service) withLiveCounts(tx *store.Tx, id string, sd *ecstypes.ServiceDeployment, svcs map[string]*serviceRecord) error {
	svcID := id[:strings.LastIndexByte(id, '/')]
	rec, ok := svcs[svcID]
	if !ok {
		got, err := store.Get(tx, services, svcID)
		switch {
		case err == nil:
			rec = &got
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("get service %s: %w", svcID, err)
		}
		svcs[svcID] = rec
	}
	if rec == nil {
		return nil
	}
	// Copies: the stored record's lists are not the reply's to change.
	sd.SourceServiceRevisions = slices.Clone(sd.SourceServiceRevisions)
	if t := sd.TargetServiceRevision; t != nil {
		sd.TargetServiceRevision = ptrTo(*t)
	}
	if cb := sd.DeploymentCircuitBreaker; cb != nil {
		sd.DeploymentCircuitBreaker = ptrTo(*cb)
	}
	s.liveCounts(sd, rec)
	return nil
}

// serviceDeploymentReply is a service deployment with the lists ECS always
// sends present.
func serviceDeploymentReply(sd ecstypes.ServiceDeployment) ecstypes.ServiceDeployment {
	sd.SourceServiceRevisions = orEmpty(sd.SourceServiceRevisions)
	return sd
}

// DescribeServiceRevisions describes up to 20 service revisions by ARN;
// unknown and malformed ones are MISSING failures.
func (s *Service) DescribeServiceRevisions(ctx context.Context, in *ecstypes.DescribeServiceRevisionsRequest) (*ecstypes.DescribeServiceRevisionsResponse, error) {
	if err := checkDescribeARNs("serviceRevisionArns", in.ServiceRevisionArns); err != nil {
		return nil, err
	}
	out := &ecstypes.DescribeServiceRevisionsResponse{}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		out.ServiceRevisions, out.Failures = []ecstypes.ServiceRevision{}, []ecstypes.Failure{}
		ids := map[string]string{}
		var list []string
		for _, arn := range in.ServiceRevisionArns {
			if id, ok := s.arns.historyRef(arn, "service-revision"); ok {
				ids[arn] = id
				list = append(list, id)
			}
		}
		found, err := store.GetMany(tx, serviceRevisions, list)
		if err != nil {
			return err
		}
		for _, arn := range in.ServiceRevisionArns {
			rec, ok := found[ids[arn]]
			if !ok {
				out.Failures = append(out.Failures, missing(arn))
				continue
			}
			rev := rec.ServiceRevision
			rev.LoadBalancers, rev.ServiceRegistries = orEmpty(rev.LoadBalancers), orEmpty(rev.ServiceRegistries)
			rev.ContainerImages = orEmpty(rev.ContainerImages)
			out.ServiceRevisions = append(out.ServiceRevisions, rev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListServiceDeployments lists a service's service deployments, newest
// first, a page at a time, filtered by status and creation time. It reads
// the service's record (whose history orders them) and the records of the
// page, never another service's.
func (s *Service) ListServiceDeployments(ctx context.Context, in *ecstypes.ListServiceDeploymentsRequest) (*ecstypes.ListServiceDeploymentsResponse, error) {
	limit, after, err := pageArgs(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	if in.MaxResults == nil {
		limit = defaultServiceDeploymentsPage
	}
	if aws.ToString(in.Service) == "" {
		return nil, errServiceName()
	}
	out := &ecstypes.ListServiceDeploymentsResponse{}
	err = s.st.View(ctx, func(tx *store.Tx) error {
		out.ServiceDeployments, out.NextToken = []ecstypes.ServiceDeploymentBrief{}, nil
		rec, err := s.getService(tx, aws.ToString(in.Cluster), aws.ToString(in.Service))
		if err != nil {
			return err
		}
		var kept []string
		if rec.History != nil {
			kept = rec.History.Deployments
		}
		start := 0
		if after != "" {
			i := slices.Index(kept, after)
			if i < 0 {
				return awserr.InvalidParameter("The nextToken is not valid.")
			}
			start = i + 1
		}
		return s.listServiceDeploymentsPage(tx, &rec, kept[start:], in, limit, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listServiceDeploymentsPage fills out with the first limit service
// deployments of digits (newest first) that pass in's filters, reading
// them a batch at a time; the next token names the last one listed.
func (s *Service) listServiceDeploymentsPage(tx *store.Tx, rec *serviceRecord, digits []string, in *ecstypes.ListServiceDeploymentsRequest,
	limit int, out *ecstypes.ListServiceDeploymentsResponse) error {
	cname, name := clusterOfARN(&rec.Service), aws.ToString(rec.Service.ServiceName)
	last := ""
	for len(digits) > 0 {
		batch := digits[:min(len(digits), limit+1)]
		digits = digits[len(batch):]
		ids := make([]string, len(batch))
		for i, d := range batch {
			ids[i] = historyID(cname, name, d)
		}
		found, err := store.GetMany(tx, serviceDeployments, ids)
		if err != nil {
			return err
		}
		for i, d := range batch {
			r, ok := found[ids[i]]
			if !ok || !matchesDeploymentFilter(&r.ServiceDeployment, in) {
				continue
			}
			if len(out.ServiceDeployments) == limit {
				out.NextToken = nextToken(last)
				return nil
			}
			out.ServiceDeployments = append(out.ServiceDeployments, briefOf(&r.ServiceDeployment))
			last = d
		}
	}
	return nil
}

// matchesDeploymentFilter applies ListServiceDeployments' status and
// createdAt filters.
func matchesDeploymentFilter(sd *ecstypes.ServiceDeployment, in *ecstypes.ListServiceDeploymentsRequest) bool {
	if len(in.Status) > 0 && !slices.Contains(in.Status, aws.ToString(sd.Status)) {
		return false
	}
	if c := in.CreatedAt; c != nil && sd.CreatedAt != nil {
		if c.After != nil && !sd.CreatedAt.After(c.After.Time) {
			return false
		}
		if c.Before != nil && !sd.CreatedAt.Before(c.Before.Time) {
			return false
		}
	}
	return true
}

// briefOf is a service deployment as ListServiceDeployments lists it.
func briefOf(sd *ecstypes.ServiceDeployment) ecstypes.ServiceDeploymentBrief {
	b := ecstypes.ServiceDeploymentBrief{
		ServiceDeploymentArn: sd.ServiceDeploymentArn, ServiceArn: sd.ServiceArn, ClusterArn: sd.ClusterArn,
		CreatedAt: sd.CreatedAt, StartedAt: sd.StartedAt, FinishedAt: sd.FinishedAt,
		Status: sd.Status, StatusReason: sd.StatusReason,
	}
	if t := sd.TargetServiceRevision; t != nil {
		b.TargetServiceRevisionArn = t.Arn
	}
	return b
}

// ListServicesByNamespace: Berth has no Cloud Map namespaces (CreateService
// refuses Service Connect), so every namespace is unknown.
func (s *Service) ListServicesByNamespace(_ context.Context, in *ecstypes.ListServicesByNamespaceRequest) (*ecstypes.ListServicesByNamespaceResponse, error) {
	if _, _, err := pageArgs(in.MaxResults, in.NextToken); err != nil {
		return nil, err
	}
	if aws.ToString(in.Namespace) == "" {
		return nil, awserr.InvalidParameter("Namespace cannot be empty.")
	}
	return nil, awserr.New(ecstypes.ErrCodeNamespaceNotFoundException, 400, "Namespace not found.")
}
