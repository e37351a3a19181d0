package testimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/docker/docker/api/types/image"

	"github.com/berth-dev/berth/internal/localimage"

	"github.com/berth-dev/berth/internal/dockerprogress"
)

// busyboxLayout versions the rootfs layout below; bump it when changing the
// layout so existing images are rebuilt.
const busyboxLayout = "busybox-v1"

// hostBusybox is the static busybox copied into the image; BERTH_TEST_BUSYBOX
// overrides it.
func hostBusybox() string {
	if p := os.Getenv("BERTH_TEST_BUSYBOX"); p != "" {
		return p
	}
	return "/bin/busybox"
}

// EnsureBusybox makes BusyboxRef exist with the host's busybox, importing a
// rootfs (as `docker import` does) unless an up-to-date image is there.
func EnsureBusybox(ctx context.Context, cli ImageAPI) (string, error) {
	path := hostBusybox()
	bin, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("busybox image: read %s (install busybox-static): %w", path, err)
	}
	sum := sha256.Sum256(append([]byte(busyboxLayout+"\x00"), bin...))
	hash := hex.EncodeToString(sum[:])
	ok, err := localimage.UpToDate(ctx, cli, BusyboxRef, ContentLabel, hash)
	if err != nil || ok {
		return BusyboxRef, err
	}

	applets, err := busyboxApplets(ctx, path)
	if err != nil {
		return "", err
	}
	rootfs, err := busyboxRootfs(bin, applets)
	if err != nil {
		return "", fmt.Errorf("busybox image: %w", err)
	}
	changes := []string{
		`CMD ["sh"]`,
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LABEL " + ContentLabel + "=" + hash,
	}
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: bytes.NewReader(rootfs), SourceName: "-"},
		BusyboxRef, image.ImportOptions{Changes: changes, Message: "berth test busybox"})
	if err != nil {
		return "", fmt.Errorf("busybox image: import %s: %w", BusyboxRef, err)
	}
	defer rc.Close()
	if err := dockerprogress.Drain(rc); err != nil {
		return "", fmt.Errorf("busybox image: import %s: %w", BusyboxRef, err)
	}
	return BusyboxRef, nil
}

// busyboxApplets asks the binary which applets it has, so every one gets a
// symlink in /bin.
func busyboxApplets(ctx context.Context, path string) ([]string, error) {
	out, err := exec.CommandContext(ctx, path, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox image: %s --list: %w", path, err)
	}
	var applets []string
	for _, name := range strings.Fields(string(out)) {
		if name != "busybox" && !strings.Contains(name, "/") {
			applets = append(applets, name)
		}
	}
	return applets, nil
}

// busyboxRootfs lays out a minimal root filesystem around bin.
func busyboxRootfs(bin []byte, applets []string) ([]byte, error) {
	t := localimage.NewTarball()
	for _, d := range []string{"bin", "dev", "etc", "home", "proc", "sys", "usr", "usr/bin", "var"} {
		t.Dir(d, 0o755)
	}
	t.Dir("root", 0o700)
	t.Dir("tmp", 0o1777)
	t.File("bin/busybox", 0o755, bin)
	for _, a := range applets {
		t.Symlink("bin/"+a, "busybox")
	}
	t.File("etc/passwd", 0o644, []byte(localimage.Passwd))
	t.File("etc/group", 0o644, []byte(localimage.Group))
	return t.Bytes()
}
