// Command placement measures Berth's placement core (internal/scheduler)
// alone, in memory and on one core (GOMAXPROCS=1): no API, no store, no
// agents.
//
// (a) It places -tasks tasks (256 CPU units, 512 MiB, no static ports, one
// task group) one at a time onto -instances candidates shaped like a large
// ECS cluster's (3 availability zones, 6 instance types, 40 attributes each,
// some tasks already running), the way RunTask does: spread over
// attribute:ecs.availability-zone then binpack on memory, under the memberOf
// constraint
//
//	attribute:ecs.instance-type =~ m5.* or attribute:ecs.instance-type == c5.large
//
// compiled by internal/cql. Tasks are placed by scheduler.Plan, -batch tasks
// per plan as RunTask places its count (at most 10) in one plan, each
// placement followed by Plan.Take so that the next one sees it; a new plan
// sees what earlier ones placed. It then places the same tasks again with one
// plan for all of them, as a service scaling out by that many would. It
// reports placements per second beside the goal
// (20,000/s) and, measured in the same run, a reference: one plain pass over
// the same candidates reading only CPU and memory (the hand-written
// binpack(memory) of a task without constraints or spread, the least any
// placement must do), and the ratio placement/reference. Placements and
// reference passes alternate in blocks of -block so that both see the same
// machine.
//
// (b) It repeats (a) for each of -growth instance counts, placing
// -growth-tasks tasks each (1,000 by default, twice the smallest count; 0
// places twice the instances at every count, which takes minutes at 20,000),
// and prints the cost of one placement, of one reference pass, and how both
// grow with the instance count: an exponent of 1 is a placement linear in the
// instances (a RunTask of many tasks then costs tasks x instances), 2
// quadratic.
//
// It also prints how the group's tasks ended up over the zones: spread over
// the zone should keep them within 1 of each other while every zone has
// room.
//
//	go run ./bench/placement [-instances 5000] [-tasks 10000] [-batch 10] [-growth 500,5000,20000] [-growth-tasks 1000] [-cpuprofile cpu.out]
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/cql"
	"github.com/berth-dev/berth/internal/scheduler"
)

const (
	memberOfExpr = "attribute:ecs.instance-type =~ m5.* or attribute:ecs.instance-type == c5.large"
	goalPerSec   = 20000
)

// demand is one task of a service: dynamic host ports, so no static ones.
var demand = scheduler.Demand{CPU: 256, Memory: 512, Group: "service:web"}

var strategies = []scheduler.Strategy{
	{Type: "spread", Field: "attribute:ecs.availability-zone"},
	{Type: "binpack", Field: "memory"},
}

func main() {
	instances := flag.Int("instances", 5000, "instances for (a)")
	tasks := flag.Int("tasks", 10000, "tasks placed in (a)")
	growth := flag.String("growth", "500,5000,20000", "instance counts for (b), comma-separated; empty skips (b)")
	growthTasks := flag.Int("growth-tasks", 1000, "tasks placed per count in (b); 0: twice the instances")
	batch := flag.Int("batch", 10, "tasks per placement plan: RunTask's count (at most 10) is one plan")
	block := flag.Int("block", 100, "placements per timed block, each followed by as many reference passes")
	seed := flag.Uint64("seed", 1, "seed of the tie-breaking random numbers")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of (a) to this file")
	flag.Parse()
	if err := run(*instances, *tasks, *growth, *growthTasks, *batch, *block, *seed, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "placement:", err)
		os.Exit(1)
	}
}

func run(instances, tasks int, growth string, growthTasks, batch, block int, seed uint64, cpuprofile string) error {
	var counts []int
	for f := range strings.SplitSeq(growth, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return fmt.Errorf("-growth: %q is not a positive instance count", f)
		}
		counts = append(counts, n)
	}
	if instances <= 0 || tasks <= 0 || batch <= 0 || block <= 0 || growthTasks < 0 {
		return fmt.Errorf("-instances, -tasks, -batch and -block must be positive, -growth-tasks not negative")
	}
	expr, err := cql.Parse(memberOfExpr)
	if err != nil {
		return fmt.Errorf("compile memberOf: %w", err)
	}
	// One core: the placement core runs on one goroutine per decision.
	runtime.GOMAXPROCS(1)

	fmt.Printf("== (a) placement core: %d tasks onto %d instances, %d per plan (one RunTask), one core (GOMAXPROCS=1), %s\n", tasks, instances, batch, runtime.Version())
	fmt.Printf("strategies spread(attribute:ecs.availability-zone), binpack(memory); memberOf(%s)\n", expr)
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	r := measure(instances, tasks, batch, block, seed, expr)
	if cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	r.print()
	if batch < tasks {
		fmt.Printf("\n== (a) as one plan: the same %d tasks placed by one plan (a service scaling out)\n", tasks)
		measure(instances, tasks, tasks, block, seed, expr).print()
	}

	if len(counts) == 0 {
		return nil
	}
	fmt.Println()
	if growthTasks == 0 {
		fmt.Printf("== (b) growth: tasks = 2 x instances, same workload as (a), %d per plan\n", batch)
	} else {
		fmt.Printf("== (b) growth: %d tasks per count, same workload as (a), %d per plan\n", growthTasks, batch)
	}
	fmt.Printf("%9s %7s %14s %14s %7s %17s %17s\n", "instances", "tasks", "per placement", "reference", "ratio", "placement growth", "reference growth")
	var prev result
	for i, n := range counts {
		t := growthTasks
		if t == 0 {
			t = 2 * n
		}
		r := measure(n, t, batch, block, seed, expr)
		pg, rg := "", ""
		if i > 0 {
			pg = growthText(prev.perPlacement(), r.perPlacement(), prev.instances, n)
			rg = growthText(prev.perReference(), r.perReference(), prev.instances, n)
		}
		fmt.Printf("%9d %7d %14s %14s %7.1f %17s %17s\n", n, t, micros(r.perPlacement()), micros(r.perReference()),
			r.perPlacement()/r.perReference(), pg, rg)
		prev = r
	}
	fmt.Println("growth: cost ratio to the previous row, and its exponent against the instance ratio (1 linear, 2 quadratic)")
	return nil
}

