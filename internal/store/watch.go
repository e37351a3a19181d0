package store

import (
	"context"
	"encoding/json"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EventType says whether a watched id was written or deleted.
type EventType int

const (
	EventPut EventType = iota + 1
	EventDelete
)

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	default:
		return "unknown"
	}
}

// Event is one change to a watched id.
type Event[T any] struct {
	Type     EventType
	ID       string
	Value    T // zero on delete
	Revision int64
}

// Watch streams changes to ids under idPrefix made after revision afterRev.
// Use tx.Revision() from the View that listed the collection to list then
// watch without gaps; afterRev <= 0 watches from the moment the watch is
// established. The channel is closed when ctx is done, the store is closed,
// or the watch fails irrecoverably (history compacted, leader lost): the
// consumer then re-lists and watches again. Values that fail to decode are
// logged and skipped.
func Watch[T any](ctx context.Context, s *Store, c Collection[T], idPrefix string, afterRev int64) <-chan Event[T] {
	out := make(chan Event[T])
	prefix := s.key(c.name, "")
	// Require a leader so a partitioned member ends the watch instead of
	// silently delivering nothing.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	stop := context.AfterFunc(s.done, cancel)
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if afterRev > 0 {
		opts = append(opts, clientv3.WithRev(afterRev+1))
	}
	started := s.goBackground(func() {
		defer close(out)
		defer stop()
		defer cancel()
		pumpWatch(wctx, s, s.client.Watch(wctx, prefix+idPrefix, opts...), prefix, out)
	})
	if !started {
		stop()
		cancel()
		close(out)
	}
	return out
}

// pumpWatch forwards decoded events until the etcd watch ends or ctx is done.
func pumpWatch[T any](ctx context.Context, s *Store, wch clientv3.WatchChan, prefix string, out chan<- Event[T]) {
	for resp := range wch {
		if err := resp.Err(); err != nil {
			if ctx.Err() == nil {
				s.log.Info("watch ended, consumer must re-list", "prefix", prefix, "err", err)
			}
			return
		}
		if resp.Canceled {
			return
		}
		for _, ev := range resp.Events {
			if len(ev.Kv.Key) == len(prefix) {
				continue // the collection's sync marker
			}
			e, ok := decodeEvent[T](s, ev, prefix)
			if !ok {
				continue
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}
}

func decodeEvent[T any](s *Store, ev *clientv3.Event, prefix string) (Event[T], bool) {
	e := Event[T]{ID: string(ev.Kv.Key[len(prefix):]), Revision: ev.Kv.ModRevision}
	if ev.Type == mvccpb.DELETE {
		e.Type = EventDelete
		return e, true
	}
	e.Type = EventPut
	if err := json.Unmarshal(ev.Kv.Value, &e.Value); err != nil {
		s.log.Warn("watch: skip undecodable value", "key", string(ev.Kv.Key), "err", err)
		return e, false
	}
	return e, true
}
