package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// runTasks runs n one-container tasks (10 per RunTask, spread over zones)
// and returns the time from the first RunTask until all are RUNNING.
func runTasks(ctx context.Context, endpoint string, n int) (time.Duration, error) {
	client := ecs.New(ecs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})
	def, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("simfleet"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("example.com/app:1"), Memory: aws.Int32(64),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80)}},
		}},
	})
	if err != nil {
		return 0, fmt.Errorf("register task definition: %w", err)
	}
	began := time.Now()
	var arns []string
	for len(arns) < n {
		out, err := client.RunTask(ctx, &ecs.RunTaskInput{
			TaskDefinition: def.TaskDefinition.TaskDefinitionArn, Count: aws.Int32(int32(min(10, n-len(arns)))),
			PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")}},
		})
		if err != nil {
			return 0, fmt.Errorf("run task: %w", err)
		}
		if len(out.Failures) > 0 {
			return 0, fmt.Errorf("run task failures: %s", aws.ToString(out.Failures[0].Reason))
		}
		for _, t := range out.Tasks {
			arns = append(arns, aws.ToString(t.TaskArn))
		}
	}
	for {
		running := 0
		for i := 0; i < len(arns); i += 100 {
			out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: arns[i:min(i+100, len(arns))]})
			if err != nil {
				return 0, fmt.Errorf("describe tasks: %w", err)
			}
			for _, t := range out.Tasks {
				if aws.ToString(t.LastStatus) == "RUNNING" {
					running++
				}
			}
		}
		if running == len(arns) {
			return time.Since(began), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%d of %d tasks RUNNING: %w", running, len(arns), ctx.Err())
		case <-time.After(50 * time.Millisecond): // polling pace
		}
	}
}
