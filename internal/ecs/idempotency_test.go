package ecs

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func taskArnsOf(out *ecstypes.RunTaskResponse) []string {
	var arns []string
	for _, t := range out.Tasks {
		arns = append(arns, aws.ToString(t.TaskArn))
	}
	return arns
}

// A retried RunTask with the same clientToken (what the SDKs send when a
// call timed out) returns the first result and starts nothing more.
func TestRunTaskClientToken(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	createCluster(t, s, "other")
	registerInstance(t, s, "prod", 4096, 4096)
	registerInstance(t, s, "other", 4096, 4096)
	web := registerTaskDef(t, s, webTaskDef)
	run := func(cluster, token string, count int32) (*ecstypes.RunTaskResponse, error) {
		return s.RunTask(t.Context(), &ecstypes.RunTaskRequest{
			Cluster: aws.String(cluster), TaskDefinition: aws.String(web), Count: aws.Int32(count), ClientToken: aws.String(token),
		})
	}
	first, err := run("prod", "tok-1", 2)
	if err != nil || len(first.Tasks) != 2 {
		t.Fatalf("first RunTask: %v, %+v", err, first)
	}
	again, err := run("prod", "tok-1", 2)
	if err != nil {
		t.Fatalf("retried RunTask: %v", err)
	}
	if got, want := taskArnsOf(again), taskArnsOf(first); !slices.Equal(got, want) {
		t.Fatalf("retry returned %v, want the first call's %v", got, want)
	}
	if n := len(listTaskArns(t, s, &ecstypes.ListTasksRequest{Cluster: aws.String("prod")})); n != 2 {
		t.Fatalf("%d tasks after a retry, want 2", n)
	}

	// Same token, other parameters: ConflictException naming the tasks.
	_, err = run("prod", "tok-1", 1)
	var aerr *awserr.Error
	if !errors.As(err, &aerr) || aerr.Code != "ConflictException" {
		t.Fatalf("same token, other count: %v, want ConflictException", err)
	}
	if ids, _ := aerr.Fields["resourceIds"].([]string); !slices.Equal(ids, taskArnsOf(first)) {
		t.Fatalf("resourceIds = %v, want %v", aerr.Fields["resourceIds"], taskArnsOf(first))
	}

	// Tokens are per cluster.
	if out, err := run("other", "tok-1", 1); err != nil || len(out.Tasks) != 1 {
		t.Fatalf("same token in another cluster: %v, %+v", err, out)
	}

	for _, bad := range []string{"", strings.Repeat("x", 65), "has space", "tab\there", "é"} {
		if _, err := run("prod", bad, 1); !errors.Is(err, &awserr.Error{Code: awserr.CodeInvalidParameter}) {
			t.Errorf("clientToken %q: %v, want InvalidParameterException", bad, err)
		}
	}
}

// Two calls with one token at once start the tasks once.
func TestRunTaskClientTokenConcurrent(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 4096)
	web := registerTaskDef(t, s, webTaskDef)
	results := make(chan []string, 4)
	for range cap(results) {
		go func() {
			out, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{
				Cluster: aws.String("prod"), TaskDefinition: aws.String(web), ClientToken: aws.String("same"),
			})
			if err != nil {
				t.Errorf("RunTask: %v", err)
				results <- nil
				return
			}
			results <- taskArnsOf(out)
		}()
	}
	var first []string
	for range cap(results) {
		got := <-results
		if first == nil {
			first = got
		}
		if len(got) != 1 || !slices.Equal(got, first) {
			t.Fatalf("concurrent calls with one token returned %v and %v", first, got)
		}
	}
	if n := len(listTaskArns(t, s, &ecstypes.ListTasksRequest{Cluster: aws.String("prod")})); n != 1 {
		t.Fatalf("%d tasks, want 1", n)
	}
}
