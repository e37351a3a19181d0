package fake_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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

func TestOverrides(t *testing.T) {
	boom := errors.New("boom")
	ctx := context.Background()
	tests := []struct {
		name string
		set  func(f *fake.Runtime)
		call func(f *fake.Runtime) error
	}{
		{"pull", func(f *fake.Runtime) {
			f.PullFunc = func(context.Context, string) error { return boom }
		}, func(f *fake.Runtime) error { return f.PullImage(ctx, "x") }},
		{"create", func(f *fake.Runtime) {
			f.CreateFunc = func(context.Context, runtime.ContainerSpec) (string, error) { return "", boom }
		}, func(f *fake.Runtime) error {
			_, err := f.CreateContainer(ctx, runtime.ContainerSpec{Image: image})
			return err
		}},
		{"stats", func(f *fake.Runtime) {
			f.StatsFunc = func(context.Context, string) (runtime.ContainerStats, error) { return runtime.ContainerStats{}, boom }
		}, func(f *fake.Runtime) error {
			_, err := f.Stats(ctx, "any")
			return err
		}},
		{"start fails once then falls through", func(f *fake.Runtime) {
			var calls atomic.Int32
			f.StartFunc = func(ctx context.Context, id string) error {
				if calls.Add(1) == 1 {
					return boom
				}
				return f.Default().StartContainer(ctx, id)
			}
		}, func(f *fake.Runtime) error {
			id, err := f.CreateContainer(ctx, runtime.ContainerSpec{Image: image})
			if err != nil {
				return err
			}
			if err := f.StartContainer(ctx, id); !errors.Is(err, boom) {
				return fmt.Errorf("first start: %v, want boom", err)
			}
			if err := f.StartContainer(ctx, id); err != nil {
				return fmt.Errorf("second start: %v", err)
			}
			return boom
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fake.New(image)
			tt.set(f)
			if err := tt.call(f); !errors.Is(err, boom) {
				t.Fatalf("err = %v, want boom", err)
			}
		})
	}
}

func TestPullMakesImagePresent(t *testing.T) {
	ctx := context.Background()
	f := fake.New()
	if ok, _ := f.ImagePresent(ctx, image); ok {
		t.Fatal("image present before pull")
	}
	if err := f.PullImage(ctx, image); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.ImagePresent(ctx, image); !ok {
		t.Fatal("image absent after pull")
	}
}

func TestSpecAndPorts(t *testing.T) {
	ctx := context.Background()
	f := &fake.Runtime{Images: []string{image}, PortBase: 40000}
	spec := runtime.ContainerSpec{
		Image: image, Env: []string{"A=1"}, WorkingDir: "/w", User: "65534",
		PortMappings: []runtime.PortMapping{{ContainerPort: 80}, {ContainerPort: 81, HostPort: 8081}},
	}
	var ids []string
	for i := range 2 {
		spec.PortMappings = []runtime.PortMapping{{ContainerPort: 80}, {ContainerPort: 81, HostPort: 8081 + uint16(i)}}
		id, err := f.CreateContainer(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	got, err := f.Spec(ids[0])
	if err != nil || got.WorkingDir != "/w" || got.User != "65534" || got.Env[0] != "A=1" {
		t.Fatalf("Spec = %+v, %v", got, err)
	}
	for i, want := range []uint16{40000, 40001} {
		st, err := f.InspectContainer(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if st.Ports[0].HostPort != want || st.Ports[1].HostPort != 8081+uint16(i) {
			t.Errorf("container %d ports = %+v, want dynamic %d and static %d", i, st.Ports, want, 8081+i)
		}
	}
}

func TestExitUnblocksConcurrentWaiters(t *testing.T) {
	ctx := context.Background()
	f := fake.New(image)
	id, err := f.CreateContainer(ctx, runtime.ContainerSpec{Image: image})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	const waiters = 8
	codes := make(chan int, waiters)
	var ready sync.WaitGroup
	for range waiters {
		ready.Add(1)
		go func() {
			ready.Done()
			code, err := f.WaitContainer(ctx, id)
			if err != nil {
				t.Error(err)
			}
			codes <- code
		}()
	}
	ready.Wait()
	if err := f.Exit(id, 7); err != nil {
		t.Fatal(err)
	}
	for range waiters {
		if code := <-codes; code != 7 {
			t.Errorf("waiter got %d, want 7", code)
		}
	}
	if err := f.Exit(id, 1); err == nil {
		t.Error("Exit on an exited container succeeded")
	}
}
