package scheduler

import (
	"fmt"
	"slices"
	"strings"
)

// Explain says in one line why no instance took the task, from the
// rejections Place returned: how many instances each stage rejected, and
// for resources what the best instance had, e.g.
//
//	5 instances: 3 lacked memory (need 512 MiB, best had 256), 2 failed memberOf(attribute:ecs.instance-type =~ g4.*)
//
// It is what Berth adds in a failure's detail; ECS's reason codes stay in
// reason.
func Explain(req Request, rejections []Rejection) string {
	if len(rejections) == 0 {
		if len(req.Candidates) == 0 {
			return "no container instances in the cluster"
		}
		return ""
	}
	byARN := make(map[string]*Candidate, len(req.Candidates))
	for i := range req.Candidates {
		byARN[req.Candidates[i].ARN] = &req.Candidates[i]
	}
	type group struct {
		n    int
		best int32 // the most remaining of the resource, among the rejected
	}
	var order []string
	groups := map[string]*group{}
	for _, r := range rejections {
		key := r.Reason
		if r.Expr != "" {
			key = "memberOf(" + r.Expr + ")"
		}
		g := groups[key]
		if g == nil {
			g = &group{best: -1 << 31}
			groups[key] = g
			order = append(order, key)
		}
		g.n++
		if c := byARN[r.ARN]; c != nil {
			switch r.Reason {
			case ReasonCPU:
				g.best = max(g.best, c.CPU)
			case ReasonMemory:
				g.best = max(g.best, c.Memory)
			case ReasonGPU:
				g.best = max(g.best, int32(len(c.GPUs)))
			}
		}
	}
	d := req.Demand
	parts := make([]string, 0, len(order))
	for _, key := range order {
		g := groups[key]
		var what string
		switch key {
		case ReasonInactive:
			what = map[bool]string{true: "was", false: "were"}[g.n == 1] + " not ACTIVE (draining or deregistered)"
		case ReasonAgent:
			what = "had no connected agent"
		case ReasonCPU:
			what = fmt.Sprintf("lacked CPU (need %d units, best had %d)", d.CPU, g.best)
		case ReasonMemory:
			what = fmt.Sprintf("lacked memory (need %d MiB, best had %d)", d.Memory, g.best)
		case ReasonPorts:
			what = "had a needed host port in use (" + strings.Join(append(append([]string(nil), d.Ports...), udp(d.PortsUDP)...), ", ") + ")"
		case ReasonGPU:
			what = fmt.Sprintf("lacked GPUs (need %d, best had %d)", d.GPUs, g.best)
		case ReasonDistinct:
			what = "already ran a task of group " + d.Group + " (distinctInstance)"
		default:
			what = "failed " + key
		}
		parts = append(parts, fmt.Sprintf("%d %s", g.n, what))
	}
	return fmt.Sprintf("%d %s: %s", len(rejections), plural(len(rejections), "instance"), strings.Join(parts, ", "))
}

func udp(ports []string) []string {
	out := make([]string, len(ports))
	for i, p := range ports {
		out[i] = p + "/udp"
	}
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// MatchExplainer is a Matcher that can say why an instance fails it, e.g.
// `attribute:ecs.instance-type =~ g4.* (found "t3.micro")`.
type MatchExplainer interface {
	Matcher
	// Explain says what part of the expression c fails and what c holds;
	// "" when c satisfies it.
	Explain(c *Candidate) string
}

// Detail says in a few words why candidate c, rejected with reason by the
// stages of req, cannot take the task, with the figures that decided it:
// "needs 512 MiB, has 256". It is for one instance what Explain is for a
// whole decision.
func Detail(req Request, c *Candidate, reason string) string {
	d := req.Demand
	switch reason {
	case "":
		return ""
	case ReasonInactive:
		return "not ACTIVE (draining or deregistered)"
	case ReasonAgent:
		return "its agent is not connected"
	case ReasonCPU:
		return fmt.Sprintf("needs %d CPU units, has %d", d.CPU, c.CPU)
	case ReasonMemory:
		return fmt.Sprintf("needs %d MiB, has %d", d.Memory, c.Memory)
	case ReasonPorts:
		var busy []string
		for _, p := range d.Ports {
			if slices.Contains(c.Ports, p) {
				busy = append(busy, p)
			}
		}
		for _, p := range d.PortsUDP {
			if slices.Contains(c.PortsUDP, p) {
				busy = append(busy, p+"/udp")
			}
		}
		return "host port " + strings.Join(busy, ", ") + " in use"
	case ReasonGPU:
		return fmt.Sprintf("needs %d GPUs, has %d free", d.GPUs, len(c.GPUs))
	case ReasonDistinct:
		return fmt.Sprintf("already runs %d %s of group %s (distinctInstance)", req.groupCount(c.ID), plural(req.groupCount(c.ID), "task"), d.Group)
	case ReasonMemberOf:
		for _, con := range req.Constraints {
			if con.Type != "memberOf" || con.Member.Match(c) {
				continue
			}
			if e, ok := con.Member.(MatchExplainer); ok {
				return "fails memberOf: " + e.Explain(c)
			}
			return "fails memberOf(" + con.Member.String() + ")"
		}
	}
	return reason
}
