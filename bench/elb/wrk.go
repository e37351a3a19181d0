package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const wrkBin = "/usr/bin/wrk"

// load is how wrk drives a target.
type load struct {
	threads, connections int
	host                 string // Host header, the same for every target
}

// wrkResult is what one wrk run reports.
type wrkResult struct {
	requests  int64
	reqPerSec float64
	p50, p90  time.Duration
	p99       time.Duration
	errors    int64 // socket errors of every kind: connect, read, write, timeout
	non2xx    int64 // "Non-2xx or 3xx responses"
}

// runWrk runs wrk against url for d and parses its report.
func runWrk(ctx context.Context, l load, url string, d time.Duration) (wrkResult, error) {
	args := []string{
		fmt.Sprintf("-t%d", l.threads), fmt.Sprintf("-c%d", l.connections),
		fmt.Sprintf("-d%ds", max(1, int(d.Round(time.Second).Seconds()))), "--latency",
	}
	if l.host != "" {
		args = append(args, "-H", "Host: "+l.host)
	}
	args = append(args, url)
	// wrk stops on its own after d; the margin is for a wedged target.
	wctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(wctx, wrkBin, args...).CombinedOutput()
	if ctx.Err() != nil {
		return wrkResult{}, fmt.Errorf("wrk stopped: %w", ctx.Err())
	}
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	return r, nil
}

var (
	wrkRPS       = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkTotal     = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkPercentil = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+([0-9.]+)(us|ms|s|m|h)\s*$`)
	wrkSocket    = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx    = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk's text report (with --latency). wrk prints latencies
// with the largest unit that keeps the number at or above 1: us, ms, s, m, h.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk's report")
	}
	r.reqPerSec, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkTotal.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	found := 0
	for _, m := range wrkPercentil.FindAllStringSubmatch(out, -1) {
		d, err := wrkDuration(m[2], m[3])
		if err != nil {
			return r, err
		}
		switch m[1] {
		case "50":
			r.p50 = d
		case "90":
			r.p90 = d
		case "99":
			r.p99 = d
		}
		found++
	}
	if found != 3 {
		return r, fmt.Errorf("latency distribution: %d of the 50/90/99%% lines (was --latency given?)", found)
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.errors += n
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return r, nil
}

func wrkDuration(num, unit string) (time.Duration, error) {
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("latency %s%s: %w", num, unit, err)
	}
	scale := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	return time.Duration(v * float64(scale)), nil
}
