package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/agent/runtime"
)

// identity is what belongs to one container instance ARN: the engine that
// owns the containers labelled with it and the reporter that sends their
// state. Run's goroutine owns the identity; the engine and the reporter own
// their own state in their own goroutines.
type identity struct {
	instanceARN, clusterARN string
	engine                  *engine.Engine
	reporter                *reporter
	// saved is the task set DataDir held for this identity at start (nil
	// for a new one); the ACS client's saver starts from it.
	saved  []engine.Task
	cancel context.CancelFunc
	wg     sync.WaitGroup // the reporter's sender
}

// startIdentity starts a reporter and an engine for instanceARN; the engine
// adopts the containers labelled with it and upserts the watchable tasks of
// the saved set at once, so that it watches them without waiting for the
// server.
func (a *Agent) startIdentity(ctx context.Context, instanceARN string, saved, watch []engine.Task) (*identity, error) {
	cfg := a.opts.Config
	id := &identity{instanceARN: instanceARN, clusterARN: clusterARN(cfg.Cluster, instanceARN), saved: saved}
	id.reporter = newReporter(reporterConfig{
		Cluster: id.clusterARN, API: a.api, Logger: a.log.With("component", "reporter"),
		RetryMin: a.retry.min, RetryMax: a.retry.max, CallTimeout: a.callTimeout,
	})
	eng, err := engine.New(engine.Config{
		Runtime:      a.opts.Runtime,
		ClusterARN:   id.clusterARN,
		InstanceARN:  instanceARN,
		Reporter:     id.reporter,
		Now:          time.Now,
		StopTimeout:  cfg.ContainerStopTimeout,
		PullBehavior: cfg.ImagePullBehavior,
		CleanupWait:  cfg.TaskCleanupWait,
		Logger:       a.log,
		// GPU containers run with it; the ids come with each task.
		NvidiaRuntime: cfg.NvidiaRuntime,
	})
	if err != nil {
		return nil, fmt.Errorf("create task engine: %w", err)
	}
	id.engine = eng
	runCtx, cancel := context.WithCancel(ctx)
	id.cancel = cancel
	id.wg.Add(1)
	go func() {
		defer id.wg.Done()
		id.reporter.run(runCtx)
	}()
	if err := eng.Start(runCtx); err != nil {
		id.stop()
		return nil, fmt.Errorf("start task engine: %w", err)
	}
	eng.Upsert(watch)
	return id, nil
}

// stop ends the engine's and the reporter's goroutines and waits for them.
// The containers are left as they are.
func (id *identity) stop() {
	id.cancel()
	id.engine.Wait()
	id.wg.Wait()
}

// removeContainersOf stops and removes every container labelled with
// instanceARN, retrying (with backoff) until none is left or ctx is done.
// Their identity is gone from the server, so nothing will ever adopt them.
func (a *Agent) removeContainersOf(ctx context.Context, instanceARN string) error {
	stopTimeout := a.opts.Config.ContainerStopTimeout
	for attempt := 0; ; attempt++ {
		err := a.removeContainersOnce(ctx, instanceARN, stopTimeout, attempt == 0)
		if err == nil {
			return nil
		}
		d := a.retry.delay(attempt)
		a.log.Error("cannot remove the containers of the old container instance; retrying",
			"containerInstanceArn", instanceARN, "retryIn", d, "err", err)
		if !sleepCtx(ctx, d) {
			return fmt.Errorf("remove containers of %s: %w", instanceARN, ctx.Err())
		}
	}
}

func (a *Agent) removeContainersOnce(ctx context.Context, instanceARN string, stopTimeout time.Duration, first bool) error {
	rt := a.opts.Runtime
	listCtx, cancel := context.WithTimeout(ctx, a.callTimeout)
	list, err := rt.ListContainers(listCtx, map[string]string{engine.LabelInstance: instanceARN})
	cancel()
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	if first || len(list) > 0 {
		a.log.Warn("the server gave this agent a new container instance ARN; stopping and removing the old instance's containers",
			"oldContainerInstanceArn", instanceARN, "containers", len(list))
	}
	var errs []error
	for _, c := range list {
		if c.Running {
			stopCtx, cancel := context.WithTimeout(ctx, a.callTimeout+stopTimeout)
			err := rt.StopContainer(stopCtx, c.ID, stopTimeout)
			cancel()
			if err != nil && !errors.Is(err, runtime.ErrNotFound) {
				a.log.Warn("stop container of the old instance; removing it anyway", "id", c.ID, "name", c.Name, "err", err)
			}
		}
		rmCtx, cancel := context.WithTimeout(ctx, a.callTimeout)
		err := rt.RemoveContainer(rmCtx, c.ID)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", c.ID, err))
			continue
		}
		a.log.Info("removed container of the old instance", "id", c.ID, "name", c.Name, "task", c.Labels[engine.LabelTaskARN])
	}
	return errors.Join(errs...)
}
