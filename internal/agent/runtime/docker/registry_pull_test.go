package docker_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"

	"github.com/berth-dev/berth/internal/agent/ecrauth"
	"github.com/berth-dev/berth/internal/agent/ecrauth/ecrfake"
	"github.com/berth-dev/berth/internal/agent/runtime/docker"
	"github.com/berth-dev/berth/internal/dockerprogress"
	berthregistry "github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/testutil/testimage"
)

// TestPullFromBerthRegistry runs what Berth serves on one listener, a
// registry behind Basic authentication with the ECR token's password and
// GetAuthorizationToken beside it, pushes a small image into it with the
// real engine, and has the runtime pull it back: with the agent's token
// provider the pull succeeds, anonymously the registry refuses it.
func TestPullFromBerthRegistry(t *testing.T) {
	newRuntime(t) // fail fast, with the hint, without Docker
	cli := rawClient(t)
	const password = "berth1.agent-pull-test"
	const repo = "agent-pull/busybox"

	meta := berthregistry.NewMemMeta(nil)
	if err := meta.CreateRepository(repo, false); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := berthregistry.New(berthregistry.Config{Meta: meta, Blobs: blob.NewMemory(nil), Logger: quiet})
	var authorized, refused atomic.Int64
	tokens := ecrfake.NewHandler(func(int) ecrfake.Answer {
		return ecrfake.Answer{Password: password, Expires: time.Now().Add(12 * time.Hour)}
	})
	mux := http.NewServeMux()
	mux.Handle("/v2/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pw, ok := r.BasicAuth(); !ok || user != "AWS" || pw != password {
			refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
		reg.ServeHTTP(w, r)
	}))
	mux.Handle("/", tokens)
	srv := httptest.NewServer(mux) // 127.0.0.1: an insecure registry Docker allows by default
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/" + repo + ":v1"

	// Push the test busybox under the registry's name, then drop the
	// local tag so that only a pull can bring it back.
	ctx := ctxFor(t)
	if err := cli.ImageTag(ctx, testimage.Busybox(t), ref); err != nil {
		t.Fatalf("tag: %v", err)
	}
	untag := func() {
		t.Helper()
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.ImageRemove(c, ref, image.RemoveOptions{}); err != nil && !strings.Contains(err.Error(), "No such image") {
			t.Errorf("untag %s: %v", ref, err)
		}
	}
	t.Cleanup(untag)
	pushAuth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: "AWS", Password: password, ServerAddress: host})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: pushAuth})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	err = dockerprogress.Drain(rc)
	_ = rc.Close()
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	untag()

	t.Run("anonymous refused", func(t *testing.T) {
		rt := docker.NewWithClient(cli, docker.Options{})
		before := refused.Load()
		err := rt.PullImage(ctxFor(t), ref)
		if err == nil {
			untag()
			t.Fatal("anonymous pull of a private image succeeded")
		}
		if refused.Load() == before {
			t.Errorf("the registry refused nothing; err = %v", err)
		}
		t.Logf("anonymous pull: %v", err)
	})

	t.Run("with the agent's token", func(t *testing.T) {
		auth, err := ecrauth.New(ecrauth.Config{
			Endpoint: srv.URL, Region: "us-east-1", Credentials: ecrfake.Credentials(), Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		rt := docker.NewWithClient(cli, docker.Options{RegistryAuth: auth})
		before := authorized.Load()
		if err := rt.PullImage(ctxFor(t), ref); err != nil {
			t.Fatalf("pull with token: %v", err)
		}
		if ok, err := rt.ImagePresent(ctxFor(t), ref); err != nil || !ok {
			t.Errorf("after pull: present = %v, %v", ok, err)
		}
		if authorized.Load() == before {
			t.Error("the registry saw no authenticated request")
		}
		calls := tokens.Calls()
		if len(calls) != 1 || calls[0].SignatureErr != nil || calls[0].Service != "ecr" {
			t.Errorf("token calls = %+v, want one signed for ecr", calls)
		}
	})
}
