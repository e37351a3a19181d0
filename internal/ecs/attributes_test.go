package ecs

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

func attr(name, value, target string) ecstypes.Attribute {
	a := ecstypes.Attribute{Name: aws.String(name), TargetId: aws.String(target)}
	if value != "" {
		a.Value = aws.String(value)
	}
	return a
}

// listAttrs renders ListAttributes as "instanceId name=value" lines.
func listAttrs(t *testing.T, s *Service, in *ecstypes.ListAttributesRequest) []string {
	t.Helper()
	in.Cluster = aws.String("prod")
	in.TargetType = aws.String("container-instance")
	out, err := s.ListAttributes(t.Context(), in)
	if err != nil {
		t.Fatalf("ListAttributes: %v", err)
	}
	got := []string{}
	for _, a := range out.Attributes {
		got = append(got, idFromARN(aws.ToString(a.TargetId))+" "+aws.ToString(a.Name)+"="+aws.ToString(a.Value))
	}
	slices.Sort(got)
	return got
}

func TestAttributesPutListDelete(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	i1 := registerInstance(t, s, "prod", 1024, 1024, ecstypes.Attribute{Name: aws.String("ecs.os-type"), Value: aws.String("linux")})
	i2 := registerInstance(t, s, "prod", 1024, 1024)
	p1, p2 := idFromARN(i1), idFromARN(i2)

	put, err := s.PutAttributes(t.Context(), &ecstypes.PutAttributesRequest{Cluster: aws.String("prod"), Attributes: []ecstypes.Attribute{
		attr("stack", "blue", i1), attr("stack", "green", idFromARN(i2)), attr("gpu", "", i2), attr("zone", "a", i1),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(put.Attributes) != 4 {
		t.Fatalf("PutAttributes returned %d attributes", len(put.Attributes))
	}
	// Putting an existing name updates its value.
	if _, err := s.PutAttributes(t.Context(), &ecstypes.PutAttributesRequest{Cluster: aws.String("prod"),
		Attributes: []ecstypes.Attribute{attr("zone", "b", i1)}}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		in   ecstypes.ListAttributesRequest
		want []string
	}{
		{"all", ecstypes.ListAttributesRequest{}, []string{
			p1 + " ecs.os-type=linux", p1 + " stack=blue", p1 + " zone=b", p2 + " gpu=", p2 + " stack=green"}},
		{"by name", ecstypes.ListAttributesRequest{AttributeName: aws.String("stack")}, []string{p1 + " stack=blue", p2 + " stack=green"}},
		{"by name and value", ecstypes.ListAttributesRequest{AttributeName: aws.String("stack"), AttributeValue: aws.String("green")},
			[]string{p2 + " stack=green"}},
		{"no match", ecstypes.ListAttributesRequest{AttributeName: aws.String("nope")}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := listAttrs(t, s, &tc.in); !slices.Equal(got, sorted(tc.want...)) {
				t.Fatalf("listed %v, want %v", got, sorted(tc.want...))
			}
		})
	}

	// Pagination walks every attribute exactly once.
	var paged int
	var token *string
	for {
		out, err := s.ListAttributes(t.Context(), &ecstypes.ListAttributesRequest{Cluster: aws.String("prod"),
			TargetType: aws.String("container-instance"), MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		paged += len(out.Attributes)
		if token = out.NextToken; token == nil {
			break
		}
	}
	if paged != 5 {
		t.Fatalf("paged through %d attributes, want 5", paged)
	}

	if _, err := s.DeleteAttributes(t.Context(), &ecstypes.DeleteAttributesRequest{Cluster: aws.String("prod"),
		Attributes: []ecstypes.Attribute{attr("stack", "", i1), attr("gpu", "", i2), attr("never-set", "", i2)}}); err != nil {
		t.Fatal(err)
	}
	want := []string{p1 + " ecs.os-type=linux", p1 + " zone=b", p2 + " stack=green"}
	if got := listAttrs(t, s, &ecstypes.ListAttributesRequest{}); !slices.Equal(got, sorted(want...)) {
		t.Fatalf("after delete: %v, want %v", got, sorted(want...))
	}
	// Attributes are part of the instance.
	if d := describeInstance(t, s, "prod", i2); len(d.Attributes) != 1 || aws.ToString(d.Attributes[0].Name) != "stack" {
		t.Fatalf("instance attributes = %+v", d.Attributes)
	}
}

func TestAttributesErrors(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerInstance(t, s, "prod", 1024, 1024)
	gone := registerInstance(t, s, "prod", 1024, 1024)
	if _, err := s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(gone),
	}); err != nil {
		t.Fatal(err)
	}
	var eleven []ecstypes.Attribute
	for i := range 11 {
		eleven = append(eleven, attr(fmt.Sprintf("a%d", i), "v", inst))
	}
	tests := []struct {
		name  string
		attrs []ecstypes.Attribute
		code  string
	}{
		{"unknown target", []ecstypes.Attribute{attr("k", "v", "00000000-0000-4000-8000-000000000000")}, "TargetNotFoundException"},
		{"deregistered target", []ecstypes.Attribute{attr("k", "v", gone)}, "TargetNotFoundException"},
		{"no target", []ecstypes.Attribute{{Name: aws.String("k")}}, awserr.CodeInvalidParameter},
		{"invalid name", []ecstypes.Attribute{attr("bad name!", "v", inst)}, awserr.CodeInvalidParameter},
		{"empty name", []ecstypes.Attribute{attr("", "v", inst)}, awserr.CodeInvalidParameter},
		{"name too long", []ecstypes.Attribute{attr(strings.Repeat("n", 129), "v", inst)}, awserr.CodeInvalidParameter},
		{"invalid value", []ecstypes.Attribute{attr("k", "a|b", inst)}, awserr.CodeInvalidParameter},
		{"wrong target type", []ecstypes.Attribute{{Name: aws.String("k"), TargetId: aws.String(inst), TargetType: aws.String("service")}}, awserr.CodeInvalidParameter},
		{"more than 10 at once", eleven, awserr.CodeInvalidParameter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PutAttributes(t.Context(), &ecstypes.PutAttributesRequest{Cluster: aws.String("prod"), Attributes: tc.attrs})
			wantAWSErr(t, err, tc.code, "")
		})
	}
	_, err := s.DeleteAttributes(t.Context(), &ecstypes.DeleteAttributesRequest{Cluster: aws.String("prod"),
		Attributes: []ecstypes.Attribute{attr("k", "", "00000000-0000-4000-8000-000000000000")}})
	wantAWSErr(t, err, "TargetNotFoundException", "")
	_, err = s.PutAttributes(t.Context(), &ecstypes.PutAttributesRequest{Cluster: aws.String("nope"), Attributes: []ecstypes.Attribute{attr("k", "v", inst)}})
	wantAWSErr(t, err, awserr.CodeClusterNotFound, "")
	for _, in := range []*ecstypes.ListAttributesRequest{
		{Cluster: aws.String("prod"), TargetType: aws.String("service")},
		{Cluster: aws.String("prod"), TargetType: aws.String("container-instance"), AttributeValue: aws.String("v")},
	} {
		_, err := s.ListAttributes(t.Context(), in)
		wantAWSErr(t, err, awserr.CodeInvalidParameter, "")
	}
	if got := listAttrs(t, s, &ecstypes.ListAttributesRequest{}); len(got) != 0 {
		t.Fatalf("rejected puts left attributes %v", got)
	}
}

func TestAttributesCustomLimit(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	// Built-in ecs.* attributes do not count against the limit of 10.
	inst := registerInstance(t, s, "prod", 1024, 1024,
		ecstypes.Attribute{Name: aws.String("ecs.os-type"), Value: aws.String("linux")},
		ecstypes.Attribute{Name: aws.String("ecs.capability.privileged-container")})
	var ten []ecstypes.Attribute
	for i := range 10 {
		ten = append(ten, attr(fmt.Sprintf("custom%d", i), "v", inst))
	}
	put := func(attrs ...ecstypes.Attribute) error {
		_, err := s.PutAttributes(t.Context(), &ecstypes.PutAttributesRequest{Cluster: aws.String("prod"), Attributes: attrs})
		return err
	}
	if err := put(ten...); err != nil {
		t.Fatalf("10 custom attributes: %v", err)
	}
	// Updating one of the ten is fine; an eleventh is not.
	if err := put(attr("custom3", "w", inst)); err != nil {
		t.Fatalf("update of an existing attribute: %v", err)
	}
	wantAWSErr(t, put(attr("custom10", "v", inst)), "AttributeLimitExceededException", "")
	if n := len(describeInstance(t, s, "prod", inst).Attributes); n != 12 {
		t.Fatalf("instance has %d attributes after the refused put, want 12", n)
	}
}
