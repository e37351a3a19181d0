package ecs

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/scheduler"
	"github.com/berth-dev/berth/internal/store"
)

// Records are the wire types plus what only the control plane needs. Counts
// that can be derived from other records (running tasks of an instance, ...)
// are computed when described, never stored.

type clusterRecord struct {
	Cluster ecstypes.Cluster `json:"cluster"`
}

type taskDefRecord struct {
	TaskDefinition ecstypes.TaskDefinition `json:"taskDefinition"`
	Tags           []ecstypes.Tag          `json:"tags,omitempty"`
}

// familyRecord remembers the newest revision ever issued for a family, so a
// revision number is never reused even after deregistration, and how many
// of its revisions are ACTIVE (for ListTaskDefinitionFamilies' status).
type familyRecord struct {
	Family         string `json:"family"`
	LatestRevision int32  `json:"latestRevision"`
	// ActiveRevisions is nil in records written before Berth counted them.
	ActiveRevisions *int32 `json:"activeRevisions,omitempty"`
}

type instanceRecord struct {
	Instance   ecstypes.ContainerInstance `json:"instance"`
	ClusterArn string                     `json:"clusterArn"`
	// Held is what the tasks placed on the instance hold until they stop,
	// kept with every placement and release in the same transaction, so
	// remainingResources never needs the instance's tasks. It is nil in
	// records written before Berth kept it: see heldOf.
	Held *reservation `json:"held,omitempty"`

	// cand is the instance as placement sees it, precomputed by the read
	// model (never stored).
	cand scheduler.Candidate
}

// reservation is what a task holds on its instance until it stops, or the
// sum of what all the tasks on an instance hold.
type reservation struct {
	CPU      int32    `json:"cpu"`
	Memory   int32    `json:"memory"`
	Ports    []string `json:"ports,omitempty"`
	PortsUDP []string `json:"portsUdp,omitempty"`
	// GPUs are the ids of the GPUs held (each by one task only).
	GPUs []string `json:"gpus,omitempty"`
	// Tasks counts the tasks in a sum (0 in one task's reservation).
	Tasks int32 `json:"tasks,omitempty"`
}

// add returns r plus one task's reservation t.
func (r reservation) add(t reservation) reservation {
	return reservation{
		CPU: r.CPU + t.CPU, Memory: r.Memory + t.Memory, Tasks: r.Tasks + 1,
		Ports:    append(slices.Clip(r.Ports), t.Ports...),
		PortsUDP: append(slices.Clip(r.PortsUDP), t.PortsUDP...),
		GPUs:     append(slices.Clip(r.GPUs), t.GPUs...),
	}
}

// sub returns r minus one task's reservation t (each of its ports and GPUs once).
func (r reservation) sub(t reservation) reservation {
	return reservation{
		CPU: r.CPU - t.CPU, Memory: r.Memory - t.Memory, Tasks: max(r.Tasks-1, 0),
		Ports: removeEach(r.Ports, t.Ports), PortsUDP: removeEach(r.PortsUDP, t.PortsUDP),
		GPUs: removeEach(r.GPUs, t.GPUs),
	}
}

