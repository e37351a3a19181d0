package ecs

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

func TestReapStoppedTasks(t *testing.T) {
	svc := newTestService(t)
	ctx := context.Background()
	now := svc.now()
	put := func(id, status string, stoppedAgo time.Duration) {
		t.Helper()
		task := ecstypes.Task{TaskArn: aws.String(svc.arns.task("default", id)), LastStatus: aws.String(status)}
		if status == "STOPPED" {
			task.StoppedAt = ecstypes.Time(now.Add(-stoppedAgo))
		}
		if err := svc.st.Update(ctx, func(tx *store.Tx) error {
			store.Put(tx, tasks, "default/"+id, taskRecord{Task: task})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("old", "STOPPED", 2*time.Hour)
	put("recent", "STOPPED", 10*time.Minute)
	put("running", "RUNNING", 0)

	n, err := svc.ReapStoppedTasks(ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("ReapStoppedTasks = %d, %v; want 1, nil", n, err)
	}
	var left []string
	if err := svc.st.View(ctx, func(tx *store.Tx) error {
		all, err := store.List(tx, tasks, "")
		for _, r := range all {
			left = append(left, idFromARN(aws.ToString(r.Task.TaskArn)))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0] != "recent" || left[1] != "running" {
		t.Fatalf("tasks left = %v, want [recent running]", left)
	}
}
