// Package ecs owns Berth's Amazon ECS control-plane API: the handlers for every
// implemented ECS action, the records they keep in the store, placement of new
// tasks onto container instances, and the server side of ECS's agent
// protocols (the ACS and TCS websockets, and the task usage that TCS metrics
// feed). Wire types and validation come from ecstypes (generated).
package ecs

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/tcs"
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
	// LostAgentGrace is how long a container instance's agent may be
	// disconnected before the service controller replaces its REPLICA
	// services' tasks elsewhere (services_ctl_lost.go); 0 means the default
	// (3 minutes), a negative value never.
	LostAgentGrace time.Duration
	// LoadBalancing is Elastic Load Balancing, for services with
	// loadBalancers[] (services_ctl_lb.go); nil refuses them.
	LoadBalancing LoadBalancing
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
	// placing serialises placements per cluster (placementLock).
	placing [placeStripes]sync.Mutex
	// svcKick wakes the service controller (capacity 1): a service, or a
	// task of a service, changed.
	svcKick chan struct{}
	// lost is the service controller's clock of disconnected agents.
	lost agentLoss
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
	if cfg.LostAgentGrace == 0 {
		cfg.LostAgentGrace = defaultLostAgentGrace
	}
	s := &Service{
		cfg:     cfg,
		st:      cfg.Store,
		log:     cfg.Logger.With("service", "ecs"),
		now:     func() time.Time { return cfg.Now().UTC() },
		arns:    arnBuilder{region: cfg.Region, account: cfg.AccountID},
		randn:   cfg.Rand,
		acs:     newACSHub(),
		defs:    newTaskDefCache(),
		svcKick: make(chan struct{}, 1),
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

// APIService describes ECS in this service's one region for the API
// listener (see Regions.APIService).
func (s *Service) APIService() api.Service {
	return single(s).APIService()
}

// single is a Regions that serves one Service for every request.
func single(s *Service) *Regions {
	return &Regions{cfg: RegionsConfig{Template: s.cfg}, byRegion: map[string]*Service{s.cfg.Region: s}}
}

// APIService describes ECS for the API listener: every implemented
// operation, run in the region of its request, with the IAM action and
// resource ARNs the authorize step checks; the model's other operations
// answer UnsupportedFeatureException naming the action.
func (r *Regions) APIService() api.Service {
	type req = context.Context
	ops := map[string]api.Operation{
		"CreateCluster": api.Op(regional(r, (*Service).CreateCluster), func(ctx req, in *ecstypes.CreateClusterRequest) []string {
			return r.arnsFor(ctx).clusters(in.ClusterName)
		}),
		"DeleteCluster": api.Op(regional(r, (*Service).DeleteCluster), func(ctx req, in *ecstypes.DeleteClusterRequest) []string {
			return r.arnsFor(ctx).clusters(in.Cluster)
		}),
		"DescribeClusters": api.Op(regional(r, (*Service).DescribeClusters), func(ctx req, in *ecstypes.DescribeClustersRequest) []string {
			if len(in.Clusters) == 0 {
				return r.arnsFor(ctx).clusters(nil)
			}
			return r.arnsFor(ctx).clusters(ptrs(in.Clusters)...)
		}),
		"ListClusters": api.Op(regional(r, (*Service).ListClusters), nil),
		"UpdateCluster": api.Op(regional(r, (*Service).UpdateCluster), func(ctx req, in *ecstypes.UpdateClusterRequest) []string {
			return r.arnsFor(ctx).clusters(in.Cluster)
		}),
		"RegisterContainerInstance": api.Op(regional(r, (*Service).RegisterContainerInstance), func(ctx req, in *ecstypes.RegisterContainerInstanceRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "container-instance", in.ContainerInstanceArn)
		}),
		"DeregisterContainerInstance": api.Op(regional(r, (*Service).DeregisterContainerInstance), func(ctx req, in *ecstypes.DeregisterContainerInstanceRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "container-instance", in.ContainerInstance)
		}),
		"DescribeContainerInstances": api.Op(regional(r, (*Service).DescribeContainerInstances), func(ctx req, in *ecstypes.DescribeContainerInstancesRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "container-instance", ptrs(in.ContainerInstances)...)
		}),
		"ListContainerInstances": api.Op(regional(r, (*Service).ListContainerInstances), func(ctx req, in *ecstypes.ListContainerInstancesRequest) []string {
			return r.arnsFor(ctx).clusters(in.Cluster)
		}),
		"UpdateContainerInstancesState": api.Op(regional(r, (*Service).UpdateContainerInstancesState), func(ctx req, in *ecstypes.UpdateContainerInstancesStateRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "container-instance", ptrs(in.ContainerInstances)...)
		}),
		"PutAttributes": api.Op(regional(r, (*Service).PutAttributes), func(ctx req, in *ecstypes.PutAttributesRequest) []string {
			return r.arnsFor(ctx).attributeTargets(in.Cluster, in.Attributes)
		}),
		"DeleteAttributes": api.Op(regional(r, (*Service).DeleteAttributes), func(ctx req, in *ecstypes.DeleteAttributesRequest) []string {
			return r.arnsFor(ctx).attributeTargets(in.Cluster, in.Attributes)
		}),
		"ListAttributes": api.Op(regional(r, (*Service).ListAttributes), func(ctx req, in *ecstypes.ListAttributesRequest) []string {
			return r.arnsFor(ctx).clusters(in.Cluster)
		}),
		"RegisterTaskDefinition": api.Op(regional(r, (*Service).RegisterTaskDefinition), nil),
		"DeregisterTaskDefinition": api.Op(regional(r, (*Service).DeregisterTaskDefinition), func(ctx req, in *ecstypes.DeregisterTaskDefinitionRequest) []string {
			return []string{r.arnsFor(ctx).taskDef(in.TaskDefinition)}
		}),
		"DescribeTaskDefinition": api.Op(regional(r, (*Service).DescribeTaskDefinition), func(ctx req, in *ecstypes.DescribeTaskDefinitionRequest) []string {
			return []string{r.arnsFor(ctx).taskDef(in.TaskDefinition)}
		}),
		"ListTaskDefinitions":        api.Op(regional(r, (*Service).ListTaskDefinitions), nil),
		"ListTaskDefinitionFamilies": api.Op(regional(r, (*Service).ListTaskDefinitionFamilies), nil),
		"RunTask": api.Op(regional(r, (*Service).RunTask), func(ctx req, in *ecstypes.RunTaskRequest) []string {
			a := r.arnsFor(ctx)
			return append(a.clusters(in.Cluster), a.taskDef(in.TaskDefinition))
		}),
		"StartTask": api.Op(regional(r, (*Service).StartTask), func(ctx req, in *ecstypes.StartTaskRequest) []string {
			a := r.arnsFor(ctx)
			return append(a.inCluster(in.Cluster, "container-instance", ptrs(in.ContainerInstances)...), a.taskDef(in.TaskDefinition))
		}),
		"StopTask": api.Op(regional(r, (*Service).StopTask), func(ctx req, in *ecstypes.StopTaskRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "task", in.Task)
		}),
		"DescribeTasks": api.Op(regional(r, (*Service).DescribeTasks), func(ctx req, in *ecstypes.DescribeTasksRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "task", ptrs(in.Tasks)...)
		}),
		"ListTasks": api.Op(regional(r, (*Service).ListTasks), func(ctx req, in *ecstypes.ListTasksRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "container-instance", in.ContainerInstance)
		}),
		"CreateService": api.Op(regional(r, (*Service).CreateService), func(ctx req, in *ecstypes.CreateServiceRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "service", in.ServiceName)
		}),
		"UpdateService": api.Op(regional(r, (*Service).UpdateService), func(ctx req, in *ecstypes.UpdateServiceRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "service", in.Service)
		}),
		"DeleteService": api.Op(regional(r, (*Service).DeleteService), func(ctx req, in *ecstypes.DeleteServiceRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "service", in.Service)
		}),
		"DescribeServices": api.Op(regional(r, (*Service).DescribeServices), func(ctx req, in *ecstypes.DescribeServicesRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "service", ptrs(in.Services)...)
		}),
		"ListServices": api.Op(regional(r, (*Service).ListServices), func(ctx req, in *ecstypes.ListServicesRequest) []string {
			return r.arnsFor(ctx).clusters(in.Cluster)
		}),
		"DescribeServiceDeployments": api.Op(regional(r, (*Service).DescribeServiceDeployments), func(_ req, in *ecstypes.DescribeServiceDeploymentsRequest) []string {
			return in.ServiceDeploymentArns
		}),
		"ListServiceDeployments": api.Op(regional(r, (*Service).ListServiceDeployments), func(ctx req, in *ecstypes.ListServiceDeploymentsRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "service", in.Service)
		}),
		"DescribeServiceRevisions": api.Op(regional(r, (*Service).DescribeServiceRevisions), func(_ req, in *ecstypes.DescribeServiceRevisionsRequest) []string {
			return in.ServiceRevisionArns
		}),
		"ListServicesByNamespace": api.Op(regional(r, (*Service).ListServicesByNamespace), nil),
		"TagResource": api.Op(regional(r, (*Service).TagResource), func(_ req, in *ecstypes.TagResourceRequest) []string {
			return []string{aws.ToString(in.ResourceArn)}
		}),
		"UntagResource": api.Op(regional(r, (*Service).UntagResource), func(_ req, in *ecstypes.UntagResourceRequest) []string {
			return []string{aws.ToString(in.ResourceArn)}
		}),
		"ListTagsForResource": api.Op(regional(r, (*Service).ListTagsForResource), func(_ req, in *ecstypes.ListTagsForResourceRequest) []string {
			return []string{aws.ToString(in.ResourceArn)}
		}),
		"DiscoverPollEndpoint": api.Op(regional(r, (*Service).DiscoverPollEndpoint), func(ctx req, in *ecstypes.DiscoverPollEndpointRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "container-instance", in.ContainerInstance)
		}),
		"SubmitTaskStateChange": api.Op(regional(r, (*Service).SubmitTaskStateChange), func(ctx req, in *ecstypes.SubmitTaskStateChangeRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "task", in.Task)
		}),
		"SubmitContainerStateChange": api.Op(regional(r, (*Service).SubmitContainerStateChange), func(ctx req, in *ecstypes.SubmitContainerStateChangeRequest) []string {
			return r.arnsFor(ctx).inCluster(in.Cluster, "task", in.Task)
		}),
	}
	for _, name := range ecstypes.Operations {
		if _, ok := ops[name]; !ok {
			ops[name] = api.Unsupported(awserr.UnsupportedFeature("%s", "Berth does not implement the ECS action "+name+" yet."))
		}
	}
	return api.Service{
		SigningName: ecstypes.SigningName,
		JSON:        &api.JSONProtocol{TargetPrefix: ecstypes.TargetPrefix, Version: ecstypes.JSONVersion},
		Errors: api.Errors{
			Status:       ecstypes.ErrorStatus,
			Internal:     ecstypes.ErrCodeServerException,
			AccessDenied: ecstypes.ErrCodeAccessDeniedException,
			Validation:   ecstypes.ErrCodeInvalidParameterException,
		},
		Operations: ops,
	}
}

