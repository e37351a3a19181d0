package proxy

import (
	"math/rand/v2"
	"time"
)

// pickHint is what a request or connection brings to target selection
// beyond the group itself.
type pickHint struct {
	// sticky is the target key a stickiness cookie names ("" none); it
	// wins when that target is usable.
	sticky string
	// hash, when useHash, picks by flow (network listeners): the same
	// flow or client lands on the same target while the usable set holds.
	hash    uint64
	useHash bool
}

// usable appends g's usable targets to buf: the healthy, non-draining
// ones, or, when none is healthy, every non-draining one (fail open, as
// ELB does). failOpen reports the latter.
func (g *groupView) usable(buf []*targetView) (cands []*targetView, failOpen bool) {
	cands = buf
	for _, t := range g.targets {
		if !t.draining && t.st.health.Load() == healthHealthy {
			cands = append(cands, t)
		}
	}
	if len(cands) > 0 {
		return cands, false
	}
	for _, t := range g.targets {
		if !t.draining {
			cands = append(cands, t)
		}
	}
	return cands, true
}

// pick chooses the target for one request or connection; nil when the
// group has no usable target.
func (g *groupView) pick(h pickHint, now time.Time) *targetView {
	var buf [16]*targetView
	cands, failOpen := g.usable(buf[:0])
	n := len(cands)
	if n == 0 {
		return nil
	}
	if h.sticky != "" {
		for _, c := range cands {
			if c.key == h.sticky {
				return c
			}
		}
	}
	if h.useHash {
		return cands[h.hash%uint64(n)]
	}
	if n == 1 {
		return cands[0]
	}
	var wbuf [16]float64
	weights, ramping := g.slowStartWeights(cands, wbuf[:0], failOpen, now)
	if g.cfg.Algorithm == AlgorithmLeastOutstandingRequest {
		return leastOutstanding(cands, weights, g.st.rr.Add(1))
	}
	if ramping {
		return weightedRandom(cands, weights)
	}
	return cands[(g.st.rr.Add(1)-1)%uint64(n)]
}

// slowStartWeights gives each candidate its share: 1, or for a target in
// its slow start window the fraction of the window elapsed (linear ramp,
// with a small floor so it gets its first requests). ramping reports
// whether any weight is below 1. Failing open skips slow start.
func (g *groupView) slowStartWeights(cands []*targetView, buf []float64, failOpen bool, now time.Time) (w []float64, ramping bool) {
	w = buf
	ss := g.cfg.SlowStart
	for _, c := range cands {
		wt := 1.0
		if ss > 0 && !failOpen {
			if since := c.st.healthySince.Load(); since != 0 {
				if el := now.Sub(time.Unix(0, since)); el < ss {
					wt = max(float64(el)/float64(ss), 0.01)
					ramping = true
				}
			}
		}
		w = append(w, wt)
	}
	return w, ramping
}

// leastOutstanding picks the candidate with the fewest in-flight
// requests per unit of weight; ties rotate from start.
func leastOutstanding(cands []*targetView, weights []float64, start uint64) *targetView {
	n := len(cands)
	off := int(start % uint64(n))
	var best *targetView
	bestScore := 0.0
	for i := range n {
		j := (off + i) % n
		score := float64(cands[j].st.inflight.Load()+1) / weights[j]
		if best == nil || score < bestScore {
			best, bestScore = cands[j], score
		}
	}
	return best
}

// weightedRandom picks a candidate with probability proportional to its
// weight.
func weightedRandom(cands []*targetView, weights []float64) *targetView {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	x := rand.Float64() * total
	for i, w := range weights {
		if x < w {
			return cands[i]
		}
		x -= w
	}
	return cands[len(cands)-1]
}

// pickGroup chooses among a forward action's groups by weight; a group
// named by a stickiness cookie wins when it has weight. nil when no
// group has weight or exists.
func pickGroup(groups map[string]*groupView, fwd []WeightedGroup, sticky string) *groupView {
	if len(fwd) == 1 {
		return groups[fwd[0].ARN]
	}
	total := 0
	for _, wg := range fwd {
		if groups[wg.ARN] == nil || wg.Weight <= 0 {
			continue
		}
		if wg.ARN == sticky {
			return groups[wg.ARN]
		}
		total += wg.Weight
	}
	if total == 0 {
		return nil
	}
	x := rand.IntN(total)
	for _, wg := range fwd {
		if groups[wg.ARN] == nil || wg.Weight <= 0 {
			continue
		}
		if x < wg.Weight {
			return groups[wg.ARN]
		}
		x -= wg.Weight
	}
	return nil
}
