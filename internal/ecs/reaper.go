package ecs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/store"
)

// StoppedTaskRetention is how long a STOPPED task stays describable, as in ECS
// ("stopped tasks appear for at least one hour").
const StoppedTaskRetention = time.Hour

// ReapStoppedTasks deletes the tasks that have been STOPPED for longer than
// retention and returns how many went. It is idempotent, so several servers
// sharing one etcd may run it at once.
func (s *Service) ReapStoppedTasks(ctx context.Context, retention time.Duration) (int, error) {
	cutoff := s.now().Add(-retention)
	n := 0
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		n = 0
		all, err := store.ListUntracked(tx, tasks, "") // STOPPED is final: nothing to conflict with
		if err != nil {
			return fmt.Errorf("list tasks: %w", err)
		}
		for _, r := range all {
			t := r.Task
			if aws.ToString(t.LastStatus) != "STOPPED" || t.StoppedAt == nil || t.StoppedAt.After(cutoff) {
				continue
			}
			cname := clusterOfTaskARN(aws.ToString(t.TaskArn))
			store.Delete(tx, tasks, cname+"/"+idFromARN(aws.ToString(t.TaskArn)))
			n++
			if n == 500 { // keep one transaction small; the next tick takes the rest
				break
			}
		}
		return nil
	})
	return n, err
}

// RunReaper reaps stopped tasks every interval until ctx is done.
func (s *Service) RunReaper(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if n, err := s.ReapStoppedTasks(ctx, StoppedTaskRetention); err != nil {
				s.log.Warn("reap stopped tasks", "err", err)
			} else if n > 0 {
				s.log.Debug("reaped stopped tasks", "count", n)
			}
		}
	}
}

// clusterOfTaskARN returns "c" for "arn:...:task/c/id".
func clusterOfTaskARN(arn string) string {
	_, rest, _ := strings.Cut(arn, ":task/")
	c, _, _ := strings.Cut(rest, "/")
	return c
}
