package ecs

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// shapeCase is one reply and the shape ECS gives it; a nil want means the
// reply is exactly {}.
type shapeCase struct {
	name string
	call func(t *testing.T, s *Service) (any, error)
	want map[string]string
}

func runShapeCases(t *testing.T, s *Service, cases []shapeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reply, err := tc.call(t, s)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if tc.want == nil {
				if doc := wireJSON(t, reply); len(doc) != 0 {
					t.Errorf("reply = %v, want {}", doc)
				}
				return
			}
			checkShape(t, reply, tc.want)
		})
	}
}

// clusterLists is the shape of a cluster outside DescribeClusters' include.
func clusterLists(prefix string, extra map[string]string) map[string]string {
	want := map[string]string{
		prefix + "statistics": emptyArr, prefix + "tags": emptyArr, prefix + "settings": nonEmpty,
		prefix + "capacityProviders": emptyArr, prefix + "defaultCapacityProviderStrategy": emptyArr,
		prefix + "registeredContainerInstancesCount": present, prefix + "runningTasksCount": present,
		prefix + "pendingTasksCount": present, prefix + "activeServicesCount": present,
		prefix + "configuration": absent, prefix + "attachments": absent,
	}
	for k, v := range extra {
		want[prefix+k] = v
	}
	return want
}

