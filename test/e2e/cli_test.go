package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runAWSCLI runs the AWS CLI v2 against s with s's credentials and returns
// stdout, stderr and the exit error.
func runAWSCLI(s *server, args ...string) (stdout []byte, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"--endpoint-url", s.endpoint(), "--region", region, "--output", "json", "--no-cli-pager"}, args...)
	cmd := exec.CommandContext(ctx, awsCLIBin, full...)
	cmd.Env = childEnv("AWS_ACCESS_KEY_ID="+s.keyID, "AWS_SECRET_ACCESS_KEY="+s.secret, "AWS_DEFAULT_REGION="+region, "AWS_PAGER=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.String(), err
}

// awsCLI runs the CLI and returns its JSON stdout, failing t with stderr.
func awsCLI(t testing.TB, s *server, args ...string) []byte {
	t.Helper()
	out, stderr, err := runAWSCLI(s, args...)
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// cliJSON runs the CLI and decodes its output into v.
func cliJSON(t testing.TB, s *server, v any, args ...string) {
	t.Helper()
	out := awsCLI(t, s, args...)
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cliError runs a CLI call that must fail and returns the AWS error code the
// CLI printed ("An error occurred (Code) when calling ...").
func cliError(t testing.TB, s *server, args ...string) string {
	t.Helper()
	out, stderr, err := runAWSCLI(s, args...)
	if err == nil {
		t.Fatalf("aws %s succeeded, want an error; output:\n%s", strings.Join(args, " "), out)
	}
	_, rest, ok := strings.Cut(stderr, "An error occurred (")
	code, _, ok2 := strings.Cut(rest, ")")
	if !ok || !ok2 {
		t.Fatalf("aws %s: no AWS error in stderr:\n%s", strings.Join(args, " "), stderr)
	}
	return code
}

// The CLI's JSON, decoded into just what the tests look at.
type (
	cliTask struct {
		TaskArn, LastStatus, DesiredStatus, StopCode, StoppedReason string
		HealthStatus                                                string
		ContainerInstanceArn, TaskDefinitionArn, StartedBy          string
		Containers                                                  []cliContainer
	}
	cliContainer struct {
		Name, LastStatus, RuntimeId, HealthStatus, Reason string
		ExitCode                                          *int
		NetworkBindings                                   []struct {
			BindIP                  string
			ContainerPort, HostPort int
			Protocol                string
		}
	}
	cliFailure   struct{ Arn, Reason, Detail string }
	cliTasksResp struct {
		Tasks    []cliTask
		Failures []cliFailure
	}
)

func (task cliTask) container(t testing.TB, name string) cliContainer {
	t.Helper()
	for _, c := range task.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("task %s has no container %q", task.TaskArn, name)
	return cliContainer{}
}

func cliDescribeTask(t testing.TB, s *server, cluster, arn string) cliTask {
	t.Helper()
	var out cliTasksResp
	cliJSON(t, s, &out, "ecs", "describe-tasks", "--cluster", cluster, "--tasks", arn)
	if len(out.Tasks) != 1 || len(out.Failures) != 0 {
		t.Fatalf("describe-tasks %s: %+v", arn, out)
	}
	return out.Tasks[0]
}

func cliWaitTask(t testing.TB, s *server, cluster, arn string, done func(cliTask) bool, what string) cliTask {
	t.Helper()
	var task cliTask
	waitFor(t, stateTimeout, what, func() bool {
		task = cliDescribeTask(t, s, cluster, arn)
		if task.LastStatus == "STOPPED" && !done(task) {
			t.Fatalf("task stopped while waiting for %s: %+v", what, task)
		}
		return done(task)
	})
	return task
}

// TestCLIWebWithSidecar is the path a person takes with the AWS CLI v2:
// register examples/web-with-sidecar.json, run it, reach the web container
// on its dynamic host port, watch it turn healthy, stop it and see Docker
// cleaned up.
func TestCLIWebWithSidecar(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	srv.createCluster(t, cluster)
	srv.startAgent(t, agentOptions{Name: "node-1", Cluster: cluster, CPU: 2048, MemoryMiB: 2048, Zone: "zone-a"})

	def := substitute(t, loadExample(t, "web-with-sidecar.json"))
	var reg struct {
		TaskDefinition struct{ TaskDefinitionArn string }
	}
	cliJSON(t, srv, &reg, "ecs", "register-task-definition", "--cli-input-json", "file://"+writeJSON(t, def))

	var run cliTasksResp
	cliJSON(t, srv, &run, "ecs", "run-task", "--cluster", cluster, "--task-definition", reg.TaskDefinition.TaskDefinitionArn,
		"--started-by", "e2e-cli", "--count", "1")
	if len(run.Tasks) != 1 || len(run.Failures) != 0 {
		t.Fatalf("run-task: %+v", run)
	}
	arn := run.Tasks[0].TaskArn

	task := cliWaitTask(t, srv, cluster, arn, func(t cliTask) bool { return t.LastStatus == "RUNNING" }, "task RUNNING")
	if task.StartedBy != "e2e-cli" || task.DesiredStatus != "RUNNING" {
		t.Errorf("startedBy %q desiredStatus %q", task.StartedBy, task.DesiredStatus)
	}
	for _, name := range []string{"web", "otel-collector"} {
		c := task.container(t, name)
		if c.LastStatus != "RUNNING" || c.RuntimeId == "" {
			t.Fatalf("container %s: lastStatus %q runtimeId %q", name, c.LastStatus, c.RuntimeId)
		}
		insp := inspect(t, c.RuntimeId)
		if !insp.State.Running {
			t.Errorf("docker inspect %s: not running (%s)", name, insp.State.Status)
		}
		if insp.Config.Labels[labelTaskARN] != arn || insp.Config.Labels[labelContainerName] != name ||
			insp.Config.Labels["com.example.service"] != "storefront-web" {
			t.Errorf("docker labels of %s: %v", name, insp.Config.Labels)
		}
	}
	web := inspect(t, task.container(t, "web").RuntimeId)
	if web.HostConfig.Memory != 384<<20 || web.HostConfig.MemoryReservation != 256<<20 {
		t.Errorf("web memory limit %d reservation %d, want 384 MiB and 256 MiB", web.HostConfig.Memory, web.HostConfig.MemoryReservation)
	}
	if u := web.HostConfig.Ulimits; len(u) != 1 || u[0].Name != "nofile" || u[0].Soft != 16384 || u[0].Hard != 16384 {
		t.Errorf("web ulimits = %+v", u)
	}

	var port int
	for _, b := range task.container(t, "web").NetworkBindings {
		if b.ContainerPort == 8080 {
			port = b.HostPort
		}
	}
	if port == 0 {
		t.Fatalf("web has no dynamic host port for 8080: %+v", task.container(t, "web").NetworkBindings)
	}
	reply := httpGetApp(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if reply.Env["PORT"] != "8080" || reply.Env["APP_ENV"] != "production" {
		t.Errorf("the web container's environment is not the task definition's: %v", reply.Env)
	}

	task = cliWaitTask(t, srv, cluster, arn, func(t cliTask) bool {
		for _, c := range t.Containers {
			if c.Name == "web" {
				return c.HealthStatus == "HEALTHY"
			}
		}
		return false
	}, "the web container's health check to pass")
	// web is the only essential container with a health check, so the task
	// is as healthy as it is.
	if task.HealthStatus != "HEALTHY" {
		t.Errorf("task healthStatus = %q with its essential container HEALTHY", task.HealthStatus)
	}

	const reason = "Scaling down after the e2e check"
	awsCLI(t, srv, "ecs", "stop-task", "--cluster", cluster, "--task", arn, "--reason", reason)
	task = cliWaitTask(t, srv, cluster, arn, func(t cliTask) bool { return t.LastStatus == "STOPPED" }, "task STOPPED")
	if task.StopCode != "UserInitiated" || task.StoppedReason != reason || task.DesiredStatus != "STOPPED" {
		t.Errorf("stopped task: stopCode %q stoppedReason %q desiredStatus %q", task.StopCode, task.StoppedReason, task.DesiredStatus)
	}
	for _, c := range task.Containers {
		if c.LastStatus != "STOPPED" || c.ExitCode == nil || *c.ExitCode != 0 {
			t.Errorf("container %s: lastStatus %s exitCode %v after the task stopped, want STOPPED and 0 (it exits 0 on SIGTERM)",
				c.Name, c.LastStatus, c.ExitCode)
		}
	}
	waitContainersGone(t, arn)
}
