package docker_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/registry"

	"github.com/berth-dev/berth/internal/agent/runtime/docker"
	"github.com/berth-dev/berth/internal/agent/runtime/docker/dockerfake"
)

// authFunc is a RegistryAuth from a function.
type authFunc func(ctx context.Context, image string) (*registry.AuthConfig, error)

func (f authFunc) RegistryAuth(ctx context.Context, image string) (*registry.AuthConfig, error) {
	return f(ctx, image)
}

const berthHost = "127.0.0.1:9320"

// berthAuth gives images on berthHost a token and others none.
var berthAuth = authFunc(func(_ context.Context, image string) (*registry.AuthConfig, error) {
	if !strings.HasPrefix(image, berthHost+"/") {
		return nil, nil
	}
	return &registry.AuthConfig{Username: "AWS", Password: "berth1.token", ServerAddress: berthHost}, nil
})

func TestPullImageRegistryAuth(t *testing.T) {
	tests := []struct {
		name, image string
		auth        docker.RegistryAuth
		want        *registry.AuthConfig
	}{
		{"berth image with token", berthHost + "/team/app:1", berthAuth,
			&registry.AuthConfig{Username: "AWS", Password: "berth1.token", ServerAddress: berthHost}},
		{"other registry anonymous", "ghcr.io/org/app:1", berthAuth, nil},
		{"no RegistryAuth anonymous", berthHost + "/team/app:1", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, cli := dockerfake.New(t)
			rt := docker.NewWithClient(cli, docker.Options{RegistryAuth: tt.auth})
			if err := rt.PullImage(ctxFor(t), tt.image); err != nil {
				t.Fatalf("PullImage: %v", err)
			}
			pulls := d.Pulls()
			if len(pulls) != 1 || pulls[0].Ref != tt.image {
				t.Fatalf("pulls = %+v, want one of %s", pulls, tt.image)
			}
			got := pulls[0].Auth
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("auth = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPullImageAuthFailureSkipsPull(t *testing.T) {
	d, cli := dockerfake.New(t)
	tokenErr := errors.New("ECR authorization token: AccessDeniedException")
	rt := docker.NewWithClient(cli, docker.Options{RegistryAuth: authFunc(func(context.Context, string) (*registry.AuthConfig, error) {
		return nil, tokenErr
	})})
	err := rt.PullImage(ctxFor(t), berthHost+"/app:1")
	if !errors.Is(err, tokenErr) || !strings.Contains(err.Error(), "pull image "+berthHost+"/app:1") {
		t.Fatalf("err = %v, want the token error naming the image", err)
	}
	if p := d.Pulls(); len(p) != 0 {
		t.Errorf("pulled without a token: %+v", p)
	}
}

func TestPullImageRefusedInStream(t *testing.T) {
	d, cli := dockerfake.New(t)
	const msg = "Head \"http://127.0.0.1:9320/v2/app/manifests/1\": no basic auth credentials"
	d.OnPull(func(dockerfake.Pull) string { return msg })
	rt := docker.NewWithClient(cli, docker.Options{RegistryAuth: berthAuth})
	err := rt.PullImage(ctxFor(t), berthHost+"/app:1")
	if err == nil || !strings.Contains(err.Error(), msg) {
		t.Fatalf("err = %v, want the daemon's message", err)
	}
}
