package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateFile is the agent's persisted state inside DataDir.
const stateFile = "state.json"

// persistedState is what must survive a restart of the agent so that it
// re-registers as the same container instance.
type persistedState struct {
	// Cluster is the configured ECS_CLUSTER the instance registered with; an
	// instance ARN is only reused for the same cluster.
	Cluster              string `json:"cluster"`
	ContainerInstanceArn string `json:"containerInstanceArn"`
}

// loadState reads dir/state.json; a missing file is the zero state.
func loadState(dir string) (persistedState, error) {
	path := filepath.Join(dir, stateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return persistedState{}, nil
	}
	if err != nil {
		return persistedState{}, fmt.Errorf("read agent state: %w", err)
	}
	var st persistedState
	if err := json.Unmarshal(data, &st); err != nil {
		return persistedState{}, fmt.Errorf("parse agent state %s: %w", path, err)
	}
	return st, nil
}

// saveState writes dir/state.json atomically (temp file, fsync, rename) with
// mode 0600, creating dir if needed.
func saveState(dir string, st persistedState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode agent state: %w", err)
	}
	if err := writeFileAtomic(dir, stateFile, data); err != nil {
		return fmt.Errorf("write agent state: %w", err)
	}
	return nil
}

// writeFileAtomic replaces dir/name with data (temp file, fsync, rename,
// mode 0600), creating dir (0700) if needed.
func writeFileAtomic(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	// Make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
