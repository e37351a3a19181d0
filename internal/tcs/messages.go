package tcs

import "github.com/berth-dev/berth/internal/api/gen/ecstypes"

// The messages of ECS's Telemetry Service, as the official agent reads and
// writes them (its model: ecs-agent/tcs/model/api/api-2.json in
// aws/amazon-ecs-agent). Only the members Berth uses are declared; decoders
// ignore the rest. Timestamps are epoch seconds, as the agent writes them.

// Message types (the envelope's "type").
const (
	TypePublishMetrics           = "PublishMetricsRequest"
	TypePublishHealth            = "PublishHealthRequest"
	TypePublishInstanceStatus    = "PublishInstanceStatusRequest"
	TypeHeartbeat                = "HeartbeatMessage"
	TypeAckPublishMetric         = "AckPublishMetric"
	TypeAckPublishHealth         = "AckPublishHealth"
	TypeAckPublishInstanceStatus = "AckPublishInstanceStatus"
	TypeStopTelemetrySession     = "StopTelemetrySessionMessage"
)

// The error envelope types of the service.
const (
	ErrorTypeBadRequest         = "BadRequestException"
	ErrorTypeInvalidParameter   = "InvalidParameterException"
	ErrorTypeResourceValidation = "ResourceValidationException"
	ErrorTypeServer             = "ServerException"
)

// Timestamp is a point in time as epoch seconds.
type Timestamp = ecstypes.Timestamp

// PublishMetricsRequest (agent -> server) carries the tasks' container
// metrics gathered since the last one (every 20 s by default). An idle
// instance sends one with metadata.idle and no tasks. A large set is split
// over several requests, the last with metadata.fin.
type PublishMetricsRequest struct {
	Metadata    *MetricsMetadata `json:"metadata,omitempty"`
	TaskMetrics []TaskMetric     `json:"taskMetrics,omitempty"`
	Timestamp   *Timestamp       `json:"timestamp,omitempty"`
}

// MetricsMetadata says whose metrics these are.
type MetricsMetadata struct {
	Cluster           string `json:"cluster,omitempty"`
	ContainerInstance string `json:"containerInstance,omitempty"`
	MessageID         string `json:"messageId,omitempty"`
	Idle              bool   `json:"idle,omitempty"`
	Fin               bool   `json:"fin,omitempty"`
}

// TaskMetric is one task's container metrics.
type TaskMetric struct {
	TaskArn               string            `json:"taskArn,omitempty"`
	ClusterArn            string            `json:"clusterArn,omitempty"`
	TaskDefinitionFamily  string            `json:"taskDefinitionFamily,omitempty"`
	TaskDefinitionVersion string            `json:"taskDefinitionVersion,omitempty"`
	ContainerMetrics      []ContainerMetric `json:"containerMetrics,omitempty"`
}

// ContainerMetric is one container's samples since the last publish.
// CPUStatsSet is in percent of the whole instance (100 = every core busy);
// MemoryStatsSet in MiB.
type ContainerMetric struct {
	ContainerArn   string      `json:"containerArn,omitempty"`
	ContainerName  string      `json:"containerName,omitempty"`
	CPUStatsSet    *CWStatsSet `json:"cpuStatsSet,omitempty"`
	MemoryStatsSet *CWStatsSet `json:"memoryStatsSet,omitempty"`
}

// CWStatsSet summarises samples as CloudWatch statistic sets do.
type CWStatsSet struct {
	Min         *float64 `json:"min,omitempty"`
	Max         *float64 `json:"max,omitempty"`
	SampleCount *int64   `json:"sampleCount,omitempty"`
	Sum         *float64 `json:"sum,omitempty"`
}

// Average is Sum/SampleCount; ok is false without samples.
func (s *CWStatsSet) Average() (avg float64, ok bool) {
	if s == nil || s.Sum == nil || s.SampleCount == nil || *s.SampleCount <= 0 {
		return 0, false
	}
	return *s.Sum / float64(*s.SampleCount), true
}

// PublishHealthRequest (agent -> server) carries the health of the tasks'
// health-checked containers: when it changes, and periodically.
type PublishHealthRequest struct {
	Metadata  *HealthMetadata `json:"metadata,omitempty"`
	Tasks     []TaskHealth    `json:"tasks,omitempty"`
	Timestamp *Timestamp      `json:"timestamp,omitempty"`
}

// HealthMetadata says whose health this is.
type HealthMetadata struct {
	Cluster           string `json:"cluster,omitempty"`
	ContainerInstance string `json:"containerInstance,omitempty"`
	MessageID         string `json:"messageId,omitempty"`
	Fin               bool   `json:"fin,omitempty"`
}

// TaskHealth is the health of one task's containers.
type TaskHealth struct {
	TaskArn               string            `json:"taskArn,omitempty"`
	ClusterArn            string            `json:"clusterArn,omitempty"`
	TaskDefinitionFamily  string            `json:"taskDefinitionFamily,omitempty"`
	TaskDefinitionVersion string            `json:"taskDefinitionVersion,omitempty"`
	Containers            []ContainerHealth `json:"containers,omitempty"`
}

// ContainerHealth is one container's health: HEALTHY, UNHEALTHY or UNKNOWN.
type ContainerHealth struct {
	ContainerName string     `json:"containerName,omitempty"`
	HealthStatus  string     `json:"healthStatus,omitempty"`
	StatusSince   *Timestamp `json:"statusSince,omitempty"`
	StatusMessage string     `json:"statusMessage,omitempty"`
}

// PublishInstanceStatusRequest (agent -> server) carries the instance's
// own health checks (e.g. the container runtime answering).
type PublishInstanceStatusRequest struct {
	Metadata  *InstanceStatusMetadata `json:"metadata,omitempty"`
	Statuses  []InstanceStatus        `json:"statuses,omitempty"`
	Timestamp *Timestamp              `json:"timestamp,omitempty"`
}

// InstanceStatusMetadata says whose statuses these are.
type InstanceStatusMetadata struct {
	Cluster           string `json:"cluster,omitempty"`
	ContainerInstance string `json:"containerInstance,omitempty"`
	RequestID         string `json:"requestId,omitempty"`
}

// InstanceStatus is one health check of the instance: OK, IMPAIRED,
// INSUFFICIENT_DATA or INITIALIZING.
type InstanceStatus struct {
	Type             string     `json:"type,omitempty"`
	Status           string     `json:"status,omitempty"`
	StatusReason     string     `json:"statusReason,omitempty"`
	LastUpdated      *Timestamp `json:"lastUpdated,omitempty"`
	LastStatusChange *Timestamp `json:"lastStatusChange,omitempty"`
}

// HeartbeatMessage (server -> agent) keeps the connection alive.
type HeartbeatMessage struct {
	Healthy bool `json:"healthy"`
}

// Ack is the body of AckPublishMetric, AckPublishHealth and
// AckPublishInstanceStatus (server -> agent).
type Ack struct {
	Message string `json:"message,omitempty"`
}

// ErrorMessage is the message of every error envelope; the envelope's type
// names the error (ErrorType*).
type ErrorMessage struct {
	Message string `json:"message"`
}
