package elb

import (
	"context"
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Helpers of the resource action tests: create resources through the SDK
// and fail the test on error.

func (h *harness) mkLB(t *testing.T, name string, typ types.LoadBalancerTypeEnum) types.LoadBalancer {
	t.Helper()
	out, err := h.client.CreateLoadBalancer(context.Background(), &elbv2.CreateLoadBalancerInput{Name: aws.String(name), Type: typ})
	if err != nil {
		t.Fatalf("CreateLoadBalancer %s: %v", name, err)
	}
	return out.LoadBalancers[0]
}

func (h *harness) mkTG(t *testing.T, name string, protocol types.ProtocolEnum, port int32) types.TargetGroup {
	t.Helper()
	out, err := h.client.CreateTargetGroup(context.Background(), &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: protocol, Port: aws.Int32(port),
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup %s: %v", name, err)
	}
	return out.TargetGroups[0]
}

func fwdTo(tgARN *string) []types.Action {
	return []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: tgARN}}
}

func (h *harness) mkListener(t *testing.T, lbARN *string, protocol types.ProtocolEnum, port int32, actions []types.Action) types.Listener {
	t.Helper()
	out, err := h.client.CreateListener(context.Background(), &elbv2.CreateListenerInput{
		LoadBalancerArn: lbARN, Protocol: protocol, Port: aws.Int32(port), DefaultActions: actions,
	})
	if err != nil {
		t.Fatalf("CreateListener %s:%d: %v", protocol, port, err)
	}
	return out.Listeners[0]
}

func (h *harness) lbsOfTG(t *testing.T, tgARN *string) []string {
	t.Helper()
	out, err := h.client.DescribeTargetGroups(context.Background(), &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{*tgARN}})
	if err != nil {
		t.Fatalf("DescribeTargetGroups: %v", err)
	}
	return out.TargetGroups[0].LoadBalancerArns
}

// snapshot is every key of the service's namespace with its mod
// revision: a failed request must leave it as it was.
func (h *harness) storeSnapshot(t *testing.T) map[string]int64 {
	t.Helper()
	resp, err := h.st.Client().Get(context.Background(), h.s.st.Namespace()+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("store snapshot: %v", err)
	}
	out := map[string]int64{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.ModRevision
	}
	return out
}

// unchanged fails the test if the namespace differs from before.
func (h *harness) unchangedSince(t *testing.T, before map[string]int64) {
	t.Helper()
	if after := h.storeSnapshot(t); !maps.Equal(before, after) {
		t.Fatalf("a failed request changed the store: %d keys before, %d after", len(before), len(after))
	}
}

// wantCode fails the test unless err has the AWS error code want.
func wantAPICode(t *testing.T, err error, want string) {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}
