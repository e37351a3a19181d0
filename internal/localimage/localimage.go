// Package localimage owns building small images on the local Docker engine
// from what Berth carries, for machines that cannot pull from a registry:
// the app (./app, a static Go HTTP server compiled from embedded source)
// behind the quick start's demo image and the tests' workload, plus the
// pieces the test images reuse (tar build contexts, content-hash labels,
// reading the daemon's progress stream). A build is skipped while an image
// with the same tag carries the hash of the same content.
package localimage

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// DockerHint tells a person what to do when the engine is unreachable.
const DockerHint = "start dockerd, or run ./scripts/dev or ./scripts/test, which install and start it"

// ImageAPI is the part of the Docker client the builders use.
type ImageAPI interface {
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageImport(ctx context.Context, src image.ImportSource, ref string, opts image.ImportOptions) (io.ReadCloser, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error)
}

var _ ImageAPI = (*client.Client)(nil)

// NewClient connects to the engine named by the environment with API version
// negotiation and pings it; the error says how to get an engine running.
func NewClient(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w (%s)", err, DockerHint)
	}
	if _, err := cli.Ping(ctx); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("docker engine at %s is not reachable: %w (%s)", cli.DaemonHost(), err, DockerHint)
	}
	return cli, nil
}

// UpToDate reports whether ref exists and carries hash in its label.
func UpToDate(ctx context.Context, cli ImageAPI, ref, label, hash string) (bool, error) {
	img, err := cli.ImageInspect(ctx, ref)
	if client.IsErrNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img.Config != nil && img.Config.Labels[label] == hash, nil
}
