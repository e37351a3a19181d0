package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

const (
	taskDefActive   = "ACTIVE"
	taskDefInactive = "INACTIVE"

	// msgTaskDefMissing is what ECS answers for any task definition it cannot find.
	msgTaskDefMissing = "Unable to describe task definition."
)

// RegisterTaskDefinition stores a new revision of a task definition family.
func (s *Service) RegisterTaskDefinition(ctx context.Context, in *ecstypes.RegisterTaskDefinitionRequest) (*ecstypes.RegisterTaskDefinitionResponse, error) {
	if err := checkRegisterRequest(in); err != nil {
		return nil, err
	}
	tags, err := mergeTags(nil, in.Tags)
	if err != nil {
		return nil, err
	}
	// ECS answers with tags only when the request had some.
	var replyTags []ecstypes.Tag
	if len(tags) > 0 {
		replyTags = tags
	}
	family := aws.ToString(in.Family)
	base, err := s.newTaskDef(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("register task definition %s: %w", family, err)
	}

	var out ecstypes.TaskDefinition
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		fam, err := store.Get(tx, families, family)
		switch {
		case errors.Is(err, store.ErrNotFound):
			fam = familyRecord{Family: family}
		case err != nil:
			return err
		}
		active, err := activeRevisions(tx, fam)
		if err != nil {
			return err
		}
		fam.LatestRevision++
		fam.ActiveRevisions = aws.Int32(active + 1)
		// fn may run again: work on a fresh copy of base each time.
		td := base
		td.Revision = aws.Int32(fam.LatestRevision)
		td.TaskDefinitionArn = aws.String(s.arns.taskDef(family, fam.LatestRevision))
		store.Put(tx, taskDefs, taskDefID(family, fam.LatestRevision), taskDefRecord{TaskDefinition: td, Tags: tags})
		store.Put(tx, families, family, fam)
		out = td
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("register task definition %s: %w", family, err)
	}
	s.log.Debug("registered task definition", "arn", aws.ToString(out.TaskDefinitionArn))
	return &ecstypes.RegisterTaskDefinitionResponse{TaskDefinition: &out, Tags: replyTags}, nil
}

// newTaskDef turns a validated request into the stored definition, minus its
// revision and ARN: every field the caller gave, plus what ECS adds.
func (s *Service) newTaskDef(ctx context.Context, in *ecstypes.RegisterTaskDefinitionRequest) (ecstypes.TaskDefinition, error) {
	// The request and the definition share their JSON member names, so a
	// JSON round trip copies every field (deeply) without listing them.
	var td ecstypes.TaskDefinition
	raw, err := json.Marshal(in)
	if err != nil {
		return td, fmt.Errorf("encode request: %w", err)
	}
	if err := json.Unmarshal(raw, &td); err != nil {
		return td, fmt.Errorf("copy request: %w", err)
	}
	mode := networkModeOf(in.NetworkMode)
	for i := range td.ContainerDefinitions {
		normalizeContainer(&td.ContainerDefinitions[i], mode)
	}
	td.Volumes = orEmpty(td.Volumes)
	for i := range td.Volumes {
		// ECS stores the root it mounts: "/" when the caller gave none.
		if efs := td.Volumes[i].EfsVolumeConfiguration; efs != nil && efs.RootDirectory == nil {
			efs.RootDirectory = aws.String("/")
		}
	}
	// ECS converts "1 vCPU" and "2 GB" to units and MiB when it registers.
	if td.Cpu != nil {
		if n, err := parseTaskCPU(*td.Cpu); err == nil {
			td.Cpu = aws.String(strconv.Itoa(int(n)))
		}
	}
	if td.Memory != nil {
		if n, err := parseTaskMemory(*td.Memory); err == nil {
			td.Memory = aws.String(strconv.Itoa(int(n)))
		}
	}
	if td.PlacementConstraints == nil {
		td.PlacementConstraints = []ecstypes.TaskDefinitionPlacementConstraint{}
	}
	td.Status = aws.String(taskDefActive)
	td.RegisteredAt = ecstypes.Time(s.now())
	td.RegisteredBy = aws.String(s.principalARN(ctx))
	td.Compatibilities = compatibilities(in)
	td.RequiresAttributes = []ecstypes.Attribute{}
	return td, nil
}

