package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// sample is one wrk run against one target.
type sample struct {
	wrkResult
	cpuTicks int64   // the target's process's CPU meanwhile, 1/100 s
	served   []int64 // requests each backend served meanwhile (health checks included)
}

// results holds samples by target, in round order.
type results map[string][]sample

// print writes a line per target (median and range over the rounds) and
// the ratios, each taken within a round and then summarised the same way.
func (r results) print(targets []string) {
	fmt.Printf("\n%-8s %-26s %-9s %-9s %-26s %-14s %-11s %s\n", "target", "req/s median (min-max)", "p50", "p90", "p99 median (min-max)", "CPU us/req", "backends %", "errors, non-2xx")
	for _, t := range targets {
		s := r[t]
		if len(s) == 0 {
			continue
		}
		var errs, non2xx int64
		for _, x := range s {
			errs, non2xx = errs+x.errors, non2xx+x.non2xx
		}
		fmt.Printf("%-8s %-26s %-9s %-9s %-26s %-14s %-11s %d, %d\n", t,
			spread(of(s, func(x sample) float64 { return x.reqPerSec }), "%.0f"),
			ms(median(of(s, func(x sample) float64 { return ms64(x.p50) }))),
			ms(median(of(s, func(x sample) float64 { return ms64(x.p90) }))),
			spread(of(s, func(x sample) float64 { return ms64(x.p99) }), "%.2fms"),
			fmt.Sprintf("%.1f", cpuPerRequest(s)), split(s), errs, non2xx)
	}
	ratio := func(a, b string, f func(sample) float64) string {
		sa, sb := r[a], r[b]
		if len(sa) == 0 || len(sa) != len(sb) {
			return "-"
		}
		v := make([]float64, len(sa))
		for i := range sa {
			v[i] = f(sa[i]) / f(sb[i])
		}
		return spread(v, "%.2f")
	}
	rps := func(x sample) float64 { return x.reqPerSec }
	p99 := func(x sample) float64 { return ms64(x.p99) }
	fmt.Println()
	if _, ok := r["berth"]; ok {
		fmt.Printf("throughput berth/haproxy: %s (goal >= 0.80)\n", ratio("berth", "haproxy", rps))
		fmt.Printf("p99 berth/direct:         %s (goal <= 2.00)\n", ratio("berth", "direct", p99))
	}
	fmt.Printf("p99 haproxy/direct:       %s\n", ratio("haproxy", "direct", p99))
	fmt.Printf("throughput haproxy/direct: %s\n", ratio("haproxy", "direct", rps))
	if _, ok := r["berth"]; ok {
		fmt.Printf("throughput berth/direct:  %s\n", ratio("berth", "direct", rps))
	}
	fmt.Println("ratios are per round (same round, adjacent runs), then median (min-max); CPU us/req is the serving process's user+system CPU per request (direct: the backend)")
}

// split is each backend's share of the requests served, over all samples.
func split(s []sample) string {
	var total int64
	per := make([]int64, len(s[0].served))
	for _, x := range s {
		for i, n := range x.served {
			per[i] += n
			total += n
		}
	}
	if total == 0 {
		return "-"
	}
	var parts []string
	for _, n := range per {
		parts = append(parts, fmt.Sprintf("%.0f", 100*float64(n)/float64(total)))
	}
	return strings.Join(parts, "/")
}

func of(s []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = f(x)
	}
	return out
}

func ms64(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ms(v float64) string { return fmt.Sprintf("%.2fms", v) }

// cpuPerRequest is microseconds of the process's CPU per request, over all
// samples.
func cpuPerRequest(s []sample) float64 {
	var ticks, reqs int64
	for _, x := range s {
		ticks, reqs = ticks+x.cpuTicks, reqs+x.requests
	}
	if reqs == 0 {
		return 0
	}
	return float64(ticks) * 1e4 / float64(reqs)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(v []float64, f string) string {
	return fmt.Sprintf(f+" ("+f+"-"+f+")", median(v), slices.Min(v), slices.Max(v))
}
