package agent

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// waitTimeout bounds every wait in these tests; nothing sleeps for a state.
const waitTimeout = 10 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not a wait for state
	}
}

// recv takes one value from ch or fails the test.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// fakeAPI is a function-field fake of the ECS calls; a nil field panics.
type fakeAPI struct {
	register func(*ecs.RegisterContainerInstanceInput) (*ecs.RegisterContainerInstanceOutput, error)
	create   func(*ecs.CreateClusterInput) (*ecs.CreateClusterOutput, error)
	discover func(*ecs.DiscoverPollEndpointInput) (*ecs.DiscoverPollEndpointOutput, error)
	submit   func(*ecs.SubmitTaskStateChangeInput) (*ecs.SubmitTaskStateChangeOutput, error)
}

var _ ecsAPI = (*fakeAPI)(nil)

func (f *fakeAPI) RegisterContainerInstance(_ context.Context, in *ecs.RegisterContainerInstanceInput, _ ...func(*ecs.Options)) (*ecs.RegisterContainerInstanceOutput, error) {
	return f.register(in)
}

func (f *fakeAPI) CreateCluster(_ context.Context, in *ecs.CreateClusterInput, _ ...func(*ecs.Options)) (*ecs.CreateClusterOutput, error) {
	return f.create(in)
}

func (f *fakeAPI) DiscoverPollEndpoint(_ context.Context, in *ecs.DiscoverPollEndpointInput, _ ...func(*ecs.Options)) (*ecs.DiscoverPollEndpointOutput, error) {
	return f.discover(in)
}

func (f *fakeAPI) SubmitTaskStateChange(_ context.Context, in *ecs.SubmitTaskStateChangeInput, _ ...func(*ecs.Options)) (*ecs.SubmitTaskStateChangeOutput, error) {
	return f.submit(in)
}

// submission is one recorded SubmitTaskStateChange.
type submission struct{ task, status, reason string }

// recordingSubmitter records every call on a channel and answers with the
// optional fail function's error.
type recordingSubmitter struct {
	mu    sync.Mutex
	calls []submission
	ch    chan submission
	fail  func(n int, s submission) error
}

func newRecordingSubmitter() *recordingSubmitter {
	return &recordingSubmitter{ch: make(chan submission, 1000)}
}

func (r *recordingSubmitter) submit(in *ecs.SubmitTaskStateChangeInput) (*ecs.SubmitTaskStateChangeOutput, error) {
	s := submission{task: aws.ToString(in.Task), status: aws.ToString(in.Status), reason: aws.ToString(in.Reason)}
	r.mu.Lock()
	n := len(r.calls)
	r.calls = append(r.calls, s)
	r.mu.Unlock()
	r.ch <- s
	if r.fail != nil {
		if err := r.fail(n, s); err != nil {
			return nil, err
		}
	}
	return &ecs.SubmitTaskStateChangeOutput{}, nil
}

func (r *recordingSubmitter) api() *fakeAPI { return &fakeAPI{submit: r.submit} }
