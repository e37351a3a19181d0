package elb

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// The targets' tests write the load balancer, listener and target group
// records they need directly, as the resource API (api_*.go) would.

// groupFixture describes a target group to write.
type groupFixture struct {
	Name       string
	TargetType string // default "ip"
	Protocol   string // default "HTTP"
	Port       int32  // 0: none
	NoPort     bool
	// LBs are the load balancers that use the group (none: not in use).
	LBs   []string
	Attrs map[string]string
}

// putGroup writes a target group in testRegion and returns its ARN.
func putGroup(t *testing.T, s *Service, g groupFixture) string {
	t.Helper()
	if g.TargetType == "" {
		g.TargetType = "ip"
	}
	if g.Protocol == "" {
		g.Protocol = "HTTP"
	}
	if g.Port == 0 && !g.NoPort {
		g.Port = 80
	}
	id := newID()
	arn := s.arns.targetGroup(testRegion, g.Name, id)
	rec := tgRecord{
		TG: elbv2types.TargetGroup{
			TargetGroupArn: aws.String(arn), TargetGroupName: aws.String(g.Name),
			TargetType: aws.String(g.TargetType), Protocol: aws.String(g.Protocol),
			HealthCheckPort: aws.String("traffic-port"), LoadBalancerArns: g.LBs,
		},
		Attributes: map[string]string{attrDeregistrationDelay: "300"},
	}
	if !g.NoPort {
		rec.TG.Port = aws.Int32(g.Port)
	}
	for k, v := range g.Attrs {
		rec.Attributes[k] = v
	}
	put(t, s, targetGroups, testRegion+"/"+id, rec)
	return arn
}

// putLB writes a load balancer of type typ and returns its ARN and id.
func putLB(t *testing.T, s *Service, typ, name string, attrs map[string]string) (string, string) {
	t.Helper()
	id := newID()
	arn := s.arns.loadBalancer(testRegion, typ, name, id)
	put(t, s, loadBalancers, testRegion+"/"+id, lbRecord{
		LB: elbv2types.LoadBalancer{
			LoadBalancerArn: aws.String(arn), LoadBalancerName: aws.String(name), Type: aws.String(typ),
			State: &elbv2types.LoadBalancerState{Code: aws.String("active")},
		},
		Attributes: attrs,
	})
	return arn, testRegion + "/" + id
}

// putListener writes a listener of the load balancer lbARN (id lbKey) and
// returns its ARN and id.
func putListener(t *testing.T, s *Service, lbARN, lbKey string, port int32, protocol string, def ...elbv2types.Action) (string, string) {
	t.Helper()
	id := newID()
	arn := s.arns.listener(lbARN, id)
	put(t, s, listeners, lbKey+"/"+id, listenerRecord{Listener: elbv2types.Listener{
		ListenerArn: aws.String(arn), LoadBalancerArn: aws.String(lbARN),
		Port: aws.Int32(port), Protocol: aws.String(protocol), DefaultActions: def,
	}})
	return arn, lbKey + "/" + id
}

func forwardTo(arn string) elbv2types.Action {
	return elbv2types.Action{Type: aws.String("forward"), TargetGroupArn: aws.String(arn)}
}

func put[T any](t *testing.T, s *Service, c store.Collection[T], id string, v T) {
	t.Helper()
	if err := s.st.Update(context.Background(), func(tx *store.Tx) error {
		store.Put(tx, c, id, v)
		return nil
	}); err != nil {
		t.Fatalf("put %s %s: %v", c.Name(), id, err)
	}
}

// groupKey is the record id of a target group ARN.
func groupKey(t *testing.T, s *Service, arn string) parsedARN {
	t.Helper()
	p, ok := s.arns.parse(arn)
	if !ok {
		t.Fatalf("bad ARN %s", arn)
	}
	return p
}

// getTarget reads a target record; false when there is none.
func getTarget(t *testing.T, s *Service, groupARN, key string) (targetRecord, bool) {
	t.Helper()
	var rec targetRecord
	found := true
	err := s.st.View(context.Background(), func(tx *store.Tx) error {
		var err error
		rec, err = store.Get(tx, targets, targetID(groupKey(t, s, groupARN), key))
		if errors.Is(err, store.ErrNotFound) {
			found = false
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec, found
}

// revision is the store's current revision (it moves only on writes).
func revision(t *testing.T, s *Service) int64 {
	t.Helper()
	var rev int64
	if err := s.st.View(context.Background(), func(tx *store.Tx) error {
		rev = tx.Revision()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rev
}

// sdkTarget is a target as the SDK sends it (port 0: none).
func sdkTarget(id string, port int32) elbtypes.TargetDescription {
	d := elbtypes.TargetDescription{Id: aws.String(id)}
	if port != 0 {
		d.Port = aws.Int32(port)
	}
	return d
}
