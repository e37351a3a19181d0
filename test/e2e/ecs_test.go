package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// SDK helpers shared by the tests. Each fails t on an API error.

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func registerTaskDef(t *testing.T, s *server, in *ecs.RegisterTaskDefinitionInput) types.TaskDefinition {
	t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	out, err := s.ecs().RegisterTaskDefinition(ctx, in)
	if err != nil {
		t.Fatalf("RegisterTaskDefinition %s: %v", aws.ToString(in.Family), err)
	}
	return *out.TaskDefinition
}

// runTask runs count tasks and fails t unless all of them were placed.
func runTask(t *testing.T, s *server, in *ecs.RunTaskInput) []types.Task {
	t.Helper()
	out := runTaskOutput(t, s, in)
	want := int(aws.ToInt32(in.Count))
	if in.Count == nil {
		want = 1
	}
	if len(out.Failures) > 0 || len(out.Tasks) != want {
		t.Fatalf("RunTask placed %d of %d tasks; failures: %s", len(out.Tasks), want, jsonString(out.Failures))
	}
	return out.Tasks
}

func runTaskOutput(t *testing.T, s *server, in *ecs.RunTaskInput) *ecs.RunTaskOutput {
	t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	out, err := s.ecs().RunTask(ctx, in)
	if err != nil {
		t.Fatalf("RunTask %s: %v", aws.ToString(in.TaskDefinition), err)
	}
	return out
}

func describeTask(t *testing.T, s *server, cluster, taskARN string) types.Task {
	t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	out, err := s.ecs().DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{taskARN}})
	if err != nil {
		t.Fatalf("DescribeTasks %s: %v", taskARN, err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("DescribeTasks %s: %d tasks, failures %s", taskARN, len(out.Tasks), jsonString(out.Failures))
	}
	return out.Tasks[0]
}

// waitTaskStatus polls until the task's lastStatus is status. Waiting for
// RUNNING gives up at once if the task stops instead.
func waitTaskStatus(t *testing.T, s *server, cluster, taskARN, status string) types.Task {
	t.Helper()
	var task types.Task
	waitFor(t, stateTimeout, fmt.Sprintf("task %s to be %s", taskARN, status), func() bool {
		task = describeTask(t, s, cluster, taskARN)
		last := aws.ToString(task.LastStatus)
		if last == "STOPPED" && status != "STOPPED" {
			t.Fatalf("task %s stopped while waiting for %s: %s", taskARN, status, jsonString(task))
		}
		return last == status
	})
	return task
}

func stopTask(t *testing.T, s *server, cluster, taskARN, reason string) {
	t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	if _, err := s.ecs().StopTask(ctx, &ecs.StopTaskInput{
		Cluster: aws.String(cluster), Task: aws.String(taskARN), Reason: aws.String(reason),
	}); err != nil {
		t.Fatalf("StopTask %s: %v", taskARN, err)
	}
}

func containerNamed(t testing.TB, task types.Task, name string) types.Container {
	t.Helper()
	i := slices.IndexFunc(task.Containers, func(c types.Container) bool { return aws.ToString(c.Name) == name })
	if i < 0 {
		t.Fatalf("task %s has no container %q: %s", aws.ToString(task.TaskArn), name, jsonString(task.Containers))
	}
	return task.Containers[i]
}

// hostPort is the host port bound to containerPort/tcp of a container.
func hostPort(t testing.TB, c types.Container, containerPort int32) int32 {
	t.Helper()
	for _, b := range c.NetworkBindings {
		if aws.ToInt32(b.ContainerPort) == containerPort && b.Protocol != types.TransportProtocolUdp {
			if aws.ToInt32(b.HostPort) == 0 {
				t.Fatalf("container %s: binding for %d has host port 0", aws.ToString(c.Name), containerPort)
			}
			return aws.ToInt32(b.HostPort)
		}
	}
	t.Fatalf("container %s has no network binding for port %d: %s", aws.ToString(c.Name), containerPort, jsonString(c.NetworkBindings))
	return 0
}

// appReply is what the test app answers on GET /.
type appReply struct {
	Hostname string            `json:"hostname"`
	Env      map[string]string `json:"env"`
	Args     []string          `json:"args"`
	Path     string            `json:"path"`
}

// httpGetApp polls url until it answers 200 (a container reported RUNNING
// may not listen yet) and decodes the app's reply.
func httpGetApp(t testing.TB, url string) appReply {
	t.Helper()
	var reply appReply
	var last string
	client := &http.Client{Timeout: 5 * time.Second}
	ok := false
	deadline := time.Now().Add(30 * time.Second)
	for !ok && time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%s: %s", resp.Status, body)
			if resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(body, &reply); err != nil {
					t.Fatalf("GET %s: %v in %s", url, err, body)
				}
				ok = true
			}
		}
		if !ok {
			time.Sleep(200 * time.Millisecond) // polling pace
		}
	}
	if !ok {
		t.Fatalf("GET %s never answered 200; last: %s", url, last)
	}
	return reply
}

func jsonString(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

// sleeper is a container that runs until stopped and exits 0 on SIGTERM.
// exitingWorker is an essential container that sleeps, then exits with code
// after the given delay (a Go duration such as "1s").
func exitingWorker(name, after string, code int) types.ContainerDefinition {
	return types.ContainerDefinition{
		Name: aws.String(name), Image: aws.String(appImage), Essential: aws.Bool(true),
		Command: []string{"-sleep"}, Memory: aws.Int32(64),
		Environment: []types.KeyValuePair{
			{Name: aws.String("EXIT_AFTER"), Value: aws.String(after)},
			{Name: aws.String("EXIT_CODE"), Value: aws.String(strconv.Itoa(code))},
		},
	}
}

func sleeper(name string, essential bool) types.ContainerDefinition {
	return types.ContainerDefinition{
		Name: aws.String(name), Image: aws.String(appImage), Essential: aws.Bool(essential),
		Command: []string{"-sleep"}, Cpu: 64, MemoryReservation: aws.Int32(32),
	}
}
