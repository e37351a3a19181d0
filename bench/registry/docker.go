package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchproc"
)

// docker runs the docker CLI with the bench's own client configuration
// (so the Berth login stays in the run) and returns its combined output.
func docker(ctx context.Context, cfg, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// dockerSetup checks for a Docker engine and logs in to Berth as
// `aws ecr get-login-password | docker login` would. The reference needs no
// login; both are on 127.0.0.0/8, which the engine treats as insecure
// (plain HTTP) registries by default.
func dockerSetup(ctx context.Context, dir string, berth *registry) (string, error) {
	cfg := filepath.Join(dir, "docker-config")
	if err := os.MkdirAll(cfg, 0o700); err != nil {
		return "", err
	}
	if _, err := docker(ctx, cfg, "", "version", "--format", "{{.Server.Version}}"); err != nil {
		return "", err
	}
	if _, err := docker(ctx, cfg, berth.password()+"\n", "login", "--username", "AWS", "--password-stdin", berth.host); err != nil {
		return "", err
	}
	return cfg, nil
}

// dockerRound loads im into the engine with no registry history, times
// `docker push` to a fresh repository of each registry in order, removes
// the image, then times `docker pull` from each (removing it after each
// pull, so the next one downloads every layer).
func dockerRound(ctx context.Context, dir, cfg string, i int, im *image, order []*registry, res results) error {
	local := fmt.Sprintf("berth-bench/registry:r%d", i)
	archive := filepath.Join(dir, "image.tar")
	if err := writeDockerArchive(archive, im, local); err != nil {
		return err
	}
	_, err := docker(ctx, cfg, "", "load", "-i", archive)
	os.Remove(archive)
	if err != nil {
		return err
	}
	repo := fmt.Sprintf("bench/docker-r%d", i)
	refs := map[*registry]string{}
	for _, r := range order {
		if err := r.create(ctx, repo); err != nil {
			return err
		}
		ref := r.host + "/" + repo + ":latest"
		refs[r] = ref
		if _, err := docker(ctx, cfg, "", "tag", local, ref); err != nil {
			return err
		}
		s0, start := benchproc.CPUTicks(r.proc.Pid()), time.Now()
		if _, err := docker(ctx, cfg, "", "push", ref); err != nil {
			return err
		}
		res.add("docker push", r.name, im.size(), time.Since(start), benchproc.CPUTicks(r.proc.Pid())-s0)
	}
	if _, err := docker(ctx, cfg, "", "rmi", local, refs[order[0]], refs[order[1]]); err != nil {
		return err
	}
	for _, r := range order {
		s0, start := benchproc.CPUTicks(r.proc.Pid()), time.Now()
		if _, err := docker(ctx, cfg, "", "pull", refs[r]); err != nil {
			return err
		}
		res.add("docker pull", r.name, im.size(), time.Since(start), benchproc.CPUTicks(r.proc.Pid())-s0)
		if _, err := docker(ctx, cfg, "", "rmi", refs[r]); err != nil {
			return err
		}
	}
	return nil
}
