package localimage

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

	"github.com/berth-dev/berth/internal/dockerprogress"
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

// AppImage is the app under one tag. ContentLabel names the image label
// that carries the hash of what the image was built from.
type AppImage struct {
	Ref          string
	ContentLabel string
}

// Demo is the image the README's quick start runs (`berth demo-image`).
// Its name is local on purpose: a registry at "localhost" serves nothing, so
// an agent's pull fails at once and it uses the image the engine has.
var Demo = AppImage{Ref: "localhost/berth-demo:latest", ContentLabel: "dev.berth.content"}

// Ensure makes the image exist: a scratch image with a static build of
// ./app as /app (its entrypoint), plus /tmp and /etc/passwd. The Go program
// is only compiled when the image is missing or stale, which needs a Go
// toolchain (go on PATH, or GOROOT).
func (a AppImage) Ensure(ctx context.Context, cli ImageAPI) (string, error) {
	hash := appHash()
	ok, err := UpToDate(ctx, cli, a.Ref, a.ContentLabel, hash)
	if err != nil || ok {
		return a.Ref, err
	}

	bin, err := buildAppBinary(ctx)
	if err != nil {
		return "", fmt.Errorf("app image %s: %w", a.Ref, err)
	}
	t := NewTarball()
	t.File("Dockerfile", 0o644, []byte(appDockerfile))
	t.Dir("rootfs", 0o755)
	t.File("rootfs/app", 0o755, bin)
	t.Dir("rootfs/tmp", 0o1777)
	t.Dir("rootfs/etc", 0o755)
	t.File("rootfs/etc/passwd", 0o644, []byte(Passwd))
	t.File("rootfs/etc/group", 0o644, []byte(Group))
	buildCtx, err := t.Bytes()
	if err != nil {
		return "", fmt.Errorf("app image %s: %w", a.Ref, err)
	}
	resp, err := cli.ImageBuild(ctx, bytes.NewReader(buildCtx), build.ImageBuildOptions{
		Tags:        []string{a.Ref},
		Labels:      map[string]string{a.ContentLabel: hash},
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("app image: build %s: %w", a.Ref, err)
	}
	defer resp.Body.Close()
	if err := dockerprogress.Drain(resp.Body); err != nil {
		return "", fmt.Errorf("app image: build %s: %w", a.Ref, err)
	}
	return a.Ref, nil
}

// appHash is the hash of everything an app image is built from: the
// layout, the toolchain that compiles the app, and its source.
func appHash() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", appLayout, goruntime.Version(), goruntime.GOARCH, appDockerfile)
	h.Write(appSource)
	return hex.EncodeToString(h.Sum(nil))
}

// buildAppBinary compiles the embedded source as a static Linux binary in a
// throwaway module, so it needs only a Go toolchain, not this repository.
func buildAppBinary(ctx context.Context) ([]byte, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		root := os.Getenv("GOROOT")
		if root == "" {
			return nil, fmt.Errorf("building the app needs a Go toolchain: go is not on PATH and GOROOT is unset: %w", err)
		}
		goBin = filepath.Join(root, "bin", "go")
	}
	dir, err := os.MkdirTemp("", "berth-app-")
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
