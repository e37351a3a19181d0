package elb

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// What ties records together beyond their keys: the target groups a load
// balancer forwards to (TG.LoadBalancerArns) and the local ports its
// listeners hold.

// addTGKeys adds the record ids of the target groups actions forward to.
func addTGKeys(set map[string]bool, actions []elbv2types.Action) {
	for _, arn := range actionTGArns(actions) {
		if p, ok := (arns{}).parseAny(arn); ok {
			set[p.tgKey()] = true
		}
	}
}

// parseAny parses an ARN whatever its account (the ARNs in records are
// Berth's own).
func (arns) parseAny(arn string) (parsedARN, bool) {
	return arns{account: splitAccount(arn)}.parse(arn)
}

// splitAccount is the account field of an ARN ("" when it has none).
func splitAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 {
		return ""
	}
	return parts[4]
}

// actionTGArns lists the target group ARNs actions forward to.
func actionTGArns(actions []elbv2types.Action) []string {
	var out []string
	for _, a := range actions {
		if aws.ToString(a.Type) != elbv2types.ActionTypeEnumForward {
			continue
		}
		if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0 {
			for _, t := range a.ForwardConfig.TargetGroups {
				out = append(out, aws.ToString(t.TargetGroupArn))
			}
		} else if a.TargetGroupArn != nil {
			out = append(out, *a.TargetGroupArn)
		}
	}
	return out
}

// relink brings TG.LoadBalancerArns of the load balancer's target groups in
// step with its listeners and rules as the transaction has left them:
// touched are the groups that may have stopped being forwarded to (the
// actions a write replaced or deleted). Call it after the writes.
func (s *Service) relink(tx *store.Tx, lb parsedARN, lbARN string, touched map[string]bool) error {
	if err := bumpSerial(tx, lb.lbKey()); err != nil {
		return err
	}
	used := map[string]bool{}
	ls, err := store.ListUntracked(tx, listeners, lb.lbKey()+"/")
	if err != nil {
		return fmt.Errorf("list listeners of %s: %w", lbARN, err)
	}
	for _, l := range ls {
		addTGKeys(used, l.Listener.DefaultActions)
	}
	rs, err := store.ListUntracked(tx, rules, lb.lbKey()+"/")
	if err != nil {
		return fmt.Errorf("list rules of %s: %w", lbARN, err)
	}
	for _, r := range rs {
		addTGKeys(used, r.Rule.Actions)
	}
	all := map[string]bool{}
	for k := range touched {
		all[k] = true
	}
	for k := range used {
		all[k] = true
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		tg, ok, err := getIfAny(tx, targetGroups, k)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		has := slices.Contains(tg.TG.LoadBalancerArns, lbARN)
		switch {
		case used[k] && !has:
			tg.TG.LoadBalancerArns = append(tg.TG.LoadBalancerArns, lbARN)
		case !used[k] && has:
			tg.TG.LoadBalancerArns = slices.DeleteFunc(slices.Clone(tg.TG.LoadBalancerArns), func(a string) bool { return a == lbARN })
		default:
			continue
		}
		store.Put(tx, targetGroups, k, tg)
	}
	return nil
}

// lbSerial counts the writes to a load balancer's listeners and rules.
// Every such write reads and bumps it in its transaction, so two writes to
// one load balancer's listeners and rules never commit from the same
// snapshot: that is what lets them list its listeners and rules untracked
// (keeping transactions small) and still decide on a complete list (List
// alone would not see a listener or rule created after the snapshot).
type lbSerial struct {
	N int64 `json:"n"`
}

// lbSerials: "<region>/<lbID>", deleted with the load balancer.
var lbSerials = store.NewCollection[lbSerial]("elb/lb-serials")

// bumpSerial reads and bumps a load balancer's serial.
func bumpSerial(tx *store.Tx, lbKey string) error {
	v, _, err := getIfAny(tx, lbSerials, lbKey)
	if err != nil {
		return err
	}
	v.N++
	store.Put(tx, lbSerials, lbKey, v)
	return nil
}

// portClaim is a local port (and protocol class) held by a listener.
// Every load balancer's listeners bind Config.ListenAddress, so a local
// port serves one listener of one load balancer.
type portClaim struct {
	LoadBalancerArn string `json:"loadBalancerArn"`
	ListenerArn     string `json:"listenerArn"`
	// Port is the listener's port (the claim's id is the local one).
	Port int32 `json:"port"`
}

// portClaims: "<localport>/<class>" (class "tcp" or "udp"), across
// regions, since all of them share the one address.
var portClaims = store.NewCollection[portClaim]("elb/ports")

// localPort is the port a listener port binds.
func (s *Service) localPort(port int32) int32 {
	if p, ok := s.cfg.PortMap[port]; ok {
		return p
	}
	return port
}

// portClasses are the claim classes of a listener protocol: TCP_UDP holds
// both.
func portClasses(protocol string) []string {
	switch protocol {
	case elbv2types.ProtocolEnumUDP:
		return []string{"udp"}
	case elbv2types.ProtocolEnumTCPUDP:
		return []string{"tcp", "udp"}
	default:
		return []string{"tcp"}
	}
}

func claimIDs(local int32, protocol string) []string {
	var ids []string
	for _, c := range portClasses(protocol) {
		ids = append(ids, strconv.Itoa(int(local))+"/"+c)
	}
	return ids
}

// claimPort takes the listener's local port, refusing one another
// listener holds.
func (s *Service) claimPort(tx *store.Tx, l elbv2types.Listener) error {
	local := s.localPort(aws.ToInt32(l.Port))
	lbARN, lARN := aws.ToString(l.LoadBalancerArn), aws.ToString(l.ListenerArn)
	for _, id := range claimIDs(local, aws.ToString(l.Protocol)) {
		c, ok, err := getIfAny(tx, portClaims, id)
		if err != nil {
			return err
		}
		if ok && c.ListenerArn != lARN && c.LoadBalancerArn == lbARN && c.Port == aws.ToInt32(l.Port) {
			return errELB(elbv2types.ErrCodeDuplicateListenerException, "A listener already exists on port %d of this load balancer", c.Port)
		}
		if ok && c.ListenerArn != lARN {
			return errInvalidConfig("Port %d cannot be used: it binds local port %d, which load balancer '%s' already listens on; "+
				"every load balancer on this Berth server listens on the one address %s, so a local port serves one listener",
				aws.ToInt32(l.Port), local, c.LoadBalancerArn, s.cfg.ListenAddress)
		}
		store.Put(tx, portClaims, id, portClaim{LoadBalancerArn: lbARN, ListenerArn: lARN, Port: aws.ToInt32(l.Port)})
	}
	return nil
}

// releasePort frees the listener's local port.
func (s *Service) releasePort(tx *store.Tx, l elbv2types.Listener) {
	for _, id := range claimIDs(s.localPort(aws.ToInt32(l.Port)), aws.ToString(l.Protocol)) {
		store.Delete(tx, portClaims, id)
	}
}
