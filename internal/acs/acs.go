// Package acs owns ECS's Agent Communication Service protocol as Berth's
// server and agent speak it, and as the official amazon-ecs-agent speaks it:
// the websocket's query parameters, the JSON envelope, the messages
// (payloads of tasks, acknowledgements, heartbeats, task manifests and stop
// verification, errors), and the conversion between a task definition and
// the task shape ACS sends (NewTask on the server, Task.Definition on the
// agent).
//
// The server sends a task when it is new to the instance or its desired
// status changed; it never stops a task by leaving it out of a payload.
// Periodically it sends a TaskManifestMessage listing every task it has on
// the instance; the agent answers with the tasks it runs that the manifest
// does not want (TaskStopVerificationMessage), and stops those the server
// confirms (TaskStopVerificationAck). State flows back through
// SubmitTaskStateChange; health and metrics through the telemetry
// connection (package tcs).
package acs

import (
	"encoding/json"
	"fmt"
)

// Path is the websocket path under the endpoint DiscoverPollEndpoint
// returns: the agent appends it to that URL.
const Path = "/ws"

// Query parameters of the ACS websocket upgrade, as the official agent
// sends them.
const (
	QueryClusterArn           = "clusterArn" // the cluster's name or ARN
	QueryContainerInstanceArn = "containerInstanceArn"
	QueryAgentVersion         = "agentVersion"
	QueryAgentHash            = "agentHash"
	QueryDockerVersion        = "dockerVersion"
	QueryProtocolVersion      = "protocolVersion"
	QuerySendCredentials      = "sendCredentials"
	QuerySeqNum               = "seqNum"
)

// Envelope frames every message on the socket: the message's type (or an
// error's name) and its body.
type Envelope struct {
	Type    string          `json:"type"`
	Message json.RawMessage `json:"message"`
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
