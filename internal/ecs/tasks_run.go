package ecs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/scheduler"
	"github.com/berth-dev/berth/internal/store"
)

// launchSpec is what RunTask and StartTask share: the resolved definition,
// overrides, and the demand one task places on an instance.
type launchSpec struct {
	def       ecstypes.TaskDefinition
	defTags   []ecstypes.Tag
	overrides ecstypes.TaskOverride
	demand    scheduler.Demand
	cpu, mem  string // task-level strings as reported on the task
	startedBy string
	tags      []ecstypes.Tag
	// healthChecked lists essential containers that have a health check.
	healthChecked []string
	// gpus is how many GPUs each container gets, in definition order
	// (their sum is demand.GPUs).
	gpus []int32
}

type launchInput struct {
	taskDefinition string
	overrides      *ecstypes.TaskOverride
	group          string
	startedBy      string
	tags           []ecstypes.Tag
	propagateTags  string
	launchType     string
	// networkConfiguration is the request's awsvpcConfiguration holder.
	networkConfiguration *ecstypes.NetworkConfiguration
}

func (s *Service) prepareLaunch(tx *store.Tx, in launchInput) (launchSpec, error) {
	switch in.launchType {
	case "", ecstypes.LaunchTypeEC2, ecstypes.LaunchTypeEXTERNAL:
	default:
		return launchSpec{}, awserr.UnsupportedFeature("%s", "Berth does not support the "+in.launchType+" launch type yet.")
	}
	if err := validateTags(in.tags); err != nil {
		return launchSpec{}, err
	}
	if len(in.startedBy) > 128 {
		return launchSpec{}, awserr.InvalidParameter("startedBy can be up to 128 characters.")
	}
	rec, err := s.resolveTaskDef(tx, in.taskDefinition)
	if e, ok := awserr.As(err); ok && e.Code == awserr.CodeClient {
		return launchSpec{}, awserr.Client("TaskDefinition not found.")
	}
	if err != nil {
		return launchSpec{}, err
	}
	def := rec.TaskDefinition
	if aws.ToString(def.Status) != "ACTIVE" {
		return launchSpec{}, awserr.Client("TaskDefinition is inactive")
	}
	if mode := aws.ToString(def.NetworkMode); mode == ecstypes.NetworkModeAwsvpc {
		return launchSpec{}, awserr.UnsupportedFeature("Berth does not support the awsvpc network mode yet; use bridge, host or none.")
	}
	if in.networkConfiguration != nil {
		return launchSpec{}, awserr.InvalidParameter("Network Configuration is not valid for the given networkMode of this task definition.")
	}
	spec := launchSpec{def: def, defTags: rec.Tags, startedBy: in.startedBy, tags: in.tags}
	if in.overrides != nil {
		spec.overrides = *in.overrides
	}
	spec.overrides.InferenceAcceleratorOverrides = orEmpty(spec.overrides.InferenceAcceleratorOverrides)
	if in.propagateTags == ecstypes.PropagateTagsTASKDEFINITION {
		spec.tags = append(append([]ecstypes.Tag{}, rec.Tags...), spec.tags...)
	}
	if err := s.computeDemand(&spec); err != nil {
		return launchSpec{}, err
	}
	spec.overrides.ContainerOverrides = everyContainerOverride(def.ContainerDefinitions, spec.overrides.ContainerOverrides)
	spec.demand.Group = in.group
	if spec.demand.Group == "" {
		spec.demand.Group = "family:" + aws.ToString(def.Family)
	}
	return spec, nil
}

