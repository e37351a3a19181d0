package ecs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/scheduler"
	"github.com/berth-dev/berth/internal/store"
)

// ExplainPlacementResponse is Berth's dry run of a RunTask: where its tasks
// would go, the failures RunTask would return, and how every instance of
// the cluster stood for the first task. Nothing is written.
type ExplainPlacementResponse struct {
	// Tasks are the placements, one per task placed, in order.
	Tasks []PlannedTask `json:"tasks"`
	// Failures are RunTask's, reason and Berth's detail.
	Failures []ecstypes.Failure `json:"failures"`
	// Instances are every instance of the cluster, for the first task.
	Instances []InstanceVerdict `json:"instances"`
	// Summary says in one line what the dry run found.
	Summary string `json:"summary"`
}

// PlannedTask is where one task would run.
type PlannedTask struct {
	ContainerInstanceArn string `json:"containerInstanceArn"`
	Ec2InstanceID        string `json:"ec2InstanceId,omitempty"`
}

// Verdicts of ExplainPlacement, per instance.
const (
	VerdictChosen   = "CHOSEN"   // took the first task
	VerdictFits     = "FITS"     // could have taken it; the strategies preferred another
	VerdictRejected = "REJECTED" // could not take it: Reason and Detail say why
)

// InstanceVerdict is how one instance stood for the first task.
type InstanceVerdict struct {
	ContainerInstanceArn string `json:"containerInstanceArn"`
	Verdict              string `json:"verdict"`
	// Reason is ECS's reason code (RESOURCE:MEMORY, ...) when rejected.
	Reason string `json:"reason,omitempty"`
	// Detail gives the figures: "needs 512 MiB, has 256".
	Detail string `json:"detail,omitempty"`
}

// ExplainPlacement answers what RunTask would do with the same request,
// without doing it: the same checks, the same errors, the same placement
// stages on a snapshot of the cluster, but no task is written and no client
// token is used.
func (s *Service) ExplainPlacement(ctx context.Context, in *ecstypes.RunTaskRequest) (*ExplainPlacementResponse, error) {
	r, err := checkRunTask(in)
	if err != nil {
		return nil, err
	}
	if _, err := newRunToken(in); err != nil {
		return nil, err
	}
	out := &ExplainPlacementResponse{}
	err = s.st.View(ctx, func(tx *store.Tx) error {
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		d, err := s.decideRunTask(ctx, tx, cname, r, true)
		if err != nil {
			return err
		}
		out.Tasks = make([]PlannedTask, 0, len(d.placed))
		for _, t := range d.placed {
			out.Tasks = append(out.Tasks, PlannedTask{
				ContainerInstanceArn: aws.ToString(t.Task.ContainerInstanceArn),
				Ec2InstanceID:        instanceOf(d.rm, cname, t.InstanceID).cand.EC2InstanceID,
			})
		}
		out.Failures, out.Instances = d.failures, d.verdicts
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Summary = summarize(r.count, out)
	return out, nil
}

// verdicts is how every candidate stood for the first task, from the
// plan's rejections before anything was placed (reason "" fits).
func verdicts(req scheduler.Request, rejections []scheduler.Rejection) []InstanceVerdict {
	out := make([]InstanceVerdict, len(rejections))
	for i, rej := range rejections {
		v := InstanceVerdict{ContainerInstanceArn: rej.ARN, Verdict: VerdictFits}
		if rej.Reason != "" {
			v.Verdict, v.Reason = VerdictRejected, rej.Reason
			v.Detail = scheduler.Detail(req, &req.Candidates[i], rej.Reason)
		}
		out[i] = v
	}
	return out
}

// chose marks the instance that took the first task.
func chose(vs []InstanceVerdict, arn string) {
	for i := range vs {
		if vs[i].ContainerInstanceArn == arn {
			vs[i].Verdict = VerdictChosen
			return
		}
	}
}

func summarize(count int, out *ExplainPlacementResponse) string {
	fits := 0
	for _, v := range out.Instances {
		if v.Verdict != VerdictRejected {
			fits++
		}
	}
	s := fmt.Sprintf("%d of %d tasks placed; %d of %d instances could take the first", len(out.Tasks), count, fits, len(out.Instances))
	if len(out.Failures) > 0 {
		s += "; " + aws.ToString(out.Failures[0].Detail)
	}
	return s
}
