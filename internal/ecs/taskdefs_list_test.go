package ecs

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// seedTaskDefs registers web:1-3, web-api:1-2, worker:1 and a_b:1, then
// deregisters web:2 and both revisions of web-api.
func seedTaskDefs(t *testing.T) *Service {
	t.Helper()
	s := newTestService(t)
	for _, f := range []string{"web", "web", "web", "web-api", "web-api", "worker", "a_b"} {
		mustRegister(t, s, simpleTaskDef(f))
	}
	for _, ref := range []string{"web:2", "web-api:1", "web-api:2"} {
		if _, err := s.DeregisterTaskDefinition(t.Context(), &ecstypes.DeregisterTaskDefinitionRequest{TaskDefinition: aws.String(ref)}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func tdArns(refs ...string) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = "arn:aws:ecs:us-east-1:000000000000:task-definition/" + r
	}
	return out
}

func TestTaskDefList(t *testing.T) {
	s := seedTaskDefs(t)
	tests := []struct {
		name                 string
		family, status, sort string
		want                 []string
	}{
		{name: "default", want: tdArns("a_b:1", "web:1", "web:3", "worker:1")},
		{name: "desc", sort: "DESC", want: tdArns("worker:1", "web:3", "web:1", "a_b:1")},
		{name: "inactive", status: "INACTIVE", want: tdArns("web:2", "web-api:1", "web-api:2")},
		{name: "inactive desc", status: "INACTIVE", sort: "DESC", want: tdArns("web-api:2", "web-api:1", "web:2")},
		{name: "family is exact", family: "web", want: tdArns("web:1", "web:3")},
		{name: "family inactive", family: "web-api", status: "INACTIVE", want: tdArns("web-api:1", "web-api:2")},
		{name: "family prefix only", family: "wor", want: nil},
		{name: "delete in progress", status: "DELETE_IN_PROGRESS", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &ecstypes.ListTaskDefinitionsRequest{}
			if tt.family != "" {
				in.FamilyPrefix = aws.String(tt.family)
			}
			if tt.status != "" {
				in.Status = aws.String(tt.status)
			}
			if tt.sort != "" {
				in.Sort = aws.String(tt.sort)
			}
			out, err := s.ListTaskDefinitions(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.TaskDefinitionArns) != len(tt.want) || len(tt.want) > 0 && !reflect.DeepEqual(out.TaskDefinitionArns, tt.want) {
				t.Errorf("got %v\nwant %v", out.TaskDefinitionArns, tt.want)
			}
			if out.NextToken != nil {
				t.Errorf("nextToken = %s on the only page", *out.NextToken)
			}
		})
	}
}

func TestTaskDefListPagination(t *testing.T) {
	s := newTestService(t)
	// More than one page of 100, with revisions 1..12 that sort wrongly as text.
	var asc []string
	for _, f := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"} {
		for rev := 1; rev <= 12; rev++ {
			mustRegister(t, s, simpleTaskDef(f))
			asc = append(asc, tdArns(fmt.Sprintf("%s:%d", f, rev))...)
		}
	}
	desc := make([]string, len(asc))
	for i, a := range asc {
		desc[len(asc)-1-i] = a
	}
	for _, tt := range []struct {
		sort string
		max  int32
		want []string
	}{
		{"ASC", 5, asc}, {"DESC", 7, desc}, {"ASC", 100, asc}, {"DESC", 0, desc},
	} {
		t.Run(fmt.Sprintf("%s/%d", tt.sort, tt.max), func(t *testing.T) {
			var got []string
			var token *string
			for pages := 0; ; pages++ {
				in := &ecstypes.ListTaskDefinitionsRequest{Sort: aws.String(tt.sort), NextToken: token}
				if tt.max > 0 {
					in.MaxResults = aws.Int32(tt.max)
				}
				out, err := s.ListTaskDefinitions(t.Context(), in)
				if err != nil {
					t.Fatal(err)
				}
				if tt.max > 0 && len(out.TaskDefinitionArns) > int(tt.max) {
					t.Fatalf("page of %d, max %d", len(out.TaskDefinitionArns), tt.max)
				}
				got = append(got, out.TaskDefinitionArns...)
				if token = out.NextToken; token == nil || pages > len(asc) {
					break
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("pages joined = %v\nwant %v", got, tt.want)
			}
		})
	}
	_, err := s.ListTaskDefinitions(t.Context(), &ecstypes.ListTaskDefinitionsRequest{MaxResults: aws.Int32(101)})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "maxResults")
	_, err = s.ListTaskDefinitions(t.Context(), &ecstypes.ListTaskDefinitionsRequest{Sort: aws.String("DESC"), NextToken: aws.String("!!")})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "nextToken")
}

func TestTaskDefListFamilies(t *testing.T) {
	s := seedTaskDefs(t)
	tests := []struct {
		name, prefix, status string
		want                 []string
	}{
		{name: "default lists all", want: []string{"a_b", "web", "web-api", "worker"}},
		{name: "all", status: "ALL", want: []string{"a_b", "web", "web-api", "worker"}},
		{name: "active", status: "ACTIVE", want: []string{"a_b", "web", "worker"}},
		{name: "inactive", status: "INACTIVE", want: []string{"web-api"}},
		{name: "prefix", prefix: "web", want: []string{"web", "web-api"}},
		{name: "prefix active", prefix: "web", status: "ACTIVE", want: []string{"web"}},
		{name: "prefix none", prefix: "x", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &ecstypes.ListTaskDefinitionFamiliesRequest{}
			if tt.prefix != "" {
				in.FamilyPrefix = aws.String(tt.prefix)
			}
			if tt.status != "" {
				in.Status = aws.String(tt.status)
			}
			out, err := s.ListTaskDefinitionFamilies(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Families) != len(tt.want) || len(tt.want) > 0 && !reflect.DeepEqual(out.Families, tt.want) {
				t.Errorf("got %v, want %v", out.Families, tt.want)
			}
		})
	}

	var got []string
	var token *string
	for {
		out, err := s.ListTaskDefinitionFamilies(t.Context(), &ecstypes.ListTaskDefinitionFamiliesRequest{MaxResults: aws.Int32(3), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out.Families...)
		if token = out.NextToken; token == nil {
			break
		}
	}
	if want := []string{"a_b", "web", "web-api", "worker"}; !reflect.DeepEqual(got, want) {
		t.Errorf("paged families = %v, want %v", got, want)
	}
}
