package elb

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/lbtarget"
)

// loadBalancing is ECS's interface (internal/ecs.LoadBalancing), restated:
// this package does not import internal/ecs.
type loadBalancing interface {
	TargetGroup(ctx context.Context, region, arn string) (lbtarget.Group, error)
	RegisterTargets(ctx context.Context, region, groupARN, owner string, ts []lbtarget.Target) error
	DeregisterTargets(ctx context.Context, region, groupARN string, ts []lbtarget.Target) error
	OwnedTargets(ctx context.Context, region, groupARN, owner string) ([]lbtarget.Status, error)
}

var _ loadBalancing = (*Service)(nil)

func TestECSTargetsGroup(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	lbARN, _ := putLB(t, h.s, "application", "web", nil)
	arn := putGroup(t, h.s, groupFixture{Name: "svc", TargetType: "instance", Port: 8080, LBs: []string{lbARN}, Attrs: map[string]string{attrDeregistrationDelay: "45"}})

	g, err := h.s.TargetGroup(ctx, testRegion, arn)
	want := lbtarget.Group{ARN: arn, TargetType: "instance", Protocol: "HTTP", Port: 8080, LoadBalancerARNs: []string{lbARN}, DeregistrationDelaySeconds: 45}
	if err != nil || fmt.Sprint(g) != fmt.Sprint(want) {
		t.Errorf("TargetGroup = %+v, %v; want %+v", g, err, want)
	}
	for _, tc := range []struct{ region, arn string }{
		{testRegion, h.s.arns.targetGroup(testRegion, "gone", newID())},
		{"eu-west-1", arn}, // the ARN names another region
		{testRegion, "not-an-arn"},
	} {
		if _, err := h.s.TargetGroup(ctx, tc.region, tc.arn); !errors.Is(err, lbtarget.ErrTargetGroupNotFound) {
			t.Errorf("TargetGroup(%s, %s) = %v; want ErrTargetGroupNotFound", tc.region, tc.arn, err)
		}
		if err := h.s.RegisterTargets(ctx, tc.region, tc.arn, "svc", nil); !errors.Is(err, lbtarget.ErrTargetGroupNotFound) {
			t.Errorf("RegisterTargets(%s, %s) = %v; want ErrTargetGroupNotFound", tc.region, tc.arn, err)
		}
		if _, err := h.s.OwnedTargets(ctx, tc.region, tc.arn, "svc"); !errors.Is(err, lbtarget.ErrTargetGroupNotFound) {
			t.Errorf("OwnedTargets(%s, %s) = %v; want ErrTargetGroupNotFound", tc.region, tc.arn, err)
		}
	}
}

func TestECSTargetsOwnership(t *testing.T) {
	h := newHarness(t) // no InstanceAddress: ECS gives the addresses
	ctx := context.Background()
	lbARN, _ := putLB(t, h.s, "application", "web", nil)
	arn := putGroup(t, h.s, groupFixture{Name: "svc", TargetType: "instance", LBs: []string{lbARN}, Attrs: map[string]string{attrDeregistrationDelay: "60"}})
	const svcA, svcB = "arn:aws:ecs:us-east-1:000000000000:service/c/a", "arn:aws:ecs:us-east-1:000000000000:service/c/b"
	a1 := lbtarget.Target{ID: "i-0123456789abcdef0", Port: 32768, Address: "192.168.1.10"}
	a2 := lbtarget.Target{ID: "i-0123456789abcdef0", Port: 32769, Address: "192.168.1.10"}
	b1 := lbtarget.Target{ID: "i-0fedcba9876543210", Port: 32768, Address: "192.168.1.11"}

	if err := h.s.RegisterTargets(ctx, testRegion, arn, svcA, []lbtarget.Target{a1, a2}); err != nil {
		t.Fatal(err)
	}
	if err := h.s.RegisterTargets(ctx, testRegion, arn, svcB, []lbtarget.Target{b1}); err != nil {
		t.Fatal(err)
	}
	// Every pass registers the same targets again: nothing is written.
	rev := revision(t, h.s)
	if err := h.s.RegisterTargets(ctx, testRegion, arn, svcA, []lbtarget.Target{a1, a2}); err != nil {
		t.Fatal(err)
	}
	if got := revision(t, h.s); got != rev {
		t.Errorf("registering registered targets wrote (revision %d -> %d)", rev, got)
	}

	put(t, h.s, targetHealth, targetID(groupKey(t, h.s, arn), a1.Key()), healthRecord{State: "healthy"})
	if err := h.s.DeregisterTargets(ctx, testRegion, arn, []lbtarget.Target{a2, {ID: "i-0000000000000000a", Port: 1}}); err != nil {
		t.Fatalf("DeregisterTargets (one not registered) = %v", err)
	}
	got, err := h.s.OwnedTargets(ctx, testRegion, arn, svcA)
	want := []lbtarget.Status{
		{Target: a1, State: "healthy"},
		{Target: a2, State: "draining", Reason: "Target.DeregistrationInProgress", Description: "Target deregistration is in progress"},
	}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("OwnedTargets(a) = %v, %v\nwant %v", got, err, want)
	}
	if rec, _ := getTarget(t, h.s, arn, a2.Key()); !rec.DrainUntil.Equal(h.now.Add(60 * time.Second)) {
		t.Errorf("DrainUntil = %v; want now+60s", rec.DrainUntil)
	}
	got, err = h.s.OwnedTargets(ctx, testRegion, arn, svcB)
	want = []lbtarget.Status{{Target: b1, State: "initial", Reason: "Elb.RegistrationInProgress", Description: "Target registration is in progress"}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("OwnedTargets(b) = %v, %v\nwant %v", got, err, want)
	}

	// A draining target registered again is registered again.
	if err := h.s.RegisterTargets(ctx, testRegion, arn, svcA, []lbtarget.Target{a2}); err != nil {
		t.Fatal(err)
	}
	if rec, _ := getTarget(t, h.s, arn, a2.Key()); !rec.DrainUntil.IsZero() || rec.Owner != svcA || rec.Address != a2.Address {
		t.Errorf("registered again: %+v", rec)
	}
}
