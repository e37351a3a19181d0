package e2e

import (
	"encoding/json"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestServerRestartLosesNothing stops the server with SIGTERM and starts it
// again on the same data dir and port: clusters, tags, task definition
// revisions (active and deregistered) and running tasks read back exactly
// as before, the agent reconnects by itself and new work is placed.
func TestServerRestartLosesNothing(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	srv.createCluster(t, cluster,
		types.Tag{Key: aws.String("env"), Value: aws.String("staging")},
		types.Tag{Key: aws.String("owner"), Value: aws.String("platform-team")})
	a := srv.startAgent(t, agentOptions{Name: "node-1", Cluster: cluster, CPU: 2048, MemoryMiB: 2048, Zone: "zone-a"})

	family := uniqueName(t, "f")
	register := func(env string) string {
		c := sleeper("main", true)
		c.Environment = []types.KeyValuePair{{Name: aws.String("APP_RELEASE"), Value: aws.String(env)}}
		return aws.ToString(registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(family), ContainerDefinitions: []types.ContainerDefinition{c},
			Tags: []types.Tag{{Key: aws.String("release"), Value: aws.String(env)}},
		}).TaskDefinitionArn)
	}
	rev1, rev2 := register("r1"), register("r2")
	awsCLI(t, srv, "ecs", "deregister-task-definition", "--task-definition", rev1)
	task := runTask(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String(rev2)})[0]
	taskARN := aws.ToString(task.TaskArn)
	running := waitTaskStatus(t, srv, cluster, taskARN, "RUNNING")
	runtimeID := aws.ToString(containerNamed(t, running, "main").RuntimeId)

	// What must survive, read through the AWS CLI v2 as JSON documents.
	reads := map[string][]string{
		"describe-clusters":       {"ecs", "describe-clusters", "--clusters", cluster, "--include", "TAGS"},
		"describe rev1":           {"ecs", "describe-task-definition", "--task-definition", rev1, "--include", "TAGS"},
		"describe rev2":           {"ecs", "describe-task-definition", "--task-definition", rev2, "--include", "TAGS"},
		"list-task-definitions":   {"ecs", "list-task-definitions", "--family-prefix", family, "--status", "ACTIVE"},
		"list inactive":           {"ecs", "list-task-definitions", "--family-prefix", family, "--status", "INACTIVE"},
		"list-tags-for-resource":  {"ecs", "list-tags-for-resource", "--resource-arn", srv.clusterARN(cluster)},
		"list-tasks":              {"ecs", "list-tasks", "--cluster", cluster},
		"list-container-instance": {"ecs", "list-container-instances", "--cluster", cluster},
	}
	before := cliReadAll(t, srv, reads)
	if got := before["describe rev1"].(map[string]any)["taskDefinition"].(map[string]any)["status"]; got != "INACTIVE" {
		t.Fatalf("rev1 status before restart = %v, want INACTIVE", got)
	}

	srv.stop(t, syscall.SIGTERM)
	if !srv.proc.exited() || srv.proc.err != nil {
		t.Errorf("server exit after SIGTERM: %v, want a clean exit", srv.proc.err)
	}
	if !inspect(t, runtimeID).State.Running {
		t.Fatalf("the task's container stopped with the server")
	}
	srv.start(t) // same data dir, same address

	after := cliReadAll(t, srv, reads)
	for name := range reads {
		if !reflect.DeepEqual(before[name], after[name]) {
			t.Errorf("%s changed across the restart:\nbefore %s\nafter  %s", name, jsonString(before[name]), jsonString(after[name]))
		}
	}
	task = describeTask(t, srv, cluster, taskARN)
	if aws.ToString(task.LastStatus) != "RUNNING" || aws.ToString(containerNamed(t, task, "main").RuntimeId) != runtimeID {
		t.Errorf("after restart the task is %s with container %s, want RUNNING with %s",
			aws.ToString(task.LastStatus), aws.ToString(containerNamed(t, task, "main").RuntimeId), runtimeID)
	}

	a.waitConnected(t)
	next := runTask(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String(rev2)})[0]
	if aws.ToString(next.ContainerInstanceArn) != a.instanceARN {
		t.Errorf("new task placed on %s, want %s", aws.ToString(next.ContainerInstanceArn), a.instanceARN)
	}
	waitTaskStatus(t, srv, cluster, aws.ToString(next.TaskArn), "RUNNING")
	if got := decodeJSON(t, awsCLI(t, srv, "ecs", "list-tasks", "--cluster", cluster)).(map[string]any)["taskArns"].([]any); len(got) != 2 {
		t.Errorf("list-tasks after a new run-task: %v, want 2 tasks", got)
	}
}

// cliReadAll runs read-only CLI calls concurrently (each CLI start costs
// most of a second) and decodes their JSON.
func cliReadAll(t *testing.T, s *server, reads map[string][]string) map[string]any {
	t.Helper()
	type result struct {
		name, stderr string
		out          []byte
		err          error
	}
	results := make(chan result, len(reads))
	for name, args := range reads {
		go func() {
			out, stderr, err := runAWSCLI(s, args...)
			results <- result{name, stderr, out, err}
		}()
	}
	docs := map[string]any{}
	for range reads {
		r := <-results
		if r.err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(reads[r.name], " "), r.err, r.stderr)
		}
		docs[r.name] = decodeJSON(t, r.out)
	}
	return docs
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return v
}
