package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/registry"
)

func TestRegistryHost(t *testing.T) {
	tests := []struct{ advertise, listen, want string }{
		{"http://127.0.0.1:9320", "127.0.0.1:9320", "127.0.0.1:9320"},
		{"http://berth.internal:8080/", "0.0.0.0:8080", "berth.internal:8080"},
		{"https://registry.example.com", "0.0.0.0:443", "registry.example.com"},
		{"", "127.0.0.1:4000", "127.0.0.1:4000"},
		{"::not a url", "127.0.0.1:4000", "127.0.0.1:4000"},
	}
	for _, tt := range tests {
		if got := registryHost(tt.advertise, tt.listen); got != tt.want {
			t.Errorf("registryHost(%q, %q) = %q, want %q", tt.advertise, tt.listen, got, tt.want)
		}
	}
}

func TestRegistryDir(t *testing.T) {
	if got := registryDir(Config{DataDir: "/var/lib/berth"}); got != "/var/lib/berth/registry" {
		t.Errorf("default registry dir = %q", got)
	}
	if got := registryDir(Config{DataDir: "/var/lib/berth", RegistryDir: "/mnt/shared/blobs"}); got != "/mnt/shared/blobs" {
		t.Errorf("--registry-dir = %q", got)
	}
}

// recordingAuthorizer allows root and records every request it decides.
type recordingAuthorizer struct {
	mu   sync.Mutex
	seen []api.AuthzRequest
}

func (a *recordingAuthorizer) Authorize(ctx context.Context, req api.AuthzRequest) error {
	a.mu.Lock()
	a.seen = append(a.seen, req)
	a.mu.Unlock()
	return api.RootAuthorizer{}.Authorize(ctx, req)
}

// TestRegistryAuthorizer: each registry action is asked of the listener's
// Authorizer as its ECR IAM actions, on the repository's ARN in the
// credentials' region; a refusal is the registry's DENIED.
func TestRegistryAuthorizer(t *testing.T) {
	authz := &recordingAuthorizer{}
	srv := api.New(api.Config{Authorizer: authz, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	hook := registryAuthorizer(srv, "123456789012", "us-east-1")
	root := api.Principal{ARN: "arn:aws:iam::123456789012:root"}
	request := func(p api.Principal, region string) *http.Request {
		ctx := api.WithPrincipal(context.Background(), p)
		if region != "" {
			ctx = api.WithRegion(ctx, region)
		}
		return httptest.NewRequest(http.MethodGet, "/v2/", nil).WithContext(ctx)
	}

	tests := []struct {
		repo, region string
		act          registry.Action
		wantActions  []string
		wantResource string
	}{
		{"team/app", "eu-west-1", registry.ActionPull, []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"},
			"arn:aws:ecr:eu-west-1:123456789012:repository/team/app"},
		{"app", "", registry.ActionPush, []string{"ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
			"ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"},
			"arn:aws:ecr:us-east-1:123456789012:repository/app"},
		{"app", "us-east-1", registry.ActionDelete, []string{"ecr:BatchDeleteImage"},
			"arn:aws:ecr:us-east-1:123456789012:repository/app"},
		{"", "us-east-1", registry.ActionCatalog, []string{"ecr:DescribeRepositories"}, "*"},
	}
	for _, tt := range tests {
		authz.mu.Lock()
		authz.seen = nil
		authz.mu.Unlock()
		if err := hook(request(root, tt.region), tt.repo, tt.act); err != nil {
			t.Errorf("root %s %q: %v", tt.act, tt.repo, err)
			continue
		}
		authz.mu.Lock()
		var actions []string
		for _, req := range authz.seen {
			actions = append(actions, req.Action)
			if !slices.Equal(req.Resources, []string{tt.wantResource}) || req.Principal != root {
				t.Errorf("%s %q: asked %+v, want resource %s for root", tt.act, tt.repo, req, tt.wantResource)
			}
		}
		authz.mu.Unlock()
		if !slices.Equal(actions, tt.wantActions) {
			t.Errorf("%s %q: actions %v, want %v", tt.act, tt.repo, actions, tt.wantActions)
		}
	}

	alice := api.Principal{ARN: "arn:aws:iam::123456789012:user/alice"}
	err := hook(request(alice, "us-east-1"), "app", registry.ActionPull)
	e, ok := awserr.As(err)
	if !ok || e.Status != http.StatusForbidden {
		t.Fatalf("alice pull: err = %v, want a 403", err)
	}
	if err := hook(request(root, ""), "app", registry.Action("bogus")); err == nil {
		t.Errorf("an unknown registry action was allowed")
	}
}
