// Package fleet owns `berth agent --runtime sim`: many simulated container
// instances in one process. Each instance is a complete agent (registration,
// ACS websocket, a TCS websocket once it has container health to publish,
// reporter, the real task engine) on its own simulated
// runtime (package sim), with its own identity (a data directory
// <data-dir>/sim-0001, so a restart re-registers the same ARNs), resources
// and attributes (availability zones round-robin, instance type, from a Spec).
//
// What the instances share, so thousands fit in one process: one SDK client
// whose transport keeps a pool of connections to the server, one websocket
// dialer, a throttle on concurrent registrations and ACS and TCS connects, and
// aggregated logs (per-instance info lines become debug, repeated warnings
// are rate-limited, and the fleet logs summaries).
package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/agent/config"
	"github.com/berth-dev/berth/internal/agent/runtime/sim"
)

// Defaults for Config.
const (
	DefaultRegisterConcurrency = 32
	DefaultMaxConns            = 256
	DefaultProgressEvery       = 10 * time.Second
)

// Config configures Run.
type Config struct {
	// Instances is how many instances to simulate.
	Instances int
	// Agent is every instance's template: Endpoint, Region, Credentials,
	// Config, DataDir (the parent of the instances' directories), Logger,
	// HeartbeatInterval. Run fills in the rest per instance.
	Agent agent.Options
	// Spec gives each instance its zone, type, resources and attributes,
	// and the simulated engine's latency and failures.
	Spec Spec
	// RegisterConcurrency bounds concurrent registrations and ACS
	// connects; default DefaultRegisterConcurrency.
	RegisterConcurrency int
	// MaxConns bounds the shared client's connections; default
	// DefaultMaxConns.
	MaxConns int
	// ProgressEvery is how often a summary is logged while counts change.
	ProgressEvery time.Duration
}

// Run runs the instances until ctx is done. It returns an error when the
// fleet cannot start, or when every instance failed to start; an instance
// that fails alone is logged and the others keep running.
func Run(ctx context.Context, cfg Config) error {
	members, err := plan(cfg)
	if err != nil {
		return err
	}
	log := cfg.Agent.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &progress{total: len(members), began: time.Now(), log: log}
	shared := sharedOptions(cfg, p)
	quiet := newQuietHandler(log.Handler(), newLimiter(10*time.Second))
	log.Info("starting sim instances", "instances", len(members), "dataDir", cfg.Agent.DataDir,
		"registerConcurrency", shared.concurrency, "maxConns", shared.maxConns)

	progressCtx, stopProgress := context.WithCancel(ctx)
	var progressDone sync.WaitGroup
	progressDone.Go(func() { p.run(progressCtx, cmp.Or(cfg.ProgressEvery, DefaultProgressEvery)) })
	defer func() {
		stopProgress()
		progressDone.Wait()
	}()

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, m := range members {
		opts := shared.apply(cfg.Agent)
		opts.Config = m.config
		opts.DataDir = m.dataDir
		opts.Runtime = sim.New(m.runtime)
		opts.Logger = slog.New(quiet).With("instance", m.name)
		wg.Go(func() {
			if err := agent.Run(ctx, opts); err != nil {
				p.failed.Add(1)
				log.Error("sim instance failed to start", "instance", m.name, "err", err)
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", m.name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ctx.Err() == nil && len(errs) == len(members) {
		return fmt.Errorf("every sim instance failed to start: %w", errors.Join(errs[:min(len(errs), 3)]...))
	}
	if ctx.Err() == nil {
		return errors.Join(errs...)
	}
	return nil
}

// member is one planned instance.
type member struct {
	name, dataDir string
	config        config.Config
	runtime       sim.Options
}

// plan validates cfg and derives every instance's settings.
func plan(cfg Config) ([]member, error) {
	if cfg.Instances <= 0 {
		return nil, fmt.Errorf("sim: --instances must be at least 1, got %d", cfg.Instances)
	}
	dir := cfg.Agent.DataDir
	if dir == "" {
		dir = cfg.Agent.Config.DataDir
	}
	if dir == "" {
		return nil, errors.New("sim: a data directory is required (the instances' identities live under it)")
	}
	if err := cfg.Spec.Validate(); err != nil {
		return nil, err
	}
	rtOpts, err := cfg.Spec.runtimeOptions()
	if err != nil {
		return nil, err
	}
	out := make([]member, 0, cfg.Instances)
	for i := range cfg.Instances {
		c := cfg.Spec.instanceConfig(cfg.Agent.Config, cfg.Agent.Region, i)
		if c.RegisteredMemoryMiB() <= 0 {
			return nil, fmt.Errorf("sim: instance %s: reserved memory %d MiB leaves nothing of its %d MiB", Name(i), c.ReservedMemoryMiB, c.MemoryMiB)
		}
		rt := rtOpts
		if c.GPUSupportEnabled {
			rt.GPUs = c.GPUIDs // the simulated host has the GPUs its agent registers
		}
		out = append(out, member{name: Name(i), dataDir: filepath.Join(dir, Name(i)), config: c, runtime: rt})
	}
	return out, nil
}

// shared is what every instance of the process shares.
type shared struct {
	opts                  agent.Options // only the shared fields are set
	concurrency, maxConns int
}

func sharedOptions(cfg Config, obs agent.Observer) shared {
	conns := cmp.Or(cfg.MaxConns, DefaultMaxConns)
	n := cmp.Or(cfg.RegisterConcurrency, DefaultRegisterConcurrency)
	a := cfg.Agent
	return shared{
		opts: agent.Options{
			Client: agent.NewSharedClient(agent.SharedClientOptions{
				Endpoint: a.Endpoint, Region: a.Region, Credentials: a.Credentials, MaxConns: conns,
			}),
			Dialer:   agent.NewSharedDialer(30 * time.Second),
			Throttle: agent.NewThrottle(n),
			Observer: obs,
			// Simulated containers live in memory only.
			VolatileRuntime: true,
		},
		concurrency: n,
		maxConns:    conns,
	}
}

// apply sets the shared fields on a copy of the template.
func (s shared) apply(o agent.Options) agent.Options {
	o.Client, o.Dialer, o.Throttle, o.Observer = s.opts.Client, s.opts.Dialer, s.opts.Throttle, s.opts.Observer
	o.VolatileRuntime = s.opts.VolatileRuntime
	return o
}
