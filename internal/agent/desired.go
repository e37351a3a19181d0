package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/agent/engine"
)

// desiredFile holds the latest desired task set inside DataDir. The engine
// only watches adopted containers once it knows their tasks' definitions, so
// an agent restarted while the server is down re-applies this set to keep
// driving its tasks (an essential container that exits stops its task, and
// the report waits in the reporter until the server is back).
const desiredFile = "tasks.json"

// persistedTasks is the last desired set one instance received over ACS.
// It holds task definitions (environment included), hence mode 0600.
type persistedTasks struct {
	// ContainerInstanceArn is the instance the set was sent to; the set is
	// only re-applied by an engine with the same identity.
	ContainerInstanceArn string     `json:"containerInstanceArn"`
	Tasks                []acs.Task `json:"tasks"`
}

// loadDesired returns the set saved for instanceARN; ok is false when there
// is none (no file, or one written for another instance).
func loadDesired(dir, instanceARN string) (tasks []acs.Task, ok bool, err error) {
	path := filepath.Join(dir, desiredFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read desired tasks: %w", err)
	}
	var pt persistedTasks
	if err := json.Unmarshal(data, &pt); err != nil {
		return nil, false, fmt.Errorf("parse desired tasks %s: %w", path, err)
	}
	if pt.ContainerInstanceArn != instanceARN {
		return nil, false, nil
	}
	return pt.Tasks, true, nil
}

// watchable narrows a saved set to the tasks that still have containers
// labelled with instanceARN: the early engine watches what exists and does
// not launch (or relaunch, after cleanup) anything while the server cannot
// say whether it still wants it. ok is false when a container belongs to a
// task the set lacks: the set is older than the containers, and applying it
// would stop that task.
func (a *Agent) watchable(ctx context.Context, instanceARN string, saved []acs.Task) (tasks []acs.Task, ok bool) {
	listCtx, cancel := context.WithTimeout(ctx, a.callTimeout)
	defer cancel()
	list, err := a.opts.Runtime.ListContainers(listCtx, map[string]string{engine.LabelInstance: instanceARN})
	if err != nil {
		a.log.Warn("cannot list containers; waiting for the server before watching them", "err", err)
		return nil, false
	}
	have := map[string]bool{}
	for _, c := range list {
		if arn := c.Labels[engine.LabelTaskARN]; arn != "" {
			have[arn] = true
		}
	}
	for _, t := range saved {
		if have[t.Arn] {
			tasks = append(tasks, t)
			delete(have, t.Arn)
		}
	}
	if len(have) > 0 {
		a.log.Warn("the saved desired tasks are older than the containers; waiting for the server before watching them",
			"unlistedTasks", len(have))
		return nil, false
	}
	return tasks, true
}

// removeDesired forgets the saved set (it belonged to an identity the
// server no longer knows).
func removeDesired(dir string) error {
	if err := os.Remove(filepath.Join(dir, desiredFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove desired tasks: %w", err)
	}
	return nil
}

// desiredSaver wraps the engine so that every desired set is saved before
// it is applied, unless the runtime keeps nothing across restarts.
func (a *Agent) desiredSaver(e *engine.Engine, instanceARN string) taskEngine {
	if a.opts.VolatileRuntime {
		return e
	}
	return &savingEngine{Engine: e, dir: a.opts.DataDir, instanceARN: instanceARN, log: a.log}
}

// savingEngine persists every desired set before the engine applies it.
// Apply is only called from the ACS read loop, one connection at a time, so
// last needs no lock.
type savingEngine struct {
	*engine.Engine
	dir, instanceARN string
	log              *slog.Logger
	last             []byte // what the file holds, to skip rewriting it
}

var _ taskEngine = (*savingEngine)(nil)

func (s *savingEngine) Apply(tasks []acs.Task) {
	data, err := json.Marshal(persistedTasks{ContainerInstanceArn: s.instanceARN, Tasks: tasks})
	switch {
	case err != nil:
		s.log.Warn("cannot encode the desired tasks; a restart during a server outage will not watch them", "err", err)
	case !bytes.Equal(data, s.last):
		if err := writeFileAtomic(s.dir, desiredFile, data); err != nil {
			s.log.Warn("cannot save the desired tasks; a restart during a server outage will not watch them", "err", err)
			_ = removeDesired(s.dir) // a stale set must not be re-applied
			s.last = nil
		} else {
			s.last = data
		}
	}
	s.Engine.Apply(tasks)
}
