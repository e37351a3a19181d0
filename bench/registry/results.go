package main

import (
	"fmt"
	"slices"
	"time"
)

// sample is one timed push or pull.
type sample struct {
	bytes    int64
	elapsed  time.Duration
	cpuTicks int64 // the registry process's CPU meanwhile, 1/100 s
}

func (s sample) mbps() float64 { return float64(s.bytes) / 1e6 / s.elapsed.Seconds() }

// results holds samples by case, then registry, in round order.
type results map[string]map[string][]sample

func newResults() results { return results{} }

func (r results) add(kase, reg string, bytes int64, elapsed time.Duration, ticks int64) {
	if r[kase] == nil {
		r[kase] = map[string][]sample{}
	}
	r[kase][reg] = append(r[kase][reg], sample{bytes, elapsed, ticks})
}

// print writes one line per case: each registry's MB/s (median, min-max),
// its CPU seconds per GB moved, and the ratio of the two registries' MB/s
// in the same round (median, min-max).
func (r results) print(cases []string, a, b string) {
	fmt.Printf("\n%-12s %-28s %-28s %-26s %s\n", "MB/s", a+" median (min-max)", b+" median (min-max)", a+"/"+b+" (min-max)", "server CPU s/GB "+a+" / "+b)
	for _, k := range cases {
		sa, sb := r[k][a], r[k][b]
		if len(sa) == 0 || len(sa) != len(sb) {
			continue
		}
		ra, rb, ratio := mbpsOf(sa), mbpsOf(sb), make([]float64, len(sa))
		for i := range sa {
			ratio[i] = ra[i] / rb[i]
		}
		fmt.Printf("%-12s %-28s %-28s %-26s %.1f / %.1f\n", k, spread(ra, "%.0f"), spread(rb, "%.0f"), spread(ratio, "%.2f"),
			cpuPerGB(sa), cpuPerGB(sb))
	}
}

func mbpsOf(s []sample) []float64 {
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = x.mbps()
	}
	return out
}

// cpuPerGB is the registry's CPU seconds per GB moved, over all samples.
func cpuPerGB(s []sample) float64 {
	var ticks, bytes int64
	for _, x := range s {
		ticks, bytes = ticks+x.cpuTicks, bytes+x.bytes
	}
	return float64(ticks) / 100 / (float64(bytes) / 1e9)
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
