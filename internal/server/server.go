// Package server owns the `berth server` process: it opens the store, builds
// the API listener with every service on it, and in dev mode registers the
// default cluster and runs an in-process agent on the local Docker engine.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/agent/config"
	"github.com/berth-dev/berth/internal/agent/runtime/docker"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/api/sigv4"
	"github.com/berth-dev/berth/internal/ecs"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/sts"
)

// Dev credentials, used by --dev unless BERTH_ROOT_ACCESS_KEY_ID and
// BERTH_ROOT_SECRET_ACCESS_KEY say otherwise. They are documented in the README.
const (
	DevAccessKeyID     = "AKIABERTHDEVELOPMENT"
	DevSecretAccessKey = "berth-dev-secret-access-key"
)

// Config configures a server.
type Config struct {
	Listen        string // host:port for every API; default 127.0.0.1:9320
	AdvertiseURL  string // what agents are told to connect to; default http://<listen>
	DataDir       string
	EtcdEndpoints []string
	Region        string
	// Regions are further regions requests may be signed for (their SigV4
	// credential scope); Region always is one. Dev mode accepts any region.
	Regions   []string
	AccountID string
	// RequestTimeout is every API request's deadline (default 30s).
	RequestTimeout time.Duration
	Dev            bool
	// Root credentials; in dev mode they default to the Dev* constants,
	// otherwise they are generated once and kept in DataDir.
	RootAccessKeyID     string
	RootSecretAccessKey string
	// AgentConfigFile is an ecs.config for the dev in-process agent (optional).
	AgentConfigFile string
	Logger          *slog.Logger
	// Ready, if set, is called with the bound address once the server serves.
	Ready func(addr string)
}

func (c *Config) defaults() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:9320"
	}
	if c.DataDir == "" {
		return errors.New("a data directory is required (--data-dir)")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if (c.RootAccessKeyID == "") != (c.RootSecretAccessKey == "") {
		return errors.New("set both BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY, or neither")
	}
	if c.RootAccessKeyID == "" {
		if c.Dev {
			c.RootAccessKeyID, c.RootSecretAccessKey = DevAccessKeyID, DevSecretAccessKey
		} else {
			id, secret, err := loadOrCreateRootCredentials(c.DataDir)
			if err != nil {
				return err
			}
			c.RootAccessKeyID, c.RootSecretAccessKey = id, secret
		}
	}
	return nil
}

// Run serves until ctx is done. Running containers are left running.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	log := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	if cfg.AdvertiseURL == "" {
		cfg.AdvertiseURL = "http://" + addr
	}

	st, err := store.Open(ctx, store.Config{
		DataDir:   cfg.DataDir,
		Endpoints: cfg.EtcdEndpoints,
		Namespace: "/berth/" + cfg.AccountID + "/" + cfg.Region,
		Logger:    log,
	})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()

	ecsSvc := ecs.New(ecs.Config{Store: st, Region: cfg.Region, AccountID: cfg.AccountID, AdvertiseURL: cfg.AdvertiseURL, Logger: log})
	defer ecsSvc.Close() // before the store closes: agent sockets end first
	root := sigv4.Credential{
		AccessKeyID:     cfg.RootAccessKeyID,
		SecretAccessKey: cfg.RootSecretAccessKey,
		Principal:       "arn:aws:iam::" + cfg.AccountID + ":root",
	}
	verifier := &sigv4.Verifier{
		Regions: sigv4.RegionList(append([]string{cfg.Region}, cfg.Regions...)...),
		Lookup:  func(id string) (sigv4.Credential, bool) { return root, id == root.AccessKeyID },
	}
	if cfg.Dev {
		verifier.Regions = sigv4.AnyRegion
	}
	apiSrv := api.New(api.Config{
		Verifier:       verifier,
		Authorizer:     api.RootAuthorizer{},
		Logger:         log,
		RequestTimeout: cfg.RequestTimeout,
	})
	apiSrv.Register(ecsSvc.APIService())
	apiSrv.Register(sts.New(sts.Config{AccountID: cfg.AccountID}).APIService())
	apiSrv.Route(ecsSvc.ACSRoute(apiSrv.SigV4(ecstypes.SigningName)))

	httpSrv := &http.Server{Handler: apiSrv, ReadHeaderTimeout: 30 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	log.Info("berth server listening", "endpoint", "http://"+addr, "region", cfg.Region, "dataDir", cfg.DataDir, "dev", cfg.Dev)

	// Background work (reaper, dev agent) ends with runCtx, on every way out.
	var wg sync.WaitGroup
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	wg.Add(1)
	go func() {
		defer wg.Done()
		ecsSvc.RunReaper(runCtx, time.Minute)
	}()
	if cfg.Dev {
		if _, err := ecsSvc.CreateCluster(ctx, &ecstypes.CreateClusterRequest{ClusterName: aws.String("default")}); err != nil {
			return fmt.Errorf("create default cluster: %w", err)
		}
		opts, err := devAgentOptions(ctx, cfg, "http://"+addr)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := agent.Run(runCtx, opts); err != nil && runCtx.Err() == nil {
				log.Error("in-process agent stopped", "err", err)
			}
		}()
	}
	if cfg.Ready != nil {
		cfg.Ready(addr)
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stopRun()
		wg.Wait()
		return fmt.Errorf("serve: %w", err)
	}
	stopRun()
	wg.Wait()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutdownCtx)
	return nil
}

func devAgentOptions(ctx context.Context, cfg Config, endpoint string) (agent.Options, error) {
	// A laptop should not keep stopped containers for ECS's 3h; a minute
	// still leaves time for `docker logs`. The file or environment may say otherwise.
	acfg, err := config.LoadWithDefaults(cfg.AgentConfigFile, os.LookupEnv, map[string]string{
		"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "1m",
	})
	if err != nil {
		return agent.Options{}, fmt.Errorf("dev agent config: %w", err)
	}
	rt, err := docker.New(ctx)
	if err != nil {
		return agent.Options{}, fmt.Errorf("dev agent: connect to Docker (is dockerd running?): %w", err)
	}
	return agent.Options{
		Endpoint:    endpoint,
		Region:      cfg.Region,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.RootAccessKeyID, cfg.RootSecretAccessKey, ""),
		Config:      acfg,
		Runtime:     rt,
		DataDir:     filepath.Join(cfg.DataDir, "agent"),
		Logger:      cfg.Logger.With("component", "agent"),
	}, nil
}
