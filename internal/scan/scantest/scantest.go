// Package scantest holds fixtures shared by the tests of the scanner and
// of its users: a real Go executable with module information to find in
// an image's layers.
package scantest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

var (
	goBinOnce sync.Once
	goBin     []byte
	goBinErr  error
)

// GoBinary builds internal/scan/testdata/gobin (a main package using
// github.com/google/btree v1.1.3) once per test process and returns the
// executable. A failed build fails the test: a scan without its Go
// binary would prove nothing.
func GoBinary(t testing.TB) []byte {
	t.Helper()
	goBinOnce.Do(func() {
		_, self, _, ok := runtime.Caller(0)
		if !ok {
			goBinErr = fmt.Errorf("scantest: cannot locate its source")
			return
		}
		src := filepath.Join(filepath.Dir(self), "..", "testdata", "gobin")
		dir, err := os.MkdirTemp("", "scan-gobin-")
		if err != nil {
			goBinErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "gobin")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
		cmd.Dir = src
		if msg, err := cmd.CombinedOutput(); err != nil {
			goBinErr = fmt.Errorf("go build %s: %v\n%s", src, err, msg)
			return
		}
		goBin, goBinErr = os.ReadFile(out)
	})
	if goBinErr != nil {
		t.Fatalf("test Go binary: %v", goBinErr)
	}
	return goBin
}
