package elb

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/berth-dev/berth/internal/store"
)

// healthRow is one TargetHealthDescription, flattened for comparison.
type healthRow struct {
	ID                         string
	Port                       int32
	HealthCheckPort            string
	State, Reason, Description string
}

func (h *harness) describe(t *testing.T, arn string, ts ...elbtypes.TargetDescription) []healthRow {
	t.Helper()
	out, err := h.client.DescribeTargetHealth(context.Background(), &elasticloadbalancingv2.DescribeTargetHealthInput{
		TargetGroupArn: aws.String(arn), Targets: ts,
	})
	if err != nil {
		t.Fatalf("DescribeTargetHealth: %v", err)
	}
	rows := make([]healthRow, 0, len(out.TargetHealthDescriptions))
	for _, d := range out.TargetHealthDescriptions {
		rows = append(rows, healthRow{
			ID: aws.ToString(d.Target.Id), Port: aws.ToInt32(d.Target.Port), HealthCheckPort: aws.ToString(d.HealthCheckPort),
			State: string(d.TargetHealth.State), Reason: string(d.TargetHealth.Reason), Description: aws.ToString(d.TargetHealth.Description),
		})
	}
	return rows
}

func (h *harness) register(arn string, ts ...elbtypes.TargetDescription) error {
	_, err := h.client.RegisterTargets(context.Background(), &elasticloadbalancingv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: ts})
	return err
}

func (h *harness) deregister(arn string, ts ...elbtypes.TargetDescription) error {
	_, err := h.client.DeregisterTargets(context.Background(), &elasticloadbalancingv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: ts})
	return err
}

func TestTargetsRegisterAndDescribe(t *testing.T) {
	h := newHarness(t)
	lbARN, _ := putLB(t, h.s, "application", "web", nil)
	used := putGroup(t, h.s, groupFixture{Name: "used", LBs: []string{lbARN}})
	unused := putGroup(t, h.s, groupFixture{Name: "unused"})

	for _, arn := range []string{used, unused} {
		if err := h.register(arn, sdkTarget("10.0.0.2", 0), sdkTarget("10.0.0.1", 8080)); err != nil {
			t.Fatalf("RegisterTargets: %v", err)
		}
	}
	initial := "Target registration is in progress"
	notInUse := "Target group is not configured to receive traffic from the load balancer"
	for _, tc := range []struct {
		arn  string
		want []healthRow
	}{
		{used, []healthRow{
			{"10.0.0.1", 8080, "8080", "initial", "Elb.RegistrationInProgress", initial},
			{"10.0.0.2", 80, "80", "initial", "Elb.RegistrationInProgress", initial},
		}},
		{unused, []healthRow{
			{"10.0.0.1", 8080, "8080", "unused", "Target.NotInUse", notInUse},
			{"10.0.0.2", 80, "80", "unused", "Target.NotInUse", notInUse},
		}},
	} {
		if got := h.describe(t, tc.arn); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("DescribeTargetHealth(%s)\n got %v\nwant %v", tc.arn, got, tc.want)
		}
	}

	// Registering again changes nothing (and writes nothing).
	rec, _ := getTarget(t, h.s, used, "10.0.0.2:80")
	rev := revision(t, h.s)
	if err := h.register(used, sdkTarget("10.0.0.2", 80)); err != nil {
		t.Fatal(err)
	}
	if again, _ := getTarget(t, h.s, used, "10.0.0.2:80"); !again.RegisteredAt.Equal(rec.RegisteredAt) || revision(t, h.s) != rev {
		t.Errorf("registering a registered target wrote: %+v, revision %d -> %d", again, rev, revision(t, h.s))
	}
	if rec.Address != "10.0.0.2" {
		t.Errorf("ip target's address = %q", rec.Address)
	}

	// The data plane's report, when there is one, is the health.
	put(t, h.s, targetHealth, targetID(groupKey(t, h.s, used), "10.0.0.1:8080"), healthRecord{
		State: "unhealthy", Reason: "Target.ResponseCodeMismatch", Description: "Health checks failed with these codes: [500]",
	})
	// Asked-for targets come in the order asked; unregistered ones are unused.
	got := h.describe(t, used, sdkTarget("10.0.0.9", 0), sdkTarget("10.0.0.1", 8080))
	want := []healthRow{
		{"10.0.0.9", 80, "80", "unused", "Target.NotRegistered", "Target is not registered to the target group"},
		{"10.0.0.1", 8080, "8080", "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [500]"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DescribeTargetHealth(asked)\n got %v\nwant %v", got, want)
	}
}