// result is one measured sequence of placements.
type result struct {
	instances, tasks, placed, matching int
	place, ref                         time.Duration // all placements; as many reference passes
	allocs, bytes                      uint64        // during placements and reference passes (the passes allocate nothing)
	perZone                            map[string]int
}

func (r result) perPlacement() float64 { return float64(r.place) / float64(r.tasks) }
func (r result) perReference() float64 { return float64(r.ref) / float64(r.tasks) }

func (r result) print() {
	pp := r.perPlacement()
	rate := 1e9 / pp
	fmt.Printf("instances matching memberOf: %d of %d; placed %d of %d tasks\n", r.matching, r.instances, r.placed, r.tasks)
	var zs []string
	lo, hi := r.placed, 0
	for _, z := range zones {
		zs = append(zs, fmt.Sprintf("%s %d", z, r.perZone[z]))
		lo, hi = min(lo, r.perZone[z]), max(hi, r.perZone[z])
	}
	fmt.Printf("tasks per zone: %s (max - min %d; spread keeps it at most 1 while every zone has room)\n", strings.Join(zs, ", "), hi-lo)
	fmt.Printf("placement:  %s per placement = %.0f placements/s (goal %d/s: %s)\n", micros(pp), rate, goalPerSec, verdict(rate))
	fmt.Printf("reference:  %s per pass over %d candidates reading CPU and memory\n", micros(r.perReference()), r.instances)
	fmt.Printf("ratio placement/reference: %.1f\n", pp/r.perReference())
	fmt.Printf("allocations per placement: %.1f (%.0f bytes)\n", float64(r.allocs)/float64(r.tasks), float64(r.bytes)/float64(r.tasks))
}

func verdict(rate float64) string {
	if rate >= goalPerSec {
		return "met"
	}
	return fmt.Sprintf("not met, %.1fx too slow", goalPerSec/rate)
}

// measure places tasks onto a fresh fleet of n instances, batch tasks per
// scheduler.Plan (RunTask makes one plan per call, of up to 10 tasks), and
// times them beside as many reference passes.
func measure(n, tasks, batch, block int, seed uint64, expr *cql.Expr) result {
	cands := fleet(n)
	index := make(map[string]int, n)
	r := result{instances: n, tasks: tasks, perZone: map[string]int{}}
	m := &memberOf{expr: expr}
	for i := range cands {
		index[cands[i].ID] = i
		if m.Match(&cands[i]) {
			r.matching++
		}
	}
	group := map[string]int{} // the group's tasks per instance: what this run placed
	rng := rand.New(rand.NewPCG(seed, seed))
	req := scheduler.Request{
		Demand:      demand,
		Candidates:  cands,
		Strategies:  strategies,
		Constraints: []scheduler.Constraint{{Type: "memberOf", Member: m}},
		GroupCount:  func(id string) int { return group[id] },
		Rand:        rng.IntN,
	}
	sink := 0
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var plan *scheduler.Plan
	left := 0 // placements the current plan has yet to make
	for done := 0; done < tasks; {
		k := min(block, tasks-done)
		start := time.Now()
		for range k {
			if left == 0 {
				plan, left = scheduler.NewPlan(req), batch
			}
			left--
			i, ok := plan.Next()
			if !ok {
				continue
			}
			plan.Take(i)
			group[cands[i].ID]++ // what the next plan reads, as RunTask's read model would
			r.placed++
		}
		r.place += time.Since(start)
		start = time.Now()
		for range k {
			sink += reference(cands, demand)
		}
		r.ref += time.Since(start)
		done += k
	}
	runtime.ReadMemStats(&after)
	r.allocs = after.Mallocs - before.Mallocs
	r.bytes = after.TotalAlloc - before.TotalAlloc
	for id, k := range group {
		r.perZone[cands[index[id]].Attributes["ecs.availability-zone"]] += k
	}
	if sink == math.MinInt { // keep the reference passes from being optimised away
		fmt.Println(sink)
	}
	return r
}

// reference is the least a placement must do: one pass over the candidates
// reading CPU and memory, choosing the fitting one with the least memory
// left (binpack(memory) with no constraint, spread, port or agent check).
func reference(cands []scheduler.Candidate, d scheduler.Demand) int {
	best, least := -1, int32(math.MaxInt32)
	for i := range cands {
		c := &cands[i]
		if c.CPU >= d.CPU && c.Memory >= d.Memory && c.Memory < least {
			best, least = i, c.Memory
		}
	}
	return best
}

// growthText is "x10.2 (1.01)": how much cost grew from the previous row, and
// the exponent that growth has against the instance count's.
func growthText(prevCost, cost float64, prevN, n int) string {
	g := cost / prevCost
	return fmt.Sprintf("x%.1f (%.2f)", g, math.Log(g)/math.Log(float64(n)/float64(prevN)))
}

func micros(ns float64) string { return fmt.Sprintf("%.1f µs", ns/1e3) }