func TestClusterReplyShapes(t *testing.T) {
	s := newTestService(t)
	_, err := s.CreateCluster(t.Context(), &ecstypes.CreateClusterRequest{
		ClusterName: aws.String("tagged"), Tags: tagList("env", "prod"),
		Configuration: &ecstypes.ClusterConfiguration{ExecuteCommandConfiguration: &ecstypes.ExecuteCommandConfiguration{Logging: aws.String("DEFAULT")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	createCluster(t, s, "doomed")
	describe := func(include ...string) func(*testing.T, *Service) (any, error) {
		return func(t *testing.T, s *Service) (any, error) {
			return s.DescribeClusters(t.Context(), &ecstypes.DescribeClustersRequest{Clusters: []string{"tagged"}, Include: include})
		}
	}
	runShapeCases(t, s, []shapeCase{
		{"CreateCluster", func(t *testing.T, s *Service) (any, error) {
			return s.CreateCluster(t.Context(), &ecstypes.CreateClusterRequest{ClusterName: aws.String("plain")})
		}, clusterLists("cluster.", nil)},
		{"CreateCluster with tags and configuration", func(t *testing.T, s *Service) (any, error) {
			return s.CreateCluster(t.Context(), &ecstypes.CreateClusterRequest{ClusterName: aws.String("tagged")})
		}, clusterLists("cluster.", map[string]string{"tags": nonEmpty, "configuration": present})},
		{"DescribeClusters", describe(), map[string]string{
			"clusters.0.statistics": emptyArr, "clusters.0.tags": emptyArr, "clusters.0.settings": emptyArr,
			"clusters.0.capacityProviders": emptyArr, "clusters.0.defaultCapacityProviderStrategy": emptyArr,
			"clusters.0.configuration": absent, "clusters.0.attachments": absent,
			"clusters.0.runningTasksCount": present, "failures": emptyArr,
		}},
		{"DescribeClusters include TAGS", describe("TAGS"), map[string]string{
			"clusters.0.tags": nonEmpty, "clusters.0.settings": emptyArr, "clusters.0.statistics": emptyArr,
		}},
		{"DescribeClusters include SETTINGS", describe("SETTINGS"), map[string]string{
			"clusters.0.tags": emptyArr, "clusters.0.settings": nonEmpty,
		}},
		{"DescribeClusters include STATISTICS", describe("STATISTICS"), map[string]string{
			"clusters.0.statistics": nonEmpty, "clusters.0.statistics.11.name": present, "clusters.0.statistics.12": absent,
		}},
		{"DescribeClusters include CONFIGURATIONS", describe("CONFIGURATIONS"), map[string]string{
			"clusters.0.configuration.executeCommandConfiguration.logging": present,
		}},
		{"DescribeClusters include ATTACHMENTS", describe("ATTACHMENTS"), map[string]string{
			"clusters.0.attachments": emptyArr,
		}},
		{"DescribeClusters missing", func(t *testing.T, s *Service) (any, error) {
			return s.DescribeClusters(t.Context(), &ecstypes.DescribeClustersRequest{Clusters: []string{"nope"}})
		}, map[string]string{"clusters": emptyArr, "failures": nonEmpty, "failures.0.reason": present}},
		{"UpdateCluster", func(t *testing.T, s *Service) (any, error) {
			return s.UpdateCluster(t.Context(), &ecstypes.UpdateClusterRequest{Cluster: aws.String("plain"),
				Settings: []ecstypes.ClusterSetting{{Name: aws.String("containerInsights"), Value: aws.String("enabled")}}})
		}, clusterLists("cluster.", nil)},
		{"DeleteCluster", func(t *testing.T, s *Service) (any, error) {
			return s.DeleteCluster(t.Context(), &ecstypes.DeleteClusterRequest{Cluster: aws.String("doomed")})
		}, clusterLists("cluster.", nil)},
		{"ListClusters", func(t *testing.T, s *Service) (any, error) {
			return s.ListClusters(t.Context(), &ecstypes.ListClustersRequest{})
		}, map[string]string{"clusterArns": nonEmpty, "nextToken": absent}},
	})
}

func TestEmptyListReplyShapes(t *testing.T) {
	s := newTestService(t)
	runShapeCases(t, s, []shapeCase{
		{"ListClusters on a fresh server", func(t *testing.T, s *Service) (any, error) {
			return s.ListClusters(t.Context(), &ecstypes.ListClustersRequest{})
		}, map[string]string{"clusterArns": emptyArr, "nextToken": absent}},
		{"ListTaskDefinitions", func(t *testing.T, s *Service) (any, error) {
			return s.ListTaskDefinitions(t.Context(), &ecstypes.ListTaskDefinitionsRequest{})
		}, map[string]string{"taskDefinitionArns": emptyArr, "nextToken": absent}},
		{"ListTaskDefinitionFamilies", func(t *testing.T, s *Service) (any, error) {
			return s.ListTaskDefinitionFamilies(t.Context(), &ecstypes.ListTaskDefinitionFamiliesRequest{})
		}, map[string]string{"families": emptyArr, "nextToken": absent}},
	})
	createCluster(t, s, "empty")
	cluster := aws.String("empty")
	runShapeCases(t, s, []shapeCase{
		{"ListTasks", func(t *testing.T, s *Service) (any, error) {
			return s.ListTasks(t.Context(), &ecstypes.ListTasksRequest{Cluster: cluster})
		}, map[string]string{"taskArns": emptyArr, "nextToken": absent}},
		{"ListTasks STOPPED", func(t *testing.T, s *Service) (any, error) {
			return s.ListTasks(t.Context(), &ecstypes.ListTasksRequest{Cluster: cluster, DesiredStatus: aws.String("STOPPED")})
		}, map[string]string{"taskArns": emptyArr, "nextToken": absent}},
		{"ListContainerInstances", func(t *testing.T, s *Service) (any, error) {
			return s.ListContainerInstances(t.Context(), &ecstypes.ListContainerInstancesRequest{Cluster: cluster})
		}, map[string]string{"containerInstanceArns": emptyArr, "nextToken": absent}},
		{"ListAttributes", func(t *testing.T, s *Service) (any, error) {
			return s.ListAttributes(t.Context(), &ecstypes.ListAttributesRequest{Cluster: cluster, TargetType: aws.String("container-instance")})
		}, map[string]string{"attributes": emptyArr, "nextToken": absent}},
		{"DescribeTasks missing", func(t *testing.T, s *Service) (any, error) {
			return s.DescribeTasks(t.Context(), &ecstypes.DescribeTasksRequest{Cluster: cluster, Tasks: []string{"0123456789abcdef0123456789abcdef"}})
		}, map[string]string{"tasks": emptyArr, "failures": nonEmpty, "failures.0.arn": present, "failures.0.reason": present}},
		{"DescribeContainerInstances missing", func(t *testing.T, s *Service) (any, error) {
			return s.DescribeContainerInstances(t.Context(), &ecstypes.DescribeContainerInstancesRequest{Cluster: cluster, ContainerInstances: []string{"nope"}})
		}, map[string]string{"containerInstances": emptyArr, "failures": nonEmpty}},
		{"ListTagsForResource untagged", func(t *testing.T, s *Service) (any, error) {
			return s.ListTagsForResource(t.Context(), &ecstypes.ListTagsForResourceRequest{ResourceArn: aws.String(s.arns.cluster("empty"))})
		}, map[string]string{"tags": emptyArr}},
		{"TagResource", func(t *testing.T, s *Service) (any, error) {
			return s.TagResource(t.Context(), &ecstypes.TagResourceRequest{ResourceArn: aws.String(s.arns.cluster("empty")), Tags: tagList("a", "b")})
		}, nil},
		{"UntagResource", func(t *testing.T, s *Service) (any, error) {
			return s.UntagResource(t.Context(), &ecstypes.UntagResourceRequest{ResourceArn: aws.String(s.arns.cluster("empty")), TagKeys: []string{"a"}})
		}, nil},
	})
}