// computeDemand derives CPU, memory, static ports and GPUs from the definition and overrides.
func (s *Service) computeDemand(spec *launchSpec) error {
	def, ov := spec.def, spec.overrides
	byName := map[string]ecstypes.ContainerOverride{}
	for _, co := range ov.ContainerOverrides {
		name := aws.ToString(co.Name)
		if !containsContainer(def.ContainerDefinitions, name) {
			return awserr.InvalidParameter("%s", "Override for container named "+name+" is not a container in the TaskDefinition.")
		}
		byName[name] = co
	}
	spec.cpu, spec.mem = aws.ToString(def.Cpu), aws.ToString(def.Memory)
	if ov.Cpu != nil {
		spec.cpu = *ov.Cpu
	}
	if ov.Memory != nil {
		spec.mem = *ov.Memory
	}
	var cpuSum, memSum int32
	mode := aws.ToString(def.NetworkMode)
	for _, c := range def.ContainerDefinitions {
		co := byName[aws.ToString(c.Name)]
		cpu, mem, res := aws.ToInt32(c.Cpu), aws.ToInt32(c.Memory), aws.ToInt32(c.MemoryReservation)
		if co.Cpu != nil {
			cpu = *co.Cpu
		}
		if co.Memory != nil {
			mem = *co.Memory
		}
		if co.MemoryReservation != nil {
			res = *co.MemoryReservation
		}
		gpus, err := containerGPUs(c, co)
		if err != nil {
			return err
		}
		spec.gpus = append(spec.gpus, gpus)
		spec.demand.GPUs += gpus
		cpuSum += cpu
		if mem > 0 {
			memSum += mem
		} else {
			memSum += res
		}
		for _, pm := range c.PortMappings {
			host := aws.ToInt32(pm.HostPort)
			if mode == ecstypes.NetworkModeHost && host == 0 {
				host = aws.ToInt32(pm.ContainerPort)
			}
			if host == 0 || mode == ecstypes.NetworkModeNone {
				continue
			}
			p := strconv.Itoa(int(host))
			if aws.ToString(pm.Protocol) == "udp" {
				spec.demand.PortsUDP = append(spec.demand.PortsUDP, p)
			} else {
				spec.demand.Ports = append(spec.demand.Ports, p)
			}
		}
		if aws.ToBool(essentialOf(c)) && c.HealthCheck != nil {
			spec.healthChecked = append(spec.healthChecked, aws.ToString(c.Name))
		}
	}
	spec.demand.CPU, spec.demand.Memory = cpuSum, memSum
	if spec.cpu != "" {
		v, err := parseTaskCPU(spec.cpu)
		if err != nil {
			return awserr.InvalidParameter("Invalid task cpu %q.", spec.cpu)
		}
		spec.demand.CPU = v
	}
	if spec.mem != "" {
		v, err := parseTaskMemory(spec.mem)
		if err != nil {
			return awserr.InvalidParameter("Invalid task memory %q.", spec.mem)
		}
		spec.demand.Memory = v
	}
	return nil
}

func essentialOf(c ecstypes.ContainerDefinition) *bool {
	if c.Essential == nil {
		return aws.Bool(true)
	}
	return c.Essential
}

func containsContainer(defs []ecstypes.ContainerDefinition, name string) bool {
	for _, c := range defs {
		if aws.ToString(c.Name) == name {
			return true
		}
	}
	return false
}

// newTask builds the record of a task placed on an instance, holding the
// GPUs gpuIDs (the instance's lowest free ids, spec.demand.GPUs of them).
func (s *Service) newTask(cname string, spec launchSpec, inst instanceRecord, gpuIDs []string) taskRecord {
	id := newID()
	arn := s.arns.task(cname, id)
	now := ecstypes.Time(s.now())
	var containers []ecstypes.Container
	perContainer := assignGPUs(gpuIDs, spec.gpus)
	for i, c := range spec.def.ContainerDefinitions {
		ct := ecstypes.Container{
			ContainerArn:      aws.String(s.arns.container(cname, id, newUUID())),
			TaskArn:           aws.String(arn),
			Name:              c.Name,
			Image:             c.Image,
			LastStatus:        aws.String("PENDING"),
			Cpu:               aws.String(strconv.Itoa(int(aws.ToInt32(c.Cpu)))),
			NetworkInterfaces: []ecstypes.NetworkInterface{},
		}
		if c.Memory != nil {
			ct.Memory = aws.String(strconv.Itoa(int(*c.Memory)))
		}
		if c.MemoryReservation != nil {
			ct.MemoryReservation = aws.String(strconv.Itoa(int(*c.MemoryReservation)))
		}
		if c.HealthCheck != nil {
			ct.HealthStatus = aws.String("UNKNOWN")
		}
		ct.GpuIds = perContainer[i]
		containers = append(containers, ct)
	}
	task := ecstypes.Task{
		TaskArn:              aws.String(arn),
		ClusterArn:           aws.String(s.arns.cluster(cname)),
		TaskDefinitionArn:    spec.def.TaskDefinitionArn,
		ContainerInstanceArn: inst.Instance.ContainerInstanceArn,
		LastStatus:           aws.String("PENDING"),
		DesiredStatus:        aws.String("RUNNING"),
		CreatedAt:            now,
		Version:              aws.Int64(1),
		LaunchType:           aws.String(ecstypes.LaunchTypeEC2),
		Group:                aws.String(spec.demand.Group),
		Overrides:            &spec.overrides,
		Containers:           containers,
		Tags:                 orEmpty(spec.tags),
		HealthStatus:         aws.String("UNKNOWN"),
		EnableExecuteCommand: aws.Bool(false),
		Attachments:          []ecstypes.Attachment{},
		Attributes:           []ecstypes.Attribute{},
	}
	// Without task-level sizes ECS reports what the containers add up to.
	task.Cpu = aws.String(cmp.Or(spec.cpu, strconv.Itoa(int(spec.demand.CPU))))
	task.Memory = aws.String(cmp.Or(spec.mem, strconv.Itoa(int(spec.demand.Memory))))
	if spec.startedBy != "" {
		task.StartedBy = aws.String(spec.startedBy)
	}
	for _, a := range inst.Instance.Attributes {
		switch aws.ToString(a.Name) {
		case "ecs.availability-zone":
			task.AvailabilityZone = a.Value
		case "ecs.cpu-architecture":
			task.Attributes = append(task.Attributes, ecstypes.Attribute{Name: a.Name, Value: a.Value})
		}
	}
	reserved := reservation{
		CPU: spec.demand.CPU, Memory: spec.demand.Memory, Ports: spec.demand.Ports, PortsUDP: spec.demand.PortsUDP,
		GPUs: slices.Concat(perContainer...),
	}
	return taskRecord{
		Task:          task,
		InstanceID:    idFromARN(aws.ToString(inst.Instance.ContainerInstanceArn)),
		Reserved:      reserved,
		HealthChecked: spec.healthChecked,
	}
}

