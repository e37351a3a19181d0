package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/bench/internal/benchproc"
)

// The placement run's request: the placement core's workload (bench/placement)
// through the API. The memberOf constraint admits the m5 half of the
// instances (placementTypes); matchesPlacement is the same test, for the
// check.
var (
	placementStrategies = []types.PlacementStrategy{
		{Type: types.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")},
		{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("memory")},
	}
	placementConstraints = []types.PlacementConstraint{
		{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:ecs.instance-type =~ m5.*")},
	}
	// placementTypes are the instance types, a quarter of the instances each
	// (consecutive instances; the sim agent hands zones out round-robin, so
	// each type is in every zone).
	placementTypes = []string{"m5.large", "m5.xlarge", "c5.large", "r5.large"}
)

func matchesPlacement(instanceType string) bool { return strings.HasPrefix(instanceType, "m5.") }

// placementGroup is the placed tasks' task group, so that spread counts
// them alone, not the plain tasks of the same definition.
const placementGroup = "bench-placement"

// placementBlock is how many tasks one side runs before the other takes its
// turn: small enough for many rounds, so that a burst of other work on the
// machine lands on both sides alike (and the per-round median discards it),
// large enough that a block's ramp-up and tail stay a small part of it.
const placementBlock = 250

// side is what one kind of RunTask call measured over its blocks.
type side struct {
	name                    string
	in                      ecs.RunTaskInput
	tasks                   int
	elapsed, calls          time.Duration // to RUNNING; the RunTask calls alone
	serverTicks, agentTicks int64
	arns                    []string
}

// placement measures RunTask of 10 tasks with spread(zone), binpack(memory)
// and a memberOf constraint beside plain RunTask of 10 tasks (the
// reference), on one fresh cluster whose instances differ in zone and
// instance type. The two take turns in blocks of placementBlock tasks
// (plain first in odd rounds, placed first in even ones), so both meet the
// same cluster sizes and the same load from whatever else the machine runs.
// It then checks where the placed tasks went: an error if any broke the
// constraint.
func placement(ctx context.Context, bin, dir string, o options) error {
	n, total := o.placementInstances, o.placementTasks
	if n < len(placementTypes) || total < 1 {
		return fmt.Errorf("placement: want at least %d instances and 1 task per side", len(placementTypes))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	simConfig, err := writePlacementSimConfig(dir, n)
	if err != nil {
		return err
	}
	// Room for both sides' tasks of 1 CPU unit and 6 MiB, as the curve's.
	per := 2*total/n + 100
	c, err := startCluster(ctx, bin, dir, n, max(per, 1024), max(per*6, 1024), "--sim-config", simConfig)
	if err != nil {
		return err
	}
	defer c.stop()
	def, err := registerDef(ctx, c.client)
	if err != nil {
		return err
	}
	plain := &side{name: "plain RunTask", in: ecs.RunTaskInput{TaskDefinition: aws.String(def)}}
	placed := &side{name: "with placement", in: ecs.RunTaskInput{TaskDefinition: aws.String(def), Group: aws.String(placementGroup),
		PlacementStrategy: placementStrategies, PlacementConstraints: placementConstraints}}

	// A warm-up round, not counted: the first calls of each kind fill the
	// server's caches and connections.
	running := 0
	for _, s := range []*side{plain, placed} {
		more, err := fillWith(ctx, c.client, s.in, 0, 100, o.workers)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		s.arns = append(s.arns, more...)
		running += len(more)
	}
	if err := waitRunning(ctx, c.client, running); err != nil {
		return err
	}
	settle(c)

	var roundRatios []float64 // placed tasks/s : plain tasks/s, to RUNNING, in each round
	for round := 0; plain.tasks < total; round++ {
		order := []*side{plain, placed}
		if round%2 == 1 {
			order = []*side{placed, plain}
		}
		perSec := map[*side]float64{}
		for _, s := range order {
			k := min(placementBlock, total-s.tasks)
			s0, a0 := benchproc.CPUTicks(c.server.Pid()), benchproc.CPUTicks(c.agent.Pid())
			began := time.Now()
			more, err := fillWith(ctx, c.client, s.in, 0, k, o.workers)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			s.calls += time.Since(began)
			running += len(more)
			if err := waitRunning(ctx, c.client, running); err != nil {
				return err
			}
			s.elapsed += time.Since(began)
			perSec[s] = rate(len(more), time.Since(began))
			s.serverTicks += benchproc.CPUTicks(c.server.Pid()) - s0
			s.agentTicks += benchproc.CPUTicks(c.agent.Pid()) - a0
			s.tasks += len(more)
			s.arns = append(s.arns, more...)
		}
		roundRatios = append(roundRatios, perSec[placed]/perSec[plain])
	}

	fmt.Printf("== placement: RunTask of 10 with spread(attribute:ecs.availability-zone), binpack(memory) and memberOf(attribute:ecs.instance-type =~ m5.*)\n")
	fmt.Printf("%d sim instances (%s, a quarter each, round-robin over 3 zones), %d clients, %d tasks per side in alternating blocks of %d\n",
		n, strings.Join(placementTypes, ", "), o.workers, total, placementBlock)
	for _, s := range []*side{plain, placed} {
		fmt.Printf("%-15s %5d tasks RUNNING in %7s = %4.0f tasks/s (RunTask calls alone %4.0f tasks/s); CPU per task: server %.2f ms, agents %.2f ms\n",
			s.name+":", s.tasks, s.elapsed.Round(time.Millisecond), rate(s.tasks, s.elapsed), rate(s.tasks, s.calls),
			float64(s.serverTicks)*10/float64(s.tasks), float64(s.agentTicks)*10/float64(s.tasks))
	}
	fmt.Printf("ratio placement/plain: %.2f in tasks/s to RUNNING, %.2f in the RunTask calls alone\n",
		rate(placed.tasks, placed.elapsed)/rate(plain.tasks, plain.elapsed), rate(placed.tasks, placed.calls)/rate(plain.tasks, plain.calls))
	slices.Sort(roundRatios)
	fmt.Printf("ratio per round (%d rounds, each a plain and a placed block side by side): median %.2f, min %.2f, max %.2f\n",
		len(roundRatios), roundRatios[len(roundRatios)/2], roundRatios[0], roundRatios[len(roundRatios)-1])

	insts, err := describeInstances(ctx, c.client)
	if err != nil {
		return err
	}
	inZone, matching := map[string]int{}, 0
	for _, in := range insts {
		inZone[in.zone]++
		if matchesPlacement(in.typ) {
			matching++
		}
	}
	fmt.Printf("instances per zone: %s; %d of %d match the memberOf constraint\n", counts(inZone), matching, len(insts))
	var violations int
	for _, s := range []*side{placed, plain} {
		where, err := whereTasksRan(ctx, c.client, s.arns, insts)
		if err != nil {
			return err
		}
		fmt.Printf("%-15s %d tasks (warm-up included) per zone: %s (max - min %d); per instance type: %s; on %d instances; outside m5.*: %d\n",
			s.name+":", len(s.arns), counts(where.zone), spreadOf(where.zone), counts(where.typ), where.instances, where.outside)
		if s == placed {
			violations = where.outside
		}
	}
	fmt.Printf("tasks placed with the constraint that violate it: %d (must be 0; the plain tasks, unconstrained, show the check sees them)\n", violations)
	fmt.Printf("server RSS with %d tasks: %.0f MiB\n", running, float64(benchproc.RSS(c.server.Pid()))/1024)
	c.report()
	fmt.Println()
	if violations > 0 {
		return fmt.Errorf("%d tasks placed outside their memberOf constraint", violations)
	}
	return nil
}

func rate(tasks int, d time.Duration) float64 { return float64(tasks) / d.Seconds() }

// writePlacementSimConfig writes the sim agent's config giving a quarter of
// the n instances each of placementTypes, and returns its path.
func writePlacementSimConfig(dir string, n int) (string, error) {
	type group struct {
		Count        int    `json:"count"`
		InstanceType string `json:"instanceType"`
	}
	var spec struct {
		InstanceType string  `json:"instanceType"` // the instances beyond the groups
		Groups       []group `json:"groups"`
	}
	last := len(placementTypes) - 1
	for _, t := range placementTypes[:last] {
		spec.Groups = append(spec.Groups, group{Count: n / len(placementTypes), InstanceType: t})
	}
	spec.InstanceType = placementTypes[last]
	raw, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "sim-config.json")
	return path, os.WriteFile(path, raw, 0o600)
}

// instance is what the check needs of a container instance.
type instance struct{ zone, typ string }

// describeInstances reads every container instance's zone and type by ARN.
func describeInstances(ctx context.Context, client *ecs.Client) (map[string]instance, error) {
	var arns []string
	pages := ecs.NewListContainerInstancesPaginator(client, &ecs.ListContainerInstancesInput{MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list container instances: %w", err)
		}
		arns = append(arns, page.ContainerInstanceArns...)
	}
	out := map[string]instance{}
	for batch := range slices.Chunk(arns, 100) {
		desc, err := client.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: batch})
		if err != nil {
			return nil, fmt.Errorf("describe container instances: %w", err)
		}
		for _, ci := range desc.ContainerInstances {
			var in instance
			for _, a := range ci.Attributes {
				switch aws.ToString(a.Name) {
				case "ecs.availability-zone":
					in.zone = aws.ToString(a.Value)
				case "ecs.instance-type":
					in.typ = aws.ToString(a.Value)
				}
			}
			out[aws.ToString(ci.ContainerInstanceArn)] = in
		}
	}
	return out, nil
}

