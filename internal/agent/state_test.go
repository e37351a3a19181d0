package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created on first save
	st, err := loadState(dir)
	if err != nil || st != (persistedState{}) {
		t.Fatalf("missing state = %+v, %v", st, err)
	}
	want := persistedState{Cluster: "prod", ContainerInstanceArn: "arn:ci"}
	if err := saveState(dir, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if got, err := loadState(dir); err != nil || got != want {
		t.Fatalf("loadState = %+v, %v", got, err)
	}
	// Overwrite leaves no temp files behind.
	want.ContainerInstanceArn = "arn:ci2"
	if err := saveState(dir, want); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir has %d entries, want only %s", len(entries), stateFile)
	}
	if got, _ := loadState(dir); got != want {
		t.Fatalf("loadState = %+v", got)
	}
}

func TestStateCorrupt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadState(dir); err == nil {
		t.Fatal("no error for corrupt state")
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	for attempt, ceiling := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		ceiling *= time.Millisecond
		for range 20 {
			d := b.delay(attempt)
			if d < ceiling/2 || d >= ceiling {
				t.Fatalf("delay(%d) = %v, want in [%v, %v)", attempt, d, ceiling/2, ceiling)
			}
		}
	}
	if d := b.delay(1000); d > time.Second {
		t.Fatalf("delay(1000) = %v overflowed the cap", d)
	}
}
