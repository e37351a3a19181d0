// Package ecs owns Berth's Amazon ECS control-plane API: the handlers for every
// implemented ECS action, the records they keep in the store, placement of new
// tasks onto container instances, and the server side of the agents' ACS
// websocket. Wire types and validation come from ecstypes (generated).
package ecs

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// Config configures the ECS service.
type Config struct {
	Store     *store.Store
	Region    string
	AccountID string
	// AdvertiseURL is the base URL agents reach this server on (DiscoverPollEndpoint).
	AdvertiseURL string
	Logger       *slog.Logger
	Now          func() time.Time
	// Rand picks among equally good placements; nil uses a time-seeded source.
	Rand func(n int) int
	// HeartbeatInterval is how often the ACS socket sends heartbeats (default 15s).
	HeartbeatInterval time.Duration
}

// Service implements the ECS API on top of the store.
type Service struct {
	cfg   Config
	st    *store.Store
	log   *slog.Logger
	now   func() time.Time
	arns  arnBuilder
	randn func(n int) int
	// life bounds long-lived work (agent sockets, the read model); Close ends it.
	life  context.Context
	close context.CancelFunc
	// rms is the read model, started on first use (readmodel.go).
	rms readModelState
	// acs routes read-model changes to this server's agent sessions.
	acs *acsHub
	// defs caches task definitions for agent payloads.
	defs *taskDefCache
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 15 * time.Second
	}
	s := &Service{
		cfg:   cfg,
		st:    cfg.Store,
		log:   cfg.Logger.With("service", "ecs"),
		now:   func() time.Time { return cfg.Now().UTC() },
		arns:  arnBuilder{region: cfg.Region, account: cfg.AccountID},
		randn: cfg.Rand,
		acs:   newACSHub(),
		defs:  newTaskDefCache(),
	}
	if s.randn == nil {
		s.randn = defaultRand
	}
	s.life, s.close = context.WithCancel(context.Background())
	return s
}

// Close ends the service's long-lived work: every agent socket is closed (the
// agents reconnect to another server, or to this one when it is back).
func (s *Service) Close() { s.close() }

// JSONService returns the ECS operations for the API listener. Operations in
// the model that Berth does not implement answer UnsupportedFeatureException.
func (s *Service) JSONService() api.JSONService {
	ops := map[string]api.Handler{
		"CreateCluster":                 api.JSONOp(s.CreateCluster),
		"DeleteCluster":                 api.JSONOp(s.DeleteCluster),
		"DescribeClusters":              api.JSONOp(s.DescribeClusters),
		"ListClusters":                  api.JSONOp(s.ListClusters),
		"UpdateCluster":                 api.JSONOp(s.UpdateCluster),
		"RegisterContainerInstance":     api.JSONOp(s.RegisterContainerInstance),
		"DeregisterContainerInstance":   api.JSONOp(s.DeregisterContainerInstance),
		"DescribeContainerInstances":    api.JSONOp(s.DescribeContainerInstances),
		"ListContainerInstances":        api.JSONOp(s.ListContainerInstances),
		"UpdateContainerInstancesState": api.JSONOp(s.UpdateContainerInstancesState),
		"PutAttributes":                 api.JSONOp(s.PutAttributes),
		"DeleteAttributes":              api.JSONOp(s.DeleteAttributes),
		"ListAttributes":                api.JSONOp(s.ListAttributes),
		"RegisterTaskDefinition":        api.JSONOp(s.RegisterTaskDefinition),
		"DeregisterTaskDefinition":      api.JSONOp(s.DeregisterTaskDefinition),
		"DescribeTaskDefinition":        api.JSONOp(s.DescribeTaskDefinition),
		"ListTaskDefinitions":           api.JSONOp(s.ListTaskDefinitions),
		"ListTaskDefinitionFamilies":    api.JSONOp(s.ListTaskDefinitionFamilies),
		"RunTask":                       api.JSONOp(s.RunTask),
		"StartTask":                     api.JSONOp(s.StartTask),
		"StopTask":                      api.JSONOp(s.StopTask),
		"DescribeTasks":                 api.JSONOp(s.DescribeTasks),
		"ListTasks":                     api.JSONOp(s.ListTasks),
		"TagResource":                   api.JSONOp(s.TagResource),
		"UntagResource":                 api.JSONOp(s.UntagResource),
		"ListTagsForResource":           api.JSONOp(s.ListTagsForResource),
		"DiscoverPollEndpoint":          api.JSONOp(s.DiscoverPollEndpoint),
		"SubmitTaskStateChange":         api.JSONOp(s.SubmitTaskStateChange),
		"SubmitContainerStateChange":    api.JSONOp(s.SubmitContainerStateChange),
	}
	for _, name := range ecstypes.Operations {
		if _, ok := ops[name]; !ok {
			ops[name] = unsupported(name)
		}
	}
	return api.JSONService{TargetPrefix: ecstypes.TargetPrefix, SigningName: ecstypes.SigningName, Operations: ops}
}

func unsupported(op string) api.Handler {
	return func(context.Context, []byte) (any, error) {
		return nil, awserr.UnsupportedFeature("%s", "Berth does not implement the ECS action "+op+" yet.")
	}
}
