package e2e

import (
	"strings"
	"testing"
)

// TestRegions: a server answers every region it is configured for, each
// with its own state and ARNs in that region, and refuses the others as AWS
// refuses a credential scoped to a wrong region; --dev answers any region.
func TestRegions(t *testing.T) {
	srv := startServer(t, serverOptions{Regions: []string{"eu-west-1"}})
	cluster := uniqueName(t, "c")
	var created struct{ Cluster struct{ ClusterArn string } }
	cliJSON(t, srv, &created, "ecs", "create-cluster", "--cluster-name", cluster, "--region", "eu-west-1")
	if want := "arn:aws:ecs:eu-west-1:" + accountID + ":cluster/" + cluster; created.Cluster.ClusterArn != want {
		t.Fatalf("cluster ARN %s, want %s", created.Cluster.ClusterArn, want)
	}
	listed := func(region string) []string {
		var out struct{ ClusterArns []string }
		cliJSON(t, srv, &out, "ecs", "list-clusters", "--region", region)
		return out.ClusterArns
	}
	if got := listed("eu-west-1"); len(got) != 1 || got[0] != created.Cluster.ClusterArn {
		t.Fatalf("eu-west-1 lists %v", got)
	}
	if got := listed(region); len(got) != 0 {
		t.Fatalf("%s lists %v; regions must not share state", region, got)
	}
	if stderr := cliError(t, srv, "ecs", "list-clusters", "--region", "ap-south-1"); !strings.Contains(stderr, "InvalidSignatureException") {
		t.Fatalf("a region the server does not serve: %s", stderr)
	}

	dev := startServer(t, serverOptions{Dev: true})
	var out struct{ Cluster struct{ ClusterArn string } }
	cliJSON(t, dev, &out, "ecs", "create-cluster", "--cluster-name", cluster, "--region", "ap-south-1")
	if !strings.Contains(out.Cluster.ClusterArn, ":ap-south-1:") {
		t.Fatalf("--dev cluster ARN %s, want it in ap-south-1", out.Cluster.ClusterArn)
	}
}
