package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/agent/config"
	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/agent/runtime"
)

// DefaultHeartbeatInterval is how often the server is expected to send a
// heartbeat on the ACS and TCS websockets (ECS's and Berth's default), and
// how often the agent pings them; a socket silent for three intervals is
// redialled.
const DefaultHeartbeatInterval = 15 * time.Second

// defaultCallTimeout bounds one call to the server.
const defaultCallTimeout = 30 * time.Second

// Options configures the agent process.
type Options struct {
	// Endpoint is the control plane's ECS API, e.g. http://127.0.0.1:8080.
	Endpoint string
	Region   string
	// Credentials sign every call and the websocket upgrade.
	Credentials aws.CredentialsProvider
	Config      config.Config
	Runtime     runtime.Runtime
	// DataDir holds state.json; default Config.DataDir.
	DataDir           string
	Logger            *slog.Logger
	HeartbeatInterval time.Duration

	// For many agents in one process (simulated instances); all optional.
	//
	// Client, when set, makes the ECS calls (see NewSharedClient); nil
	// builds a client for this agent alone.
	Client *ecs.Client
	// Dialer, when set, dials the ACS and TCS websockets (see NewSharedDialer).
	Dialer *websocket.Dialer
	// Throttle bounds concurrent registrations and ACS and TCS connects.
	Throttle *Throttle
	// Observer hears about registration and the ACS connection.
	Observer Observer
	// VolatileRuntime says the runtime keeps nothing across a restart (the
	// simulated one): the desired task sets are then not saved to DataDir,
	// since no container would be there to watch again.
	VolatileRuntime bool
	// FindGPUs finds the host's GPUs when ECS_ENABLE_GPU_SUPPORT=true and
	// BERTH_GPU_IDS does not name them (a Docker host: GPUFinder.Find);
	// nil finds none.
	FindGPUs func(ctx context.Context) (GPUInfo, error)
}

// ecsAPI is every ECS call the agent makes; *ecs.Client satisfies it.
type ecsAPI interface {
	registerAPI
	clusterAPI
	pollAPI
	submitter
}

// Agent is one running agent process.
type Agent struct {
	opts        Options
	api         ecsAPI
	log         *slog.Logger
	retry       backoff
	callTimeout time.Duration
	// metricsSample and metricsPublish are the metrics intervals; zero
	// means ECS's (DefaultMetricsSampleInterval, DefaultMetricsPublishInterval).
	metricsSample, metricsPublish time.Duration
}

// Run registers the instance, starts the task engine and keeps the ACS
// connection and state reporting going until ctx is done, then returns nil.
// When DataDir holds an instance ARN for the configured cluster, the engine
// for it starts before registration (which may wait out a server outage), so
// a restarted agent keeps watching its containers meanwhile; should the
// server then hand out a different ARN, the old instance's containers are
// stopped and removed. Run returns an error only when it cannot start
// (invalid options, a registration the server rejects, an unreadable data
// dir, an engine that fails to adopt). On return the containers keep
// running; the next Run adopts them.
func Run(ctx context.Context, opts Options) error {
	a, err := newAgent(opts)
	if err != nil {
		return err
	}
	return a.runUntilDone(ctx)
}

// runUntilDone is Run after the options are checked.
func (a *Agent) runUntilDone(ctx context.Context) error {
	if err := a.run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil // stopped by ctx, wherever it was
}

func newAgent(opts Options) (*Agent, error) {
	switch {
	case opts.Endpoint == "":
		return nil, errors.New("agent: Endpoint is required")
	case opts.Region == "":
		return nil, errors.New("agent: Region is required")
	case opts.Credentials == nil:
		return nil, errors.New("agent: Credentials are required")
	case opts.Runtime == nil:
		return nil, errors.New("agent: Runtime is required")
	case opts.Config.Cluster == "" || opts.Config.CPUUnits <= 0 || opts.Config.MemoryMiB <= 0:
		return nil, errors.New("agent: Config is incomplete (build it with config.Load)")
	}
	if opts.DataDir == "" {
		opts.DataDir = opts.Config.DataDir
	}
	if opts.DataDir == "" {
		return nil, errors.New("agent: DataDir is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if _, ok := opts.Credentials.(*aws.CredentialsCache); !ok {
		opts.Credentials = aws.NewCredentialsCache(opts.Credentials)
	}
	var api ecsAPI = opts.Client
	if opts.Client == nil {
		api = newECSClient(opts)
	}
	if opts.Dialer == nil {
		opts.Dialer = &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: defaultCallTimeout}
	}
	return &Agent{
		opts:        opts,
		api:         api,
		log:         opts.Logger,
		retry:       backoff{min: 500 * time.Millisecond, max: 10 * time.Second},
		callTimeout: defaultCallTimeout,
	}, nil
}

// newECSClient builds the SDK client aimed at the control plane. The SDK
// retries a few times; the agent's own loops retry beyond that.
func newECSClient(opts Options) *ecs.Client {
	cfg := aws.Config{
		Region:      opts.Region,
		Credentials: opts.Credentials,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 3 })
		},
	}
	return ecs.NewFromConfig(cfg, func(o *ecs.Options) {
		o.BaseEndpoint = aws.String(opts.Endpoint)
	})
}

