package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// emptyShapesBoto3 makes the calls of TestEmptyRepliesWithClients with boto3
// and prints, for each, what a script would index: the value, or the
// KeyError a missing member raises.
const emptyShapesBoto3 = `
import json, sys
import boto3
from botocore.config import Config
endpoint, region, key, secret, cluster = sys.argv[1:6]
c = boto3.client("ecs", endpoint_url=endpoint, region_name=region,
    aws_access_key_id=key, aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))
calls = {
    "list_clusters.clusterArns": lambda: c.list_clusters()["clusterArns"],
    "list_tasks.taskArns": lambda: c.list_tasks(cluster=cluster)["taskArns"],
    "list_tasks STOPPED.taskArns": lambda: c.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"],
    "list_container_instances.containerInstanceArns": lambda: c.list_container_instances(cluster=cluster)["containerInstanceArns"],
    "describe_tasks.tasks": lambda: c.describe_tasks(cluster=cluster, tasks=["0123456789abcdef0123456789abcdef"])["tasks"],
    "describe_tasks.failures[0].reason": lambda: c.describe_tasks(cluster=cluster, tasks=["0123456789abcdef0123456789abcdef"])["failures"][0]["reason"],
    "list_tags_for_resource.tags": lambda: c.list_tags_for_resource(resourceArn=sys.argv[6])["tags"],
    "describe_clusters TAGS.tags": lambda: c.describe_clusters(clusters=[cluster], include=["TAGS"])["clusters"][0]["tags"],
    "describe_clusters.statistics": lambda: c.describe_clusters(clusters=[cluster])["clusters"][0]["statistics"],
}
out = {}
for name, call in calls.items():
    try:
        out[name] = call()
    except KeyError as e:
        out[name] = "KeyError: " + str(e)
print(json.dumps(out))
`

// TestEmptyRepliesWithClients drives the AWS CLI v2 and boto3 against a
// fresh server and an empty, untagged cluster: the lists ECS always sends
// are there, empty, so scripts that index them or count them work.
func TestEmptyRepliesWithClients(t *testing.T) {
	srv := startServer(t, serverOptions{})

	// A fresh server has no cluster at all.
	if got := strings.TrimSpace(string(awsCLI(t, srv, "ecs", "list-clusters", "--query", "length(clusterArns)", "--output", "text"))); got != "0" {
		t.Errorf("list-clusters on a fresh server: length(clusterArns) = %q, want 0", got)
	}
	cluster := uniqueName(t, "c")
	srv.createCluster(t, cluster)

	// The CLI prints what the reply holds: [] stays [], a missing member is missing.
	cliCases := []struct {
		name string
		args []string
		want string // the JSON document printed
	}{
		{"list-clusters", []string{"ecs", "list-clusters"}, `{"clusterArns":["` + srv.clusterARN(cluster) + `"]}`},
		{"list-tasks", []string{"ecs", "list-tasks", "--cluster", cluster}, `{"taskArns":[]}`},
		{"list-tasks STOPPED", []string{"ecs", "list-tasks", "--cluster", cluster, "--desired-status", "STOPPED"}, `{"taskArns":[]}`},
		{"list-container-instances", []string{"ecs", "list-container-instances", "--cluster", cluster}, `{"containerInstanceArns":[]}`},
		{"describe-tasks missing", []string{"ecs", "describe-tasks", "--cluster", cluster, "--tasks", "0123456789abcdef0123456789abcdef"},
			`{"tasks":[],"failures":[{"arn":"arn:aws:ecs:us-east-1:000000000000:task/` + cluster + `/0123456789abcdef0123456789abcdef","reason":"MISSING"}]}`},
		{"list-tags-for-resource untagged", []string{"ecs", "list-tags-for-resource", "--resource-arn", srv.clusterARN(cluster)}, `{"tags":[]}`},
		{"describe-clusters --include TAGS untagged", []string{"ecs", "describe-clusters", "--clusters", cluster, "--include", "TAGS",
			"--query", "clusters[0].{tags:tags,settings:settings,statistics:statistics,capacityProviders:capacityProviders}"},
			`{"tags":[],"settings":[],"statistics":[],"capacityProviders":[]}`},
		{"list-attributes", []string{"ecs", "list-attributes", "--cluster", cluster, "--target-type", "container-instance"}, `{"attributes":[]}`},
		{"list-task-definition-families", []string{"ecs", "list-task-definition-families", "--family-prefix", "none-such"}, `{"families":[]}`},
	}
	for _, tc := range cliCases {
		t.Run("cli "+tc.name, func(t *testing.T) {
			got := compactJSON(t, awsCLI(t, srv, tc.args...))
			if got != compactJSON(t, []byte(tc.want)) {
				t.Errorf("aws %s printed\n%s\nwant\n%s", strings.Join(tc.args, " "), got, tc.want)
			}
		})
	}
	for _, q := range []struct{ args []string }{
		{[]string{"ecs", "list-tasks", "--cluster", cluster, "--query", "length(taskArns)", "--output", "text"}},
		{[]string{"ecs", "list-container-instances", "--cluster", cluster, "--query", "length(containerInstanceArns)", "--output", "text"}},
		{[]string{"ecs", "describe-tasks", "--cluster", cluster, "--tasks", "0123456789abcdef0123456789abcdef", "--query", "length(tasks)", "--output", "text"}},
		{[]string{"ecs", "list-container-instances", "--cluster", cluster, "--filter", "attribute:ecs.instance-type == t3.micro", "--query", "length(containerInstanceArns)", "--output", "text"}},
	} {
		if got := strings.TrimSpace(string(awsCLI(t, srv, q.args...))); got != "0" {
			t.Errorf("aws %s = %q, want 0", strings.Join(q.args, " "), got)
		}
	}
	if code := cliError(t, srv, "ecs", "list-container-instances", "--cluster", cluster, "--filter", "attribute:ecs.instance-type = t3.micro"); code != "InvalidParameterException" {
		t.Errorf("list-container-instances with a malformed --filter: %s, want InvalidParameterException", code)
	}

	t.Run("boto3", func(t *testing.T) {
		got := boto3Shapes(t, srv, cluster)
		want := map[string]any{
			"list_clusters.clusterArns":                      []any{srv.clusterARN(cluster)},
			"list_tasks.taskArns":                            []any{},
			"list_tasks STOPPED.taskArns":                    []any{},
			"list_container_instances.containerInstanceArns": []any{},
			"describe_tasks.tasks":                           []any{},
			"describe_tasks.failures[0].reason":              "MISSING",
			"list_tags_for_resource.tags":                    []any{},
			"describe_clusters TAGS.tags":                    []any{},
			"describe_clusters.statistics":                   []any{},
		}
		for name, w := range want {
			if jsonString(got[name]) != jsonString(w) {
				t.Errorf("boto3 %s = %s, want %s", name, jsonString(got[name]), jsonString(w))
			}
		}
	})
}

// boto3Shapes runs emptyShapesBoto3 against s.
func boto3Shapes(t *testing.T, s *server, cluster string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, boto3Python(t), "-c", emptyShapesBoto3, s.endpoint(), region, s.keyID, s.secret, cluster, s.clusterARN(cluster))
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 boto3: %v\n%s", err, errb.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("boto3 output is not JSON: %v\n%s", err, out.String())
	}
	return v
}

// compactJSON is b re-encoded without whitespace, for comparing documents.
func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return buf.String()
}
