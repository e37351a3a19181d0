package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// startDevServer starts `berth server --dev` with an agent config that
// cleans up quickly and uses the local images, and returns it with the ARN
// of its in-process agent's instance in the "default" cluster.
func startDevServer(t *testing.T) (*server, string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "ecs.config")
	content := "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1s\nECS_IMAGE_PULL_BEHAVIOR=prefer-cached\nECS_CONTAINER_STOP_TIMEOUT=5s\n"
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return startDevServerWith(t, cfg)
}

// startDevServerWith is startDevServer with the dev agent's config file
// ("" for none: the agent as `./scripts/dev` runs it).
func startDevServerWith(t *testing.T, agentConfig string) (*server, string) {
	t.Helper()
	var instance string
	// Registered before the server starts, so it runs after the kill.
	removeContainersOnCleanup(t, labelInstance, func() string { return instance })
	srv := startServer(t, serverOptions{Dev: true, AgentConfig: agentConfig})
	waitFor(t, startTimeout, "the dev server's in-process agent to connect", func() bool {
		srv.proc.failIfExited(t)
		insts := describeInstances(t, srv, "default")
		if len(insts) == 1 && insts[0].AgentConnected && aws.ToString(insts[0].Status) == "ACTIVE" {
			instance = aws.ToString(insts[0].ContainerInstanceArn)
		}
		return instance != ""
	})
	return srv, instance
}

var devCredsRE = regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)`)

// TestServerBanner checks what `berth server` prints on stdout: the
// endpoint, and in --dev mode credentials that work; a non-dev server never
// prints a secret.
func TestServerBanner(t *testing.T) {
	t.Run("dev prints endpoint and dev credentials", func(t *testing.T) {
		srv, _ := startDevServer(t)
		out := readFile(srv.proc.stdout)
		for _, want := range []string{
			"ready on " + srv.endpoint() + " (region us-east-1)",
			"export AWS_ACCESS_KEY_ID=" + devAccessKeyID + " AWS_SECRET_ACCESS_KEY=" + devSecretAccessKey + " AWS_DEFAULT_REGION=us-east-1",
			"aws --endpoint-url " + srv.endpoint() + " ecs list-clusters",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		// The printed credentials, used as printed, list the default cluster.
		m := devCredsRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no credentials in stdout:\n%s", out)
		}
		printed := &server{addr: srv.addr, keyID: m[1], secret: m[2]}
		var list struct{ ClusterArns []string }
		cliJSON(t, printed, &list, "ecs", "list-clusters")
		if len(list.ClusterArns) != 1 || list.ClusterArns[0] != srv.clusterARN("default") {
			t.Errorf("list-clusters with the printed credentials = %v, want the default cluster", list.ClusterArns)
		}
	})
	t.Run("non-dev with chosen credentials prints no secret", func(t *testing.T) {
		srv := startServer(t, serverOptions{})
		out := readFile(srv.proc.stdout)
		if !strings.Contains(out, "ready on "+srv.endpoint()) {
			t.Errorf("stdout lacks the endpoint:\n%s", out)
		}
		if strings.Contains(out, rootSecretAccessKey) || strings.Contains(out, devSecretAccessKey) {
			t.Errorf("stdout shows a secret:\n%s", out)
		}
	})
	t.Run("non-dev generates root credentials and says where", func(t *testing.T) {
		srv := startServer(t, serverOptions{GeneratedRoot: true}) // signs with the generated pair
		out := readFile(srv.proc.stdout)
		if want := "Root credentials are in " + srv.dataDir + "/root-credentials.json"; !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
		if strings.Contains(out, srv.secret) {
			t.Errorf("stdout shows the generated secret:\n%s", out)
		}
	})
}

// TestSDKFlowOnDevServer is TestCLIWebWithSidecar through aws-sdk-go-v2 on
// `berth server --dev`, using the SDK's own waiters.
func TestSDKFlowOnDevServer(t *testing.T) {
	srv, instance := startDevServer(t)
	client := srv.ecs()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	def := registerTaskDef(t, srv, sdkInput(t, substitute(t, loadExample(t, "web-with-sidecar.json"))))
	if len(def.ContainerDefinitions) != 2 || aws.ToString(def.Cpu) != "512" {
		t.Fatalf("registered definition: %s", jsonString(def))
	}
	// No cluster: the default cluster, which --dev created.
	task := runTask(t, srv, &ecs.RunTaskInput{TaskDefinition: def.TaskDefinitionArn, StartedBy: aws.String("e2e-sdk")})[0]
	arn := aws.ToString(task.TaskArn)
	if aws.ToString(task.ContainerInstanceArn) != instance || aws.ToString(task.ClusterArn) != srv.clusterARN("default") {
		t.Errorf("task placed on %s in %s", aws.ToString(task.ContainerInstanceArn), aws.ToString(task.ClusterArn))
	}

	fast := func(o *ecs.TasksRunningWaiterOptions) { o.MinDelay, o.MaxDelay = time.Second, 2*time.Second }
	running, err := ecs.NewTasksRunningWaiter(client, fast).WaitForOutput(ctx, &ecs.DescribeTasksInput{Tasks: []string{arn}}, 2*time.Minute)
	if err != nil {
		t.Fatalf("TasksRunningWaiter: %v", err)
	}
	task = running.Tasks[0]
	for _, name := range []string{"web", "otel-collector"} {
		c := containerNamed(t, task, name)
		if aws.ToString(c.LastStatus) != "RUNNING" || !inspect(t, aws.ToString(c.RuntimeId)).State.Running {
			t.Errorf("container %s: lastStatus %s, runtimeId %s not running in Docker", name, aws.ToString(c.LastStatus), aws.ToString(c.RuntimeId))
		}
	}
	port := hostPort(t, containerNamed(t, task, "web"), 8080)
	if reply := httpGetApp(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); reply.Env["APP_ENV"] != "production" {
		t.Errorf("web env = %v", reply.Env)
	}
	// The sidecar's port answers too: both containers really serve.
	httpGetApp(t, fmt.Sprintf("http://127.0.0.1:%d/", hostPort(t, containerNamed(t, task, "otel-collector"), 4318)))

	const reason = "Stopped by the SDK e2e test"
	if _, err := client.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn), Reason: aws.String(reason)}); err != nil {
		t.Fatalf("StopTask: %v", err)
	}
	stoppedFast := func(o *ecs.TasksStoppedWaiterOptions) { o.MinDelay, o.MaxDelay = time.Second, 2*time.Second }
	stopped, err := ecs.NewTasksStoppedWaiter(client, stoppedFast).WaitForOutput(ctx, &ecs.DescribeTasksInput{Tasks: []string{arn}}, 2*time.Minute)
	if err != nil {
		t.Fatalf("TasksStoppedWaiter: %v", err)
	}
	task = stopped.Tasks[0]
	if task.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(task.StoppedReason) != reason {
		t.Errorf("stopCode %q stoppedReason %q", task.StopCode, aws.ToString(task.StoppedReason))
	}
	waitContainersGone(t, arn)
}
