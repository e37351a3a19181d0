package localimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// fakeImages is an ImageAPI whose calls a test overrides as it needs.
type fakeImages struct {
	inspect func(ref string) (image.InspectResponse, error)
	build   func(ctx io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error)
}

var _ ImageAPI = (*fakeImages)(nil)

func (f *fakeImages) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	return f.inspect(ref)
}

func (f *fakeImages) ImageImport(context.Context, image.ImportSource, string, image.ImportOptions) (io.ReadCloser, error) {
	return nil, errors.New("not used")
}

func (f *fakeImages) ImageBuild(_ context.Context, buildCtx io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	if f.build == nil {
		return build.ImageBuildResponse{}, errors.New("unexpected build")
	}
	return f.build(buildCtx, opts)
}

func labelled(label, hash string) (image.InspectResponse, error) {
	cfg := &dockerspec.DockerOCIImageConfig{}
	cfg.Labels = map[string]string{label: hash}
	return image.InspectResponse{Config: cfg}, nil
}

func TestAppImageEnsure(t *testing.T) {
	target := AppImage{Ref: "localhost/berth-unit:latest", ContentLabel: "dev.berth.unit"}
	tests := []struct {
		name      string
		inspect   func(ref string) (image.InspectResponse, error)
		wantBuild bool
	}{
		{"up to date: reused", func(string) (image.InspectResponse, error) { return labelled(target.ContentLabel, appHash()) }, false},
		{"missing: built", func(string) (image.InspectResponse, error) {
			return image.InspectResponse{}, errdefs.NotFound(errors.New("no such image"))
		}, true},
		{"stale: rebuilt", func(string) (image.InspectResponse, error) { return labelled(target.ContentLabel, "old") }, true},
		{"same hash under another label: rebuilt", func(string) (image.InspectResponse, error) { return labelled("dev.berth.other", appHash()) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var built *build.ImageBuildOptions
			var files map[string]bool
			fake := &fakeImages{inspect: tt.inspect, build: func(buildCtx io.Reader, opts build.ImageBuildOptions) (build.ImageBuildResponse, error) {
				built = &opts
				files = tarNames(t, buildCtx)
				return build.ImageBuildResponse{Body: io.NopCloser(strings.NewReader(`{"stream":"Successfully built"}` + "\n"))}, nil
			}}
			ref, err := target.Ensure(t.Context(), fake)
			if err != nil || ref != target.Ref {
				t.Fatalf("Ensure = %q, %v", ref, err)
			}
			if (built != nil) != tt.wantBuild {
				t.Fatalf("built = %v, want %v", built != nil, tt.wantBuild)
			}
			if !tt.wantBuild {
				return
			}
			if len(built.Tags) != 1 || built.Tags[0] != target.Ref || built.Labels[target.ContentLabel] != appHash() {
				t.Errorf("build options: tags %v labels %v", built.Tags, built.Labels)
			}
			for _, name := range []string{"Dockerfile", "rootfs/app", "rootfs/etc/passwd", "rootfs/tmp/"} {
				if !files[name] {
					t.Errorf("build context lacks %s: %v", name, files)
				}
			}
		})
	}
}

func TestAppImageEnsureErrors(t *testing.T) {
	target := AppImage{Ref: "localhost/berth-unit:latest", ContentLabel: "dev.berth.unit"}
	missing := func(string) (image.InspectResponse, error) {
		return image.InspectResponse{}, errdefs.NotFound(errors.New("no such image"))
	}
	tests := []struct {
		name string
		fake *fakeImages
		want string
	}{
		{"inspect fails", &fakeImages{inspect: func(string) (image.InspectResponse, error) {
			return image.InspectResponse{}, errors.New("daemon gone")
		}}, "inspect image localhost/berth-unit:latest: daemon gone"},
		{"build refused", &fakeImages{inspect: missing, build: func(io.Reader, build.ImageBuildOptions) (build.ImageBuildResponse, error) {
			return build.ImageBuildResponse{}, errors.New("no space left")
		}}, "build localhost/berth-unit:latest: no space left"},
		{"build fails in the stream", &fakeImages{inspect: missing, build: func(io.Reader, build.ImageBuildOptions) (build.ImageBuildResponse, error) {
			return build.ImageBuildResponse{Body: io.NopCloser(strings.NewReader(`{"errorDetail":{"message":"COPY failed"},"error":"COPY failed"}`))}, nil
		}}, "COPY failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := target.Ensure(t.Context(), tt.fake)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Ensure error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// tarNames lists the entries of a tar stream.
func tarNames(t *testing.T, r io.Reader) map[string]bool {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatalf("build context is not a tar: %v", err)
		}
		names[h.Name] = true
	}
}
