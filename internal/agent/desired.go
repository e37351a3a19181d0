package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// desiredFile holds, inside DataDir, the tasks the server sent this
// instance over ACS. The engine only watches adopted containers once it
// knows their tasks' definitions, so an agent restarted while the server is
// down re-applies them to keep driving its tasks (an essential container
// that exits stops its task, and the report waits in the reporter until
// the server is back).
const desiredFile = "tasks.json"

// persistedTasks is the task set one instance received: every task a
// payload sent, as last sent (payloads are incremental, so the set merges
// them), less those a task manifest no longer lists and the engine no
// longer holds. It holds task definitions (environment included), hence
// mode 0600. Agents that received full sets wrote the same shape.
type persistedTasks struct {
	// ContainerInstanceArn is the instance the set was sent to; the set is
	// only re-applied by an engine with the same identity.
	ContainerInstanceArn string        `json:"containerInstanceArn"`
	Tasks                []engine.Task `json:"tasks"`
}

// loadDesired returns the set saved for instanceARN; ok is false when there
// is none (no file, or one written for another instance).
func loadDesired(dir, instanceARN string) (tasks []engine.Task, ok bool, err error) {
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
// say whether it still wants it. Containers of tasks the set lacks are
// adopted and left alone until the server's task manifest says what to do
// with them. ok is false when the containers cannot be listed.
func (a *Agent) watchable(ctx context.Context, instanceARN string, saved []engine.Task) (tasks []engine.Task, ok bool) {
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
		a.log.Info("containers of tasks the saved set lacks wait for the server", "tasks", len(have))
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

// desiredSaver wraps the engine so that the task set is saved before every
// change is applied, unless the runtime keeps nothing across restarts.
// saved is the set loaded at start for this identity, if any: a new
// session resends every task, but in several payloads, and a restart
// between them must not lose the rest.
func (a *Agent) desiredSaver(e *engine.Engine, instanceARN string, saved []engine.Task) taskEngine {
	if a.opts.VolatileRuntime {
		return e
	}
	s := &savingEngine{Engine: e, dir: a.opts.DataDir, instanceARN: instanceARN, log: a.log, known: map[string]engine.Task{}}
	for _, t := range saved {
		s.known[t.Arn] = t
	}
	return s
}

// savingEngine persists the task set before the engine applies a change.
// It is only called from the ACS read loop, one connection at a time, so
// it needs no lock.
type savingEngine struct {
	*engine.Engine
	dir, instanceARN string
	log              *slog.Logger
	known            map[string]engine.Task // by ARN
	last             []byte                 // what the file holds, to skip rewriting it
}

var _ taskEngine = (*savingEngine)(nil)

// Upsert merges a payload's tasks into the set.
func (s *savingEngine) Upsert(tasks []engine.Task) {
	for _, t := range tasks {
		if t.Arn != "" {
			s.known[t.Arn] = t
		}
	}
	s.save()
	s.Engine.Upsert(tasks)
}

// Stop records the confirmed stops as desired STOPPED.
func (s *savingEngine) Stop(arns []string) {
	for _, arn := range arns {
		if t, ok := s.known[arn]; ok {
			t.DesiredStatus = ecstypes.DesiredStatusSTOPPED
			s.known[arn] = t
		}
	}
	s.save()
	s.Engine.Stop(arns)
}

// ForgetUnlisted drops the tasks a manifest does not list and the engine
// no longer holds (cleaned up, or never run).
func (s *savingEngine) ForgetUnlisted(listed map[string]bool) {
	s.Engine.ForgetUnlisted(listed)
	for arn := range s.known {
		if !listed[arn] && !s.Engine.Holds(arn) {
			delete(s.known, arn)
		}
	}
	s.save()
}

// save writes the set unless the file already holds it. On failure the
// file is removed: a stale set must not be re-applied.
func (s *savingEngine) save() {
	tasks := make([]engine.Task, 0, len(s.known))
	for _, arn := range slices.Sorted(maps.Keys(s.known)) {
		tasks = append(tasks, s.known[arn])
	}
	data, err := json.Marshal(persistedTasks{ContainerInstanceArn: s.instanceARN, Tasks: tasks})
	switch {
	case err != nil:
		s.log.Warn("cannot encode the desired tasks; a restart during a server outage will not watch them", "err", err)
	case !bytes.Equal(data, s.last):
		if err := writeFileAtomic(s.dir, desiredFile, data); err != nil {
			s.log.Warn("cannot save the desired tasks; a restart during a server outage will not watch them", "err", err)
			_ = removeDesired(s.dir)
			s.last = nil
		} else {
			s.last = data
		}
	}
}
