package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/blob"
)

// registryIAMActions are the ECR IAM actions a registry request needs, by
// what it does to the repository. A request needs all of its action's: AWS's
// managed ECR policies grant them together, and per-request precision
// (a blob HEAD needing only ecr:BatchCheckLayerAvailability) is the IAM
// issue's to add along with policy evaluation.
var registryIAMActions = map[registry.Action][]string{
	registry.ActionPull: {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"},
	registry.ActionPush: {
		"ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
		"ecr:CompleteLayerUpload", "ecr:PutImage",
	},
	registry.ActionDelete:  {"ecr:BatchDeleteImage"},
	registry.ActionCatalog: {"ecr:DescribeRepositories"},
}

// registryConfig is what the registry route is built from.
type registryConfig struct {
	API *api.Server
	// Auth are the route's authenticators: the ECR token's Basic scheme
	// first (what `docker login` sends), then SigV4.
	Auth      []api.Authenticator
	Meta      registry.Meta
	Blobs     blob.Store
	AccountID string
	// Region names the repositories of requests whose credentials carry
	// none (the ARN's region).
	Region string
	Logger *slog.Logger
}

// registryRoute is the OCI registry (/v2/, every method) on the listener.
// Uploads stream for as long as they take (no request deadline); errors,
// the API layer's 401 included, are written in the OCI form, with the
// Basic challenge `docker login` needs.
func registryRoute(c registryConfig) api.Route {
	h := registry.New(registry.Config{
		Meta:      c.Meta,
		Blobs:     c.Blobs,
		Authorize: registryAuthorizer(c.API, c.AccountID, c.Region),
		Logger:    c.Logger,
	})
	return api.Route{
		Pattern:    "/v2/",
		Handler:    h,
		Auth:       c.Auth,
		Timeout:    api.NoTimeout,
		WriteError: registry.WriteAPIError,
	}
}

// registryAuthorizer is the registry's Authorize hook: each registry action
// is authorized as the ECR IAM actions it stands for, on the repository's
// ARN (in the region the credentials are for), by the listener's
// Authorizer: root may do everything until IAM policies exist.
func registryAuthorizer(srv *api.Server, accountID, defaultRegion string) func(*http.Request, string, registry.Action) error {
	return func(r *http.Request, repo string, act registry.Action) error {
		actions, ok := registryIAMActions[act]
		if !ok {
			return fmt.Errorf("registry action %q has no IAM actions", act)
		}
		ctx := r.Context()
		p, _ := api.PrincipalFrom(ctx)
		resource := "*"
		if repo != "" {
			region, ok := api.RegionFrom(ctx)
			if !ok {
				region = defaultRegion
			}
			resource = "arn:aws:" + ecrtypes.SigningName + ":" + region + ":" + accountID + ":repository/" + repo
		}
		for _, a := range actions {
			if err := srv.Authorize(ctx, api.AuthzRequest{Principal: p, Action: a, Resources: []string{resource}}); err != nil {
				return err
			}
		}
		return nil
	}
}

// registryHost is the registry's host:port as clients reach it (the
// repositoryUri's host, the token's proxyEndpoint): the advertise URL's.
func registryHost(advertiseURL, listenAddr string) string {
	u, err := url.Parse(advertiseURL)
	if err != nil || u.Host == "" {
		return listenAddr
	}
	return u.Host
}

// registryDir is where the registry's blobs live: cfg.RegistryDir, else
// <data-dir>/registry.
func registryDir(cfg Config) string {
	if cfg.RegistryDir != "" {
		return cfg.RegistryDir
	}
	return filepath.Join(cfg.DataDir, "registry")
}
