package elb

import (
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// ARNs as ELB writes them:
//
//	arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<lbID>
//	arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<name>/<lbID>/<listenerID>
//	arn:aws:elasticloadbalancing:<region>:<account>:listener-rule/app/<name>/<lbID>/<listenerID>/<ruleID>
//	arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<tgID>
//
// ("net" for network load balancers). Ids are 16 hex digits.
type arns struct{ account string }

func (a arns) prefix(region string) string {
	return "arn:aws:elasticloadbalancing:" + region + ":" + a.account + ":"
}

// lbKind is the ARN segment of a load balancer type.
func lbKind(lbType string) string {
	if lbType == "network" {
		return "net"
	}
	return "app"
}

func (a arns) loadBalancer(region, lbType, name, lbID string) string {
	return a.prefix(region) + "loadbalancer/" + lbKind(lbType) + "/" + name + "/" + lbID
}

// listener derives a listener's ARN from its load balancer's.
func (a arns) listener(lbARN, listenerID string) string {
	return strings.Replace(lbARN, ":loadbalancer/", ":listener/", 1) + "/" + listenerID
}

// rule derives a rule's ARN from its listener's.
func (a arns) rule(listenerARN, ruleID string) string {
	return strings.Replace(listenerARN, ":listener/", ":listener-rule/", 1) + "/" + ruleID
}

func (a arns) targetGroup(region, name, tgID string) string {
	return a.prefix(region) + "targetgroup/" + name + "/" + tgID
}

// parsedARN is what an ELB ARN of this account names.
type parsedARN struct {
	Region string
	// Kind is loadbalancer, listener, listener-rule or targetgroup.
	Kind string
	// LBType is "application" or "network" (not for target groups).
	LBType string
	Name   string
	// LB, Listener, Rule and TG are the ids the ARN holds.
	LB, Listener, Rule, TG string
}

// parse splits an ARN of this account; false when it is not one.
func (a arns) parse(arn string) (parsedARN, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "elasticloadbalancing" || parts[4] != a.account || parts[3] == "" {
		return parsedARN{}, false
	}
	p := parsedARN{Region: parts[3]}
	seg := strings.Split(parts[5], "/")
	p.Kind = seg[0]
	if p.Kind == "targetgroup" {
		if len(seg) != 3 || !isID(seg[2]) || seg[1] == "" {
			return parsedARN{}, false
		}
		p.Name, p.TG = seg[1], seg[2]
		return p, true
	}
	want := map[string]int{"loadbalancer": 4, "listener": 5, "listener-rule": 6}[p.Kind]
	if want == 0 || len(seg) != want || seg[2] == "" {
		return parsedARN{}, false
	}
	switch seg[1] {
	case "app":
		p.LBType = "application"
	case "net":
		p.LBType = "network"
	default:
		return parsedARN{}, false
	}
	p.Name, p.LB = seg[2], seg[3]
	if want > 4 {
		p.Listener = seg[4]
	}
	if want > 5 {
		p.Rule = seg[5]
	}
	for _, id := range seg[3:] {
		if !isID(id) {
			return parsedARN{}, false
		}
	}
	return p, true
}

// Record ids (records.go).
func (p parsedARN) lbKey() string       { return p.Region + "/" + p.LB }
func (p parsedARN) listenerKey() string { return p.Region + "/" + p.LB + "/" + p.Listener }
func (p parsedARN) ruleKey() string     { return p.Region + "/" + p.LB + "/" + p.Listener + "/" + p.Rule }
func (p parsedARN) tgKey() string       { return p.Region + "/" + p.TG }

func isID(s string) bool {
	if len(s) != 16 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// newID is a fresh 16-hex-digit id.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// notImplemented answers an ELBv2 action Berth does not implement.
func notImplemented(action string) *awserr.Error {
	return awserr.Newf(awserr.CodeInvalidAction, "%s", "Berth does not implement the Elastic Load Balancing action "+action+" yet.")
}
