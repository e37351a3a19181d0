package ecs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

func errClusterNotFound() error { return awserr.ClusterNotFound("Cluster not found.") }

// getActiveCluster resolves a cluster name or ARN to its ACTIVE record.
func (s *Service) getActiveCluster(tx *store.Tx, ref string) (clusterRecord, error) {
	name, ok := s.arns.clusterName(ref)
	if !ok {
		return clusterRecord{}, errClusterNotFound()
	}
	rec, err := store.Get(tx, clusters, name)
	if errors.Is(err, store.ErrNotFound) {
		return clusterRecord{}, errClusterNotFound()
	}
	if err != nil {
		return clusterRecord{}, fmt.Errorf("get cluster %s: %w", name, err)
	}
	if aws.ToString(rec.Cluster.Status) != "ACTIVE" {
		return clusterRecord{}, errClusterNotFound()
	}
	return rec, nil
}

// CreateCluster creates a cluster, or returns the existing ACTIVE one of that name.
func (s *Service) CreateCluster(ctx context.Context, in *ecstypes.CreateClusterRequest) (*ecstypes.CreateClusterResponse, error) {
	name := aws.ToString(in.ClusterName)
	if name == "" {
		name = "default"
	}
	if !validName(name) {
		return nil, awserr.InvalidParameter("Cluster name can be up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if in.CapacityProviders != nil || in.DefaultCapacityProviderStrategy != nil {
		return nil, awserr.UnsupportedFeature("Berth does not support capacity providers yet.")
	}
	for _, st := range in.Settings {
		if aws.ToString(st.Name) != ecstypes.ClusterSettingNameContainerInsights {
			return nil, awserr.InvalidParameter("%s", "Unsupported cluster setting "+aws.ToString(st.Name)+".")
		}
	}
	var out ecstypes.Cluster
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		rec, err := store.Get(tx, clusters, name)
		if err == nil && aws.ToString(rec.Cluster.Status) == "ACTIVE" {
			out = rec.Cluster
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("get cluster %s: %w", name, err)
		}
		settings := in.Settings
		if settings == nil {
			settings = []ecstypes.ClusterSetting{{Name: aws.String("containerInsights"), Value: aws.String("disabled")}}
		}
		out = ecstypes.Cluster{
			ClusterArn:             aws.String(s.arns.cluster(name)),
			ClusterName:            aws.String(name),
			Status:                 aws.String("ACTIVE"),
			Settings:               settings,
			Configuration:          in.Configuration,
			Tags:                   in.Tags,
			CapacityProviders:      []string{},
			ServiceConnectDefaults: serviceConnectDefaults(in.ServiceConnectDefaults),
		}
		store.Put(tx, clusters, name, clusterRecord{Cluster: out})
		return nil
	})
	if err != nil {
		return nil, err
	}
	c := clusterReply(*s.withCounts(ctx, out))
	return &ecstypes.CreateClusterResponse{Cluster: &c}, nil
}

func serviceConnectDefaults(req *ecstypes.ClusterServiceConnectDefaultsRequest) *ecstypes.ClusterServiceConnectDefaults {
	if req == nil {
		return nil
	}
	return &ecstypes.ClusterServiceConnectDefaults{Namespace: req.Namespace}
}

// DeleteCluster marks an empty cluster INACTIVE.
func (s *Service) DeleteCluster(ctx context.Context, in *ecstypes.DeleteClusterRequest) (*ecstypes.DeleteClusterResponse, error) {
	var out ecstypes.Cluster
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		rec, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		name := aws.ToString(rec.Cluster.ClusterName)
		// From the read model, at this transaction's snapshot: whoever adds
		// an instance or a task reads the cluster record, which this
		// transaction writes, so they conflict with us.
		rm, err := s.syncedModel(ctx, tx.Revision(), instancesPart|tasksPart|servicesPart)
		if err != nil {
			return err
		}
		// CreateService reads the cluster record too: a service created
		// meanwhile conflicts with this transaction.
		if rm.services.Count(idxServiceCluster, name) > 0 {
			return awserr.New(ecstypes.ErrCodeClusterContainsServicesException, 400,
				"The Cluster cannot be deleted while Services are active.")
		}
		if rm.instances.Count(idxInstanceCluster, name) > 0 {
			return awserr.New("ClusterContainsContainerInstancesException", 400,
				"The Cluster cannot be deleted while Container Instances are active or draining.")
		}
		if c := clusterTaskCounts(rm, name); c.running+c.pending > 0 {
			return awserr.New("ClusterContainsTasksException", 400,
				"The Cluster cannot be deleted while Tasks are active.")
		}
		rec.Cluster.Status = aws.String("INACTIVE")
		store.Put(tx, clusters, name, rec)
		out = rec.Cluster
		return nil
	})
	if err != nil {
		return nil, err
	}
	zero := int32(0)
	out.RegisteredContainerInstancesCount, out.RunningTasksCount, out.PendingTasksCount, out.ActiveServicesCount = &zero, &zero, &zero, &zero
	out = clusterReply(out)
	return &ecstypes.DeleteClusterResponse{Cluster: &out}, nil
}