// placedOn is where a set of tasks ran.
type placedOn struct {
	zone, typ map[string]int
	instances int // distinct
	outside   int // on instances the memberOf constraint does not admit
}

// whereTasksRan describes the tasks and counts them by their instance's
// zone and type.
func whereTasksRan(ctx context.Context, client *ecs.Client, arns []string, insts map[string]instance) (placedOn, error) {
	p := placedOn{zone: map[string]int{}, typ: map[string]int{}}
	used := map[string]bool{}
	for batch := range slices.Chunk(arns, 100) {
		out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: batch})
		if err != nil {
			return p, fmt.Errorf("describe tasks: %w", err)
		}
		if len(out.Failures) > 0 {
			return p, fmt.Errorf("describe tasks: %d failures, first %s on %s", len(out.Failures),
				aws.ToString(out.Failures[0].Reason), aws.ToString(out.Failures[0].Arn))
		}
		for _, t := range out.Tasks {
			arn := aws.ToString(t.ContainerInstanceArn)
			in, ok := insts[arn]
			if !ok {
				return p, fmt.Errorf("task %s is on unknown instance %q", aws.ToString(t.TaskArn), arn)
			}
			p.zone[in.zone]++
			p.typ[in.typ]++
			used[arn] = true
			if !matchesPlacement(in.typ) {
				p.outside++
			}
		}
	}
	p.instances = len(used)
	return p, nil
}

// counts formats a count per key, keys sorted.
func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// spreadOf is the largest count less the smallest.
func spreadOf(m map[string]int) int {
	if len(m) == 0 {
		return 0
	}
	vals := slices.Collect(maps.Values(m))
	return slices.Max(vals) - slices.Min(vals)
}
