package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// Labels the agent puts on every container (internal/agent/engine). They are
// repeated here on purpose: they are part of Berth's observable contract.
const (
	labelTaskARN       = "com.amazonaws.ecs.task-arn"
	labelContainerName = "com.amazonaws.ecs.container-name"
	labelCluster       = "com.amazonaws.ecs.cluster"
	labelInstance      = "io.berth.container-instance-arn"
)

// containersWithLabel lists every container, running or not, whose label
// key equals value (docker ps -a --filter label=key=value).
func containersWithLabel(t testing.TB, key, value string) []container.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := dockerCli.ContainerList(ctx, container.ListOptions{
		All: true, Filters: filters.NewArgs(filters.Arg("label", key+"="+value)),
	})
	if err != nil {
		t.Fatalf("docker ps -a --filter label=%s=%s: %v", key, value, err)
	}
	return list
}

// containerIDs returns the sorted IDs of containers labelled key=value.
func containerIDs(t testing.TB, key, value string) []string {
	t.Helper()
	var ids []string
	for _, c := range containersWithLabel(t, key, value) {
		ids = append(ids, c.ID)
	}
	sort.Strings(ids)
	return ids
}

// inspect is docker inspect of one container.
func inspect(t testing.TB, id string) container.InspectResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dockerCli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatalf("docker inspect %s: %v", id, err)
	}
	return c
}

// dockerTime parses a docker inspect timestamp.
func dockerTime(t testing.TB, what, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || ts.IsZero() || ts.Year() < 2000 {
		t.Fatalf("%s: bad docker timestamp %q (%v)", what, s, err)
	}
	return ts
}

// waitContainersGone polls docker ps -a until no container has the task's
// label: the agent removes a stopped task's containers after
// ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION (1s in these tests).
func waitContainersGone(t testing.TB, taskARN string) {
	t.Helper()
	waitFor(t, stateTimeout, "the containers of "+taskARN+" to be removed from Docker", func() bool {
		return len(containersWithLabel(t, labelTaskARN, taskARN)) == 0
	})
}

// removeContainersOnCleanup force-removes, when t ends, every container
// labelled key=value, so a failed test leaves nothing running.
// Register it before starting the processes that make such containers, so
// it runs after they are killed (cleanups run last-in, first-out).
func removeContainersOnCleanup(t testing.TB, key string, value func() string) {
	t.Cleanup(func() {
		if v := value(); v != "" {
			removeContainers(t, key, v)
		}
	})
}

func removeContainers(t testing.TB, key, value string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := dockerCli.ContainerList(ctx, container.ListOptions{
		All: true, Filters: filters.NewArgs(filters.Arg("label", key+"="+value)),
	})
	if err != nil {
		t.Logf("cleanup: list containers %s=%s: %v", key, value, err)
		return
	}
	for _, c := range list {
		err := dockerCli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !client.IsErrNotFound(err) {
			t.Logf("cleanup: remove container %s: %v", c.ID, err)
		}
	}
}

// containerEvents returns the Docker events of kind (create, start, die,
// destroy, ...) between since and until for containers labelled key=value:
// Docker keeps a history, so a test can ask afterwards what happened.
func containerEvents(t testing.TB, since, until time.Time, kind, key, value string) []events.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stamp := func(ts time.Time) string { return fmt.Sprintf("%d.%09d", ts.Unix(), ts.Nanosecond()) }
	msgs, errs := dockerCli.Events(ctx, events.ListOptions{
		Since: stamp(since), Until: stamp(until),
		Filters: filters.NewArgs(filters.Arg("type", "container"), filters.Arg("event", kind), filters.Arg("label", key+"="+value)),
	})
	var out []events.Message
	for {
		select {
		case m := <-msgs:
			out = append(out, m)
		case err := <-errs:
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("docker events: %v", err)
			}
			return out
		}
	}
}
