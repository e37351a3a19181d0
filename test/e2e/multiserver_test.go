package e2e

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// TestServersShareOneEtcd runs two `berth server` processes on one external
// etcd (Debian's, default settings). Both answer to the root credentials the
// first one generated; a client talks to either and sees the same state; an
// agent connected to one runs a task started through the other; one server
// leads the controllers, and when it is killed the other takes over. With
// etcd gone, requests answer ServerException instead of hanging.
func TestServersShareOneEtcd(t *testing.T) {
	etcd := startEtcd(t)
	opts := serverOptions{GeneratedRoot: true, EtcdEndpoints: []string{etcd.endpoint}}
	a := startServer(t, opts)
	b := startServer(t, opts)
	if a.keyID != b.keyID || a.secret != b.secret {
		t.Fatalf("servers on one etcd answer to different root keys: %s and %s", a.keyID, b.keyID)
	}

	// One leads the controllers; the other waits.
	leading := func(s *server) int { return logLines(s.proc, "msg=leading", "election=controllers") }
	var leader, follower *server
	waitFor(t, pollTimeout, "a controllers leader", func() bool {
		switch la, lb := leading(a), leading(b); {
		case la+lb > 1:
			t.Fatalf("both servers lead the controllers (a %d, b %d)", la, lb)
		case la == 1:
			leader, follower = a, b
		case lb == 1:
			leader, follower = b, a
		}
		return leader != nil
	})

	// Write through one, read through the other.
	cluster := uniqueName(t, "c")
	leader.createCluster(t, cluster)
	ctx, cancel := callCtx()
	defer cancel()
	got, err := follower.ecs().DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{cluster}})
	if err != nil || len(got.Clusters) != 1 || aws.ToString(got.Clusters[0].Status) != "ACTIVE" {
		t.Fatalf("the other server describes %+v, %v", got, err)
	}

	// The agent talks to the follower; the task is started through the
	// leader, whose write reaches the follower's agent session.
	ag := follower.startAgent(t, agentOptions{Name: "node-1", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-a"})
	family := uniqueName(t, "f")
	def := registerTaskDef(t, leader, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), ContainerDefinitions: []types.ContainerDefinition{sleeper("main", true)},
	})
	task := runTask(t, leader, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn})[0]
	if aws.ToString(task.ContainerInstanceArn) != ag.instanceARN {
		t.Fatalf("task placed on %s, want %s", aws.ToString(task.ContainerInstanceArn), ag.instanceARN)
	}
	waitTaskStatus(t, leader, cluster, aws.ToString(task.TaskArn), "RUNNING")

	// Killing the leader (no chance to resign) moves the controllers to the
	// follower once the leader's lease expires; the follower keeps serving.
	leader.stop(t, syscall.SIGKILL)
	waitFor(t, pollTimeout, "the follower to take the controllers over", func() bool { return leading(follower) == 1 })
	if got := describeTask(t, follower, cluster, aws.ToString(task.TaskArn)); aws.ToString(got.LastStatus) != "RUNNING" {
		t.Fatalf("after the leader died the task is %s", aws.ToString(got.LastStatus))
	}
	ag.waitConnected(t)

	// With etcd gone, a request gets the service's 5xx within its deadline
	// instead of hanging (the SDK client here does not retry).
	etcd.stop()
	client := ecs.New(ecs.Options{
		Region: region, Credentials: follower.ecs().Options().Credentials, BaseEndpoint: aws.String(follower.endpoint()),
		RetryMaxAttempts: 1,
	})
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer rcancel()
	_, err = client.ListClusters(rctx, &ecs.ListClustersInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ServerException" {
		t.Fatalf("ListClusters with etcd stopped: %v, want ServerException", err)
	}
}
