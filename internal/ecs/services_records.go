package ecs

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// Services: what the API (services_api*.go) and the service controller
// (services_ctl*.go) share.
//
// A service is one record, "<cluster>/<service name>" in the services
// collection, holding the ECS shape (ecstypes.Service, with its deployments
// and its last events) as DescribeServices returns it, counts included as
// the controller last wrote them. The API writes what the user asks for
// (desiredCount, a new PRIMARY deployment on a new task definition or
// forceNewDeployment, DRAINING on delete); the controller reads the service
// and its tasks and moves the tasks toward what the service asks for, then
// writes back the counts, the deployments' rollout states and events.
//
// A service's tasks are ordinary tasks (the tasks collection) with
// group "service:<name>" (spread and task:group count them together) and
// startedBy the id of the deployment that started them ("ecs-svc/<19
// digits>", as ECS does): the read model's startedBy index finds a
// deployment's tasks.

// serviceRecord is a service as stored.
type serviceRecord struct {
	Service ecstypes.Service `json:"service"`
	// Generation moves with every change the API makes to what the service
	// asks for; the controller records the generation it last acted on.
	Generation int64 `json:"generation"`
	// Deleted is set when DeleteService has run: the service is DRAINING
	// until its tasks are stopped, then INACTIVE.
	Deleted bool `json:"deleted,omitempty"`
	// LastCompleted is the newest deployment that reached COMPLETED, what
	// the circuit breaker rolls back to; Breaker its count of the PRIMARY's
	// tasks that failed after RUNNING (services_ctl_breaker.go).
	LastCompleted *completedDeployment `json:"lastCompleted,omitempty"`
	Breaker       *breakerRecord       `json:"breaker,omitempty"`
	// History lists the service deployments kept (services_history.go).
	History *serviceHistory `json:"history,omitempty"`
	// TargetGroups are the target groups the service's loadBalancers name
	// or named and it still has targets in (services_ctl_lb.go).
	TargetGroups []string `json:"targetGroups,omitempty"`
}

var services = store.NewCollection[serviceRecord]("ecs/services")

// serviceID is the store id of a service.
func serviceID(cluster, name string) string { return cluster + "/" + name }

// serviceGroup is the task group of a service's tasks.
func serviceGroup(name string) string { return "service:" + name }

// service is a service's ARN, in ECS's long format.
func (a arnBuilder) service(cluster, name string) string {
	return a.prefix() + "service/" + cluster + "/" + name
}

// newDeploymentID returns a fresh deployment id, "ecs-svc/" and 19 digits,
// as ECS's look.
func newDeploymentID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	n := binary.BigEndian.Uint64(b[:]) % 9_000_000_000_000_000_000
	return "ecs-svc/" + strconv.FormatUint(1_000_000_000_000_000_000+n, 10)
}

// Deployment statuses and rollout states, as ECS has them.
const (
	deploymentPrimary  = "PRIMARY"
	deploymentActive   = "ACTIVE"
	deploymentInactive = "INACTIVE"

	rolloutInProgress = ecstypes.DeploymentRolloutStateINPROGRESS
	rolloutCompleted  = ecstypes.DeploymentRolloutStateCOMPLETED
	rolloutFailed     = ecstypes.DeploymentRolloutStateFAILED
)

// maxServiceEvents is how many events a service keeps, newest first.
const maxServiceEvents = 100

// kickServices wakes the service controller, if it is not awake already.
func (s *Service) kickServices() {
	select {
	case s.svcKick <- struct{}{}:
	default:
	}
}

// serviceTaskChanged is the tasks informer's hook: a change to a service's
// task (its group is "service:<name>") wakes the service controller.
func (s *Service) serviceTaskChanged(_ string, old, new *taskView) {
	for _, v := range []*taskView{old, new} {
		if v != nil && strings.HasPrefix(aws.ToString(v.Task.Group), "service:") {
			s.kickServices()
			return
		}
	}
}
