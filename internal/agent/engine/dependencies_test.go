package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/agent/runtime/fake"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// TestDependsOnOrdering checks start order against the fake's journal. The
// test writes its own events ("exit:x", "healthy:x") into the journal before
// causing them, so the order shows a dependent started only afterwards.
func TestDependsOnOrdering(t *testing.T) {
	tests := []struct {
		name       string
		containers []ecstypes.ContainerDefinition
		// trigger runs once the task waits on a dependency (nil: none).
		trigger     func(t *testing.T, f *fixture)
		wantStatus  string
		wantJournal []string
	}{
		{
			name:        "START: independent containers first, then dependents",
			containers:  []ecstypes.ContainerDefinition{ctr("app", dependsOn("db", "START")), ctr("db"), ctr("cache")},
			wantStatus:  "RUNNING",
			wantJournal: []string{"start:db", "start:cache", "start:app"},
		},
		{
			name:        "COMPLETE: non-zero exit is enough",
			containers:  []ecstypes.ContainerDefinition{ctr("init", nonEssential), ctr("app", dependsOn("init", "COMPLETE"))},
			trigger:     func(t *testing.T, f *fixture) { f.exit(t, "init", 3) },
			wantStatus:  "RUNNING",
			wantJournal: []string{"start:init", "exit:init", "start:app"},
		},
		{
			name:        "SUCCESS: exit 0 lets the dependent start",
			containers:  []ecstypes.ContainerDefinition{ctr("migrate", nonEssential), ctr("app", dependsOn("migrate", "SUCCESS"))},
			trigger:     func(t *testing.T, f *fixture) { f.exit(t, "migrate", 0) },
			wantStatus:  "RUNNING",
			wantJournal: []string{"start:migrate", "exit:migrate", "start:app"},
		},
		{
			name:        "SUCCESS: non-zero exit stops the task",
			containers:  []ecstypes.ContainerDefinition{ctr("migrate", nonEssential), ctr("app", dependsOn("migrate", "SUCCESS"))},
			trigger:     func(t *testing.T, f *fixture) { f.exit(t, "migrate", 1) },
			wantStatus:  "STOPPED",
			wantJournal: []string{"start:migrate", "exit:migrate"},
		},
		{
			name:        "HEALTHY: waits for the dependency's health",
			containers:  []ecstypes.ContainerDefinition{ctr("db", withHealthCheck), ctr("app", dependsOn("db", "HEALTHY"))},
			trigger:     func(t *testing.T, f *fixture) { f.health(t, "db", "healthy") },
			wantStatus:  "RUNNING",
			wantJournal: []string{"start:db", "healthy:db", "start:app"},
		},
		{
			name:        "cycle fails at once",
			containers:  []ecstypes.ContainerDefinition{ctr("a", dependsOn("b", "START")), ctr("b", dependsOn("a", "START"))},
			wantStatus:  "STOPPED",
			wantJournal: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := applyOne(t, "", tt.containers...)
			te, j := f.te, f.j
			if tt.trigger != nil {
				tt.trigger(t, f)
			}
			got := te.rec.waitStatus(t, f.arn, tt.wantStatus)
			if journal := j.snapshot(); !slices.Equal(journal, tt.wantJournal) {
				t.Errorf("journal = %v, want %v", journal, tt.wantJournal)
			}
			if tt.wantStatus == "STOPPED" {
				if got.StopCode != StopCodeTaskFailedToStart || !strings.HasPrefix(got.Reason, "CannotStartContainerError: ") {
					t.Errorf("stop = %q/%q", got.StopCode, got.Reason)
				}
			}
		})
	}
}

func TestHealthChangesAreReported(t *testing.T) {
	rt, _ := newRuntime(images("app", "plain")...)
	te := startEngine(t, rt)
	task := newTask(taskARN(1), ctr("app", withHealthCheck), ctr("plain"))
	te.Upsert([]Task{task})
	running := te.rec.waitStatus(t, task.Arn, "RUNNING")
	if h := container(t, running, "app").HealthStatus; h != ecstypes.HealthStatusUNKNOWN {
		t.Errorf("initial health = %q, want UNKNOWN", h)
	}
	if h := container(t, running, "plain").HealthStatus; h != "" {
		t.Errorf("health without a check = %q, want empty", h)
	}
	id := container(t, running, "app").RuntimeID
	for _, step := range []struct{ docker, want string }{
		{"healthy", ecstypes.HealthStatusHEALTHY},
		{"unhealthy", ecstypes.HealthStatusUNHEALTHY},
	} {
		if err := rt.SetHealth(id, step.docker); err != nil {
			t.Fatal(err)
		}
		te.pollHealth()
		got := te.rec.waitFor(t, task.Arn, "health "+step.want, func(c TaskStateChange) bool {
			return len(c.Containers) > 0 && c.Containers[0].HealthStatus == step.want
		})
		if got.Status != "RUNNING" {
			t.Errorf("status = %s, want RUNNING", got.Status)
		}
	}
}

// fixture lets table cases act on a running task's containers.
type fixture struct {
	te   *testEngine
	rt   *fake.Runtime
	j    *journal
	arn  string
	task Task
}

// applyOne starts an engine on a fake runtime holding the images of the
// given containers and applies one task made of them (networkMode "" = unset).
func applyOne(t *testing.T, mode string, containers ...ecstypes.ContainerDefinition) *fixture {
	t.Helper()
	var names []string
	for _, c := range containers {
		names = append(names, *c.Name)
	}
	rt, j := newRuntime(images(names...)...)
	te := startEngine(t, rt)
	task := newTask(taskARN(1), containers...)
	if mode != "" {
		task.TaskDefinition.NetworkMode = aws.String(mode)
	}
	te.Upsert([]Task{task})
	return &fixture{te: te, rt: rt, j: j, arn: task.Arn, task: task}
}

// runningID waits for the named container to run and returns its ID.
func (f *fixture) runningID(t *testing.T, name string) string {
	t.Helper()
	c := f.te.rec.waitFor(t, f.arn, name+" RUNNING", containerStatusIs(name, "RUNNING"))
	return container(t, c, name).RuntimeID
}

func (f *fixture) exit(t *testing.T, name string, code int) {
	t.Helper()
	id := f.runningID(t, name)
	f.j.add("exit:" + name)
	if err := f.rt.Exit(id, code); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) health(t *testing.T, name, status string) {
	t.Helper()
	id := f.runningID(t, name)
	f.j.add(status + ":" + name)
	if err := f.rt.SetHealth(id, status); err != nil {
		t.Fatal(err)
	}
	f.te.pollHealth()
}
