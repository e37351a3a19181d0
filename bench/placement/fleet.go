package main

import (
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/cql"
	"github.com/berth-dev/berth/internal/scheduler"
)

// instanceType is what an EC2 instance type registers with ECS: its CPU units
// and the memory the agent reports (a little under the physical memory).
type instanceType struct {
	name   string
	cpu    int32
	memory int32 // MiB
}

// types are cycled through so that half of them match the bench's memberOf
// expression (m5.* or c5.large).
var types = []instanceType{
	{"m5.large", 2048, 7680},
	{"c5.xlarge", 4096, 7502},
	{"m5.xlarge", 4096, 15681},
	{"t3.medium", 2048, 3904},
	{"c5.large", 2048, 3704},
	{"r5.large", 2048, 15690},
}

var zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

// agentAttributes are the capability attributes an ECS agent on Amazon Linux
// 2 registers, all without a value; with the ecs.* attributes below every
// instance has 40.
var agentAttributes = []string{
	"com.amazonaws.ecs.capability.logging-driver.syslog",
	"com.amazonaws.ecs.capability.logging-driver.awsfirelens",
	"com.amazonaws.ecs.capability.logging-driver.json-file",
	"com.amazonaws.ecs.capability.logging-driver.awslogs",
	"com.amazonaws.ecs.capability.logging-driver.none",
	"com.amazonaws.ecs.capability.privileged-container",
	"com.amazonaws.ecs.capability.docker-remote-api.1.17",
	"com.amazonaws.ecs.capability.docker-remote-api.1.18",
	"com.amazonaws.ecs.capability.docker-remote-api.1.19",
	"com.amazonaws.ecs.capability.docker-remote-api.1.20",
	"com.amazonaws.ecs.capability.docker-remote-api.1.21",
	"com.amazonaws.ecs.capability.docker-remote-api.1.22",
	"com.amazonaws.ecs.capability.docker-remote-api.1.23",
	"com.amazonaws.ecs.capability.docker-remote-api.1.24",
	"com.amazonaws.ecs.capability.docker-remote-api.1.25",
	"com.amazonaws.ecs.capability.docker-remote-api.1.26",
	"com.amazonaws.ecs.capability.docker-remote-api.1.27",
	"com.amazonaws.ecs.capability.docker-remote-api.1.28",
	"com.amazonaws.ecs.capability.docker-remote-api.1.29",
	"com.amazonaws.ecs.capability.docker-remote-api.1.30",
	"com.amazonaws.ecs.capability.docker-remote-api.1.31",
	"com.amazonaws.ecs.capability.docker-remote-api.1.32",
	"com.amazonaws.ecs.capability.ecr-auth",
	"com.amazonaws.ecs.capability.task-iam-role",
	"com.amazonaws.ecs.capability.task-iam-role-network-host",
	"ecs.capability.execution-role-awslogs",
	"ecs.capability.execution-role-ecr-pull",
	"ecs.capability.secrets.asm.environment-variables",
	"ecs.capability.secrets.ssm.environment-variables",
	"ecs.capability.container-health-check",
	"ecs.capability.task-eni",
	"ecs.capability.efsAuth",
	"ecs.capability.container-ordering",
}

// fleet returns n candidates shaped like a large ECS cluster's instances:
// zones round-robin, instance types cycling independently of the zone, 40
// attributes each, the agent's reserved ports, a few tasks already running on
// some of them, and one in fifty without a connected agent.
func fleet(n int) []scheduler.Candidate {
	registered := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]scheduler.Candidate, n)
	for i := range out {
		typ := types[(i/len(zones))%len(types)]
		attrs := make(map[string]string, len(agentAttributes)+7)
		for _, a := range agentAttributes {
			attrs[a] = ""
		}
		attrs["ecs.availability-zone"] = zones[i%len(zones)]
		attrs["ecs.instance-type"] = typ.name
		attrs["ecs.os-type"] = "linux"
		attrs["ecs.os-family"] = "LINUX"
		attrs["ecs.cpu-architecture"] = "x86_64"
		attrs["ecs.ami-id"] = "ami-0c1b2a3d4e5f60718"
		attrs["ecs.vpc-id"] = "vpc-0a1b2c3d"
		running := i % 4 // tasks of other services already there
		id := fmt.Sprintf("%032x", i)
		out[i] = scheduler.Candidate{
			ID:            id,
			ARN:           "arn:aws:ecs:us-east-1:000000000000:container-instance/bench/" + id,
			Active:        true,
			Connected:     i%50 != 49,
			CPU:           typ.cpu - int32(running)*256,
			Memory:        typ.memory - int32(running)*512,
			Ports:         []string{"22", "2375", "2376", "51678", "51679"},
			PortsUDP:      nil,
			Attributes:    attrs,
			EC2InstanceID: fmt.Sprintf("i-%017x", i),
			AgentVersion:  "1.89.2",
			RegisteredAt:  registered.Add(time.Duration(i) * time.Second),
			RunningTasks:  running,
		}
	}
	return out
}

// memberOf adapts a compiled expression to scheduler.Matcher the way
// internal/ecs does (its adapter is unexported): one Subject reused for every
// candidate, and String formatting the expression each time it is asked.
type memberOf struct {
	expr    *cql.Expr
	subject candidateSubject
}

var _ scheduler.Matcher = (*memberOf)(nil)

func (m *memberOf) Match(c *scheduler.Candidate) bool {
	m.subject.c = c
	return m.expr.Eval(&m.subject)
}

func (m *memberOf) ReadsTasks() bool { return m.expr.ReadsTasks() }

func (m *memberOf) String() string { return m.expr.String() }

// candidateSubject answers an expression's questions from the candidate
// alone: the bench's candidates run no tasks of interest to task:group.
type candidateSubject struct{ c *scheduler.Candidate }

var _ cql.Subject = (*candidateSubject)(nil)

func (s *candidateSubject) Attribute(name string) (string, bool) {
	v, ok := s.c.Attributes[name]
	return v, ok
}
func (s *candidateSubject) EC2InstanceID() string   { return s.c.EC2InstanceID }
func (s *candidateSubject) AgentConnected() bool    { return s.c.Connected }
func (s *candidateSubject) AgentVersion() string    { return s.c.AgentVersion }
func (s *candidateSubject) RegisteredAt() time.Time { return s.c.RegisteredAt }
func (s *candidateSubject) RunningTasksCount() int  { return s.c.RunningTasks }
func (s *candidateSubject) TaskGroups() []string    { return nil }
