package elb

import (
	"time"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// Records live in the account's namespace "/berth/<account>", their ids
// led by the region, so that one informer per collection sees every
// region's load balancers (the data plane serves them all). Ids:
//
//	elb/load-balancers  <region>/<lbID>
//	elb/listeners       <region>/<lbID>/<listenerID>
//	elb/rules           <region>/<lbID>/<listenerID>/<ruleID>
//	elb/target-groups   <region>/<tgID>
//	elb/targets         <region>/<tgID>/<targetID>:<port>
//	elb/target-health   <region>/<tgID>/<targetID>:<port>
//
// lbID, listenerID, ruleID and tgID are the 16 hex digits ending their
// ARNs (see arns.go). A failed request writes nothing: every API call is
// one store transaction.

// lbRecord is a load balancer.
type lbRecord struct {
	// LB is the reply shape (State, DNSName and all).
	LB         elbv2types.LoadBalancer `json:"lb"`
	Attributes map[string]string       `json:"attributes,omitempty"`
	Tags       []elbv2types.Tag        `json:"tags,omitempty"`
}

// listenerRecord is a listener. Its default actions are also its default
// rule (DescribeRules answers it with IsDefault), kept here only.
type listenerRecord struct {
	Listener   elbv2types.Listener `json:"listener"`
	Attributes map[string]string   `json:"attributes,omitempty"`
	Tags       []elbv2types.Tag    `json:"tags,omitempty"`
}

// ruleRecord is a non-default listener rule.
type ruleRecord struct {
	Rule elbv2types.Rule  `json:"rule"`
	Tags []elbv2types.Tag `json:"tags,omitempty"`
}

// tgRecord is a target group. TG.LoadBalancerArns is kept in step by
// every write that makes a listener or rule forward to the group or stop
// forwarding to it (in that write's transaction).
type tgRecord struct {
	TG         elbv2types.TargetGroup `json:"tg"`
	Attributes map[string]string      `json:"attributes,omitempty"`
	Tags       []elbv2types.Tag       `json:"tags,omitempty"`
}

// targetRecord is a registered target.
type targetRecord struct {
	Target elbv2types.TargetDescription `json:"target"`
	// Address is the IP the data plane dials: the Id of an ip target, the
	// container instance's address of an instance target (given by ECS
	// when it registers, otherwise resolved at registration).
	Address string `json:"address,omitempty"`
	// Owner is who registered it: "" for the API, an ECS service ARN for
	// a service's tasks (ECS reconciles only its own).
	Owner        string    `json:"owner,omitempty"`
	RegisteredAt time.Time `json:"registeredAt"`
	// DrainUntil, when set, means deregistered: the target is draining and
	// goes when it has nothing in flight or at this time at the latest.
	DrainUntil time.Time `json:"drainUntil,omitzero"`
}

// healthRecord is a target's health as the data plane last reported it:
// written by the server that runs the data plane (the controllers'
// leader) on every change, deleted with the target.
type healthRecord struct {
	State       string    `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	Description string    `json:"description,omitempty"`
	Since       time.Time `json:"since"`
}

var (
	loadBalancers = store.NewCollection[lbRecord]("elb/load-balancers")
	listeners     = store.NewCollection[listenerRecord]("elb/listeners")
	rules         = store.NewCollection[ruleRecord]("elb/rules")
	targetGroups  = store.NewCollection[tgRecord]("elb/target-groups")
	targets       = store.NewCollection[targetRecord]("elb/targets")
	targetHealth  = store.NewCollection[healthRecord]("elb/target-health")
)
