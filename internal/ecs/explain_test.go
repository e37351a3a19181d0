package ecs

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/scheduler"
)

func TestExplainPlacement(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	attr := func(name, value string) ecstypes.Attribute {
		return ecstypes.Attribute{Name: aws.String(name), Value: aws.String(value)}
	}
	big := registerInstance(t, s, "prod", 4096, 4096, attr("stack", "edge"))
	small := registerInstance(t, s, "prod", 4096, 256, attr("stack", "edge"))
	core := registerInstance(t, s, "prod", 4096, 4096, attr("stack", "core"))
	td := registerTaskDef(t, s, `{"family":"web","containerDefinitions":[{"name":"app","image":"nginx","cpu":64,"memory":512}]}`)
	in := &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(2),
		PlacementConstraints: []ecstypes.PlacementConstraint{{Type: aws.String("memberOf"), Expression: aws.String("attribute:stack == edge")}}}

	out, err := s.ExplainPlacement(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 2 || out.Tasks[0].ContainerInstanceArn != big || out.Tasks[1].ContainerInstanceArn != big {
		t.Errorf("tasks = %+v, want both on %s", out.Tasks, big)
	}
	if len(out.Failures) != 0 {
		t.Errorf("failures = %+v", out.Failures)
	}
	want := map[string]InstanceVerdict{
		big:   {ContainerInstanceArn: big, Verdict: VerdictChosen},
		small: {ContainerInstanceArn: small, Verdict: VerdictRejected, Reason: scheduler.ReasonMemory, Detail: "needs 512 MiB, has 256"},
		core: {ContainerInstanceArn: core, Verdict: VerdictRejected, Reason: scheduler.ReasonMemberOf,
			Detail: `fails memberOf: attribute:stack == edge (found "core")`},
	}
	if len(out.Instances) != 3 {
		t.Fatalf("instances = %+v", out.Instances)
	}
	for _, v := range out.Instances {
		if v != want[v.ContainerInstanceArn] {
			t.Errorf("verdict %+v, want %+v", v, want[v.ContainerInstanceArn])
		}
	}
	if !strings.HasPrefix(out.Summary, "2 of 2 tasks placed; 1 of 3 instances") {
		t.Errorf("summary %q", out.Summary)
	}
	// A dry run: nothing was written, nothing reserved.
	wantNothingRun(t, s, "prod", big, 4096, 4096)

	// What does not fit is explained as RunTask would: failures with detail.
	in.Count = aws.Int32(9)
	out, err = s.ExplainPlacement(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 8 || len(out.Failures) != 3 || !strings.Contains(out.Summary, "lacked memory") {
		t.Errorf("9 tasks: %d placed, failures %+v, summary %q", len(out.Tasks), out.Failures, out.Summary)
	}
	wantNothingRun(t, s, "prod", big, 4096, 4096)

	// Bad input is RunTask's error.
	in.PlacementConstraints[0].Expression = aws.String("attribute:stack ==")
	if _, err := s.ExplainPlacement(t.Context(), in); !isCode(err, awserr.CodeInvalidParameter) {
		t.Errorf("malformed expression: %v, want InvalidParameterException", err)
	}
}

func isCode(err error, code string) bool {
	e, ok := awserr.As(err)
	return ok && e.Code == code
}
