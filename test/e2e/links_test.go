package e2e

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// linkClientScript exits 3 unless /etc/hosts names the backend "api" (what
// a Docker link with that alias writes), else 0 once the backend answers
// through the alias. The retries only cover the backend's start-up: the link
// makes it start first, not listen first.
const linkClientScript = `grep -qE '[[:space:]]api([[:space:]]|$)' /etc/hosts || exit 3
i=0
while [ $i -lt 50 ]; do
  wget -qO- http://api:8080/ >/dev/null && exit 0
  i=$((i+1))
  sleep 0.2
done
exit 4`

// TestLinks runs a client that links to a backend. Defined before the
// backend, it still starts after it (a link implies a START dependency),
// and reaches it by the alias; with another alias it cannot.
func TestLinks(t *testing.T) {
	srv, cluster, _ := oneNode(t)
	tests := []struct {
		name     string
		link     string
		wantExit int32
	}{
		{"alias", "backend:api", 0},
		{"other alias", "backend:db", 3},
	}
	arns := make([]string, len(tests))
	for i, tt := range tests {
		def := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(uniqueName(t, "f")),
			ContainerDefinitions: []types.ContainerDefinition{
				{
					Name: aws.String("client"), Image: aws.String(busyboxImage), Essential: aws.Bool(true),
					Links: []string{tt.link}, Command: []string{"sh", "-c", linkClientScript}, MemoryReservation: aws.Int32(16),
				},
				{
					Name: aws.String("backend"), Image: aws.String(appImage), Essential: aws.Bool(false),
					Environment:       []types.KeyValuePair{{Name: aws.String("PORT"), Value: aws.String("8080")}},
					MemoryReservation: aws.Int32(32),
				},
			},
		})
		task := runTask(t, srv, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn})[0]
		arns[i] = aws.ToString(task.TaskArn)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := waitTaskStatus(t, srv, cluster, arns[i], "STOPPED")
			if task.StopCode != types.TaskStopCodeEssentialContainerExited || task.StartedAt == nil {
				t.Errorf("stopCode %q stoppedReason %q startedAt %v: want an essential exit after the task ran",
					task.StopCode, aws.ToString(task.StoppedReason), task.StartedAt)
			}
			client := containerNamed(t, task, "client")
			if client.ExitCode == nil || *client.ExitCode != tt.wantExit {
				t.Errorf("client exit code = %v (reason %q), want %d (3: alias not in /etc/hosts, 4: backend unreachable)",
					aws.ToInt32(client.ExitCode), aws.ToString(client.Reason), tt.wantExit)
			}
			if backend := containerNamed(t, task, "backend"); aws.ToString(backend.LastStatus) != "STOPPED" {
				t.Errorf("backend lastStatus = %q, want STOPPED", aws.ToString(backend.LastStatus))
			}
			waitContainersGone(t, arns[i])
		})
	}
}

// TestLinksRejectedAtRegistration: links to a container the task does not
// have, and links outside bridge networking, never reach an agent.
func TestLinksRejectedAtRegistration(t *testing.T) {
	srv := startServer(t, serverOptions{})
	container := func(name string, links ...string) types.ContainerDefinition {
		return types.ContainerDefinition{
			Name: aws.String(name), Image: aws.String(busyboxImage), MemoryReservation: aws.Int32(16), Links: links,
		}
	}
	tests := []struct {
		name string
		mode types.NetworkMode
		defs []types.ContainerDefinition
	}{
		{"unknown container", types.NetworkModeBridge, []types.ContainerDefinition{container("client", "nope:api")}},
		{"itself", types.NetworkModeBridge, []types.ContainerDefinition{container("client", "client")}},
		{"host network mode", types.NetworkModeHost, []types.ContainerDefinition{container("client", "backend"), container("backend")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := callCtx()
			defer cancel()
			_, err := srv.ecs().RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
				Family: aws.String(uniqueName(t, "f")), NetworkMode: tt.mode, ContainerDefinitions: tt.defs,
			})
			var ce *types.ClientException
			if !errors.As(err, &ce) {
				t.Fatalf("RegisterTaskDefinition: err = %v, want a ClientException", err)
			}
		})
	}
}
