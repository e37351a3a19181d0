package engine

import (
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func links(l ...string) func(*ecstypes.ContainerDefinition) {
	return func(cd *ecstypes.ContainerDefinition) { cd.Links = append(cd.Links, l...) }
}

// TestLinksOrdering runs tasks on the fake, which applies Docker's rules (a
// linked container must exist at create and run at start), so a wrong create
// or start order fails the task instead of passing by accident.
func TestLinksOrdering(t *testing.T) {
	tests := []struct {
		name        string
		containers  []ecstypes.ContainerDefinition
		trigger     func(t *testing.T, f *fixture)
		wantJournal []string
	}{
		{
			name:        "linked container starts first, though defined later",
			containers:  []ecstypes.ContainerDefinition{ctr("client", links("backend:api")), ctr("backend")},
			wantJournal: []string{"start:backend", "start:client"},
		},
		{
			name: "chain of links and dependsOn",
			containers: []ecstypes.ContainerDefinition{
				ctr("web", links("api")), ctr("api", links("db:database")), ctr("db"), ctr("cache", dependsOn("web", "START")),
			},
			wantJournal: []string{"start:db", "start:api", "start:web", "start:cache"},
		},
		{
			// An explicit HEALTHY condition on the linked container governs;
			// the link adds no START dependency that would start it earlier.
			name:        "explicit dependsOn on the linked container is kept",
			containers:  []ecstypes.ContainerDefinition{ctr("client", links("backend:api"), dependsOn("backend", "HEALTHY")), ctr("backend", withHealthCheck)},
			trigger:     func(t *testing.T, f *fixture) { f.health(t, "backend", "healthy") },
			wantJournal: []string{"start:backend", "healthy:backend", "start:client"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := applyOne(t, "", tt.containers...)
			te, j := f.te, f.j
			if tt.trigger != nil {
				tt.trigger(t, f)
			}
			got := te.rec.waitStatus(t, f.arn, "RUNNING")
			if journal := j.snapshot(); !slices.Equal(journal, tt.wantJournal) {
				t.Errorf("journal = %v, want %v", journal, tt.wantJournal)
			}
			for _, cd := range tt.containers {
				spec, err := f.rt.Spec(container(t, got, *cd.Name).RuntimeID)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := dockerLinks(f.task, cd)
				if !slices.Equal(spec.Links, want) {
					t.Errorf("%s links = %v, want %v", *cd.Name, spec.Links, want)
				}
			}
		})
	}
}

func TestLinksThatCannotWork(t *testing.T) {
	tests := []struct {
		name       string
		mode       string
		containers []ecstypes.ContainerDefinition
		wantReason string
		wantFailed string // the container that carries the reason
	}{
		{
			name:       "unknown container",
			containers: []ecstypes.ContainerDefinition{ctr("backend"), ctr("client", links("backend:api", "nope:x"))},
			wantReason: "CannotCreateContainerError: container client links to unknown container nope",
			wantFailed: "client",
		},
		{
			name:       "itself",
			containers: []ecstypes.ContainerDefinition{ctr("client", links("client"))},
			wantReason: "CannotCreateContainerError: container client links to itself",
			wantFailed: "client",
		},
		{
			name:       "malformed",
			containers: []ecstypes.ContainerDefinition{ctr("backend"), ctr("client", links("backend:a:b"))},
			wantReason: `CannotCreateContainerError: container client: invalid link "backend:a:b" (want name or name:alias)`,
			wantFailed: "client",
		},
		{
			name:       "host network mode",
			mode:       "host",
			containers: []ecstypes.ContainerDefinition{ctr("backend"), ctr("client", links("backend"))},
			wantReason: "CannotCreateContainerError: container client has links, which need the bridge network mode (the task uses host)",
			wantFailed: "client",
		},
		{
			name:       "links form a cycle",
			containers: []ecstypes.ContainerDefinition{ctr("a", links("b")), ctr("b", links("a:x"))},
			wantReason: "CannotStartContainerError: dependsOn or links of a form a cycle",
			wantFailed: "a",
		},
		{
			name:       "a link and dependsOn form a cycle",
			containers: []ecstypes.ContainerDefinition{ctr("a", links("b")), ctr("b", dependsOn("a", "START"))},
			wantReason: "CannotStartContainerError: dependsOn or links of a form a cycle",
			wantFailed: "a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := applyOne(t, tt.mode, tt.containers...)
			te, j := f.te, f.j
			got := te.rec.waitStatus(t, f.arn, "STOPPED")
			if got.StopCode != StopCodeTaskFailedToStart || got.Reason != tt.wantReason {
				t.Errorf("stop = %q/%q, want %q/%q", got.StopCode, got.Reason, StopCodeTaskFailedToStart, tt.wantReason)
			}
			if cc := container(t, got, tt.wantFailed); cc.Reason != tt.wantReason {
				t.Errorf("%s reason = %q", tt.wantFailed, cc.Reason)
			}
			// The definition is checked before any work: nothing pulled or created.
			if n := j.count(func(j *journal) int { return j.pulls + j.creates }); n != 0 {
				t.Errorf("pulls+creates = %d, want 0", n)
			}
		})
	}
}

func TestStartDependencies(t *testing.T) {
	start := func(name string) ecstypes.ContainerDependency {
		return ecstypes.ContainerDependency{ContainerName: aws.String(name), Condition: aws.String("START")}
	}
	tests := []struct {
		name string
		def  ecstypes.ContainerDefinition
		want []ecstypes.ContainerDependency
	}{
		{"no links", ctr("c", dependsOn("a", "SUCCESS")), []ecstypes.ContainerDependency{
			{ContainerName: aws.String("a"), Condition: aws.String("SUCCESS")},
		}},
		{"links add START after dependsOn", ctr("c", dependsOn("a", "HEALTHY"), links("b:alias", "d")), []ecstypes.ContainerDependency{
			{ContainerName: aws.String("a"), Condition: aws.String("HEALTHY")}, start("b"), start("d"),
		}},
		{"no duplicate for a container dependsOn names", ctr("c", dependsOn("b", "START"), links("b:x", "b:y")), []ecstypes.ContainerDependency{
			start("b"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := startDependencies(tt.def); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("startDependencies = %+v, want %+v", got, tt.want)
			}
		})
	}
}
