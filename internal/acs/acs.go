// Package acs owns the wire protocol between the control plane and its agents:
// the JSON messages on each agent's long-lived websocket, modelled on the ECS
// agent's Agent Communication Service (ACS) payload, heartbeat and ack messages.
//
// The server sends the complete set of tasks assigned to the instance in every
// PayloadMessage (level-triggered): on every change and on reconnect. A task
// absent from the set is no longer the server's concern; the agent finishes
// stopping it and cleans it up. State flows back through the public ECS calls
// SubmitTaskStateChange / SubmitContainerStateChange; container health, which
// those calls cannot carry, flows back as HealthMessage on this socket.
package acs

import (
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// Path is the websocket endpoint returned by DiscoverPollEndpoint. The upgrade
// request is SigV4-signed (service "ecs") and carries the query parameters
// clusterArn, containerInstanceArn and agentVersion.
const Path = "/acs/v1/connect"

// Message types.
const (
	TypePayload   = "PayloadMessage"
	TypeHeartbeat = "HeartbeatMessage"
	TypeAck       = "AckRequest"
	TypeHealth    = "HealthMessage"
	TypeError     = "ErrorMessage"
)

// Envelope frames every message on the socket.
type Envelope struct {
	Type    string          `json:"type"`
	Message json.RawMessage `json:"message"`
}

// PayloadMessage (server -> agent) carries the full desired task set.
type PayloadMessage struct {
	MessageID            string `json:"messageId"`
	ClusterArn           string `json:"clusterArn"`
	ContainerInstanceArn string `json:"containerInstanceArn"`
	SeqNum               int64  `json:"seqNum"`
	Tasks                []Task `json:"tasks"`
}

// Task is one task as the agent must run it.
type Task struct {
	Arn           string `json:"arn"`
	DesiredStatus string `json:"desiredStatus"` // RUNNING or STOPPED
	// StoppedReason, when DesiredStatus is STOPPED, says why (e.g. StopTask's reason).
	StoppedReason string `json:"stoppedReason,omitempty"`
	// TaskDefinition is the resolved task definition (family, revision,
	// containerDefinitions, networkMode, cpu, memory, ...).
	TaskDefinition ecstypes.TaskDefinition `json:"taskDefinition"`
	// Overrides are RunTask/StartTask overrides, applied by the agent.
	Overrides *ecstypes.TaskOverride `json:"overrides,omitempty"`
	StartedBy string                 `json:"startedBy,omitempty"`
	Group     string                 `json:"group,omitempty"`
	// Availability zone of the instance, for task metadata.
	AvailabilityZone string `json:"availabilityZone,omitempty"`
}

// HeartbeatMessage (both directions) keeps the connection alive.
type HeartbeatMessage struct {
	MessageID string `json:"messageId"`
	Healthy   bool   `json:"healthy"`
}

// AckRequest (agent -> server) acknowledges a PayloadMessage once the agent
// has taken its tasks over.
type AckRequest struct {
	MessageID string `json:"messageId"`
}

// HealthMessage (agent -> server) reports container health.
type HealthMessage struct {
	Tasks []TaskHealth `json:"tasks"`
}

// TaskHealth is the health of one task's containers.
type TaskHealth struct {
	TaskArn    string            `json:"taskArn"`
	Containers []ContainerHealth `json:"containers"`
}

// ContainerHealth is HEALTHY, UNHEALTHY or UNKNOWN (ecstypes.HealthStatus*).
type ContainerHealth struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// ErrorMessage (server -> agent) explains why the server closes the socket.
type ErrorMessage struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Encode frames msg as an Envelope of the given type.
func Encode(typ string, msg any) ([]byte, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	return json.Marshal(Envelope{Type: typ, Message: body})
}

// Decode parses an Envelope; the caller decodes Message by Type.
func Decode(data []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Envelope{}, fmt.Errorf("decode acs envelope: %w", err)
	}
	if env.Type == "" {
		return Envelope{}, fmt.Errorf("decode acs envelope: missing type")
	}
	return env, nil
}