// ACSRoute is the agents' ACS websocket (of this service's one region) as
// a plain route.
func (s *Service) ACSRoute(auth api.Authenticator) api.Route {
	return single(s).ACSRoute(auth)
}

// TCSRoute is Regions.TCSRoute for this service alone.
func (s *Service) TCSRoute(auth api.Authenticator) api.Route {
	return single(s).TCSRoute(auth)
}

// ACSRoute is the agents' ACS websocket as a plain route: SigV4 (presigned)
// with auth, the ecs:Poll action on the instance it names, and no request
// deadline, since the socket lives for hours.
func (r *Regions) ACSRoute(auth api.Authenticator) api.Route {
	return api.Route{
		Pattern:    acs.Path,
		Handler:    r.ACSHandler(),
		Auth:       []api.Authenticator{auth},
		WriteError: writeAgentRouteError,
		Action:     "ecs:Poll",
		Resources: func(req *http.Request) []string {
			q := req.URL.Query()
			return r.arnsFor(req.Context()).inCluster(ptr(q.Get(acs.QueryClusterArn)), "container-instance", ptr(q.Get(acs.QueryContainerInstanceArn)))
		},
		Timeout: api.NoTimeout,
	}
}

// TCSRoute is the agents' telemetry websocket (TelemetryPath), like
// ACSRoute with the ecs:StartTelemetrySession action; auth also verifies
// every frame on the socket.
func (r *Regions) TCSRoute(auth api.Authenticator) api.Route {
	return api.Route{
		Pattern:    TelemetryPath,
		Handler:    r.TCSHandler(auth),
		Auth:       []api.Authenticator{auth},
		WriteError: writeAgentRouteError,
		Action:     "ecs:StartTelemetrySession",
		Resources: func(req *http.Request) []string {
			q := req.URL.Query()
			return r.arnsFor(req.Context()).inCluster(ptr(q.Get(tcs.QueryCluster)), "container-instance", ptr(q.Get(tcs.QueryContainerInstance)))
		},
		Timeout: api.NoTimeout,
	}
}