// normalizeContainer applies the defaults ECS fills in on registration.
func normalizeContainer(c *ecstypes.ContainerDefinition, mode string) {
	if c.Essential == nil {
		c.Essential = aws.Bool(true)
	}
	if c.Cpu == nil {
		c.Cpu = aws.Int32(0)
	}
	for i := range c.PortMappings {
		pm := &c.PortMappings[i]
		if pm.Protocol == nil {
			pm.Protocol = aws.String("tcp")
		}
		if (mode == "host" || mode == "awsvpc") && pm.HostPort == nil && pm.ContainerPort != nil {
			pm.HostPort = aws.Int32(*pm.ContainerPort)
		}
	}
	if c.PortMappings == nil {
		c.PortMappings = []ecstypes.PortMapping{}
	}
	if c.Environment == nil {
		c.Environment = []ecstypes.KeyValuePair{}
	}
	if c.MountPoints == nil {
		c.MountPoints = []ecstypes.MountPoint{}
	}
	if c.VolumesFrom == nil {
		c.VolumesFrom = []ecstypes.VolumeFrom{}
	}
}

// principalARN is the registeredBy of a definition: the caller, or the
// account root when the request carries no principal (tests, dev mode).
func (s *Service) principalARN(ctx context.Context) string {
	root := "arn:aws:iam::" + s.cfg.AccountID + ":root"
	p, ok := api.PrincipalFrom(ctx)
	switch {
	case !ok || p.ARN == "" || p.ARN == "root":
		return root
	case strings.HasPrefix(p.ARN, "arn:"):
		return p.ARN
	default:
		return "arn:aws:iam::" + s.cfg.AccountID + ":user/" + p.ARN
	}
}

// DeregisterTaskDefinition marks one revision INACTIVE.
func (s *Service) DeregisterTaskDefinition(ctx context.Context, in *ecstypes.DeregisterTaskDefinitionRequest) (*ecstypes.DeregisterTaskDefinitionResponse, error) {
	ref := aws.ToString(in.TaskDefinition)
	family, rev, err := s.parseTaskDefRef(ref)
	if err != nil {
		return nil, err
	}
	if rev == 0 {
		return nil, awserr.Client("Invalid revision number. Specify the task definition as family:revision or as its full ARN, not only the family %q.", family)
	}
	var out ecstypes.TaskDefinition
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		rec, err := getTaskDef(tx, family, rev)
		if err != nil {
			return err
		}
		if aws.ToString(rec.TaskDefinition.Status) == taskDefActive {
			fam, err := store.Get(tx, families, family)
			if err != nil {
				return fmt.Errorf("get family %s: %w", family, err)
			}
			active, err := activeRevisions(tx, fam)
			if err != nil {
				return err
			}
			rec.TaskDefinition.Status = aws.String(taskDefInactive)
			rec.TaskDefinition.DeregisteredAt = ecstypes.Time(s.now())
			store.Put(tx, taskDefs, taskDefID(family, rev), rec)
			fam.ActiveRevisions = aws.Int32(max(active-1, 0))
			store.Put(tx, families, family, fam)
		}
		out = rec.TaskDefinition
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deregister task definition %s: %w", ref, err)
	}
	return &ecstypes.DeregisterTaskDefinitionResponse{TaskDefinition: &out}, nil
}

