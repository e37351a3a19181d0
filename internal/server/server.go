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

	"github.com/berth-dev/berth/internal/acm"
	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/agent/config"
	"github.com/berth-dev/berth/internal/agent/ecrauth"
	"github.com/berth-dev/berth/internal/agent/runtime/docker"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/api/sigv4"
	"github.com/berth-dev/berth/internal/ecr"
	"github.com/berth-dev/berth/internal/ecs"
	"github.com/berth-dev/berth/internal/elb"
	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/sts"
)

// Dev credentials, used by --dev when etcd holds no root credentials yet
// and BERTH_ROOT_ACCESS_KEY_ID/BERTH_ROOT_SECRET_ACCESS_KEY are unset. They
// are documented in the README.
const (
	DevAccessKeyID     = "AKIABERTHDEVELOPMENT"
	DevSecretAccessKey = "berth-dev-secret-access-key"
	// DefaultECRControllerInterval is how often the ECR controllers run
	// unless told otherwise: ECR expires images within 24 hours of their
	// meeting a lifecycle rule; Berth does so within this interval.
	DefaultECRControllerInterval = 10 * time.Minute
	// DefaultAccountID is the account of a new etcd unless --account-id says
	// otherwise (LocalStack and moto answer as the same account).
	DefaultAccountID = "000000000000"
)

// Config configures a server.
type Config struct {
	Listen        string // host:port for every API; default 127.0.0.1:9320
	AdvertiseURL  string // what agents are told to connect to; default http://<listen>
	DataDir       string
	EtcdEndpoints []string
	// RegistryDir is where the registry's blobs live (default
	// <DataDir>/registry). Servers sharing an etcd share the registry's
	// metadata, so they must share this directory too (a network
	// filesystem): each serves blobs any of them stored.
	RegistryDir string
	// Region is the default region: the dev agent's, and the one of requests
	// that carry none.
	Region string
	// Regions are further regions requests may be signed for (their SigV4
	// credential scope); Region always is one. Dev mode accepts any region.
	// Each region's state is its own, as in AWS.
	Regions []string
	// AccountID is the account a new etcd is created for (default
	// DefaultAccountID); an etcd that already has one keeps it.
	AccountID string
	// RequestTimeout is every API request's deadline (default 30s).
	RequestTimeout time.Duration
	// LostAgentGrace is how long a container instance's agent may be
	// disconnected before services replace its tasks elsewhere (default 3
	// minutes; negative: never).
	LostAgentGrace time.Duration
	// ECRControllerInterval is how often the ECR controllers (lifecycle
	// policies) run (default DefaultECRControllerInterval).
	ECRControllerInterval time.Duration
	// LBListenAddress is the IP every load balancer listener binds
	// (default 127.0.0.1: nothing listens beyond loopback unless asked);
	// load balancers' DNS names resolve to it.
	LBListenAddress string
	// LBPortMap maps listener ports to the local ports they bind (80 ->
	// 8080 to run without root); unmapped ports bind as they are.
	LBPortMap map[int32]int32
	Dev       bool
	// Root credentials a new etcd is created with (BERTH_ROOT_*); otherwise
	// the dev ones (--dev) or generated ones. Every server on one etcd
	// answers to the credentials the first one stored.
	RootAccessKeyID     string
	RootSecretAccessKey string
	// AgentConfigFile is an ecs.config for the dev in-process agent (optional).
	AgentConfigFile string
	Logger          *slog.Logger
	// Ready, if set, is called once the server serves (and, with Dev, once
	// the in-process agent is connected).
	Ready func(ReadyInfo)
}

