package fleet

import (
	"context"
	"log/slog"
	goruntime "runtime"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/agent"
)

// progress counts the instances' milestones and logs summary lines
// instead of a line per instance.
type progress struct {
	total                 int
	began                 time.Time
	registered, connected atomic.Int64
	failed                atomic.Int64 // instances that could not start
	allConnected          atomic.Bool
	log                   *slog.Logger
}

var _ agent.Observer = (*progress)(nil)

// Registered logs, once, when the last instance has registered: the time
// from start to a fully registered fleet is the number that matters.
func (p *progress) Registered(string) {
	if p.registered.Add(1) == int64(p.total) {
		p.log.Info("all sim instances registered", "instances", p.total, "took", time.Since(p.began).Round(time.Millisecond),
			"goroutines", goruntime.NumGoroutine())
	}
}

// Connected logs, once, when every instance holds its ACS websocket.
func (p *progress) Connected(string) {
	if p.connected.Add(1) == int64(p.total) && !p.allConnected.Swap(true) {
		p.log.Info("all sim instances connected", "instances", p.total, "took", time.Since(p.began).Round(time.Millisecond),
			"goroutines", goruntime.NumGoroutine())
	}
}

func (p *progress) Disconnected(string) { p.connected.Add(-1) }

// snapshot is what one summary line reports.
type snapshot struct {
	registered, connected, failed int64
}

func (p *progress) snapshot() snapshot {
	return snapshot{registered: p.registered.Load(), connected: p.connected.Load(), failed: p.failed.Load()}
}

// quietSummaries is how many intervals pass without a summary while
// nothing changes.
const quietSummaries = 6

// run logs a summary every interval while the counts change, and every
// quietSummaries intervals while they do not, until ctx is done. It is the
// fleet's one logging goroutine.
func (p *progress) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last snapshot
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s := p.snapshot(); s != last || tick%quietSummaries == 0 {
			p.log.Info("sim instances", "registered", s.registered, "connected", s.connected, "failed", s.failed,
				"of", p.total, "elapsed", time.Since(p.began).Round(time.Millisecond),
				"goroutines", goruntime.NumGoroutine(), "heapMiB", heapMiB())
			last = s
		}
	}
}

// heapMiB is the live heap, for the summary line (ReadMemStats stops the
// world briefly; once per interval is fine).
func heapMiB() uint64 {
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return m.HeapAlloc >> 20
}
