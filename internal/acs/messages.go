package acs

// The messages of ECS's Agent Communication Service, as the official agent
// reads and writes them (its model: ecs-agent/acs/model/api/api-2.json in
// aws/amazon-ecs-agent). Only the members Berth uses are declared; decoders
// ignore the rest, and the agent ignores members it does not know.

// Message types (the envelope's "type").
const (
	TypePayload                 = "PayloadMessage"
	TypeAck                     = "AckRequest"
	TypeHeartbeat               = "HeartbeatMessage"
	TypeHeartbeatAck            = "HeartbeatAckRequest"
	TypeTaskManifest            = "TaskManifestMessage"
	TypeTaskStopVerification    = "TaskStopVerificationMessage"
	TypeTaskStopVerificationAck = "TaskStopVerificationAck"
	TypeCloseMessage            = "CloseMessage"
	TypeIAMRoleCredentials      = "IAMRoleCredentialsMessage"
	TypeIAMRoleCredentialsAck   = "IAMRoleCredentialsAckRequest"
)

// PayloadMessage (server -> agent) carries tasks to start, or whose desired
// status changed. Tasks absent from it are not affected: the server never
// stops a task by leaving it out (see TaskManifestMessage). The agent
// drops a payload that lacks messageId, clusterArn or containerInstanceArn,
// and acknowledges every other one with an AckRequest.
type PayloadMessage struct {
	MessageID            string `json:"messageId"`
	ClusterArn           string `json:"clusterArn"`
	ContainerInstanceArn string `json:"containerInstanceArn"`
	SeqNum               int64  `json:"seqNum"`
	GeneratedAt          int64  `json:"generatedAt,omitempty"` // epoch seconds
	Timeline             *int64 `json:"timeline,omitempty"`
	Tasks                []Task `json:"tasks"`
}

// AckRequest (agent -> server) acknowledges a payload or a task manifest.
type AckRequest struct {
	MessageID         string `json:"messageId"`
	Cluster           string `json:"cluster,omitempty"`
	ContainerInstance string `json:"containerInstance,omitempty"`
}

// HeartbeatMessage (server -> agent) tells the agent the connection is
// alive; it answers with a HeartbeatAckRequest.
type HeartbeatMessage struct {
	MessageID string `json:"messageId"`
	Healthy   bool   `json:"healthy"`
}

// HeartbeatAckRequest (agent -> server) answers a HeartbeatMessage.
type HeartbeatAckRequest struct {
	MessageID string `json:"messageId"`
}

// TaskIdentifier names a task and its desired status.
type TaskIdentifier struct {
	TaskArn        string `json:"taskArn"`
	TaskClusterArn string `json:"taskClusterArn,omitempty"`
	DesiredStatus  string `json:"desiredStatus,omitempty"`
}

// TaskManifestMessage (server -> agent) lists every task the server has on
// the instance with its desired status. The agent acknowledges it and
// answers with the tasks it runs that the manifest does not list (or lists
// as STOPPED) as stop candidates.
type TaskManifestMessage struct {
	MessageID            string           `json:"messageId"`
	ClusterArn           string           `json:"clusterArn"`
	ContainerInstanceArn string           `json:"containerInstanceArn"`
	GeneratedAt          int64            `json:"generatedAt,omitempty"`
	Timeline             int64            `json:"timeline"`
	Tasks                []TaskIdentifier `json:"tasks"`
}

// TaskStopVerificationMessage (agent -> server) asks which of its stop
// candidates the server wants stopped.
type TaskStopVerificationMessage struct {
	MessageID      string           `json:"messageId"`
	StopCandidates []TaskIdentifier `json:"stopCandidates"`
}

// TaskStopVerificationAck (server -> agent) names the candidates to stop.
type TaskStopVerificationAck struct {
	MessageID   string           `json:"messageId"`
	GeneratedAt int64            `json:"generatedAt,omitempty"`
	StopTasks   []TaskIdentifier `json:"stopTasks"`
}

// ErrorMessage is the message of every error envelope; the envelope's type
// names the error (ErrorType*).
type ErrorMessage struct {
	Message string `json:"message"`
}

// CloseMessage (server -> agent) asks the agent to close and reconnect.
type CloseMessage struct {
	Message string `json:"message"`
}

// The error envelope types the official agent recognises. After
// InactiveInstanceException it waits before it redials.
const (
	ErrorTypeInactiveInstance = "InactiveInstanceException"
	ErrorTypeInvalidInstance  = "InvalidInstanceException"
	ErrorTypeInvalidCluster   = "InvalidClusterException"
	ErrorTypeBadRequest       = "BadRequestException"
	ErrorTypeServer           = "ServerException"
	ErrorTypeAccessDenied     = "AccessDeniedException"
)
