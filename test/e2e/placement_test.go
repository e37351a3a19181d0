package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestCLIPlacement places tasks with the AWS CLI onto three real agents
// in three availability zones: spread over the zones, memberOf on a custom
// attribute (and ListContainerInstances --filter with the same language),
// a malformed expression refused with where it is wrong, and a task that
// fits nowhere explained.
func TestCLIPlacement(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	srv.createCluster(t, cluster)
	agents := []*agent{
		srv.startAgent(t, agentOptions{Name: "node-a", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-a", AZ: region + "a"}),
		srv.startAgent(t, agentOptions{Name: "node-b", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-b", AZ: region + "b"}),
		srv.startAgent(t, agentOptions{Name: "node-c", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-c", AZ: region + "c"}),
	}
	zoneOf := map[string]string{}
	for i, a := range agents {
		zoneOf[a.instanceARN] = region + string(rune('a'+i))
	}
	def := writeJSON(t, map[string]any{
		"family": uniqueName(t, "sleep"),
		"containerDefinitions": []map[string]any{{
			"name": "main", "image": appImage, "essential": true, "command": []string{"-sleep"}, "cpu": 64, "memoryReservation": 32,
		}},
	})
	var reg struct {
		TaskDefinition struct{ TaskDefinitionArn string }
	}
	cliJSON(t, srv, &reg, "ecs", "register-task-definition", "--cli-input-json", "file://"+def)
	td := reg.TaskDefinition.TaskDefinitionArn

	type runReply struct {
		Tasks    []struct{ TaskArn, ContainerInstanceArn string }
		Failures []struct{ Arn, Reason, Detail string }
	}
	run := func(t *testing.T, args ...string) runReply {
		t.Helper()
		var out runReply
		cliJSON(t, srv, &out, append([]string{"ecs", "run-task", "--cluster", cluster, "--task-definition", td}, args...)...)
		return out
	}

	t.Run("spread over the availability zones", func(t *testing.T) {
		out := run(t, "--count", "3", "--placement-strategy", "type=spread,field=attribute:ecs.availability-zone")
		zones := map[string]int{}
		for _, task := range out.Tasks {
			zones[zoneOf[task.ContainerInstanceArn]]++
			cliWaitTask(t, srv, cluster, task.TaskArn, func(t cliTask) bool { return t.LastStatus == "RUNNING" }, "RUNNING")
		}
		if len(out.Tasks) != 3 || len(zones) != 3 {
			t.Fatalf("tasks per zone = %v (failures %+v), want one in each of 3 zones", zones, out.Failures)
		}
	})

	edge := agents[1].instanceARN
	awsCLI(t, srv, "ecs", "put-attributes", "--cluster", cluster, "--attributes", "name=stack,value=edge,targetId="+edge)

	t.Run("memberOf a custom attribute", func(t *testing.T) {
		out := run(t, "--count", "2", "--placement-constraints", "type=memberOf,expression=attribute:stack == edge")
		if len(out.Tasks) != 2 {
			t.Fatalf("placed %d tasks (failures %+v), want 2", len(out.Tasks), out.Failures)
		}
		for _, task := range out.Tasks {
			if task.ContainerInstanceArn != edge {
				t.Errorf("task on %s, want %s (the instance with stack=edge)", task.ContainerInstanceArn, edge)
			}
		}
		var list struct{ ContainerInstanceArns []string }
		cliJSON(t, srv, &list, "ecs", "list-container-instances", "--cluster", cluster, "--filter", "attribute:stack == edge")
		if len(list.ContainerInstanceArns) != 1 || list.ContainerInstanceArns[0] != edge {
			t.Fatalf("list-container-instances --filter = %v, want [%s]", list.ContainerInstanceArns, edge)
		}
		cliJSON(t, srv, &list, "ecs", "list-container-instances", "--cluster", cluster,
			"--filter", "attribute:ecs.availability-zone in ["+region+"a, "+region+"c] and not(attribute:stack exists)")
		if len(list.ContainerInstanceArns) != 2 {
			t.Fatalf("list-container-instances --filter (zones a and c) = %v, want 2 instances", list.ContainerInstanceArns)
		}
	})

	t.Run("a malformed expression is refused, saying where", func(t *testing.T) {
		_, stderr, err := runAWSCLI(srv, "ecs", "run-task", "--cluster", cluster, "--task-definition", td,
			"--placement-constraints", "type=memberOf,expression=attribute:stack == edge and (")
		if err == nil || !strings.Contains(stderr, "InvalidParameterException") || !strings.Contains(stderr, "position") {
			t.Fatalf("run-task with a malformed expression: err %v, stderr:\n%s", err, stderr)
		}
	})

	t.Run("a task that fits nowhere is explained", func(t *testing.T) {
		big := writeJSON(t, map[string]any{
			"family": uniqueName(t, "big"),
			"containerDefinitions": []map[string]any{{
				"name": "main", "image": appImage, "essential": true, "memory": 4096,
			}},
		})
		var bigReg struct {
			TaskDefinition struct{ TaskDefinitionArn string }
		}
		cliJSON(t, srv, &bigReg, "ecs", "register-task-definition", "--cli-input-json", "file://"+big)
		var out runReply
		cliJSON(t, srv, &out, "ecs", "run-task", "--cluster", cluster, "--task-definition", bigReg.TaskDefinition.TaskDefinitionArn)
		if len(out.Tasks) != 0 || len(out.Failures) != 3 {
			t.Fatalf("run-task of 4 GiB on 1 GiB instances: %d tasks, failures %+v", len(out.Tasks), out.Failures)
		}
		for _, f := range out.Failures {
			if f.Reason != "RESOURCE:MEMORY" || !strings.Contains(f.Detail, "3 instances: 3 lacked memory (need 4096 MiB, best had ") {
				b, _ := json.Marshal(f)
				t.Errorf("failure %s, want RESOURCE:MEMORY explained in detail", b)
			}
		}
	})

	t.Run("berth explain-placement dry-runs a RunTask", func(t *testing.T) {
		var before struct{ TaskArns []string }
		cliJSON(t, srv, &before, "ecs", "list-tasks", "--cluster", cluster)
		cmd := exec.Command(berthBin, "explain-placement", "--endpoint-url", "http://"+srv.addr, "--output", "json",
			"--cluster", cluster, "--task-definition", td, "--count", "2",
			"--placement-constraints", "type=memberOf,expression=attribute:stack == edge")
		cmd.Env = childEnv("AWS_ACCESS_KEY_ID="+srv.keyID, "AWS_SECRET_ACCESS_KEY="+srv.secret, "AWS_REGION="+region)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("berth explain-placement: %v\n%s", err, b)
		}
		var out struct {
			Tasks     []struct{ ContainerInstanceArn string }
			Instances []struct{ ContainerInstanceArn, Verdict, Reason, Detail string }
		}
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("berth explain-placement --output json: %v\n%s", err, b)
		}
		if len(out.Tasks) != 2 || out.Tasks[0].ContainerInstanceArn != edge || out.Tasks[1].ContainerInstanceArn != edge {
			t.Errorf("planned tasks %+v, want both on %s", out.Tasks, edge)
		}
		if len(out.Instances) != 3 {
			t.Fatalf("instances %+v, want the 3 of the cluster", out.Instances)
		}
		for _, v := range out.Instances {
			switch {
			case v.ContainerInstanceArn == edge && v.Verdict != "CHOSEN",
				v.ContainerInstanceArn != edge && (v.Verdict != "REJECTED" || v.Reason != "MemberOf placement constraint unsatisfied." ||
					!strings.HasPrefix(v.Detail, "fails memberOf: attribute:stack == edge")):
				t.Errorf("verdict %+v", v)
			}
		}
		var after struct{ TaskArns []string }
		cliJSON(t, srv, &after, "ecs", "list-tasks", "--cluster", cluster)
		if len(after.TaskArns) != len(before.TaskArns) {
			t.Errorf("a dry run started tasks: %d before, %d after", len(before.TaskArns), len(after.TaskArns))
		}

		// Bad input is RunTask's error, on stderr, with a failing exit.
		cmd = exec.Command(berthBin, "explain-placement", "--endpoint-url", "http://"+srv.addr, "--cluster", cluster, "--task-definition", td,
			"--placement-constraints", "type=memberOf,expression=attribute:stack ==")
		cmd.Env = childEnv("AWS_ACCESS_KEY_ID="+srv.keyID, "AWS_SECRET_ACCESS_KEY="+srv.secret, "AWS_REGION="+region)
		if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "InvalidParameterException") {
			t.Errorf("malformed expression: err %v, output:\n%s", err, b)
		}
	})
}
