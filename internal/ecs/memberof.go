package ecs

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/cql"
	"github.com/berth-dev/berth/internal/scheduler"
)

// maxPlacementConstraints is ECS's limit on a task's constraints, those of
// its task definition and those of the request together.
const maxPlacementConstraints = 10

// parseMemberOf compiles a memberOf expression, or says where it is wrong
// in an InvalidParameterException.
func parseMemberOf(expr string) (*cql.Expr, error) {
	if expr == "" {
		return nil, awserr.InvalidParameter("A memberOf placement constraint requires an expression.")
	}
	e, err := cql.Parse(expr)
	if err != nil {
		return nil, awserr.InvalidParameter("%s", "Invalid memberOf placement constraint: "+err.Error()+".")
	}
	return e, nil
}

// placementConstraints compiles a task's constraints: its task
// definition's and the request's together, as ECS applies them.
func placementConstraints(def []ecstypes.TaskDefinitionPlacementConstraint, req []ecstypes.PlacementConstraint) ([]parsedConstraint, error) {
	if len(def)+len(req) > maxPlacementConstraints {
		return nil, awserr.InvalidParameter("%s", "A task can have at most 10 placement constraints, those of its task definition and those of the request together.")
	}
	var out []parsedConstraint
	for _, c := range def {
		pc, err := parseConstraint(aws.ToString(c.Type), aws.ToString(c.Expression))
		if err != nil {
			return nil, err
		}
		out = append(out, pc)
	}
	for _, c := range req {
		pc, err := parseConstraint(aws.ToString(c.Type), aws.ToString(c.Expression))
		if err != nil {
			return nil, err
		}
		out = append(out, pc)
	}
	return out, nil
}

// parsedConstraint is a placement constraint checked and compiled, before
// it is bound to the read model of one decision (bind).
type parsedConstraint struct {
	typ  string
	expr *cql.Expr // memberOf
}

func parseConstraint(typ, expr string) (parsedConstraint, error) {
	switch typ {
	case ecstypes.PlacementConstraintTypeDistinctInstance:
		if expr != "" {
			return parsedConstraint{}, awserr.InvalidParameter("A distinctInstance placement constraint cannot have an expression.")
		}
		return parsedConstraint{typ: typ}, nil
	case ecstypes.PlacementConstraintTypeMemberOf:
		e, err := parseMemberOf(expr)
		if err != nil {
			return parsedConstraint{}, err
		}
		return parsedConstraint{typ: typ, expr: e}, nil
	}
	return parsedConstraint{}, awserr.InvalidParameter("%s", "Invalid placement constraint type "+typ+": use distinctInstance or memberOf.")
}

// bind makes the scheduler's constraints for one decision on the cluster's
// read model; placed records what the decision placed so far.
func bind(cs []parsedConstraint, rm *readModel, cname string, placed *decisionTasks) []scheduler.Constraint {
	out := make([]scheduler.Constraint, 0, len(cs))
	for _, c := range cs {
		sc := scheduler.Constraint{Type: c.typ}
		if c.expr != nil {
			sc.Member = &memberOf{expr: c.expr, subject: &instanceSubject{rm: rm, cname: cname, placed: placed}}
		}
		out = append(out, sc)
	}
	return out
}

// decisionTasks are the tasks one RunTask has placed so far, by instance:
// the read model does not hold them yet, and task:group and
// runningTasksCount must count them.
type decisionTasks struct {
	groups map[string][]string // instance id -> the placed tasks' groups
}

func (d *decisionTasks) add(instanceID, group string) {
	if d.groups == nil {
		d.groups = map[string][]string{}
	}
	d.groups[instanceID] = append(d.groups[instanceID], group)
}

// memberOf is a memberOf expression as the scheduler's Matcher.
type memberOf struct {
	expr    *cql.Expr
	subject *instanceSubject // reused for every instance: a decision runs on one goroutine
}

func (m *memberOf) Match(c *scheduler.Candidate) bool {
	m.subject.reset(c)
	return m.expr.Eval(m.subject)
}

func (m *memberOf) ReadsTasks() bool { return m.expr.ReadsTasks() }

// Explain says what part of the expression the instance fails, with what it
// holds (scheduler.MatchExplainer).
func (m *memberOf) Explain(c *scheduler.Candidate) string {
	m.subject.reset(c)
	return m.expr.Explain(m.subject)
}

func (m *memberOf) String() string { return m.expr.String() }

// instanceSubject answers an expression's questions about one candidate:
// from the candidate itself, and for the instance's tasks from the read
// model and the decision (only when the expression asks).
type instanceSubject struct {
	rm     *readModel
	cname  string
	placed *decisionTasks
	c      *scheduler.Candidate
	groups []string // the candidate's task groups, once asked
	listed bool
}

func (s *instanceSubject) reset(c *scheduler.Candidate) {
	s.c, s.groups, s.listed = c, s.groups[:0], false
}

func (s *instanceSubject) Attribute(name string) (string, bool) {
	v, ok := s.c.Attributes[name]
	return v, ok
}

func (s *instanceSubject) EC2InstanceID() string   { return s.c.EC2InstanceID }
func (s *instanceSubject) AgentConnected() bool    { return s.c.Connected }
func (s *instanceSubject) AgentVersion() string    { return s.c.AgentVersion }
func (s *instanceSubject) RegisteredAt() time.Time { return s.c.RegisteredAt }

// RunningTasksCount counts the instance's tasks that have not stopped
// (ECS counts those RUNNING; a task Berth just placed counts at once, so a
// "runningTasksCount == 0" constraint holds within one RunTask too).
func (s *instanceSubject) RunningTasksCount() int {
	n := s.rm.tasks.Count(idxTaskOnInstance, s.cname+"/"+s.c.ID)
	if s.placed != nil {
		n += len(s.placed.groups[s.c.ID])
	}
	return n
}

// TaskGroups lists the groups of the instance's tasks that have not
// stopped.
func (s *instanceSubject) TaskGroups() []string {
	if !s.listed {
		s.listed = true
		s.rm.tasks.Ascend(idxTaskOnInstance, s.cname+"/"+s.c.ID, "", func(_ string, r *taskView) bool {
			s.groups = append(s.groups, aws.ToString(r.Task.Group))
			return true
		})
		if s.placed != nil {
			s.groups = append(s.groups, s.placed.groups[s.c.ID]...)
		}
	}
	return s.groups
}
