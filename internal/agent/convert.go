package agent

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecssdk "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// submitInput turns an engine state change into the SubmitTaskStateChange
// request. StopCode and StartedAt have no field in the call (see the package
// doc for how the server derives them).
func submitInput(cluster string, c engine.TaskStateChange) *ecs.SubmitTaskStateChangeInput {
	in := &ecs.SubmitTaskStateChangeInput{
		Cluster:            aws.String(cluster),
		Task:               aws.String(c.TaskARN),
		Status:             optString(c.Status),
		Reason:             optString(wireReason(c)),
		PullStartedAt:      c.PullStartedAt,
		PullStoppedAt:      c.PullStoppedAt,
		ExecutionStoppedAt: c.ExecutionStoppedAt,
	}
	for _, ct := range c.Containers {
		sc := ecssdk.ContainerStateChange{
			ContainerName: aws.String(ct.Name),
			RuntimeId:     optString(ct.RuntimeID),
			ImageDigest:   optString(ct.ImageDigest),
			Status:        optString(ct.Status),
			Reason:        optString(ct.Reason),
		}
		if ct.ExitCode != nil {
			sc.ExitCode = aws.Int32(int32(*ct.ExitCode))
		}
		for _, nb := range ct.NetworkBindings {
			sc.NetworkBindings = append(sc.NetworkBindings, networkBinding(nb))
		}
		in.Containers = append(in.Containers, sc)
	}
	return in
}

// engineTask is a task from ACS as the engine runs it: its definition
// rebuilt from the task (overrides already applied), and the GPUs its gpu
// associations give each container. A task whose
// definition cannot be rebuilt keeps its container names and carries the
// reason as Problem, so the engine fails it (TaskFailedToStart) instead of
// leaving the server waiting.
func engineTask(t acs.Task) engine.Task {
	out := engine.Task{
		Arn: t.Arn, DesiredStatus: t.DesiredStatus, Group: t.Group, AvailabilityZone: t.Zone,
	}
	def, err := t.Definition()
	if err != nil {
		def = ecstypes.TaskDefinition{Family: aws.String(t.Family)}
		for _, c := range t.Containers {
			def.ContainerDefinitions = append(def.ContainerDefinitions, ecstypes.ContainerDefinition{
				Name: aws.String(c.Name), Image: aws.String(c.Image), Essential: aws.Bool(c.Essential),
			})
		}
		out.Problem = "CannotCreateContainerError: " + err.Error()
	}
	out.TaskDefinition = def
	gpus, err := t.GPUs()
	if err != nil && out.Problem == "" {
		out.Problem = "CannotCreateContainerError: " + err.Error()
	}
	out.GPUs = gpus
	return out
}

// failedToStartPrefixes are the reason prefixes from which the server derives
// stopCode TaskFailedToStart (see the package doc).
var failedToStartPrefixes = []string{
	"CannotPullContainerError", "CannotCreateContainerError", "CannotStartContainerError", "TaskFailedToStart",
}

// wireReason is the reason as sent: a TaskFailedToStart stop whose reason
// does not already say so gets the "TaskFailedToStart: " marker, since the
// stop code itself has no field in the call.
func wireReason(c engine.TaskStateChange) string {
	if c.StopCode != engine.StopCodeTaskFailedToStart {
		return c.Reason
	}
	for _, p := range failedToStartPrefixes {
		if strings.HasPrefix(c.Reason, p) {
			return c.Reason
		}
	}
	return "TaskFailedToStart: " + c.Reason
}

func networkBinding(nb ecstypes.NetworkBinding) ecssdk.NetworkBinding {
	out := ecssdk.NetworkBinding{
		BindIP:             nb.BindIP,
		ContainerPort:      nb.ContainerPort,
		ContainerPortRange: nb.ContainerPortRange,
		HostPort:           nb.HostPort,
		HostPortRange:      nb.HostPortRange,
	}
	if nb.Protocol != nil {
		out.Protocol = ecssdk.TransportProtocol(*nb.Protocol)
	}
	return out
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
