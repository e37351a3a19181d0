// Command runtask measures how long Berth takes from RunTask to RUNNING for a
// small local image, next to `docker run -d` of the same image measured in the
// same run, and prints both medians and their ratio.
//
//	go run ./bench/runtask [-n 15]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/server"
	"github.com/berth-dev/berth/internal/testutil/testimage"
)

func main() {
	n := flag.Int("n", 15, "samples per side")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "runtask:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	image, err := testimage.BuildApp(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Both sides start from the local image: `docker run -d` does not pull
	// an image it has, so the agent must not either.
	os.Setenv("ECS_IMAGE_PULL_BEHAVIOR", "prefer-cached")
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{
			Listen: "127.0.0.1:0", DataDir: dir, Dev: true,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Ready:  func(info server.ReadyInfo) { ready <- info.Addr },
		})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		return fmt.Errorf("server: %w", err)
	}
	client := ecs.New(ecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + addr),
		Credentials:  credentials.NewStaticCredentialsProvider(server.DevAccessKeyID, server.DevSecretAccessKey, ""),
	})
	if err := waitAgent(ctx, client); err != nil {
		return err
	}
	_, err = client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("bench"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(32),
			Environment: []types.KeyValuePair{{Name: aws.String("PORT"), Value: aws.String("8080")}},
		}},
	})
	if err != nil {
		return fmt.Errorf("register task definition: %w", err)
	}

	var berth, docker []time.Duration
	for i := 0; i < n+1; i++ { // the first pair warms caches and is dropped
		b, err := berthOnce(ctx, client)
		if err != nil {
			return err
		}
		d, err := dockerOnce(ctx, image)
		if err != nil {
			return err
		}
		if i > 0 {
			berth, docker = append(berth, b), append(docker, d)
		}
	}
	mb, md := median(berth), median(docker)
	fmt.Printf("samples per side: %d\n", n)
	fmt.Printf("RunTask -> RUNNING  median %8.1f ms  (min %.1f, max %.1f)\n", ms(mb), ms(slices.Min(berth)), ms(slices.Max(berth)))
	fmt.Printf("docker run -d       median %8.1f ms  (min %.1f, max %.1f)\n", ms(md), ms(slices.Min(docker)), ms(slices.Max(docker)))
	fmt.Printf("ratio (Berth / docker run -d): %.2f\n", float64(mb)/float64(md))
	cancel()
	<-done
	return nil
}

func waitAgent(ctx context.Context, c *ecs.Client) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		l, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
		if err == nil && len(l.ContainerInstanceArns) > 0 {
			d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: l.ContainerInstanceArns})
			if err == nil && len(d.ContainerInstances) > 0 && d.ContainerInstances[0].AgentConnected {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the in-process agent did not connect within 60s")
}

// berthOnce runs one task and returns the time until DescribeTasks says RUNNING.
func berthOnce(ctx context.Context, c *ecs.Client) (time.Duration, error) {
	start := time.Now()
	out, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("bench")})
	if err != nil {
		return 0, fmt.Errorf("run task: %w", err)
	}
	if len(out.Tasks) != 1 {
		return 0, fmt.Errorf("run task: no task placed: %+v", out.Failures)
	}
	arn := out.Tasks[0].TaskArn
	deadline := start.Add(2 * time.Minute)
	for {
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{*arn}})
		if err != nil {
			return 0, fmt.Errorf("describe task: %w", err)
		}
		st := aws.ToString(d.Tasks[0].LastStatus)
		if st == "RUNNING" {
			break
		}
		if st == "STOPPED" || time.Now().After(deadline) {
			return 0, fmt.Errorf("task %s did not reach RUNNING (status %s, reason %s)", *arn, st, aws.ToString(d.Tasks[0].StoppedReason))
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Task: arn}); err != nil {
		return 0, fmt.Errorf("stop task: %w", err)
	}
	return elapsed, nil
}

// dockerOnce times `docker run -d` of the same image, then removes the container.
func dockerOnce(ctx context.Context, image string) (time.Duration, error) {
	start := time.Now()
	out, err := exec.CommandContext(ctx, "docker", "run", "-d", "-e", "PORT=8080", "--memory", "32m", image).Output()
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("docker run: %w", err)
	}
	id := strings.TrimSpace(string(out))
	if err := exec.CommandContext(ctx, "docker", "rm", "-f", id).Run(); err != nil {
		return 0, fmt.Errorf("docker rm: %w", err)
	}
	return elapsed, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
