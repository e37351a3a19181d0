package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// registerDef registers the benchmark's task definition: one simulated
// container that runs until stopped, holding 1 CPU unit and 6 MiB (ECS's minimum).
func registerDef(ctx context.Context, client *ecs.Client) (string, error) {
	out, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("scale"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("bench.example/app:1"), Cpu: 1, Memory: aws.Int32(6),
		}},
	})
	if err != nil {
		return "", fmt.Errorf("register task definition: %w", err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn), nil
}

// fill runs tasks (10 per RunTask) from workers clients until the cluster
// holds target tasks, and returns the new tasks' ARNs.
func fill(ctx context.Context, client *ecs.Client, def string, have, target, workers int) ([]string, error) {
	return fillWith(ctx, client, ecs.RunTaskInput{TaskDefinition: aws.String(def)}, have, target, workers)
}

// fillWith is fill with RunTask's input (its Count aside) given.
func fillWith(ctx context.Context, client *ecs.Client, in ecs.RunTaskInput, have, target, workers int) ([]string, error) {
	var mu sync.Mutex
	var arns []string
	var firstErr error
	issued := have
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				n := min(10, target-issued)
				if n <= 0 || firstErr != nil {
					mu.Unlock()
					return
				}
				issued += n
				mu.Unlock()
				call := in
				call.Count = aws.Int32(int32(n))
				out, err := client.RunTask(ctx, &call)
				mu.Lock()
				switch {
				case err != nil:
					firstErr = fmt.Errorf("run task: %w", err)
				case len(out.Failures) > 0:
					firstErr = fmt.Errorf("run task: %d failures, first %s on %s", len(out.Failures),
						aws.ToString(out.Failures[0].Reason), aws.ToString(out.Failures[0].Arn))
				}
				if err == nil {
					for _, t := range out.Tasks {
						arns = append(arns, aws.ToString(t.TaskArn))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return arns, firstErr
}

// waitRunning waits until the cluster counts at least n RUNNING tasks.
func waitRunning(ctx context.Context, client *ecs.Client, n int) error {
	for {
		out, err := client.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
		if err != nil {
			return fmt.Errorf("describe clusters: %w", err)
		}
		running := 0
		if len(out.Clusters) == 1 {
			running = int(out.Clusters[0].RunningTasksCount)
		}
		if running >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d tasks RUNNING: %w", running, n, ctx.Err())
		case <-time.After(20 * time.Millisecond): // polling pace
		}
	}
}

// op is one kind of API call a sample times.
type op struct {
	name string
	call func(ctx context.Context) error
}

// ops are the calls whose latency the curve compares: RunTask of one task,
// DescribeTasks of ten random tasks, and the first page of ListTasks.
func ops(client *ecs.Client, def string, arns func() []string) []op {
	return []op{
		{"RunTask", func(ctx context.Context) error {
			out, err := client.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(def)})
			if err == nil && len(out.Failures) > 0 {
				err = fmt.Errorf("failure %s", aws.ToString(out.Failures[0].Reason))
			}
			return err
		}},
		{"DescribeTasks", func(ctx context.Context) error {
			all := arns()
			pick := make([]string, 10)
			for i := range pick {
				pick[i] = all[rand.IntN(len(all))]
			}
			_, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: pick})
			return err
		}},
		{"ListTasks", func(ctx context.Context) error {
			_, err := client.ListTasks(ctx, &ecs.ListTasksInput{MaxResults: aws.Int32(100)})
			return err
		}},
	}
}

// timeOps calls each op n times, one at a time, and returns the durations
// by op name.
func timeOps(ctx context.Context, list []op, n int) (map[string][]time.Duration, error) {
	out := map[string][]time.Duration{}
	for range n {
		for _, o := range list {
			began := time.Now()
			if err := o.call(ctx); err != nil {
				return nil, fmt.Errorf("%s: %w", o.name, err)
			}
			out[o.name] = append(out[o.name], time.Since(began))
		}
	}
	return out, nil
}

// percentile is the p-th percentile (0..100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
