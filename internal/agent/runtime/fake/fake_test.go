package fake_test

import (
	"testing"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/agent/runtime/fake"
	"github.com/berth-dev/berth/internal/agent/runtime/runtimetest"
)

const image = "berth-test/busybox:latest"

func asFake(t *testing.T, rt runtime.Runtime) *fake.Runtime {
	t.Helper()
	f, ok := rt.(*fake.Runtime)
	if !ok {
		t.Fatalf("runtime is %T, want *fake.Runtime", rt)
	}
	return f
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, runtimetest.Harness{
		New:         func(*testing.T) runtime.Runtime { return fake.New(image) },
		Image:       image,
		AbsentImage: "berth-test/absent:never",
		LongRunning: []string{"sleep", "3600"},
		ExitWith:    func(int) []string { return []string{"exit"} },
		Exit: func(t *testing.T, rt runtime.Runtime, id string, code int) {
			if err := asFake(t, rt).Exit(id, code); err != nil {
				t.Fatal(err)
			}
		},
		HealthyCheck: runtime.HealthCheck{Test: []string{"CMD-SHELL", "true"}},
		MarkHealthy: func(t *testing.T, rt runtime.Runtime, id string) {
			if err := asFake(t, rt).SetHealth(id, "healthy"); err != nil {
				t.Fatal(err)
			}
		},
	})
}
