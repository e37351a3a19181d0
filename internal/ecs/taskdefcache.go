package ecs

import (
	"container/list"
	"context"
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
}

func newTaskDefCache() *taskDefCache {
	return &taskDefCache{order: list.New(), byARN: map[string]*list.Element{}}
}

func (c *taskDefCache) get(arn string) (ecstypes.TaskDefinition, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byARN[arn]
	if !ok {
		return ecstypes.TaskDefinition{}, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*taskDefEntry).def, true
}

func (c *taskDefCache) put(arn string, def ecstypes.TaskDefinition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byARN[arn]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byARN[arn] = c.order.PushFront(&taskDefEntry{arn: arn, def: def})
	if c.order.Len() > taskDefCacheSize {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byARN, last.Value.(*taskDefEntry).arn)
	}
}

// taskDefByARN returns a task definition revision by ARN, from the cache
// or etcd.
func (s *Service) taskDefByARN(ctx context.Context, arn string) (ecstypes.TaskDefinition, error) {
	if def, ok := s.defs.get(arn); ok {
		return def, nil
	}
	family, rev, err := s.parseTaskDefRef(arn)
	if err != nil || rev == 0 {
		return ecstypes.TaskDefinition{}, fmt.Errorf("task definition %q: not a revision ARN", arn)
	}
	var rec taskDefRecord
	err = s.st.View(ctx, func(tx *store.Tx) error {
		var err error
		rec, err = store.Get(tx, taskDefs, taskDefID(family, rev))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return ecstypes.TaskDefinition{}, fmt.Errorf("task definition %s: %w", arn, err)
	}
	if err != nil {
		return ecstypes.TaskDefinition{}, fmt.Errorf("get task definition %s: %w", arn, err)
	}
	s.defs.put(arn, rec.TaskDefinition)
	return rec.TaskDefinition, nil
}
