package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// TestAgentCreatesDefaultCluster: like the ECS agent, an agent whose config
// names no cluster joins "default", creating it on a server that has none.
func TestAgentCreatesDefaultCluster(t *testing.T) {
	srv := startServer(t, serverOptions{})
	ctx, cancel := callCtx()
	defer cancel()
	list, err := srv.ecs().ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil || len(list.ClusterArns) != 0 {
		t.Fatalf("a fresh server has clusters %v (%v), want none", list.ClusterArns, err)
	}

	a := &agent{
		opts: agentOptions{Name: "node-1", Cluster: "default", CPU: 1024, MemoryMiB: 1024, Zone: "zone-a"},
		srv:  srv, dataDir: t.TempDir(), logDir: t.TempDir(),
	}
	a.configPath = filepath.Join(t.TempDir(), "ecs.config")
	var lines []string
	for _, l := range strings.Split(agentConfig(a.opts, a.dataDir), "\n") {
		if !strings.HasPrefix(l, "ECS_CLUSTER=") {
			lines = append(lines, l)
		}
	}
	if err := os.WriteFile(a.configPath, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	removeContainersOnCleanup(t, labelInstance, func() string { return a.instanceARN })
	a.startNoWait(t)

	// Until the agent created it, the cluster does not exist: poll the
	// cluster itself before the helpers that expect it.
	waitFor(t, startTimeout, "the agent to create cluster default", func() bool {
		a.proc.failIfExited(t)
		ctx, cancel := callCtx()
		defer cancel()
		out, err := srv.ecs().DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"default"}})
		if err != nil {
			t.Fatalf("DescribeClusters: %v", err)
		}
		return len(out.Clusters) == 1 && aws.ToString(out.Clusters[0].Status) == "ACTIVE"
	})
	inst := a.waitConnected(t)
	a.instanceARN = aws.ToString(inst.ContainerInstanceArn)
	if !strings.Contains(a.instanceARN, ":container-instance/default/") {
		t.Errorf("instance ARN %s is not in cluster default", a.instanceARN)
	}

	ctx, cancel = callCtx()
	defer cancel()
	out, err := srv.ecs().DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"default"}})
	if err != nil || len(out.Clusters) != 1 {
		t.Fatalf("DescribeClusters default: %v, %v", out, err)
	}
	if c := out.Clusters[0]; aws.ToString(c.ClusterArn) != srv.clusterARN("default") || c.RegisteredContainerInstancesCount != 1 {
		t.Errorf("cluster default: arn %s, %d registered instances; want %s and 1",
			aws.ToString(c.ClusterArn), c.RegisteredContainerInstancesCount, srv.clusterARN("default"))
	}
}
