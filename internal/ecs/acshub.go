package ecs

import (
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// acsHub routes the read model's changes to the agent sessions this server
// holds: one watch per collection for the whole server, fanned out only to
// the sessions whose instance changed, instead of a watch per session.
type acsHub struct {
	mu       sync.Mutex
	sessions map[string]map[*acsSession]bool // by instance store id "<cluster>/<id>"
}

// acsSession is one connected agent socket as the hub sees it.
type acsSession struct {
	key, cname, instArn string
	// wake has room for one signal: any number of changes before the
	// session looks again yield one rebuild of the payload.
	wake chan struct{}
}

func newACSHub() *acsHub {
	return &acsHub{sessions: map[string]map[*acsSession]bool{}}
}

func (h *acsHub) add(key, cname, instArn string) *acsSession {
	sess := &acsSession{key: key, cname: cname, instArn: instArn, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions[key] == nil {
		h.sessions[key] = map[*acsSession]bool{}
	}
	h.sessions[key][sess] = true
	return sess
}

func (h *acsHub) remove(sess *acsSession) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.sessions[sess.key], sess)
	if len(h.sessions[sess.key]) == 0 {
		delete(h.sessions, sess.key)
	}
}

// count is how many sessions the hub holds (for tests and metrics).
func (h *acsHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.sessions {
		n += len(set)
	}
	return n
}

// wakeInstance tells the sessions of one instance to look again.
func (h *acsHub) wakeInstance(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sess := range h.sessions[key] {
		sess.poke()
	}
}

func (sess *acsSession) poke() {
	select {
	case sess.wake <- struct{}{}:
	default: // a wake is already pending
	}
}

// isInactive reports whether the instance is deregistered (or gone).
func (sess *acsSession) isInactive(rm *readModel) bool {
	r, ok := rm.instances.Get(sess.key)
	return !ok || aws.ToString(r.Instance.Status) == "INACTIVE"
}

// taskChanged is the tasks informer's OnChange: it wakes the sessions of
// the instances the task was and is on.
func (h *acsHub) taskChanged(id string, old, new *taskView) {
	if !payloadChanged(old, new) {
		return
	}
	cname := clusterOfID(id)
	if old != nil {
		h.wakeInstance(cname + "/" + old.InstanceID)
	}
	if new != nil && (old == nil || new.InstanceID != old.InstanceID) {
		h.wakeInstance(cname + "/" + new.InstanceID)
	}
}

// instanceChanged is the instances informer's OnChange: a deregistered or
// deleted instance's sessions must end.
func (h *acsHub) instanceChanged(id string, _, new *instanceRecord) {
	if new == nil || aws.ToString(new.Instance.Status) == "INACTIVE" {
		h.wakeInstance(id)
	}
}

// payloadChanged says whether a task change can change what its instance's
// payload holds: most changes (lastStatus RUNNING, health, bindings) cannot.
func payloadChanged(old, new *taskView) bool {
	if old == nil || new == nil {
		return true
	}
	o, n := &old.Task, &new.Task
	stopped := func(t *taskView) bool { return aws.ToString(t.Task.LastStatus) == "STOPPED" }
	return old.InstanceID != new.InstanceID || stopped(old) != stopped(new) || old.Deactivating != new.Deactivating ||
		aws.ToString(o.DesiredStatus) != aws.ToString(n.DesiredStatus) ||
		aws.ToString(o.StoppedReason) != aws.ToString(n.StoppedReason)
}