func TestTargetsInstanceTargets(t *testing.T) {
	known := map[string]string{"i-0123456789abcdef0": "192.168.1.10"}
	h := newHarnessWith(t, Config{InstanceAddress: func(_ context.Context, region, id string) (string, bool) {
		a, ok := known[id]
		return a, ok && region == testRegion
	}})
	arn := putGroup(t, h.s, groupFixture{Name: "inst", TargetType: "instance"})
	if err := h.register(arn, sdkTarget("i-0123456789abcdef0", 0)); err != nil {
		t.Fatalf("RegisterTargets: %v", err)
	}
	if rec, ok := getTarget(t, h.s, arn, "i-0123456789abcdef0:80"); !ok || rec.Address != "192.168.1.10" {
		t.Errorf("instance target = %+v, %v; want address 192.168.1.10", rec, ok)
	}
	// A failed call writes nothing: the good target is not registered
	// either.
	err := h.register(arn, sdkTarget("i-0123456789abcdef0", 81), sdkTarget("i-00000000", 0), sdkTarget("web-1", 0))
	if code(err) != "InvalidTarget" || !strings.Contains(err.Error(), "The following targets are not valid instances: 'i-00000000', 'web-1'") {
		t.Errorf("RegisterTargets(unknown instances) = %v", err)
	}
	if _, ok := getTarget(t, h.s, arn, "i-0123456789abcdef0:81"); ok {
		t.Error("a failed RegisterTargets registered a target")
	}
}

func TestTargetsErrors(t *testing.T) {
	h := newHarness(t) // no InstanceAddress: instance targets are refused
	ipGroup := putGroup(t, h.s, groupFixture{Name: "ip"})
	instGroup := putGroup(t, h.s, groupFixture{Name: "inst", TargetType: "instance"})
	noPort := putGroup(t, h.s, groupFixture{Name: "noport", NoPort: true})
	missing := h.s.arns.targetGroup(testRegion, "gone", newID())

	for _, tc := range []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"register in a missing group", func() error { return h.register(missing, sdkTarget("10.0.0.1", 0)) }, "TargetGroupNotFound", "not found"},
		{"deregister from a missing group", func() error { return h.deregister(missing, sdkTarget("10.0.0.1", 0)) }, "TargetGroupNotFound", ""},
		{"describe a missing group", func() error {
			_, err := h.client.DescribeTargetHealth(context.Background(), &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(missing)})
			return err
		}, "TargetGroupNotFound", ""},
		{"a malformed ARN", func() error { return h.register("arn:aws:nope", sdkTarget("10.0.0.1", 0)) }, "ValidationError", "not a valid target group ARN"},
		{"an ip group given an instance", func() error { return h.register(ipGroup, sdkTarget("i-0123456789abcdef0", 0)) }, "InvalidTarget", "'i-0123456789abcdef0'"},
		{"an ip group given IPv6", func() error { return h.register(ipGroup, sdkTarget("fd00::1", 0)) }, "InvalidTarget", "not valid IPv4 addresses"},
		{"an instance without InstanceAddress", func() error { return h.register(instGroup, sdkTarget("i-0123456789abcdef0", 0)) }, "InvalidTarget", "The following targets are not valid instances: 'i-0123456789abcdef0'"},
		{"a port out of range", func() error { return h.register(ipGroup, sdkTarget("10.0.0.1", 70000)) }, "ValidationError", ""},
		{"no port in a group without one", func() error { return h.register(noPort, sdkTarget("10.0.0.1", 0)) }, "ValidationError", "port"},
		{"deregister a target not registered", func() error { return h.deregister(ipGroup, sdkTarget("10.0.0.7", 0)) }, "InvalidTarget", "The following targets are not registered in target group '" + ipGroup + "': '10.0.0.7'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if code(err) != tc.code || !strings.Contains(fmt.Sprint(err), tc.msg) {
				t.Errorf("got %v; want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
	if got := h.describe(t, ipGroup); len(got) != 0 {
		t.Errorf("failed calls registered %v", got)
	}
}

func TestTargetsDeregister(t *testing.T) {
	h := newHarness(t)
	lbARN, _ := putLB(t, h.s, "application", "web", nil)
	used := putGroup(t, h.s, groupFixture{Name: "used", LBs: []string{lbARN}, Attrs: map[string]string{attrDeregistrationDelay: "30"}})
	noDelay := putGroup(t, h.s, groupFixture{Name: "nodelay", LBs: []string{lbARN}, Attrs: map[string]string{attrDeregistrationDelay: "0"}})
	unused := putGroup(t, h.s, groupFixture{Name: "unused"})
	for _, arn := range []string{used, noDelay, unused} {
		if err := h.register(arn, sdkTarget("10.0.0.1", 0)); err != nil {
			t.Fatal(err)
		}
		put(t, h.s, targetHealth, targetID(groupKey(t, h.s, arn), "10.0.0.1:80"), healthRecord{State: "healthy"})
		if err := h.deregister(arn, sdkTarget("10.0.0.1", 0)); err != nil {
			t.Fatalf("DeregisterTargets: %v", err)
		}
	}

	rec, ok := getTarget(t, h.s, used, "10.0.0.1:80")
	if !ok || !rec.DrainUntil.Equal(h.now.Add(30*time.Second)) {
		t.Errorf("deregistered target = %+v, %v; want DrainUntil now+30s", rec, ok)
	}
	want := []healthRow{{"10.0.0.1", 80, "80", "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"}}
	if got := h.describe(t, used); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("draining target: got %v, want %v", got, want)
	}
	// Deregistering a draining target again keeps its deadline.
	h.now = h.now.Add(10 * time.Second)
	if err := h.deregister(used, sdkTarget("10.0.0.1", 80)); err != nil {
		t.Fatal(err)
	}
	if again, _ := getTarget(t, h.s, used, "10.0.0.1:80"); !again.DrainUntil.Equal(rec.DrainUntil) {
		t.Errorf("DrainUntil moved: %v -> %v", rec.DrainUntil, again.DrainUntil)
	}

	for _, arn := range []string{noDelay, unused} {
		if _, ok := getTarget(t, h.s, arn, "10.0.0.1:80"); ok {
			t.Errorf("%s: target still there; want it gone at once", arn)
		}
		var healthLeft bool
		_ = h.s.st.View(context.Background(), func(tx *store.Tx) error {
			_, err := store.Get(tx, targetHealth, targetID(groupKey(t, h.s, arn), "10.0.0.1:80"))
			healthLeft = err == nil
			return nil
		})
		if healthLeft {
			t.Errorf("%s: health record left behind", arn)
		}
	}

	// A draining target registered again is registered (and keeps its
	// health record).
	if err := h.register(used, sdkTarget("10.0.0.1", 0)); err != nil {
		t.Fatal(err)
	}
	if got := h.describe(t, used); len(got) != 1 || got[0].State != "healthy" {
		t.Errorf("registered again: %v", got)
	}
}