// placementSnapshot builds the placement candidates of a cluster from the
// read model: its instances (with remaining resources and attributes, made
// ready when the read model took them in) and whether their agents are
// connected. Its cost grows with the cluster's instances, never with its
// tasks. commitTasks re-checks every choice against the instance records.
func placementSnapshot(rm *readModel, cname string) []scheduler.Candidate {
	cands := make([]scheduler.Candidate, 0, rm.instances.Count(idxInstanceCluster, cname))
	rm.instances.Ascend(idxInstanceCluster, cname, "", func(_ string, r *instanceRecord) bool {
		cands = append(cands, r.cand)
		return true
	})
	for i := range cands {
		_, cands[i].Connected = rm.sessions.Get(cands[i].ID)
	}
	return cands
}

// placementModel returns the read model and the cluster's candidates, at
// least as fresh as the transaction's snapshot where it matters: the
// instances always (new ones, drains); the tasks only when a stage counts
// the group's tasks; the agent sessions only when an instance looks
// disconnected (one that just connected must take tasks, while one that
// just went away is the race ECS has too: the task waits for its agent).
// Syncing only what is read keeps a placement off the slow path of a
// cache that has not changed.
func (s *Service) placementModel(ctx context.Context, tx *store.Tx, cname string, groups bool) (*readModel, []scheduler.Candidate, error) {
	rev := tx.Revision()
	parts := instancesPart
	if groups {
		parts |= tasksPart
	}
	rm, err := s.syncedModel(ctx, rev, parts)
	if err != nil {
		return nil, nil, err
	}
	cands := placementSnapshot(rm, cname)
	for i := range cands {
		if cands[i].Connected {
			continue
		}
		if err := rm.sessions.SyncTo(ctx, rev); err != nil {
			return nil, nil, fmt.Errorf("read model: %w", err)
		}
		for j := range cands {
			_, cands[j].Connected = rm.sessions.Get(cands[j].ID)
		}
		break
	}
	return rm, cands, nil
}

// needsTasks says whether a placement reads the instances' tasks: spread
// and distinctInstance count the group's, memberOf may ask for task groups
// and counts.
func needsTasks(strategies []scheduler.Strategy, constraints []parsedConstraint) bool {
	for _, s := range strategies {
		if s.Type == "spread" {
			return true
		}
	}
	return len(constraints) > 0
}

// instanceOf is the read model's record of a candidate instance.
func instanceOf(rm *readModel, cname, id string) instanceRecord {
	r, _ := rm.instances.Get(cname + "/" + id)
	if r == nil {
		return instanceRecord{}
	}
	return *r
}

// groupCounts counts the tasks of one group on each instance, on demand:
// only placements that spread by or constrain on the group ask, and they
// pay one index lookup per instance asked about. take records a task this
// placement adds.
type groupCounts struct {
	rm             *readModel
	prefix, suffix string // index value: prefix + instance id + suffix
	known          map[string]int
}

