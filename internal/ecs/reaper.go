package ecs

import (
	"context"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// StoppedTaskRetention is how long a STOPPED task stays describable, as in ECS
// ("stopped tasks appear for at least one hour").
const StoppedTaskRetention = time.Hour

// reapBatch bounds one reaping transaction; the next tick takes the rest.
const reapBatch = 500

// ReapStoppedTasks deletes the tasks that have been STOPPED for longer than
// retention and returns how many went. It finds them in the read model (its
// cost grows with the stopped tasks, not all tasks) and is idempotent, so
// it is safe if two servers ever run it at once.
func (s *Service) ReapStoppedTasks(ctx context.Context, retention time.Duration) (int, error) {
	rm, err := s.freshModel(ctx, tasksPart)
	if err != nil {
		return 0, err
	}
	cutoff := s.now().Add(-retention)
	var ids []string
	rm.tasks.Ascend(idxTaskStopped, "STOPPED", "", func(id string, r *taskView) bool {
		if t := r.Task.StoppedAt; t != nil && !t.After(cutoff) {
			ids = append(ids, id)
		}
		return len(ids) < reapBatch
	})
	if len(ids) == 0 {
		return 0, nil
	}
	// STOPPED is final, so the deletes need no compare.
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		for _, id := range ids {
			store.Delete(tx, tasks, id)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(ids), nil
}
