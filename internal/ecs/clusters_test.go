package ecs

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func TestClusterCreate(t *testing.T) {
	s := newTestService(t)
	tests := []struct {
		name     string
		in       *ecstypes.CreateClusterRequest
		wantName string
		wantCode string
	}{
		{name: "default name", in: &ecstypes.CreateClusterRequest{}, wantName: "default"},
		{name: "named", in: &ecstypes.CreateClusterRequest{ClusterName: aws.String("prod-1_a")}, wantName: "prod-1_a"},
		{name: "invalid name", in: &ecstypes.CreateClusterRequest{ClusterName: aws.String("bad name")}, wantCode: awserr.CodeInvalidParameter},
		{name: "too long name", in: &ecstypes.CreateClusterRequest{ClusterName: aws.String(strings.Repeat("a", 256))}, wantCode: awserr.CodeInvalidParameter},
		{name: "aws: tag", in: &ecstypes.CreateClusterRequest{ClusterName: aws.String("tagged"), Tags: tagList("aws:owner", "me")}, wantCode: awserr.CodeInvalidParameter},
		{name: "unknown setting", in: &ecstypes.CreateClusterRequest{ClusterName: aws.String("set"),
			Settings: []ecstypes.ClusterSetting{{Name: aws.String("bogus"), Value: aws.String("on")}}}, wantCode: awserr.CodeInvalidParameter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.CreateCluster(t.Context(), tc.in)
			if tc.wantCode != "" {
				wantAWSErr(t, err, tc.wantCode, "")
				return
			}
			if err != nil {
				t.Fatalf("CreateCluster: %v", err)
			}
			c := out.Cluster
			if aws.ToString(c.ClusterName) != tc.wantName || aws.ToString(c.ClusterArn) != s.arns.cluster(tc.wantName) ||
				aws.ToString(c.Status) != "ACTIVE" {
				t.Fatalf("cluster = %s %s %s, want %s ACTIVE", aws.ToString(c.ClusterName), aws.ToString(c.ClusterArn), aws.ToString(c.Status), tc.wantName)
			}
			if aws.ToInt32(c.RegisteredContainerInstancesCount) != 0 || c.RunningTasksCount == nil {
				t.Fatalf("counts not filled: %+v", c)
			}
		})
	}
	// Nothing is written for rejected requests.
	list, err := s.ListClusters(t.Context(), &ecstypes.ListClustersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if want := sorted(s.arns.cluster("default"), s.arns.cluster("prod-1_a")); !slices.Equal(list.ClusterArns, want) {
		t.Fatalf("ListClusters = %v, want %v", list.ClusterArns, want)
	}
}

func TestClusterCreateIdempotent(t *testing.T) {
	s := newTestService(t)
	first, err := s.CreateCluster(t.Context(), &ecstypes.CreateClusterRequest{
		ClusterName: aws.String("prod"), Tags: tagList("env", "prod"),
	})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.CreateCluster(t.Context(), &ecstypes.CreateClusterRequest{
		ClusterName: aws.String("prod"), Tags: tagList("env", "other"),
	})
	if err != nil {
		t.Fatalf("re-create: %v", err)
	}
	if got := tagMap(second.Cluster.Tags)["env"]; got != "prod" || aws.ToString(second.Cluster.ClusterArn) != aws.ToString(first.Cluster.ClusterArn) {
		t.Fatalf("re-create returned %s env=%s, want the existing cluster (env=prod)", aws.ToString(second.Cluster.ClusterArn), got)
	}
}