// DescribeTaskDefinition returns one revision; a bare family means its
// newest ACTIVE revision.
func (s *Service) DescribeTaskDefinition(ctx context.Context, in *ecstypes.DescribeTaskDefinitionRequest) (*ecstypes.DescribeTaskDefinitionResponse, error) {
	ref := aws.ToString(in.TaskDefinition)
	var rec taskDefRecord
	err := s.st.View(ctx, func(tx *store.Tx) error {
		var err error
		rec, err = s.resolveTaskDef(tx, ref)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("describe task definition %s: %w", ref, err)
	}
	// ECS always sends tags here: the definition's own with include TAGS.
	out := &ecstypes.DescribeTaskDefinitionResponse{TaskDefinition: &rec.TaskDefinition, Tags: []ecstypes.Tag{}}
	if includes(in.Include, ecstypes.TaskDefinitionFieldTAGS) {
		out.Tags = orEmpty(rec.Tags)
	}
	return out, nil
}

// resolveTaskDef finds the revision a reference names: "family" (its newest
// ACTIVE revision), "family:revision" or a task definition ARN. An explicit
// revision is returned even when INACTIVE; callers that need an ACTIVE one
// (RunTask) check Status. A missing definition is a ClientException.
func (s *Service) resolveTaskDef(tx *store.Tx, ref string) (taskDefRecord, error) {
	family, rev, err := s.parseTaskDefRef(ref)
	if err != nil {
		return taskDefRecord{}, err
	}
	if rev != 0 {
		return getTaskDef(tx, family, rev)
	}
	// Find the newest ACTIVE revision with an untracked scan from the
	// newest down, then read that one revision tracked: the transaction
	// stays small however many revisions the family has.
	var newest int32
	err = store.Scan(tx, taskDefs, family+"/", "", true, func(_ string, rec taskDefRecord) (bool, error) {
		if aws.ToString(rec.TaskDefinition.Status) == taskDefActive {
			newest = aws.ToInt32(rec.TaskDefinition.Revision)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return taskDefRecord{}, fmt.Errorf("find the newest revision of %s: %w", family, err)
	}
	if newest == 0 {
		return taskDefRecord{}, awserr.Client(msgTaskDefMissing)
	}
	rec, err := getTaskDef(tx, family, newest)
	if err == nil && aws.ToString(rec.TaskDefinition.Status) != taskDefActive {
		return taskDefRecord{}, awserr.Client(msgTaskDefMissing) // deregistered since the scan's snapshot
	}
	return rec, err
}

// activeRevisions is how many revisions of a family are ACTIVE: kept in
// the family record, or counted once for a record from before it was.
func activeRevisions(tx *store.Tx, fam familyRecord) (int32, error) {
	if fam.ActiveRevisions != nil || fam.Family == "" {
		return aws.ToInt32(fam.ActiveRevisions), nil
	}
	var n int32
	err := store.Scan(tx, taskDefs, fam.Family+"/", "", false, func(_ string, rec taskDefRecord) (bool, error) {
		if aws.ToString(rec.TaskDefinition.Status) == taskDefActive {
			n++
		}
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("count active revisions of %s: %w", fam.Family, err)
	}
	return n, nil
}

// getTaskDef reads one revision; missing is a ClientException.
func getTaskDef(tx *store.Tx, family string, rev int32) (taskDefRecord, error) {
	rec, err := store.Get(tx, taskDefs, taskDefID(family, rev))
	if errors.Is(err, store.ErrNotFound) {
		return rec, awserr.Client(msgTaskDefMissing)
	}
	return rec, err
}

// parseTaskDefRef splits a task definition reference into family and
// revision; rev is 0 when the reference is a bare family.
func (s *Service) parseTaskDefRef(ref string) (family string, rev int32, err error) {
	if ref == "" {
		return "", 0, awserr.Client(msgTaskDefMissing)
	}
	body := ref
	if strings.HasPrefix(ref, "arn:") {
		typ, rest, ok := s.arns.resource(ref)
		if !ok || typ != "task-definition" {
			return "", 0, awserr.Client(msgTaskDefMissing)
		}
		body = rest
	}
	family, revStr, hasRev := strings.Cut(body, ":")
	if !validName(family) {
		return "", 0, awserr.Client(msgTaskDefMissing)
	}
	if !hasRev {
		return family, 0, nil
	}
	n, perr := strconv.ParseInt(revStr, 10, 32)
	if perr != nil || n < 1 {
		return "", 0, awserr.Client("Invalid revision number. Number: %s", revStr)
	}
	return family, int32(n), nil
}

// networkModeOf is the effective network mode: ECS's default is bridge.
func networkModeOf(mode *string) string {
	if mode == nil {
		return "bridge"
	}
	return *mode
}
