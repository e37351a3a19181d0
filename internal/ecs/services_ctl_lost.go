package ecs

import (
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Lost agents, as the service controller sees them. A REPLICA service's
// task whose container instance cannot run it any more is replaced
// elsewhere:
//
//   - at once when the instance is deregistered (INACTIVE) or gone: ECS's
//     service scheduler starts another copy of an orphaned task;
//   - after Config.LostAgentGrace when the instance's agent is not
//     connected (no agent session: its socket closed, or the server
//     closed it after three missed heartbeats).
//
// Such a task is stopped (desiredStatus STOPPED, stop code
// ServiceSchedulerInitiated) in the pass that finds it lost, and no longer
// counts toward what the service has, so the same pass starts its
// replacement, within maximumPercent as any start. The instance's agent,
// if it comes back, receives the stop in its first payload and stops the
// stale copy: exactly desiredCount run. A task on a deregistered instance
// is STOPPED at once (no agent will report it).
//
// The grace clock runs from when the controller first saw the agent
// disconnected, kept in memory by the controller: a restarted server or a
// new leader starts every clock afresh, which can only delay a
// replacement, never bring one early while agents redial a restarted
// server. DAEMON services' tasks are left alone: a daemon task belongs to
// its instance.

// defaultLostAgentGrace is how long an agent may be disconnected before
// its instance's service tasks are replaced, when Config leaves it unset.
const defaultLostAgentGrace = 3 * time.Minute

// agentLoss is the controller's clock of disconnected agents.
type agentLoss struct {
	mu    sync.Mutex
	since map[string]time.Time // "<cluster>/<instance id>" -> first seen disconnected
	// seen marks the instances a pass asked about; forget drops the others.
	seen map[string]bool
}

// lostSince returns since when the instance key has been seen
// disconnected, starting its clock at now if this is the first time.
func (l *agentLoss) lostSince(key string, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.since == nil {
		l.since, l.seen = map[string]time.Time{}, map[string]bool{}
	}
	l.seen[key] = true
	at, ok := l.since[key]
	if !ok {
		l.since[key] = now
		at = now
	}
	return at
}

// forget ends the clocks of instances no pass asked about since the last
// forget: their agent is back, or they host no service task any more.
func (l *agentLoss) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for key := range l.since {
		if !l.seen[key] {
			delete(l.since, key)
		}
	}
	clear(l.seen)
}

// lostReason says why task v of cluster cname is lost ("" when it is not):
// its instance is deregistered or gone, or its agent has been disconnected
// for longer than the grace.
func (s *Service) lostReason(rm *readModel, cname string, v *taskView, now time.Time) string {
	if v.InstanceID == "" {
		return "" // Fargate, or not placed
	}
	r, ok := rm.instances.Get(cname + "/" + v.InstanceID)
	if !ok || aws.ToString(r.Instance.Status) == "INACTIVE" {
		return "container instance is deregistered"
	}
	if _, connected := rm.sessions.Get(v.InstanceID); connected {
		return ""
	}
	grace := s.cfg.LostAgentGrace
	if grace < 0 {
		return "" // replacement of tasks on disconnected agents is off
	}
	since := s.lost.lostSince(cname+"/"+v.InstanceID, now)
	if now.Sub(since) < grace {
		return ""
	}
	return "container instance agent has been disconnected for more than " + grace.String()
}

// withoutLost takes the tasks whose instance is lost out of a step's tasks:
// they no longer count toward what the service has. It returns the rest
// and the lost ones' ARNs, in the order they came, noting why in seen.
func withoutLost(tasks []rolloutTask, lost map[string]string, seen map[string]seenTask) ([]rolloutTask, []string) {
	if len(lost) == 0 {
		return tasks, nil
	}
	var arns []string
	tasks = slices.DeleteFunc(tasks, func(t rolloutTask) bool {
		why, ok := lost[t.ID]
		if ok {
			arns = append(arns, t.ID)
			st := seen[t.ID]
			st.lost = why
			seen[t.ID] = st
		}
		return ok
	})
	return tasks, arns
}