func newGroupCounts(rm *readModel, cname, group string) *groupCounts {
	return &groupCounts{rm: rm, prefix: cname + "/", suffix: sep + group, known: map[string]int{}}
}

func (g *groupCounts) count(id string) int {
	if n, ok := g.known[id]; ok {
		return n
	}
	n := g.rm.tasks.Count(idxTaskGroupOn, g.prefix+id+g.suffix)
	g.known[id] = n
	return n
}

func (g *groupCounts) take(id string) { g.known[id] = g.count(id) + 1 }

// commitTasks reserves what new tasks hold on their instances and writes
// the tasks. The reservations are checked against the instance records the
// transaction assumes at the read model's revisions (reserve): two servers
// placing on one instance at once conflict, and one of them re-plans from a
// fresher snapshot. errStalePlacement means the plan no longer fits.
func (s *Service) commitTasks(tx *store.Tx, rm *readModel, cname string, placed []taskRecord) error {
	byInstance := map[string][]reservation{}
	var order []string
	for _, t := range placed {
		if _, ok := byInstance[t.InstanceID]; !ok {
			order = append(order, t.InstanceID)
		}
		byInstance[t.InstanceID] = append(byInstance[t.InstanceID], t.Reserved)
	}
	if err := s.reserve(tx, rm, cname, order, byInstance); err != nil {
		return err
	}
	for _, t := range placed {
		store.Put(tx, tasks, cname+"/"+idFromARN(aws.ToString(t.Task.TaskArn)), t)
	}
	return nil
}

// prefetchLaunch reads what a launch reads first (the cluster, its client
// token, the task definition when the reference names a revision) in one
// round trip.
func (s *Service) prefetchLaunch(tx *store.Tx, clusterRef, taskDefRef string, token runToken) error {
	cname, ok := s.arns.clusterName(clusterRef)
	if !ok {
		return nil // getActiveCluster says why
	}
	refs := []store.Ref{store.RefTo(s.st, clusters, cname)}
	if token.token != "" {
		refs = append(refs, store.RefTo(s.st, runTokens, token.id(cname)))
	}
	if family, rev, err := s.parseTaskDefRef(taskDefRef); err == nil && rev != 0 {
		refs = append(refs, store.RefTo(s.st, taskDefs, taskDefID(family, rev)))
	}
	return store.Prefetch(tx, refs...)
}

// maxPlanAttempts bounds how often a placement is planned again because
// the read model was behind the instance records.
const maxPlanAttempts = 5

// placeStripes is how many placement locks a server keeps.
const placeStripes = 64

// placementLock serialises this server's placements in one cluster (by a
// lock striped over cluster names). Placements read and write the records
// of the instances they place on, so concurrent RunTask calls in one
// cluster would mostly conflict and retry; taking turns costs less. Other
// servers' placements still meet at the instance records' revisions.
func (s *Service) placementLock(clusterRef string) func() {
	name, _ := s.arns.clusterName(clusterRef)
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	mu := &s.placing[h.Sum32()%placeStripes]
	mu.Lock()
	return mu.Unlock
}

// retryStale runs place again while it fails with errStalePlacement.
func retryStale(place func() error) error {
	var err error
	for range maxPlanAttempts {
		if err = place(); !errors.Is(err, errStalePlacement) {
			return err
		}
	}
	return fmt.Errorf("place tasks: %w", err)
}

// parsePlacement checks RunTask's strategies and constraints, before any
// read: a malformed expression is refused without touching the store.
func parsePlacement(in *ecstypes.RunTaskRequest) ([]scheduler.Strategy, error) {
	var strategies []scheduler.Strategy
	if len(in.PlacementStrategy) > 5 {
		return nil, awserr.InvalidParameter("A maximum of 5 placement strategies is allowed.")
	}
	for _, ps := range in.PlacementStrategy {
		st := scheduler.Strategy{Type: aws.ToString(ps.Type), Field: aws.ToString(ps.Field)}
		if err := scheduler.ValidateStrategy(st); err != nil {
			return nil, awserr.InvalidParameter("%s", "Invalid placement strategy: "+err.Error()+".")
		}
		strategies = append(strategies, st)
	}
	if _, err := placementConstraints(nil, in.PlacementConstraints); err != nil {
		return nil, err
	}
	return strategies, nil
}

