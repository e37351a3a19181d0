package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is a capped exponential backoff with jitter.
type backoff struct {
	min, max time.Duration
}

// delay returns the wait before retry number attempt (0-based): min*2^attempt
// capped at max, then jittered to a random value in [d/2, d) so that many
// agents restarted together do not retry in lockstep.
func (b backoff) delay(attempt int) time.Duration {
	d := b.min
	for i := 0; i < attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half)
}

// firstBeat is a random delay in (0, interval].
func firstBeat(interval time.Duration) time.Duration {
	if interval <= 1 {
		return interval
	}
	return 1 + rand.N(interval)
}

// sleepCtx waits d or until ctx is done; it reports whether the full wait
// elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
