package ecs

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// clockOf gives s a clock the test moves; it starts at testNow.
func clockOf(s *Service) *time.Time {
	now := testNow
	s.now = func() time.Time { return now }
	return &now
}

// An agent that stays disconnected past the grace loses its service tasks:
// they are stopped (their instance's agent gets the stop when it is back)
// and replaced on the connected instance in the same pass; one back within
// the grace loses nothing, and its clock starts afresh.
func TestServiceReplacesTasksOfLostAgent(t *testing.T) {
	s, a, b, dep := drainCluster(t, 4, 50, 200)
	clock := clockOf(s)
	onB := tasksOn(t, s, dep, "RUNNING")[b]

	disconnectAgent(t, s, b)
	pass(t, s) // starts b's clock
	*clock = clock.Add(defaultLostAgentGrace - time.Second)
	pass(t, s)
	if on := tasksOn(t, s, dep, ""); len(on[b]) != 2 || len(on[a]) != 2 {
		t.Fatalf("within the grace: %d tasks on a, %d on b; want 2 and 2", len(on[a]), len(on[b]))
	}

	// Back within the grace: the clock starts afresh on the next loss.
	connectAgent(t, s, b)
	pass(t, s)
	disconnectAgent(t, s, b)
	*clock = clock.Add(time.Minute)
	pass(t, s)
	*clock = clock.Add(defaultLostAgentGrace - time.Second)
	pass(t, s)
	if on := tasksOn(t, s, dep, ""); len(on[b]) != 2 {
		t.Fatalf("a second loss within its own grace: %d tasks on b, want 2", len(on[b]))
	}

	*clock = clock.Add(2 * time.Second)
	pass(t, s)
	on := tasksOn(t, s, dep, "")
	if len(on[b]) != 0 || len(on[a]) != 4 {
		t.Fatalf("past the grace: %d tasks on a, %d on b; want 4 and 0", len(on[a]), len(on[b]))
	}
	for _, task := range onB {
		got := describeTask(t, s, "prod", aws.ToString(task.TaskArn))
		if aws.ToString(got.DesiredStatus) != "STOPPED" || aws.ToString(got.LastStatus) != "RUNNING" ||
			aws.ToString(got.StopCode) != ecstypes.TaskStopCodeServiceSchedulerInitiated ||
			!strings.Contains(aws.ToString(got.StoppedReason), "Service web: container instance agent has been disconnected for more than 3m0s") {
			t.Fatalf("lost task %s: desired %s last %s code %s reason %q", idFromARN(aws.ToString(task.TaskArn)),
				aws.ToString(got.DesiredStatus), aws.ToString(got.LastStatus), aws.ToString(got.StopCode), aws.ToString(got.StoppedReason))
		}
	}

	// The agent comes back and stops its stale copies: exactly 4 run.
	connectAgent(t, s, b)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	if running := tasksOn(t, s, dep, "RUNNING"); len(running[a]) != 4 || len(running[b]) != 0 {
		t.Fatalf("after the agent is back: %d RUNNING on a, %d on b; want 4 and 0", len(running[a]), len(running[b]))
	}
	for _, task := range onB {
		if got := describeTask(t, s, "prod", aws.ToString(task.TaskArn)); aws.ToString(got.LastStatus) != "STOPPED" {
			t.Fatalf("stale task %s is %s once its agent is back", idFromARN(aws.ToString(task.TaskArn)), aws.ToString(got.LastStatus))
		}
	}
	svc := getService(t, s, "prod", "web").Service
	if aws.ToInt32(svc.RunningCount) != 4 || aws.ToInt32(svc.PendingCount) != 0 {
		t.Fatalf("service counts running %d pending %d, want 4 and 0", aws.ToInt32(svc.RunningCount), aws.ToInt32(svc.PendingCount))
	}
	if !hasEventSince(svc.Events, taskListEvent("web", "has stopped %d running tasks:", arnsOfTasks(onB)), testNow) {
		t.Fatalf("no event for the stopped lost tasks in %q", eventMessages(getService(t, s, "prod", "web")))
	}
}

// A task on a deregistered instance is replaced at once, without a grace,
// and is STOPPED (no agent will report it).
func TestServiceReplacesTasksOfDeregisteredInstance(t *testing.T) {
	s, a, b, dep := drainCluster(t, 4, 50, 200)
	onB := tasksOn(t, s, dep, "RUNNING")[b]
	if _, err := s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(b), Force: aws.Bool(true),
	}); err != nil {
		t.Fatalf("DeregisterContainerInstance: %v", err)
	}
	pass(t, s)
	if on := tasksOn(t, s, dep, ""); len(on[a]) != 4 || len(on[b]) != 0 {
		t.Fatalf("after the deregistration: %d tasks on a, %d on b; want 4 and 0", len(on[a]), len(on[b]))
	}
	for _, task := range onB {
		got := describeTask(t, s, "prod", aws.ToString(task.TaskArn))
		if aws.ToString(got.LastStatus) != "STOPPED" || !strings.Contains(aws.ToString(got.StoppedReason), "deregistered") {
			t.Fatalf("task of the deregistered instance: last %s reason %q", aws.ToString(got.LastStatus), aws.ToString(got.StoppedReason))
		}
	}
}

// With replacement turned off (a negative grace), a disconnected agent
// keeps its tasks however long it is away, as in ECS.
func TestServiceKeepsTasksOfLostAgentWhenOff(t *testing.T) {
	s, a, b, dep := drainCluster(t, 4, 50, 200)
	s.cfg.LostAgentGrace = -1
	clock := clockOf(s)
	disconnectAgent(t, s, b)
	pass(t, s)
	*clock = clock.Add(24 * time.Hour)
	pass(t, s)
	if on := tasksOn(t, s, dep, ""); len(on[a]) != 2 || len(on[b]) != 2 {
		t.Fatalf("%d tasks on a, %d on b; want 2 and 2", len(on[a]), len(on[b]))
	}
}

// The clock of an instance whose tasks are gone is forgotten.
func TestAgentLossForgets(t *testing.T) {
	var l agentLoss
	start := testNow
	if got := l.lostSince("c/a", start); !got.Equal(start) {
		t.Fatalf("first sight = %v, want %v", got, start)
	}
	l.forget()
	if got := l.lostSince("c/a", start.Add(time.Minute)); !got.Equal(start) {
		t.Fatalf("asked about in the last pass: since %v, want %v", got, start)
	}
	l.forget()
	l.forget() // a pass that did not ask about c/a
	if got := l.lostSince("c/a", start.Add(2*time.Minute)); !got.Equal(start.Add(2 * time.Minute)) {
		t.Fatalf("after a pass without it: since %v, want a fresh clock", got)
	}
}

func arnsOfTasks(tasks []ecstypes.Task) []string {
	out := make([]string, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, aws.ToString(t.TaskArn))
	}
	return out
}