// runRequest is RunTask's request checked before any read: the count and
// the placement strategies.
type runRequest struct {
	in         *ecstypes.RunTaskRequest
	count      int
	strategies []scheduler.Strategy
}

func checkRunTask(in *ecstypes.RunTaskRequest) (runRequest, error) {
	count := int(aws.ToInt32(in.Count))
	if in.Count == nil {
		count = 1
	}
	if count < 1 || count > 10 {
		return runRequest{}, awserr.InvalidParameter("count must be between 1 and 10.")
	}
	if len(in.CapacityProviderStrategy) > 0 {
		return runRequest{}, awserr.UnsupportedFeature("Berth does not support capacity provider strategies yet; use launchType EC2.")
	}
	strategies, err := parsePlacement(in)
	if err != nil {
		return runRequest{}, err
	}
	return runRequest{in: in, count: count, strategies: strategies}, nil
}

// runDecision is what a RunTask decides before it writes anything: the
// tasks to start, each on its instance, and the failures.
type runDecision struct {
	rm       *readModel
	placed   []taskRecord
	failures []ecstypes.Failure
	// verdicts say, when asked for, how every instance stood for the first
	// task (see ExplainPlacement).
	verdicts []InstanceVerdict
}

// decideRunTask plans a RunTask in cluster cname at the transaction's
// snapshot: one scheduler.Plan for its count of tasks.
func (s *Service) decideRunTask(ctx context.Context, tx *store.Tx, cname string, r runRequest, explain bool) (runDecision, error) {
	in := r.in
	spec, err := s.prepareLaunch(tx, launchInput{
		taskDefinition: aws.ToString(in.TaskDefinition), overrides: in.Overrides, group: aws.ToString(in.Group),
		startedBy: aws.ToString(in.StartedBy), tags: in.Tags, propagateTags: aws.ToString(in.PropagateTags),
		launchType: aws.ToString(in.LaunchType), networkConfiguration: in.NetworkConfiguration,
	})
	if err != nil {
		return runDecision{}, err
	}
	parsed, err := placementConstraints(spec.def.PlacementConstraints, in.PlacementConstraints)
	if err != nil {
		return runDecision{}, err
	}
	rm, cands, err := s.placementModel(ctx, tx, cname, needsTasks(r.strategies, parsed))
	if err != nil {
		return runDecision{}, err
	}
	if len(cands) == 0 {
		return runDecision{}, awserr.InvalidParameter("No Container Instances were found in your cluster.")
	}
	groups := newGroupCounts(rm, cname, spec.demand.Group)
	decided := &decisionTasks{}
	req := scheduler.Request{
		Demand: spec.demand, Candidates: cands, Strategies: r.strategies,
		Constraints: bind(parsed, rm, cname, decided), GroupCount: groups.count, Rand: s.randn,
	}
	plan := scheduler.NewPlan(req)
	d := runDecision{rm: rm, failures: []ecstypes.Failure{}}
	if explain {
		d.verdicts = verdicts(req, plan.Rejections())
	}
	seen := map[string]bool{}
	for range r.count {
		i, ok := plan.Next()
		if !ok {
			// ECS's reason per instance; Berth's explanation of the
			// whole decision in each failure's detail.
			rejections := plan.Rejections()
			detail := aws.String(scheduler.Explain(req, rejections))
			for _, r := range rejections {
				if !seen[r.ARN+r.Reason] {
					seen[r.ARN+r.Reason] = true
					d.failures = append(d.failures, ecstypes.Failure{Arn: aws.String(r.ARN), Reason: aws.String(r.Reason), Detail: detail})
				}
			}
			continue
		}
		if explain && len(d.placed) == 0 {
			chose(d.verdicts, cands[i].ARN)
		}
		chosen := cands[i].ID
		// The lowest free GPU ids (Take leaves the rest to the next task).
		gpus := cands[i].GPUs[:spec.demand.GPUs]
		d.placed = append(d.placed, s.newTask(cname, spec, instanceOf(rm, cname, chosen), gpus))
		plan.Take(i)
		decided.add(chosen, spec.demand.Group)
	}
	return d, nil
}