// DescribeClusters describes clusters by name or ARN; missing ones are failures.
func (s *Service) DescribeClusters(ctx context.Context, in *ecstypes.DescribeClustersRequest) (*ecstypes.DescribeClustersResponse, error) {
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{"default"}
	}
	if len(refs) > 100 {
		return nil, awserr.InvalidParameter("A maximum of 100 clusters can be described at once.")
	}
	out := &ecstypes.DescribeClustersResponse{Clusters: []ecstypes.Cluster{}, Failures: []ecstypes.Failure{}}
	var found []ecstypes.Cluster
	err := s.st.View(ctx, func(tx *store.Tx) error {
		found = found[:0]
		out.Failures = out.Failures[:0]
		for _, ref := range refs {
			name, ok := s.arns.clusterName(ref)
			var rec clusterRecord
			var err error
			if ok {
				rec, err = store.Get(tx, clusters, name)
			}
			if !ok || errors.Is(err, store.ErrNotFound) {
				out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(clusterRefARN(s.arns, ref)), Reason: aws.String("MISSING")})
				continue
			}
			if err != nil {
				return fmt.Errorf("get cluster %s: %w", name, err)
			}
			found = append(found, rec.Cluster)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, c := range found {
		out.Clusters = append(out.Clusters, describedCluster(*s.withCounts(ctx, c), in.Include))
	}
	return out, nil
}

func clusterRefARN(a arnBuilder, ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref
	}
	return a.cluster(ref)
}

// withCounts fills the derived counts of a cluster from the read model.
func (s *Service) withCounts(ctx context.Context, c ecstypes.Cluster) *ecstypes.Cluster {
	var registered, active int32
	var counts taskCounts
	name := aws.ToString(c.ClusterName)
	if rm, err := s.freshModel(ctx, instancesPart|tasksPart|servicesPart); err != nil {
		s.log.Warn("count cluster resources", "cluster", name, "err", err)
	} else {
		registered = int32(rm.instances.Count(idxInstanceCluster, name))
		counts = clusterTaskCounts(rm, name)
		active = activeServices(rm, name)
	}
	c.RegisteredContainerInstancesCount = &registered
	c.RunningTasksCount = &counts.running
	c.PendingTasksCount = &counts.pending
	c.ActiveServicesCount = &active
	return &c
}

// activeServices counts a cluster's ACTIVE services (the index holds the
// DRAINING ones too, which ECS does not count as active).
func activeServices(rm *readModel, cname string) int32 {
	var n int32
	rm.services.Ascend(idxServiceCluster, cname, "", func(_ string, r *serviceRecord) bool {
		if aws.ToString(r.Service.Status) == "ACTIVE" {
			n++
		}
		return true
	})
	return n
}

// clusterTaskCounts counts a cluster's RUNNING tasks, and those on their way
// there or on their way out (pending, as Berth has always counted them).
func clusterTaskCounts(rm *readModel, cname string) taskCounts {
	var c taskCounts
	for _, st := range taskStatusOrder {
		n := int32(rm.tasks.Count(idxTaskStatus, cname+sep+st))
		switch st {
		case "RUNNING":
			c.running = n
		case "STOPPED":
		default:
			c.pending += n
		}
	}
	return c
}

// ListClusters lists ACTIVE cluster ARNs, one page at a time from etcd.
func (s *Service) ListClusters(ctx context.Context, in *ecstypes.ListClustersRequest) (*ecstypes.ListClustersResponse, error) {
	limit, after, err := pageArgs(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	if after != "" {
		name, ok := s.arns.clusterName(after)
		if !ok {
			return nil, awserr.InvalidParameter("The nextToken is not valid.")
		}
		after = name
	}
	out := &ecstypes.ListClustersResponse{}
	err = s.st.View(ctx, func(tx *store.Tx) error {
		out.ClusterArns, out.NextToken = []string{}, nil
		var last string
		return store.Scan(tx, clusters, "", after, false, func(_ string, c clusterRecord) (bool, error) {
			if aws.ToString(c.Cluster.Status) != "ACTIVE" {
				return true, nil
			}
			if len(out.ClusterArns) == limit {
				out.NextToken = nextToken(last)
				return false, nil
			}
			last = aws.ToString(c.Cluster.ClusterArn)
			out.ClusterArns = append(out.ClusterArns, last)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateCluster changes a cluster's settings and configuration.
func (s *Service) UpdateCluster(ctx context.Context, in *ecstypes.UpdateClusterRequest) (*ecstypes.UpdateClusterResponse, error) {
	for _, st := range in.Settings {
		if aws.ToString(st.Name) != ecstypes.ClusterSettingNameContainerInsights {
			return nil, awserr.InvalidParameter("%s", "Unsupported cluster setting "+aws.ToString(st.Name)+".")
		}
	}
	var out ecstypes.Cluster
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		rec, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		if in.Settings != nil {
			rec.Cluster.Settings = in.Settings
		}
		if in.Configuration != nil {
			rec.Cluster.Configuration = in.Configuration
		}
		if in.ServiceConnectDefaults != nil {
			rec.Cluster.ServiceConnectDefaults = serviceConnectDefaults(in.ServiceConnectDefaults)
		}
		store.Put(tx, clusters, aws.ToString(rec.Cluster.ClusterName), rec)
		out = rec.Cluster
		return nil
	})
	if err != nil {
		return nil, err
	}
	c := clusterReply(*s.withCounts(ctx, out))
	return &ecstypes.UpdateClusterResponse{Cluster: &c}, nil
}
