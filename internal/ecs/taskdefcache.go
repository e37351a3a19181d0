package ecs

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// taskDefCacheSize bounds the task definitions kept for agent payloads.
const taskDefCacheSize = 1024

// taskDefCache keeps recently used task definitions by ARN for the agent
// sessions, which send the full definition of every task in every payload.
// A revision's content never changes once registered (only its status,
// which payloads do not carry), so entries never go stale.
type taskDefCache struct {
	mu    sync.Mutex
	order *list.List // front = most recently used; values are *taskDefEntry
	byARN map[string]*list.Element
}

type taskDefEntry struct {
	arn string
	def ecstypes.TaskDefinition
	raw []byte // def as JSON, for payloads
}

func newTaskDefCache() *taskDefCache {
	return &taskDefCache{order: list.New(), byARN: map[string]*list.Element{}}
}

func (c *taskDefCache) get(arn string) (*taskDefEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byARN[arn]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*taskDefEntry), true
}

func (c *taskDefCache) put(e *taskDefEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byARN[e.arn]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byARN[e.arn] = c.order.PushFront(e)
	if c.order.Len() > taskDefCacheSize {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byARN, last.Value.(*taskDefEntry).arn)
	}
}

// taskDefByARN returns a task definition revision by ARN, with its JSON,
// from the cache or etcd.
func (s *Service) taskDefByARN(ctx context.Context, arn string) (*taskDefEntry, error) {
	if e, ok := s.defs.get(arn); ok {
		return e, nil
	}
	family, rev, err := s.parseTaskDefRef(arn)
	if err != nil || rev == 0 {
		return nil, fmt.Errorf("task definition %q: not a revision ARN", arn)
	}
	var rec taskDefRecord
	err = s.st.View(ctx, func(tx *store.Tx) error {
		var err error
		rec, err = store.Get(tx, taskDefs, taskDefID(family, rev))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("task definition %s: %w", arn, err)
	}
	if err != nil {
		return nil, fmt.Errorf("get task definition %s: %w", arn, err)
	}
	raw, err := json.Marshal(rec.TaskDefinition)
	if err != nil {
		return nil, fmt.Errorf("encode task definition %s: %w", arn, err)
	}
	e := &taskDefEntry{arn: arn, def: rec.TaskDefinition, raw: raw}
	s.defs.put(e)
	return e, nil
}