func TestClusterDescribe(t *testing.T) {
	s := newTestService(t)
	_, err := s.CreateCluster(t.Context(), &ecstypes.CreateClusterRequest{
		ClusterName: aws.String("prod"), Tags: tagList("env", "prod"),
		Settings: []ecstypes.ClusterSetting{{Name: aws.String("containerInsights"), Value: aws.String("enabled")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	registerInstance(t, s, "prod", 1024, 1024)
	registerInstance(t, s, "prod", 1024, 1024)
	running := runOne(t, s, "prod", registerTaskDef(t, s, webTaskDef))
	runOne(t, s, "prod", "web")
	reportTask(t, s, "prod", running, "RUNNING", "")
	stopped := runOne(t, s, "prod", "web")
	reportTask(t, s, "prod", stopped, "STOPPED", "")

	tests := []struct {
		name        string
		refs        []string
		include     []string
		wantNames   []string
		wantMissing []string
		wantTags    bool
		wantSetting bool
	}{
		{name: "by name", refs: []string{"prod"}, wantNames: []string{"prod"}},
		{name: "by ARN", refs: []string{s.arns.cluster("prod")}, wantNames: []string{"prod"}},
		{name: "missing", refs: []string{"prod", "nope", "arn:aws:ecs:us-east-1:000000000000:cluster/gone"},
			wantNames: []string{"prod"}, wantMissing: []string{s.arns.cluster("nope"), "arn:aws:ecs:us-east-1:000000000000:cluster/gone"}},
		{name: "default when empty", refs: nil, wantMissing: []string{s.arns.cluster("default")}},
		{name: "include tags and settings", refs: []string{"prod"}, include: []string{"TAGS", "SETTINGS"},
			wantNames: []string{"prod"}, wantTags: true, wantSetting: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.DescribeClusters(t.Context(), &ecstypes.DescribeClustersRequest{Clusters: tc.refs, Include: tc.include})
			if err != nil {
				t.Fatal(err)
			}
			var names, missing []string
			for _, c := range out.Clusters {
				names = append(names, aws.ToString(c.ClusterName))
				if (len(c.Tags) > 0) != tc.wantTags || (len(c.Settings) > 0) != tc.wantSetting {
					t.Errorf("tags %v settings %v, want tags=%v settings=%v", c.Tags, c.Settings, tc.wantTags, tc.wantSetting)
				}
				if tc.wantSetting && aws.ToString(c.Settings[0].Value) != "enabled" {
					t.Errorf("settings = %v, want containerInsights enabled", c.Settings)
				}
				got := [3]int32{aws.ToInt32(c.RegisteredContainerInstancesCount), aws.ToInt32(c.RunningTasksCount), aws.ToInt32(c.PendingTasksCount)}
				if got != [3]int32{2, 1, 1} {
					t.Errorf("counts (instances, running, pending) = %v, want [2 1 1]", got)
				}
			}
			for _, f := range out.Failures {
				if aws.ToString(f.Reason) != "MISSING" {
					t.Errorf("failure reason = %s, want MISSING", aws.ToString(f.Reason))
				}
				missing = append(missing, aws.ToString(f.Arn))
			}
			if !slices.Equal(names, tc.wantNames) || !slices.Equal(missing, tc.wantMissing) {
				t.Fatalf("described %v missing %v, want %v missing %v", names, missing, tc.wantNames, tc.wantMissing)
			}
		})
	}
}

func TestClusterListPagination(t *testing.T) {
	s := newTestService(t)
	var want []string
	for i := range 5 {
		want = append(want, createCluster(t, s, fmt.Sprintf("c%d", i)))
	}
	want = sorted(want...)
	var got []string
	var token *string
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		out, err := s.ListClusters(t.Context(), &ecstypes.ListClustersRequest{MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.ClusterArns) > 2 {
			t.Fatalf("page of %d, want at most 2", len(out.ClusterArns))
		}
		got = append(got, out.ClusterArns...)
		if token = out.NextToken; token == nil {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged = %v, want %v", got, want)
	}
	for _, in := range []*ecstypes.ListClustersRequest{
		{NextToken: aws.String("!!not a token!!")},
		{MaxResults: aws.Int32(0)},
		{MaxResults: aws.Int32(101)},
	} {
		_, err := s.ListClusters(t.Context(), in)
		wantAWSErr(t, err, awserr.CodeInvalidParameter, "")
	}
}

func TestClusterUpdateSettings(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	out, err := s.UpdateCluster(t.Context(), &ecstypes.UpdateClusterRequest{
		Cluster:  aws.String("prod"),
		Settings: []ecstypes.ClusterSetting{{Name: aws.String("containerInsights"), Value: aws.String("enabled")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Cluster.Settings) != 1 || aws.ToString(out.Cluster.Settings[0].Value) != "enabled" {
		t.Fatalf("settings = %+v, want containerInsights enabled", out.Cluster.Settings)
	}
	d, err := s.DescribeClusters(t.Context(), &ecstypes.DescribeClustersRequest{Clusters: []string{"prod"}, Include: []string{"SETTINGS"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(d.Clusters[0].Settings[0].Value); got != "enabled" {
		t.Fatalf("described containerInsights = %s, want enabled", got)
	}
	_, err = s.UpdateCluster(t.Context(), &ecstypes.UpdateClusterRequest{
		Cluster: aws.String("prod"), Settings: []ecstypes.ClusterSetting{{Name: aws.String("bogus"), Value: aws.String("x")}},
	})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "")
	_, err = s.UpdateCluster(t.Context(), &ecstypes.UpdateClusterRequest{Cluster: aws.String("nope")})
	wantAWSErr(t, err, awserr.CodeClusterNotFound, "")
}

func TestClusterDelete(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 1024, 1024)
	task := runOne(t, s, "prod", registerTaskDef(t, s, webTaskDef))

	del := func() error {
		_, err := s.DeleteCluster(t.Context(), &ecstypes.DeleteClusterRequest{Cluster: aws.String("prod")})
		return err
	}
	wantAWSErr(t, del(), "ClusterContainsContainerInstancesException", "")

	if _, err := s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(inst), Force: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	// The task outlives its force-deregistered instance until it is stopped.
	wantAWSErr(t, del(), "ClusterContainsTasksException", "")

	if _, err := s.StopTask(t.Context(), &ecstypes.StopTaskRequest{Cluster: aws.String("prod"), Task: aws.String(task)}); err != nil {
		t.Fatal(err)
	}
	out, err := s.DeleteCluster(t.Context(), &ecstypes.DeleteClusterRequest{Cluster: aws.String(s.arns.cluster("prod"))})
	if err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}
	if aws.ToString(out.Cluster.Status) != "INACTIVE" {
		t.Fatalf("deleted cluster status = %s, want INACTIVE", aws.ToString(out.Cluster.Status))
	}
	d, err := s.DescribeClusters(t.Context(), &ecstypes.DescribeClustersRequest{Clusters: []string{"prod"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Clusters) != 1 || aws.ToString(d.Clusters[0].Status) != "INACTIVE" {
		t.Fatalf("describe after delete = %+v, want one INACTIVE cluster", d.Clusters)
	}
	list, err := s.ListClusters(t.Context(), &ecstypes.ListClustersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ClusterArns) != 0 {
		t.Fatalf("ListClusters after delete = %v, want none", list.ClusterArns)
	}
	_, err = s.RunTask(t.Context(), &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String("web")})
	wantAWSErr(t, err, awserr.CodeClusterNotFound, "")
	wantAWSErr(t, del(), awserr.CodeClusterNotFound, "")

	// The name can be used again: a fresh ACTIVE cluster.
	if arn := createCluster(t, s, "prod"); arn != s.arns.cluster("prod") {
		t.Fatalf("re-created ARN = %s", arn)
	}
}