// ReadyInfo is what a serving server tells its caller (the banner).
type ReadyInfo struct {
	Addr                         string
	Region                       string
	AccountID                    string
	AccessKeyID, SecretAccessKey string
	// RegistryHost is the registry's host:port (repository URIs name it).
	RegistryHost string
	// CredentialsFile is where a non-dev server keeps a copy of the root
	// credentials ("" in dev mode).
	CredentialsFile string
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
	for _, r := range append([]string{c.Region}, c.Regions...) {
		if !ecs.ValidRegion(r) {
			return fmt.Errorf("%q is not a region name (like us-east-1)", r)
		}
	}
	if c.ECRControllerInterval <= 0 {
		c.ECRControllerInterval = DefaultECRControllerInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if (c.RootAccessKeyID == "") != (c.RootSecretAccessKey == "") {
		return errors.New("set both BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY, or neither")
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
		Namespace: "/berth",
		Logger:    log,
	})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	root, err := loadOrCreateRoot(ctx, st, &cfg)
	if err != nil {
		return err
	}
	// The registry is on the same listener: repository URIs and tokens'
	// proxyEndpoint name the host clients reach it at.
	regHost := registryHost(cfg.AdvertiseURL, addr)
	info := ReadyInfo{Addr: addr, Region: cfg.Region, AccountID: root.AccountID, AccessKeyID: root.AccessKeyID, SecretAccessKey: root.SecretAccessKey,
		RegistryHost: regHost}
	if !cfg.Dev {
		if err := writeRootCredentialsFile(cfg.DataDir, root); err != nil {
			return err
		}
		info.CredentialsFile = filepath.Join(cfg.DataDir, rootCredentialsFile)
	}

	// ACM keeps the certificates of HTTPS and TLS listeners; ELB's
	// instance targets resolve through ECS, whose services register their
	// tasks in ELB's target groups.
	acmSvc := acm.New(acm.Config{Store: st, AccountID: root.AccountID, Region: cfg.Region, Logger: log})
	var regions *ecs.Regions
	elbSvc := elb.New(elb.Config{
		Store: st, AccountID: root.AccountID, Region: cfg.Region, Logger: log,
		ListenAddress: cfg.LBListenAddress, PortMap: cfg.LBPortMap, Certificates: acmSvc,
		InstanceAddress: func(ctx context.Context, region, id string) (string, bool) {
			return regions.InstanceAddress(ctx, region, id)
		},
	})
	regions = ecs.NewRegions(ecs.RegionsConfig{Template: ecs.Config{
		Store: st, Region: cfg.Region, AccountID: root.AccountID, AdvertiseURL: cfg.AdvertiseURL, Logger: log,
		LostAgentGrace: cfg.LostAgentGrace, LoadBalancing: elbSvc,
	}})
	defer regions.Close() // before the store closes: agent sockets end first
	rootCred := sigv4.Credential{
		AccessKeyID:     root.AccessKeyID,
		SecretAccessKey: root.SecretAccessKey,
		Principal:       "arn:aws:iam::" + root.AccountID + ":root",
	}
	verifier := &sigv4.Verifier{
		Regions: sigv4.RegionList(append([]string{cfg.Region}, cfg.Regions...)...),
		Lookup:  func(id string) (sigv4.Credential, bool) { return rootCred, id == rootCred.AccessKeyID },
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
	apiSrv.Register(regions.APIService())
	apiSrv.Register(regions.BerthAPIService())
	apiSrv.Register(sts.New(sts.Config{AccountID: root.AccountID}).APIService())
	apiSrv.Register(elbSvc.APIService())
	apiSrv.Register(acmSvc.APIService())
	blobs, err := blob.NewFS(registryDir(cfg))
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	ecrSvc := ecr.New(ecr.Config{
		Store: st, AccountID: root.AccountID, Region: cfg.Region,
		RegistryHost: regHost, Blobs: blobs, Logger: log,
	})
	defer ecrSvc.Close() // its scan workers end before the store closes
	apiSrv.Register(ecrSvc.APIService())
	for _, rt := range ecrSvc.VulnDBRoutes(apiSrv.SigV4(ecrtypes.SigningName)) {
		apiSrv.Route(rt)
	}
	apiSrv.Route(registryRoute(registryConfig{
		API:       apiSrv,
		Auth:      []api.Authenticator{ecrSvc.RegistryAuth(), apiSrv.SigV4(ecrtypes.SigningName)},
		Meta:      ecrSvc.RegistryMeta(),
		Blobs:     blobs,
		AccountID: root.AccountID,
		Region:    cfg.Region,
		Logger:    log,
	}))
	apiSrv.Route(regions.ACSRoute(apiSrv.SigV4(ecstypes.SigningName)))
	apiSrv.Route(regions.TCSRoute(apiSrv.SigV4(ecstypes.SigningName)))

	httpSrv := &http.Server{Handler: apiSrv, ReadHeaderTimeout: 30 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	log.Info("berth server listening", "endpoint", "http://"+addr, "region", cfg.Region, "dataDir", cfg.DataDir,
		"registry", regHost, "registryDir", registryDir(cfg), "dev", cfg.Dev)

	// Background work (controllers, dev agent) ends with runCtx, on every way out.
	var wg sync.WaitGroup
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// One server of all those sharing the etcd runs the controllers:
		// ECS's and ECR's side by side, and the load balancers' data plane,
		// all ending with ctx.
		st.WithNamespace("/berth/"+root.AccountID).Lead(runCtx, "controllers", serverID(addr), func(ctx context.Context) {
			var controllers sync.WaitGroup
			controllers.Add(2)
			go func() {
				defer controllers.Done()
				ecrSvc.RunControllers(ctx, cfg.ECRControllerInterval)
			}()
			go func() {
				defer controllers.Done()
				elbSvc.RunDataPlane(ctx)
			}()
			regions.RunControllers(ctx, time.Minute)
			controllers.Wait()
		})
	}()
	if cfg.Dev {
		if err := startDevAgent(ctx, runCtx, &wg, cfg, regions, root, "http://"+addr); err != nil {
			return err
		}
	}
	if cfg.Ready != nil {
		cfg.Ready(info)
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

// serverID names this process in elections and logs.
func serverID(addr string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%s/%d", host, addr, os.Getpid())
}

// devAgentWait bounds how long --dev waits for its agent before it says
// it is ready anyway.
const devAgentWait = 2 * time.Minute

// devCallTimeout bounds the --dev start's calls to etcd and Docker.
const devCallTimeout = 30 * time.Second

// startDevAgent creates cluster "default" and runs the in-process agent on
// the local Docker engine, and returns once the agent is registered and
// connected, so that a task run right after the banner has somewhere to go.
func startDevAgent(ctx, runCtx context.Context, wg *sync.WaitGroup, cfg Config, regions *ecs.Regions, root rootRecord, endpoint string) error {
	cctx, cancel := context.WithTimeout(ctx, devCallTimeout)
	defer cancel()
	svc, err := regions.Default(cctx)
	if err != nil {
		return err
	}
	if _, err := svc.CreateCluster(cctx, &ecstypes.CreateClusterRequest{ClusterName: aws.String("default")}); err != nil {
		return fmt.Errorf("create default cluster: %w", err)
	}
	opts, err := devAgentOptions(cctx, cfg, root, endpoint)
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := agent.Run(runCtx, opts); err != nil && runCtx.Err() == nil {
			cfg.Logger.Error("in-process agent stopped", "err", err)
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, devAgentWait)
	defer wcancel()
	if err := svc.WaitAgentConnected(wctx, opts.Config.Cluster); err != nil {
		cfg.Logger.Warn("the in-process agent is not connected yet; tasks cannot be placed until it is", "err", err)
	}
	return nil
}

func devAgentOptions(ctx context.Context, cfg Config, root rootRecord, endpoint string) (agent.Options, error) {
	// A laptop should not keep stopped containers for ECS's 3h; a minute
	// still leaves time for `docker logs`. The file or environment may say otherwise.
	acfg, err := config.LoadWithDefaults(cfg.AgentConfigFile, os.LookupEnv, map[string]string{
		"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "1m",
	})
	if err != nil {
		return agent.Options{}, fmt.Errorf("dev agent config: %w", err)
	}
	creds := credentials.NewStaticCredentialsProvider(root.AccessKeyID, root.SecretAccessKey, "")
	// Repository URIs name the advertise URL's host, which may not be the
	// address the in-process agent dials.
	var registryHosts []string
	if h := registryHost(cfg.AdvertiseURL, ""); h != "" {
		registryHosts = append(registryHosts, h)
	}
	auth, err := ecrauth.New(ecrauth.Config{
		Endpoint: endpoint, RegistryHosts: registryHosts, Region: cfg.Region, Credentials: creds,
		Logger: cfg.Logger.With("component", "agent"),
	})
	if err != nil {
		return agent.Options{}, fmt.Errorf("dev agent: %w", err)
	}
	rt, err := docker.New(ctx, docker.Options{RegistryAuth: auth})
	if err != nil {
		return agent.Options{}, fmt.Errorf("dev agent: connect to Docker (is dockerd running?): %w", err)
	}
	return agent.Options{
		Endpoint:    endpoint,
		Region:      cfg.Region,
		Credentials: creds,
		Config:      acfg,
		Runtime:     rt,
		DataDir:     filepath.Join(cfg.DataDir, "agent"),
		Logger:      cfg.Logger.With("component", "agent"),
	}, nil
}
