package e2e

import (
	"encoding/json"
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
}
