// Package tcs owns ECS's Telemetry Service protocol as Berth's server and
// agent speak it, and as the official amazon-ecs-agent speaks it: the
// websocket's query parameters, the messages (metrics, container health,
// instance status, and the server's heartbeats and acknowledgements), and
// the frame every agent message travels in.
//
// Unlike ACS, where only the websocket upgrade is signed, every TCS message
// from the agent is a frame: the header block of a SigV4-signed HTTP GET of
// the telemetry URL (service "ecs", the message as its body), written as
// http.Header.Write writes it and including Host, then a blank line, then
// the JSON envelope. SignFrame builds one; ParseFrame splits one and
// returns the request the server verifies.
//
// The agent redials when it hears nothing for about a minute, so the
// server acknowledges every publish and sends HeartbeatMessage between
// them.
package tcs

import (
	"github.com/berth-dev/berth/internal/acs"
)

// Path is the websocket path under the telemetry endpoint that
// DiscoverPollEndpoint returns: the agent appends it (after a "/" when the
// endpoint lacks one).
const Path = "/ws"

// Query parameters of the TCS websocket upgrade, as the official agent
// sends them.
const (
	QueryCluster           = "cluster" // the cluster's name or ARN
	QueryContainerInstance = "containerInstance"
	QueryAgentVersion      = "agentVersion"
	QueryAgentHash         = "agentHash"
	QueryDockerVersion     = "dockerVersion"
)

// Envelope, Encode and Decode are ACS's: both services frame messages as
// {"type": ..., "message": {...}}.
type Envelope = acs.Envelope

// Encode frames msg as an Envelope of the given type.
func Encode(typ string, msg any) ([]byte, error) { return acs.Encode(typ, msg) }

// Decode parses an Envelope; the caller decodes Message by Type.
func Decode(data []byte) (Envelope, error) { return acs.Decode(data) }
