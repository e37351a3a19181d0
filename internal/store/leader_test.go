package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

// Two processes campaign; one leads at a time, and when it steps down the
// other takes over.
func TestLeadOneAtATime(t *testing.T) {
	t.Parallel()
	a := storetest.New(t)
	b, err := store.Open(context.Background(), store.Config{Endpoints: a.Client().Endpoints(), Namespace: a.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	var leaders, maxLeaders atomic.Int32
	var mu sync.Mutex
	led := map[string]int{}
	run := func(s *store.Store, id string) (cancel func(), done <-chan struct{}) {
		ctx, cancel := context.WithCancel(context.Background())
		ch := make(chan struct{})
		go func() {
			defer close(ch)
			s.Lead(ctx, "controllers", id, func(ctx context.Context) {
				n := leaders.Add(1)
				if n > maxLeaders.Load() {
					maxLeaders.Store(n)
				}
				mu.Lock()
				led[id]++
				mu.Unlock()
				<-ctx.Done()
				leaders.Add(-1)
			})
		}()
		return cancel, ch
	}
	cancelA, doneA := run(a, "a")
	storetest.WaitFor(t, 30*time.Second, "a leader", func() bool { return leaders.Load() == 1 })
	cancelB, doneB := run(b, "b")
	defer func() { cancelB(); <-doneB }()
	mu.Lock()
	first := led["a"]
	mu.Unlock()
	if first != 1 {
		t.Fatalf("a led %d times before b started", first)
	}
	cancelA() // a steps down (resigns)
	<-doneA
	storetest.WaitFor(t, 30*time.Second, "b to take over", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return led["b"] == 1
	})
	if m := maxLeaders.Load(); m != 1 {
		t.Fatalf("%d leaders at once", m)
	}
}
