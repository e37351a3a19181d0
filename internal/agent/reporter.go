package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-dev/berth/internal/agent/engine"
)

// submitter is the one ECS call the reporter makes; *ecs.Client satisfies it.
type submitter interface {
	SubmitTaskStateChange(ctx context.Context, in *ecs.SubmitTaskStateChangeInput, optFns ...func(*ecs.Options)) (*ecs.SubmitTaskStateChangeOutput, error)
}

var _ submitter = (*ecs.Client)(nil)

// reporter receives the engine's task state changes and delivers them to the
// control plane. Report never blocks: it records the latest change per task,
// and a single sender goroutine (run) submits them in order of first arrival,
// retrying each until it is accepted. It also feeds every change to the
// health tracker, which the telemetry connection publishes from.
type reporter struct {
	cluster     string
	api         submitter
	log         *slog.Logger
	retry       backoff
	callTimeout time.Duration

	mu      sync.Mutex
	pending map[string]engine.TaskStateChange // latest unsent change per task
	order   []string                          // task ARNs in pending, oldest first
	wake    chan struct{}                     // cap 1: pending is non-empty

	health *healthTracker
}

var _ engine.Reporter = (*reporter)(nil)

// reporterConfig configures a reporter.
type reporterConfig struct {
	Cluster string // name or ARN sent as cluster
	API     submitter
	Logger  *slog.Logger
	// RetryMin and RetryMax bound the backoff between failed submissions
	// (defaults 500ms and 10s); CallTimeout bounds one call (default 30s).
	RetryMin, RetryMax time.Duration
	CallTimeout        time.Duration
	// Now stamps when a container's health changed; default time.Now.
	Now func() time.Time
}

func newReporter(cfg reporterConfig) *reporter {
	r := &reporter{
		cluster:     cfg.Cluster,
		api:         cfg.API,
		log:         cfg.Logger,
		retry:       backoff{min: cfg.RetryMin, max: cfg.RetryMax},
		callTimeout: cfg.CallTimeout,
		pending:     map[string]engine.TaskStateChange{},
		wake:        make(chan struct{}, 1),
		health:      newHealthTracker(cfg.Cluster, cfg.Now),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.retry.min <= 0 {
		r.retry.min = 500 * time.Millisecond
	}
	if r.retry.max <= 0 {
		r.retry.max = 10 * time.Second
	}
	if r.callTimeout <= 0 {
		r.callTimeout = 30 * time.Second
	}
	return r
}

// Report implements engine.Reporter. It never blocks on the network.
func (r *reporter) Report(c engine.TaskStateChange) {
	r.mu.Lock()
	r.enqueueLocked(c)
	r.mu.Unlock()
	r.health.track(c)
}

// Resync re-reports a full engine snapshot after the connection to the
// control plane was (re)established. (The telemetry connection republishes
// health on its own reconnects.)
func (r *reporter) Resync(snapshot []engine.TaskStateChange) {
	r.mu.Lock()
	for _, c := range snapshot {
		r.enqueueLocked(c)
	}
	r.mu.Unlock()
	for _, c := range snapshot {
		r.health.track(c)
	}
}

func (r *reporter) enqueueLocked(c engine.TaskStateChange) {
	if _, queued := r.pending[c.TaskARN]; !queued {
		r.order = append(r.order, c.TaskARN)
	}
	r.pending[c.TaskARN] = c // latest wins, keeping its place in line
	notify(r.wake)
}

// next pops the oldest pending change.
func (r *reporter) next() (engine.TaskStateChange, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.order) == 0 {
		return engine.TaskStateChange{}, false
	}
	arn := r.order[0]
	r.order = r.order[1:]
	c := r.pending[arn]
	delete(r.pending, arn)
	return c, true
}

// putBack returns a change that failed to the head of the line, unless a
// newer change for the task arrived while it was being sent.
func (r *reporter) putBack(c engine.TaskStateChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, newer := r.pending[c.TaskARN]; newer {
		return
	}
	r.pending[c.TaskARN] = c
	r.order = append([]string{c.TaskARN}, r.order...)
}

// run is the sender loop; it returns when ctx is done.
func (r *reporter) run(ctx context.Context) {
	failures := 0
	for {
		c, ok := r.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
				continue
			}
		}
		err := r.submit(ctx, c)
		switch {
		case err == nil:
			failures = 0
			continue
		case ctx.Err() != nil:
			return
		case permanent(err):
			r.log.Warn("task state change rejected; dropping it", "task", c.TaskARN, "status", c.Status, "err", err)
			failures = 0
			continue
		}
		r.putBack(c)
		d := r.retry.delay(failures)
		failures++
		r.log.Warn("submit task state change failed; retrying", "task", c.TaskARN, "status", c.Status, "retryIn", d, "err", err)
		if !sleepCtx(ctx, d) {
			return
		}
	}
}

func (r *reporter) submit(ctx context.Context, c engine.TaskStateChange) error {
	ctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	defer cancel()
	_, err := r.api.SubmitTaskStateChange(ctx, submitInput(r.cluster, c))
	return err
}

// permanent reports whether the server refused the change for good: the
// task (or its cluster) is unknown to it, so retrying cannot help.
func permanent(err error) bool {
	// smithy.APIError, without importing smithy for one method.
	var apiErr interface{ ErrorCode() string }
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "ClientException", "InvalidParameterException":
		return true
	}
	return false
}

// notify signals a cap-1 channel without blocking.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