func TestTargetsLimits(t *testing.T) {
	h := newHarness(t)
	full := putGroup(t, h.s, groupFixture{Name: "full"})
	busy := putGroup(t, h.s, groupFixture{Name: "busy"})
	fill := func(arn string, n int, target func(i int) (string, int32)) {
		p := groupKey(t, h.s, arn)
		if err := h.s.st.Update(context.Background(), func(tx *store.Tx) error {
			for i := range n {
				id, port := target(i)
				spec := targetSpec{ID: id, Port: port}
				store.Put(tx, targets, targetID(p, spec.key()), targetRecord{Target: spec.description(), Address: id})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	fill(full, maxTargetsPerGroup, func(i int) (string, int32) { return fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), 80 })
	fill(busy, maxRegistrationsPerTarget, func(i int) (string, int32) { return "10.2.0.1", int32(1000 + i) })

	if err := h.register(full, sdkTarget("10.9.9.9", 0)); code(err) != "TooManyTargets" {
		t.Errorf("register past the group's limit = %v; want TooManyTargets", err)
	}
	// Registered targets are no-ops, even in a full group.
	if err := h.register(full, sdkTarget("10.1.0.1", 80)); err != nil {
		t.Errorf("register a registered target in a full group = %v", err)
	}
	if err := h.register(busy, sdkTarget("10.2.0.1", 80)); code(err) != "TooManyRegistrationsForTargetId" {
		t.Errorf("register a target id past its limit = %v; want TooManyRegistrationsForTargetId", err)
	}
	if err := h.register(busy, sdkTarget("10.2.0.2", 80)); err != nil {
		t.Errorf("register another id = %v", err)
	}
}
