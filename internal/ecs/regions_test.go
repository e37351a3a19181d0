package ecs

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store/storetest"
)

// Each region keeps its own state, as in AWS, and names it with its own
// ARNs; the regions used are recorded for the controllers.
func TestRegionsAreSeparate(t *testing.T) {
	r := NewRegions(RegionsConfig{Template: Config{
		Store: storetest.NewWith(t, storetest.Options{Namespace: "/berth"}), Region: "us-east-1", AccountID: testAccount,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return testNow },
	}})
	t.Cleanup(r.Close)
	east := api.WithRegion(t.Context(), "us-east-1")
	west := api.WithRegion(t.Context(), "eu-west-1")
	create := regional(r, (*Service).CreateCluster)
	list := regional(r, (*Service).ListClusters)

	out, err := create(west, &ecstypes.CreateClusterRequest{ClusterName: aws.String("prod")})
	if err != nil {
		t.Fatal(err)
	}
	if arn := aws.ToString(out.Cluster.ClusterArn); arn != "arn:aws:ecs:eu-west-1:"+testAccount+":cluster/prod" {
		t.Fatalf("cluster ARN %s, want it in eu-west-1", arn)
	}
	got, err := list(east, &ecstypes.ListClustersRequest{})
	if err != nil || len(got.ClusterArns) != 0 {
		t.Fatalf("us-east-1 lists %v, %v; want none", got, err)
	}
	got, err = list(west, &ecstypes.ListClustersRequest{})
	if err != nil || len(got.ClusterArns) != 1 {
		t.Fatalf("eu-west-1 lists %v, %v; want prod", got, err)
	}
	// A request without a region is the default region's.
	got, err = list(t.Context(), &ecstypes.ListClustersRequest{})
	if err != nil || len(got.ClusterArns) != 0 {
		t.Fatalf("default region lists %v, %v; want none", got, err)
	}
	known, err := r.Known(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(known)
	if !slices.Equal(known, []string{"eu-west-1", "us-east-1"}) {
		t.Fatalf("known regions %v", known)
	}
	_, err = list(api.WithRegion(t.Context(), "../etc"), &ecstypes.ListClustersRequest{})
	if !errors.Is(err, &awserr.Error{Code: awserr.CodeInvalidParameter}) || !strings.Contains(err.Error(), "region") {
		t.Fatalf("a malformed region: %v", err)
	}
}