func (a *Agent) run(ctx context.Context) error {
	cfg := a.opts.Config
	for _, k := range sortedKeys(cfg.Unknown) {
		// Values are not logged: keys such as ECS_ENGINE_AUTH_DATA hold secrets.
		a.log.Info("ignoring unsupported agent config key", "key", k)
	}

	st, err := loadState(a.opts.DataDir)
	if err != nil {
		return err
	}
	reg := registration{cfg: cfg, region: a.opts.Region, gpus: a.gpus(ctx, cfg)}
	if st.Cluster == cfg.Cluster {
		reg.instanceARN = st.ContainerInstanceArn
	}
	if v, ok := a.opts.Runtime.(dockerVersioner); ok {
		vctx, cancel := context.WithTimeout(ctx, a.callTimeout)
		if reg.dockerVersion, err = v.Version(vctx); err != nil {
			a.log.Warn("cannot read the container engine's version", "err", err)
		}
		cancel()
	}

	// cur is owned by this goroutine; whatever it holds is stopped on return
	// (containers keep running).
	var cur *identity
	defer func() {
		if cur != nil {
			cur.stop()
		}
	}()
	if reg.instanceARN != "" {
		// Watch the saved instance's containers before registering, which
		// may take as long as a server outage.
		if cur, err = a.startSaved(ctx, reg.instanceARN); err != nil {
			return err
		}
	}
	instanceARN, err := a.register(ctx, reg)
	if err != nil {
		return err
	}
	if cur != nil && cur.instanceARN != instanceARN {
		old := cur.instanceARN
		cur.stop() // first, so that nothing acts on the containers being removed
		cur = nil
		if err := a.removeContainersOf(ctx, old); err != nil {
			return err
		}
		if err := removeDesired(a.opts.DataDir); err != nil {
			a.log.Warn("cannot remove the old instance's desired tasks", "err", err)
		}
	}
	// Saved only now: a crash before this point retries the cleanup above.
	if instanceARN != st.ContainerInstanceArn || st.Cluster != cfg.Cluster {
		if err := saveState(a.opts.DataDir, persistedState{Cluster: cfg.Cluster, ContainerInstanceArn: instanceARN}); err != nil {
			return err
		}
	}
	if cur == nil {
		if cur, err = a.startIdentity(ctx, instanceARN, nil, nil); err != nil {
			return err
		}
	}
	a.log.Info("registered container instance", "containerInstanceArn", instanceARN, "cluster", cur.clusterARN,
		"reregistered", reg.instanceARN == instanceARN)
	if a.opts.Observer != nil {
		a.opts.Observer.Registered(instanceARN)
	}
	a.serve(ctx, cur, newVersionInfo(reg.dockerVersion)) // until ctx is done
	a.log.Info("agent stopping; containers keep running")
	return nil
}

// serve holds the ACS and TCS connections of the registered identity, and
// collects its tasks' metrics, until ctx is done.
func (a *Agent) serve(ctx context.Context, id *identity, version versionInfo) {
	dialer := signedDialer{creds: a.opts.Credentials, region: a.opts.Region, dialer: a.opts.Dialer, now: time.Now}
	reconnect := backoff{min: 250 * time.Millisecond, max: 10 * time.Second}
	acsc := &acsClient{
		api:         a.api,
		dialer:      dialer,
		cluster:     a.opts.Config.Cluster,
		clusterARN:  id.clusterARN,
		instanceARN: id.instanceARN,
		version:     version,
		engine:      a.desiredSaver(id.engine, id.instanceARN, id.saved),
		reporter:    id.reporter,
		heartbeat:   a.opts.HeartbeatInterval,
		reconnect:   reconnect,
		throttle:    a.opts.Throttle,
		observer:    a.opts.Observer,
		log:         a.log.With("component", "acs"),
	}
	tcsc := &tcsClient{
		api:         a.api,
		dialer:      dialer,
		cluster:     a.opts.Config.Cluster,
		clusterARN:  id.clusterARN,
		instanceARN: id.instanceARN,
		version:     version,
		health:      id.reporter.health,
		metrics:     a.newMetrics(id),
		heartbeat:   a.opts.HeartbeatInterval,
		reconnect:   reconnect,
		throttle:    a.opts.Throttle,
		log:         a.log.With("component", "tcs"),
	}
	var wg sync.WaitGroup
	wg.Go(func() { tcsc.run(ctx) })
	if tcsc.metrics != nil {
		wg.Go(func() { tcsc.metrics.run(ctx) })
	}
	acsc.run(ctx)
	wg.Wait()
}

// newMetrics returns the collector of the identity's task metrics, or nil
// when ECS_DISABLE_METRICS is set. CPU percent is relative to the
// registered CPU (see metricsConfig.CPUs).
func (a *Agent) newMetrics(id *identity) *metricsCollector {
	if a.opts.Config.DisableMetrics {
		return nil
	}
	return newMetricsCollector(metricsConfig{
		Tasks:        id.engine,
		Stats:        a.opts.Runtime,
		ClusterARN:   id.clusterARN,
		CPUs:         float64(a.opts.Config.CPUUnits) / 1024,
		SampleEvery:  a.metricsSample,
		PublishEvery: a.metricsPublish,
		CallTimeout:  a.callTimeout,
		Logger:       a.log.With("component", "metrics"),
	})
}

// startSaved starts the identity saved in DataDir, upserting the tasks of
// the set it last received that still have containers.
func (a *Agent) startSaved(ctx context.Context, instanceARN string) (*identity, error) {
	saved, ok, err := loadDesired(a.opts.DataDir, instanceARN)
	if err != nil {
		// Not fatal: the engine still adopts, and the server resends the tasks.
		a.log.Warn("ignoring the saved desired tasks", "err", err)
	}
	var watch []engine.Task
	if ok {
		watch, _ = a.watchable(ctx, instanceARN, saved)
	}
	id, err := a.startIdentity(ctx, instanceARN, saved, watch)
	if err != nil {
		return nil, err
	}
	a.log.Info("watching the saved container instance's containers while registering",
		"containerInstanceArn", instanceARN, "tasks", len(watch))
	return id, nil
}
