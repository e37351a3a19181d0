package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const (
	// repoRoot is where the README's commands run (file://examples/...).
	repoRoot = "../.."
	// readmeEndpoint is the address the README's commands use.
	readmeEndpoint = "http://127.0.0.1:9320"
	// demoImage is what `berth demo-image` builds and examples/demo.json runs.
	demoImage = "localhost/berth-demo:latest"
)

// quickStartRE finds the README's shell blocks marked to be run by this test.
var quickStartRE = regexp.MustCompile("(?s)<!-- e2e:quickstart[^>]*-->\n```sh\n(.*?)```")

// quickStartScript is the README's quick start, the marked blocks in order,
// pointed at endpoint instead of the default listener.
func quickStartScript(t *testing.T, endpoint string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range quickStartRE.FindAllStringSubmatch(string(readme), -1) {
		blocks = append(blocks, m[1])
	}
	script := strings.Join(blocks, "\n")
	if len(blocks) < 2 || !strings.Contains(script, readmeEndpoint) {
		t.Fatalf("README.md has %d quick start blocks using %s, want the two marked <!-- e2e:quickstart -->", len(blocks), readmeEndpoint)
	}
	return strings.ReplaceAll(script, readmeEndpoint, endpoint)
}

// awsOnPath is a directory holding `aws`, the AWS CLI v2 under test, to put
// first on PATH: the README calls plain `aws`.
func awsOnPath(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(awsCLIBin, filepath.Join(dir, "aws")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestQuickStart runs the README's quick start as written, as a new user on
// a machine with no registry would: `berth demo-image` (what ./scripts/dev
// runs first), then the README's commands with bash and the AWS CLI v2
// against `berth server --dev` with the dev agent's default configuration.
// Then what the README says about Ctrl-C: the task's container outlives the
// server, and the restarted server's agent picks it up.
func TestQuickStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, berthBin, "demo-image").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != demoImage {
		t.Fatalf("berth demo-image: %v\n%s", err, out)
	}

	srv, instance := startDevServerWith(t, "")
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", quickStartScript(t, srv.endpoint()))
	cmd.Dir = repoRoot
	cmd.Env = childEnv("PATH=" + awsOnPath(t) + string(os.PathListSeparator) + os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the quick start failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^arn:aws:ecs:us-east-1:000000000000:task-definition/berth-demo:\d+$`),
		regexp.MustCompile(`^\{"hostname":"[0-9a-f]{12}","env":\{"APP_GREETING":"hello from a Berth task"\},"args":\[\],"path":"/"\}$`),
		regexp.MustCompile(`^STOPPED$`),
		regexp.MustCompile(`^STOPPED\tUserInitiated\tdone with the demo$`),
		regexp.MustCompile(`^arn:aws:ecs:us-east-1:000000000000:task-definition/hello-nginx:\d+$`),
		// This machine has no registry: nginx cannot be pulled, and the task says so.
		regexp.MustCompile(`^STOPPED\tTaskFailedToStart\tCannotPullContainerError: pull image public\.ecr\.aws/nginx/nginx:1\.27: `),
	}
	if len(lines) != len(want) {
		t.Fatalf("the quick start printed %d lines, want %d:\n%s\nstderr:\n%s", len(lines), len(want), stdout.String(), stderr.String())
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d = %q, want %s", i+1, lines[i], re)
		}
	}
	if !strings.Contains(stderr.String(), `Waiter TasksRunning failed`) {
		t.Errorf("wait tasks-running on the nginx task did not fail as the README says:\n%s", stderr.String())
	}

	// Ctrl-C: the server and its agent stop, the task's container does not.
	var run cliTasksResp
	cliJSON(t, srv, &run, "ecs", "run-task", "--task-definition", "berth-demo")
	if len(run.Tasks) != 1 {
		t.Fatalf("run-task: %+v", run)
	}
	task := cliWaitTask(t, srv, "default", run.Tasks[0].TaskArn, func(t cliTask) bool { return t.LastStatus == "RUNNING" }, "the demo task RUNNING")
	runtimeID := task.container(t, "demo").RuntimeId
	srv.stop(t, syscall.SIGINT)
	if !inspect(t, runtimeID).State.Running {
		t.Fatal("the task's container stopped with the server")
	}
	srv.start(t) // what running ./scripts/dev again does: same data dir, same port
	waitFor(t, startTimeout, "the restarted dev agent to connect", func() bool {
		insts := describeInstances(t, srv, "default")
		return len(insts) == 1 && aws.ToString(insts[0].ContainerInstanceArn) == instance && insts[0].AgentConnected
	})
	task = cliDescribeTask(t, srv, "default", task.TaskArn)
	if task.LastStatus != "RUNNING" || task.container(t, "demo").RuntimeId != runtimeID {
		t.Fatalf("after the restart the task is %s in container %s, want RUNNING in %s", task.LastStatus, task.container(t, "demo").RuntimeId, runtimeID)
	}
	awsCLI(t, srv, "ecs", "stop-task", "--task", task.TaskArn)
	cliWaitTask(t, srv, "default", task.TaskArn, func(t cliTask) bool { return t.LastStatus == "STOPPED" }, "the adopted task STOPPED")
	if inspect(t, runtimeID).State.Running {
		t.Error("the adopted task stopped, its container still runs")
	}
}
