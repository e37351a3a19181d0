package testimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed" // the app's source is embedded so it builds from anywhere
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"

	"github.com/docker/docker/api/types/build"
)

//go:embed app/main.go
var appSource []byte

// appLayout versions the image layout below; bump it when changing it.
const appLayout = "app-v1"

const appDockerfile = `FROM scratch
COPY rootfs/ /
ENV PATH=/
ENTRYPOINT ["/app"]
`

// EnsureApp makes AppRef exist: a scratch image with a static build of ./app
// as /app, plus /tmp and /etc/passwd. The Go program is only compiled when
// the image is missing or stale.
func EnsureApp(ctx context.Context, cli ImageAPI) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", appLayout, goruntime.Version(), goruntime.GOARCH, appDockerfile)
	h.Write(appSource)
	hash := hex.EncodeToString(h.Sum(nil))
	ok, err := upToDate(ctx, cli, AppRef, hash)
	if err != nil || ok {
		return AppRef, err
	}

	bin, err := buildAppBinary(ctx)
	if err != nil {
		return "", fmt.Errorf("app image: %w", err)
	}
	t := newTarball()
	t.file("Dockerfile", 0o644, []byte(appDockerfile))
	t.dir("rootfs", 0o755)
	t.file("rootfs/app", 0o755, bin)
	t.dir("rootfs/tmp", 0o1777)
	t.dir("rootfs/etc", 0o755)
	t.file("rootfs/etc/passwd", 0o644, []byte(passwd))
	t.file("rootfs/etc/group", 0o644, []byte(group))
	buildCtx, err := t.bytes()
	if err != nil {
		return "", fmt.Errorf("app image: %w", err)
	}
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(buildCtx), build.ImageBuildOptions{
		Tags:        []string{AppRef},
		Labels:      map[string]string{ContentLabel: hash},
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("app image: build %s: %w", AppRef, err)
	}
	defer resp.Body.Close()
	if err := drain(resp.Body); err != nil {
		return "", fmt.Errorf("app image: build %s: %w", AppRef, err)
	}
	return AppRef, nil
}

// buildAppBinary compiles the embedded source as a static Linux binary in a
// throwaway module, so it needs only a Go toolchain, not this repository.
func buildAppBinary(ctx context.Context) ([]byte, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		root := os.Getenv("GOROOT")
		if root == "" {
			return nil, fmt.Errorf("go toolchain not on PATH and GOROOT unset: %w", err)
		}
		goBin = filepath.Join(root, "bin", "go")
	}
	dir, err := os.MkdirTemp("", "berth-test-app-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	files := map[string][]byte{
		"go.mod":  []byte("module berth.test/app\n\ngo 1.22\n"),
		"main.go": appSource,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
	}
	out := filepath.Join(dir, "app")
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goruntime.GOARCH,
		"GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local",
	)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	return bin, nil
}