// RunTask places count new tasks on the cluster's instances.
func (s *Service) RunTask(ctx context.Context, in *ecstypes.RunTaskRequest) (*ecstypes.RunTaskResponse, error) {
	r, err := checkRunTask(in)
	if err != nil {
		return nil, err
	}
	token, err := newRunToken(in)
	if err != nil {
		return nil, err
	}
	out := &ecstypes.RunTaskResponse{}
	defer s.placementLock(aws.ToString(in.Cluster))()
	err = retryStale(func() error {
		return s.st.Update(ctx, func(tx *store.Tx) error {
			out.Tasks, out.Failures = []ecstypes.Task{}, []ecstypes.Failure{}
			if err := s.prefetchLaunch(tx, aws.ToString(in.Cluster), aws.ToString(in.TaskDefinition), token); err != nil {
				return err
			}
			c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
			if err != nil {
				return err
			}
			cname := aws.ToString(c.Cluster.ClusterName)
			if done, err := s.replayRunTask(tx, cname, token, out); done || err != nil {
				return err
			}
			d, err := s.decideRunTask(ctx, tx, cname, r, false)
			if err != nil {
				return err
			}
			if err := s.commitTasks(tx, d.rm, cname, d.placed); err != nil {
				return err
			}
			for _, t := range d.placed {
				out.Tasks = append(out.Tasks, t.Task)
			}
			out.Failures = d.failures
			s.recordRunToken(tx, cname, token, out)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for i := range out.Tasks {
		out.Tasks[i] = taskReply(out.Tasks[i], true)
	}
	return out, nil
}

// StartTask starts one task on each named instance: the custom-scheduler hook.
func (s *Service) StartTask(ctx context.Context, in *ecstypes.StartTaskRequest) (*ecstypes.StartTaskResponse, error) {
	if n := len(in.ContainerInstances); n < 1 || n > 10 {
		return nil, awserr.InvalidParameter("containerInstances must name between 1 and 10 container instances.")
	}
	out := &ecstypes.StartTaskResponse{}
	defer s.placementLock(aws.ToString(in.Cluster))()
	err := retryStale(func() error {
		return s.st.Update(ctx, func(tx *store.Tx) error {
			out.Tasks, out.Failures = []ecstypes.Task{}, []ecstypes.Failure{}
			c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
			if err != nil {
				return err
			}
			cname := aws.ToString(c.Cluster.ClusterName)
			spec, err := s.prepareLaunch(tx, launchInput{
				taskDefinition: aws.ToString(in.TaskDefinition), overrides: in.Overrides, group: aws.ToString(in.Group),
				startedBy: aws.ToString(in.StartedBy), tags: in.Tags, propagateTags: aws.ToString(in.PropagateTags),
				networkConfiguration: in.NetworkConfiguration,
			})
			if err != nil {
				return err
			}
			rm, cands, err := s.placementModel(ctx, tx, cname, false)
			if err != nil {
				return err
			}
			groups := newGroupCounts(rm, cname, spec.demand.Group)
			var placed []taskRecord
			for _, ref := range in.ContainerInstances {
				_, id, ok := s.arns.idOf(ref, "container-instance")
				idx := -1
				for i := range cands {
					if ok && cands[i].ID == id {
						idx = i
					}
				}
				if idx < 0 {
					out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(ref), Reason: aws.String("MISSING")})
					continue
				}
				req := scheduler.Request{Demand: spec.demand, Candidates: cands[idx : idx+1], GroupCount: groups.count}
				chosen, rejections, fits := scheduler.Place(req)
				if !fits {
					out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(rejections[0].ARN), Reason: aws.String(rejections[0].Reason),
						Detail: aws.String(scheduler.Explain(req, rejections))})
					continue
				}
				t := s.newTask(cname, spec, instanceOf(rm, cname, chosen.ID), chosen.GPUs[:spec.demand.GPUs])
				placed = append(placed, t)
				groups.take(chosen.ID)
				cands[idx].Take(spec.demand)
				out.Tasks = append(out.Tasks, t.Task)
			}
			return s.commitTasks(tx, rm, cname, placed)
		})
	})
	if err != nil {
		return nil, err
	}
	for i := range out.Tasks {
		out.Tasks[i] = taskReply(out.Tasks[i], true)
	}
	return out, nil
}

// taskRef resolves a task ARN or id (with the request's cluster) to its store id.
func (s *Service) taskRef(clusterRef, ref string) (cname, id string, ok bool) {
	cname, ok = s.arns.clusterName(clusterRef)
	if !ok {
		return "", "", false
	}
	c, id, ok := s.arns.idOf(ref, "task")
	if !ok {
		return "", "", false
	}
	if c != "" {
		if clusterRef != "" && c != cname {
			return "", "", false
		}
		cname = c
	}
	return cname, id, !strings.Contains(id, "/")
}