// removeEach returns have without one occurrence of each of drop.
func removeEach(have, drop []string) []string {
	out := slices.Clone(have)
	for _, d := range drop {
		if i := slices.Index(out, d); i >= 0 {
			out = slices.Delete(out, i, i+1)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

type taskRecord struct {
	Task       ecstypes.Task `json:"task"`
	InstanceID string        `json:"instanceId"`
	Reserved   reservation   `json:"reserved"`
	// Released is set once the reservation went back to the instance.
	Released bool `json:"released,omitempty"`
	// HealthChecked names the essential containers with a health check: the
	// ones whose health decides the task's.
	HealthChecked []string `json:"healthChecked,omitempty"`
	// Deactivating: the service controller stopped the task (desiredStatus
	// STOPPED) but its load balancer targets are still draining: its agent
	// is still told RUNNING, and it answers lastStatus DEACTIVATING, until
	// the controller lets it go (services_ctl_lb.go).
	Deactivating bool `json:"deactivating,omitempty"`
}

// agentSession exists while an agent's ACS socket is connected (a lease).
type agentSession struct {
	InstanceArn string `json:"instanceArn"`
	// Address is the IP the agent's socket came from: where the instance's
	// host ports answer, which load balancers dial (services_ctl_lb.go).
	Address string `json:"address,omitempty"`
}

var (
	clusters      = store.NewCollection[clusterRecord]("ecs/clusters")
	taskDefs      = store.NewCollection[taskDefRecord]("ecs/task-definitions")
	families      = store.NewCollection[familyRecord]("ecs/task-definition-families")
	instances     = store.NewCollection[instanceRecord]("ecs/container-instances")
	tasks         = store.NewCollection[taskRecord]("ecs/tasks")
	agentSessions = store.NewCollection[agentSession]("ecs/agent-sessions")
)

// taskDefID is the store id of a revision: zero-padded so ids sort by revision.
func taskDefID(family string, revision int32) string {
	return fmt.Sprintf("%s/%010d", family, revision)
}

// arnBuilder formats and parses the ARNs of this region and account.
type arnBuilder struct {
	region, account string
}

func (a arnBuilder) prefix() string {
	return "arn:aws:ecs:" + a.region + ":" + a.account + ":"
}

func (a arnBuilder) cluster(name string) string { return a.prefix() + "cluster/" + name }

func (a arnBuilder) taskDef(family string, rev int32) string {
	return fmt.Sprintf("%stask-definition/%s:%d", a.prefix(), family, rev)
}

func (a arnBuilder) instance(cluster, id string) string {
	return a.prefix() + "container-instance/" + cluster + "/" + id
}

func (a arnBuilder) task(cluster, id string) string { return a.prefix() + "task/" + cluster + "/" + id }

func (a arnBuilder) container(cluster, taskID, id string) string {
	return a.prefix() + "container/" + cluster + "/" + taskID + "/" + id
}

// resource splits an ECS ARN of this account into its resource type and the
// rest ("cluster", "default"); ok is false for a malformed or foreign ARN.
func (a arnBuilder) resource(arn string) (typ, rest string, ok bool) {
	if !strings.HasPrefix(arn, a.prefix()) {
		return "", "", false
	}
	typ, rest, ok = strings.Cut(strings.TrimPrefix(arn, a.prefix()), "/")
	return typ, rest, ok && rest != ""
}

// clusterName accepts a cluster name or ARN; "" means "default".
func (a arnBuilder) clusterName(ref string) (string, bool) {
	if ref == "" {
		return "default", true
	}
	if strings.HasPrefix(ref, "arn:") {
		typ, rest, ok := a.resource(ref)
		if !ok || typ != "cluster" || strings.Contains(rest, "/") {
			return "", false
		}
		return rest, true
	}
	return ref, validName(ref)
}

// lastSegment returns the id part of "arn:...:task/cluster/ID" or the ref itself.
// The cluster segment, when the ARN has one, is returned too.
func (a arnBuilder) idOf(ref, typ string) (cluster, id string, ok bool) {
	if !strings.HasPrefix(ref, "arn:") {
		return "", ref, ref != "" && !strings.Contains(ref, "/")
	}
	t, rest, ok := a.resource(ref)
	if !ok || t != typ {
		return "", "", false
	}
	if c, id, found := strings.Cut(rest, "/"); found {
		return c, id, id != "" && !strings.Contains(id, "/")
	}
	return "", rest, true
}

func validName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// newID returns a 32-hex-digit id like ECS task ids.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// newUUID returns a random RFC 4122 version 4 UUID (container instance and container ids).
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func defaultRand(n int) int { return mrand.IntN(n) }