// resourceARNs qualifies what a request names into the ARNs the authorize
// step sees: ARNs as given, short names in the request's region (its SigV4
// scope) and this account, the way ECS formats them.
type resourceARNs struct{ arnBuilder }

func (r *Regions) arnsFor(ctx context.Context) resourceARNs {
	region, ok := api.RegionFrom(ctx)
	if !ok {
		region = r.cfg.Template.Region
	}
	return resourceARNs{arnBuilder{region: region, account: r.cfg.Template.AccountID}}
}

// clusters is the ARN of each cluster reference; none means "default".
func (a resourceARNs) clusters(refs ...*string) []string {
	if len(refs) == 0 {
		refs = []*string{nil}
	}
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		out = append(out, clusterRefARN(a.arnBuilder, a.clusterName(ref)))
	}
	return out
}

// clusterName is the name of a cluster reference ("default" when absent).
func (a resourceARNs) clusterName(ref *string) string {
	name := aws.ToString(ref)
	if name == "" {
		return "default"
	}
	if _, after, ok := strings.Cut(name, ":cluster/"); ok && strings.HasPrefix(name, "arn:") {
		return after
	}
	return name
}

// inCluster is the cluster's ARN and the ARN of each child resource of typ
// ("task", "container-instance") named by id or ARN.
func (a resourceARNs) inCluster(cluster *string, typ string, refs ...*string) []string {
	name := a.clusterName(cluster)
	out := a.clusters(cluster)
	for _, ref := range refs {
		switch r := aws.ToString(ref); {
		case r == "":
		case strings.HasPrefix(r, "arn:"):
			out = append(out, r)
		default:
			out = append(out, a.prefix()+typ+"/"+name+"/"+r)
		}
	}
	return out
}

// taskDef is a task definition as given ("family", "family:3") or its ARN.
func (a resourceARNs) taskDef(ref *string) string {
	r := aws.ToString(ref)
	if strings.HasPrefix(r, "arn:") {
		return r
	}
	return a.prefix() + "task-definition/" + r
}

// attributeTargets is the cluster and each container instance attributes
// are put on or deleted from.
func (a resourceARNs) attributeTargets(cluster *string, attrs []ecstypes.Attribute) []string {
	var refs []*string
	for _, at := range attrs {
		if at.TargetId != nil {
			refs = append(refs, at.TargetId)
		}
	}
	return a.inCluster(cluster, "container-instance", refs...)
}

func ptrs(ss []string) []*string {
	out := make([]*string, len(ss))
	for i := range ss {
		out[i] = &ss[i]
	}
	return out
}

func ptr(s string) *string { return &s }
