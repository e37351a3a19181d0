package ecs

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

func tagList(kv ...string) []ecstypes.Tag {
	out := []ecstypes.Tag{}
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, ecstypes.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func listTags(t *testing.T, s *Service, arn string) []ecstypes.Tag {
	t.Helper()
	out, err := s.ListTagsForResource(t.Context(), &ecstypes.ListTagsForResourceRequest{ResourceArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("ListTagsForResource(%s): %v", arn, err)
	}
	return out.Tags
}

// seedTaggables stores a cluster, a task and a container instance directly
// (their handlers are not under test here) and registers a task definition.
func seedTaggables(t *testing.T, s *Service) map[string]string {
	t.Helper()
	err := s.st.Update(t.Context(), func(tx *store.Tx) error {
		store.Put(tx, clusters, "prod", clusterRecord{Cluster: ecstypes.Cluster{
			ClusterName: aws.String("prod"), ClusterArn: aws.String(s.arns.cluster("prod")), Tags: tagList("env", "prod"),
		}})
		store.Put(tx, tasks, "prod/abc123", taskRecord{Task: ecstypes.Task{TaskArn: aws.String(s.arns.task("prod", "abc123"))}})
		store.Put(tx, instances, "prod/i-1", instanceRecord{Instance: ecstypes.ContainerInstance{
			ContainerInstanceArn: aws.String(s.arns.instance("prod", "i-1")),
		}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	in := simpleTaskDef("tagged")
	in.Tags = tagList("env", "dev", "team", "core")
	td := mustRegister(t, s, in)
	return map[string]string{
		"cluster":            s.arns.cluster("prod"),
		"task-definition":    aws.ToString(td.TaskDefinitionArn),
		"task":               s.arns.task("prod", "abc123"),
		"container-instance": s.arns.instance("prod", "i-1"),
	}
}

func TestTagResourceLifecycle(t *testing.T) {
	s := newTestService(t)
	arns := seedTaggables(t, s)
	initial := map[string][]ecstypes.Tag{
		"cluster":            tagList("env", "prod"),
		"task-definition":    tagList("env", "dev", "team", "core"),
		"task":               {},
		"container-instance": {},
	}
	for kind, arn := range arns {
		t.Run(kind, func(t *testing.T) {
			if got := listTags(t, s, arn); !reflect.DeepEqual(got, initial[kind]) {
				t.Fatalf("initial tags = %v, want %v", got, initial[kind])
			}
			// Merge by key: env is overwritten in place, owner appended.
			_, err := s.TagResource(t.Context(), &ecstypes.TagResourceRequest{ResourceArn: aws.String(arn), Tags: tagList("owner", "ops", "env", "staging")})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"env": "staging", "owner": "ops"}
			if kind == "task-definition" {
				want["team"] = "core"
			}
			if got := tagMap(listTags(t, s, arn)); !reflect.DeepEqual(got, want) {
				t.Errorf("after tagging = %v, want %v", got, want)
			}
			_, err = s.UntagResource(t.Context(), &ecstypes.UntagResourceRequest{ResourceArn: aws.String(arn), TagKeys: []string{"env", "missing"}})
			if err != nil {
				t.Fatal(err)
			}
			delete(want, "env")
			if got := tagMap(listTags(t, s, arn)); !reflect.DeepEqual(got, want) {
				t.Errorf("after untagging = %v, want %v", got, want)
			}
		})
	}

	// The task definition's tags are the ones DescribeTaskDefinition shows.
	out, err := s.DescribeTaskDefinition(t.Context(), &ecstypes.DescribeTaskDefinitionRequest{TaskDefinition: aws.String("tagged:1"), Include: []string{"TAGS"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(out.Tags); !reflect.DeepEqual(got, map[string]string{"team": "core", "owner": "ops"}) {
		t.Errorf("described tags = %v", got)
	}
	// Tagging does not touch the rest of the cluster record.
	err = s.st.View(t.Context(), func(tx *store.Tx) error {
		rec, err := store.Get(tx, clusters, "prod")
		if err == nil && aws.ToString(rec.Cluster.ClusterName) != "prod" {
			t.Errorf("cluster record damaged: %+v", rec)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func tagMap(tags []ecstypes.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func TestTagResourceErrors(t *testing.T) {
	s := newTestService(t)
	arns := seedTaggables(t, s)
	prefix := "arn:aws:ecs:us-east-1:000000000000:"
	fifty := make([]ecstypes.Tag, 0, 50)
	for i := range 49 {
		fifty = append(fifty, tagList(fmt.Sprintf("k%02d", i), "v")...)
	}
	const invalid = awserr.CodeInvalidParameter
	tests := []struct {
		name, arn string
		tags      []ecstypes.Tag
		msg       string
	}{
		{"not an arn", "prod", tagList("a", "b"), "The ARN provided is invalid"},
		{"other account", "arn:aws:ecs:us-east-1:111111111111:cluster/prod", tagList("a", "b"), "The ARN provided is invalid"},
		{"other region", "arn:aws:ecs:eu-west-1:000000000000:cluster/prod", tagList("a", "b"), "The ARN provided is invalid"},
		{"untaggable type", prefix + "container/prod/abc/def", tagList("a", "b"), "cannot be tagged"},
		{"missing cluster", prefix + "cluster/nope", tagList("a", "b"), "The specified cluster is not found."},
		{"missing task definition", prefix + "task-definition/tagged:9", tagList("a", "b"), "The specified task definition is not found."},
		{"task definition without revision", prefix + "task-definition/tagged", tagList("a", "b"), "The ARN provided is invalid"},
		{"missing task", prefix + "task/prod/zzz", tagList("a", "b"), "The specified task is not found."},
		{"short task arn", prefix + "task/abc123", tagList("a", "b"), "The ARN provided is invalid"},
		{"missing instance", prefix + "container-instance/prod/i-2", tagList("a", "b"), "The specified container instance is not found."},
		{"aws prefix", arns["cluster"], tagList("aws:cloudformation:stack", "x"), "reserved"},
		{"key too long", arns["cluster"], tagList(strings.Repeat("k", 129), "x"), "Tag key"},
		{"value too long", arns["cluster"], tagList("k", strings.Repeat("v", 257)), "Tag value"},
		{"empty key", arns["cluster"], tagList("", "v"), "must not be empty"},
		// The cluster has env=prod: 49 new keys make 50, one more is too many.
		{"over 50 after merge", arns["cluster"], append(fifty, tagList("last", "v")...), "Too many tags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := listTagsOrNil(t, s, tt.arn)
			_, err := s.TagResource(t.Context(), &ecstypes.TagResourceRequest{ResourceArn: aws.String(tt.arn), Tags: tt.tags})
			wantAWSErr(t, err, invalid, tt.msg)
			if after := listTagsOrNil(t, s, tt.arn); !reflect.DeepEqual(after, before) {
				t.Errorf("failed TagResource changed tags: %v -> %v", before, after)
			}
		})
	}
	// Exactly 50 after the merge is fine.
	if _, err := s.TagResource(t.Context(), &ecstypes.TagResourceRequest{ResourceArn: aws.String(arns["cluster"]), Tags: fifty}); err != nil {
		t.Errorf("50 tags: %v", err)
	}
	_, err := s.UntagResource(t.Context(), &ecstypes.UntagResourceRequest{ResourceArn: aws.String(prefix + "cluster/nope"), TagKeys: []string{"a"}})
	wantAWSErr(t, err, invalid, "The specified cluster is not found.")
	_, err = s.UntagResource(t.Context(), &ecstypes.UntagResourceRequest{ResourceArn: aws.String(arns["cluster"]), TagKeys: []string{"aws:x"}})
	wantAWSErr(t, err, invalid, "reserved")
	_, err = s.ListTagsForResource(t.Context(), &ecstypes.ListTagsForResourceRequest{ResourceArn: aws.String(prefix + "task/prod/zzz")})
	wantAWSErr(t, err, invalid, "The specified task is not found.")
}

func listTagsOrNil(t *testing.T, s *Service, arn string) []ecstypes.Tag {
	t.Helper()
	out, err := s.ListTagsForResource(t.Context(), &ecstypes.ListTagsForResourceRequest{ResourceArn: aws.String(arn)})
	if err != nil {
		return nil
	}
	return out.Tags
}

func TestTagValidateTags(t *testing.T) {
	many := make([]ecstypes.Tag, 51)
	for i := range many {
		many[i] = ecstypes.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("")}
	}
	tests := []struct {
		name string
		tags []ecstypes.Tag
		ok   bool
	}{
		{"none", nil, true},
		{"empty value", tagList("k", ""), true},
		{"nil value", []ecstypes.Tag{{Key: aws.String("k")}}, true},
		{"max lengths", tagList(strings.Repeat("k", 128), strings.Repeat("v", 256)), true},
		{"aws inside key", tagList("my-aws:key", "v"), true},
		{"nil key", []ecstypes.Tag{{Value: aws.String("v")}}, false},
		{"aws prefix any case", tagList("Aws:key", "v"), false},
		{"51 tags", many, false},
	}
	for _, tt := range tests {
		err := validateTags(tt.tags)
		if (err == nil) != tt.ok {
			t.Errorf("%s: validateTags = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil {
			wantAWSErr(t, err, awserr.CodeInvalidParameter, "")
		}
	}
}
