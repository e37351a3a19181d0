package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/agent/runtime/fake"
)

// savedSet returns the ARN and desired status of each saved task.
func savedSet(t *testing.T, dir string) []string {
	t.Helper()
	tasks, ok, err := loadDesired(dir, arnA)
	if err != nil || !ok {
		t.Fatalf("loadDesired = %v, %v", ok, err)
	}
	var out []string
	for _, task := range tasks {
		out = append(out, task.Arn+"="+task.DesiredStatus)
	}
	return out
}

// TestSavingEngineMergesPayloads: payloads are incremental, so the saved
// set merges them; confirmed stops are recorded; a manifest drops what it
// does not list and the engine does not hold.
func TestSavingEngineMergesPayloads(t *testing.T) {
	dir := t.TempDir()
	eng, err := engine.New(engine.Config{Runtime: fake.New("busybox:latest"), InstanceARN: arnA, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); eng.Wait() })
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	a := &Agent{opts: Options{DataDir: dir}, log: testLogger(t)}
	gone := engineTask(webTask("arn:task/gone")) // saved by an earlier run; no containers left
	s := a.desiredSaver(eng, arnA, []engine.Task{gone})

	t1, t2 := engineTask(webTask("arn:task/t1")), engineTask(webTask("arn:task/t2"))
	s.Upsert([]engine.Task{t1})
	s.Upsert([]engine.Task{t2})
	if got, want := strings.Join(savedSet(t, dir), " "), "arn:task/gone=RUNNING arn:task/t1=RUNNING arn:task/t2=RUNNING"; got != want {
		t.Errorf("after two payloads: %s, want %s", got, want)
	}
	fi, err := os.Stat(filepath.Join(dir, desiredFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("tasks.json: %v, %v; want mode 0600", fi, err)
	}

	s.Stop([]string{t1.Arn})
	// t1 is listed by nobody but the engine still holds it (stopping, then
	// stopped until cleaned up); gone is neither listed nor held.
	s.ForgetUnlisted(map[string]bool{t2.Arn: true})
	if got, want := strings.Join(savedSet(t, dir), " "), "arn:task/t1=STOPPED arn:task/t2=RUNNING"; got != want {
		t.Errorf("after a stop and a manifest: %s, want %s", got, want)
	}
}

// TestLoadDesiredReadsOlderFiles: agents that received full task sets
// saved the same shape.
func TestLoadDesiredReadsOlderFiles(t *testing.T) {
	dir := t.TempDir()
	old := `{"containerInstanceArn":"` + arnA + `","tasks":[{"arn":"arn:task/t1","desiredStatus":"RUNNING",` +
		`"taskDefinition":{"family":"web","revision":4,"containerDefinitions":[{"name":"web","image":"busybox:latest","essential":true}]}}]}`
	if err := os.WriteFile(filepath.Join(dir, desiredFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	tasks, ok, err := loadDesired(dir, arnA)
	if err != nil || !ok || len(tasks) != 1 {
		t.Fatalf("loadDesired = %+v, %v, %v", tasks, ok, err)
	}
	def := tasks[0].TaskDefinition
	if *def.Family != "web" || *def.Revision != 4 || len(def.ContainerDefinitions) != 1 || *def.ContainerDefinitions[0].Image != "busybox:latest" {
		t.Errorf("definition = %+v", def)
	}
	if _, ok, _ := loadDesired(dir, arnB); ok {
		t.Error("a set saved for another instance was loaded")
	}
}
