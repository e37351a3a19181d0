package ecs

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// The ECS service API: CreateService, DescribeServices, ListServices,
// UpdateService and DeleteService. They write what the user asks of a
// service (services_records.go); the service controller moves the tasks.

func errServiceNotFound() error {
	return awserr.New(ecstypes.ErrCodeServiceNotFoundException, 400, "Service not found.")
}

func errServiceNotActive() error {
	return awserr.New(ecstypes.ErrCodeServiceNotActiveException, 400, "Service was not ACTIVE.")
}

// serviceCreateRecord remembers the clientToken of the request that created
// a service and the hash of that request, for 24 hours: the same request
// with the same token returns the service again instead of failing.
type serviceCreateRecord struct {
	ClientToken string `json:"clientToken"`
	RequestHash string `json:"requestHash"`
}

var serviceCreates = store.NewCollection[serviceCreateRecord]("ecs/service-create-tokens")

const serviceTokenTTL = 24 * time.Hour

// createRequestHash hashes a CreateService request, token included.
func createRequestHash(in *ecstypes.CreateServiceRequest) (string, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("hash CreateService request: %w", err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// serviceRef resolves a service name or ARN, with the request's cluster,
// to the service's cluster and name. An ARN in the long format names its
// cluster, which must agree with the request's when the request names one.
func (s *Service) serviceRef(clusterRef, ref string) (cname, name string, ok bool) {
	cname, ok = s.arns.clusterName(clusterRef)
	if !ok || ref == "" {
		return "", "", false
	}
	if !strings.HasPrefix(ref, "arn:") {
		return cname, ref, validName(ref)
	}
	typ, rest, ok := s.arns.resource(ref)
	if !ok || typ != "service" {
		return "", "", false
	}
	if c, n, found := strings.Cut(rest, "/"); found {
		if clusterRef != "" && c != cname {
			return "", "", false
		}
		return c, n, validName(c) && validName(n)
	}
	return cname, rest, validName(rest)
}

// getService reads a service of an ACTIVE cluster by name or ARN; a
// missing one is ServiceNotFoundException.
func (s *Service) getService(tx *store.Tx, clusterRef, ref string) (serviceRecord, error) {
	c, err := s.getActiveCluster(tx, clusterRef)
	if err != nil {
		return serviceRecord{}, err
	}
	cname, name, ok := s.serviceRef(clusterRef, ref)
	if !ok || cname != aws.ToString(c.Cluster.ClusterName) {
		return serviceRecord{}, errServiceNotFound()
	}
	rec, err := store.Get(tx, services, serviceID(cname, name))
	if errors.Is(err, store.ErrNotFound) {
		return serviceRecord{}, errServiceNotFound()
	}
	if err != nil {
		return serviceRecord{}, fmt.Errorf("get service %s: %w", name, err)
	}
	return rec, nil
}

// serviceReply is a service as the service operations answer with it: the
// lists ECS always sends present, empty when unset. Tags are sent when
// withTags (include TAGS of DescribeServices: empty when none), else only
// by the calls that change the service, when it has some.
func serviceReply(svc ecstypes.Service, withTags bool) ecstypes.Service {
	svc.LoadBalancers = orEmpty(svc.LoadBalancers)
	svc.ServiceRegistries = orEmpty(svc.ServiceRegistries)
	svc.Deployments = orEmpty(svc.Deployments)
	svc.Events = orEmpty(svc.Events)
	svc.PlacementConstraints = orEmpty(svc.PlacementConstraints)
	svc.PlacementStrategy = orEmpty(svc.PlacementStrategy)
	if withTags {
		svc.Tags = orEmpty(svc.Tags)
	}
	return svc
}

// newDeployment is a PRIMARY deployment of taskDef, as ECS starts it.
func (s *Service) newDeployment(svc *ecstypes.Service) ecstypes.Deployment {
	id := newDeploymentID()
	now := ecstypes.Time(s.now())
	return ecstypes.Deployment{
		Id:                 aws.String(id),
		Status:             aws.String(deploymentPrimary),
		TaskDefinition:     svc.TaskDefinition,
		DesiredCount:       aws.Int32(aws.ToInt32(svc.DesiredCount)),
		PendingCount:       aws.Int32(0),
		RunningCount:       aws.Int32(0),
		FailedTasks:        aws.Int32(0),
		CreatedAt:          now,
		UpdatedAt:          now,
		LaunchType:         svc.LaunchType,
		RolloutState:       aws.String(rolloutInProgress),
		RolloutStateReason: aws.String("ECS deployment " + id + " in progress."),
	}
}

// roleARN qualifies a role name as an IAM role ARN of this account.
func (s *Service) roleARN(role string) string {
	if strings.HasPrefix(role, "arn:") {
		return role
	}
	return "arn:aws:iam::" + s.cfg.AccountID + ":role/" + strings.TrimPrefix(role, "/")
}

// CreateService creates a REPLICA service: its record, ACTIVE with one
// PRIMARY deployment of the task definition; the controller starts the
// tasks. An INACTIVE service of the name is replaced.
func (s *Service) CreateService(ctx context.Context, in *ecstypes.CreateServiceRequest) (*ecstypes.CreateServiceResponse, error) {
	if err := checkCreateService(in); err != nil {
		return nil, err
	}
	hash, err := createRequestHash(in)
	if err != nil {
		return nil, err
	}
	base := defaultDeploymentConfiguration()
	if aws.ToString(in.SchedulingStrategy) == ecstypes.SchedulingStrategyDAEMON {
		base = daemonDeploymentConfiguration()
	}
	dc, _ := mergeDeploymentConfiguration(base, in.DeploymentConfiguration)
	name := aws.ToString(in.ServiceName)
	var out ecstypes.Service
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		id := serviceID(cname, name)
		old, err := store.Get(tx, services, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("get service %s: %w", name, err)
		case aws.ToString(old.Service.Status) != "INACTIVE":
			if tok := aws.ToString(in.ClientToken); tok != "" && !old.Deleted {
				prev, err := store.Get(tx, serviceCreates, id)
				if err == nil && prev.ClientToken == tok && prev.RequestHash == hash {
					out = s.withCurrentRevisions(&old)
					return nil
				}
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("get service client token: %w", err)
				}
			}
			return awserr.InvalidParameter("Creation of service was not idempotent.")
		}
		spec, err := s.prepareLaunch(tx, launchInput{
			taskDefinition: aws.ToString(in.TaskDefinition), group: serviceGroup(name),
			launchType: aws.ToString(in.LaunchType), networkConfiguration: in.NetworkConfiguration,
		})
		if err != nil {
			return err
		}
		if err := checkAgainstTaskDef(spec.def, in.LoadBalancers, in.ServiceRegistries, in.PlacementConstraints); err != nil {
			return err
		}
		if err := s.checkTargetGroups(ctx, spec.def, in.LoadBalancers); err != nil { // services_ctl_lb.go
			return err
		}
		rec := serviceRecord{Service: s.newService(ctx, cname, spec.def, in, dc), Generation: 1, History: old.History}
		if err := s.recordNewDeployment(tx, &rec, spec.def, s.now()); err != nil {
			return err
		}
		out = s.withCurrentRevisions(&rec)
		store.Put(tx, services, id, rec)
		if tok := aws.ToString(in.ClientToken); tok != "" {
			store.PutExpiring(tx, serviceCreates, id, serviceCreateRecord{ClientToken: tok, RequestHash: hash}, serviceTokenTTL)
		} else {
			store.Delete(tx, serviceCreates, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	svc := serviceReply(out, len(out.Tags) > 0)
	return &ecstypes.CreateServiceResponse{Service: &svc}, nil
}

// newService is the record of a new service, as ECS reports it.
func (s *Service) newService(ctx context.Context, cname string, def ecstypes.TaskDefinition, in *ecstypes.CreateServiceRequest, dc *ecstypes.DeploymentConfiguration) ecstypes.Service {
	name := aws.ToString(in.ServiceName)
	launchType := aws.ToString(in.LaunchType)
	if launchType == "" {
		launchType = ecstypes.LaunchTypeEC2
	}
	propagate := aws.ToString(in.PropagateTags)
	if propagate == "" {
		propagate = ecstypes.PropagateTagsNONE
	}
	svc := ecstypes.Service{
		ServiceArn:                    aws.String(s.arns.service(cname, name)),
		ServiceName:                   aws.String(name),
		ClusterArn:                    aws.String(s.arns.cluster(cname)),
		LoadBalancers:                 orEmpty(in.LoadBalancers),
		ServiceRegistries:             orEmpty(in.ServiceRegistries),
		Status:                        aws.String("ACTIVE"),
		DesiredCount:                  aws.Int32(aws.ToInt32(in.DesiredCount)),
		RunningCount:                  aws.Int32(0),
		PendingCount:                  aws.Int32(0),
		LaunchType:                    aws.String(launchType),
		TaskDefinition:                def.TaskDefinitionArn,
		DeploymentConfiguration:       dc,
		Events:                        []ecstypes.ServiceEvent{},
		CreatedAt:                     ecstypes.Time(s.now()),
		CreatedBy:                     aws.String(s.principalARN(ctx)),
		PlacementConstraints:          orEmpty(in.PlacementConstraints),
		PlacementStrategy:             orEmpty(in.PlacementStrategy),
		SchedulingStrategy:            aws.String(cmp.Or(aws.ToString(in.SchedulingStrategy), ecstypes.SchedulingStrategyREPLICA)),
		DeploymentController:          &ecstypes.DeploymentController{Type: aws.String(ecstypes.DeploymentControllerTypeECS)},
		Tags:                          in.Tags,
		EnableECSManagedTags:          aws.Bool(aws.ToBool(in.EnableECSManagedTags)),
		EnableExecuteCommand:          aws.Bool(aws.ToBool(in.EnableExecuteCommand)),
		PropagateTags:                 aws.String(propagate),
		HealthCheckGracePeriodSeconds: in.HealthCheckGracePeriodSeconds,
		AvailabilityZoneRebalancing:   in.AvailabilityZoneRebalancing,
	}
	if svc.HealthCheckGracePeriodSeconds == nil && len(in.LoadBalancers) > 0 {
		svc.HealthCheckGracePeriodSeconds = aws.Int32(0)
	}
	if in.Role != nil {
		svc.RoleArn = aws.String(s.roleARN(*in.Role))
	}
	svc.Deployments = []ecstypes.Deployment{s.newDeployment(&svc)}
	return svc
}

// DescribeServices describes up to 10 services by name or ARN; unknown
// ones are MISSING failures. DRAINING and INACTIVE services are described
// with their status, as ECS does while it keeps them.
func (s *Service) DescribeServices(ctx context.Context, in *ecstypes.DescribeServicesRequest) (*ecstypes.DescribeServicesResponse, error) {
	if len(in.Services) == 0 {
		return nil, awserr.InvalidParameter("Services cannot be empty.")
	}
	if len(in.Services) > maxDescribeServices {
		return nil, awserr.InvalidParameter("A maximum of %d services can be described at once.", maxDescribeServices)
	}
	withTags := includes(in.Include, ecstypes.ServiceFieldTAGS)
	clusterRef := aws.ToString(in.Cluster)
	out := &ecstypes.DescribeServicesResponse{}
	err := s.st.View(ctx, func(tx *store.Tx) error {
		out.Services, out.Failures = []ecstypes.Service{}, []ecstypes.Failure{}
		refs := []store.Ref{}
		if cname, ok := s.arns.clusterName(clusterRef); ok {
			refs = append(refs, store.RefTo(s.st, clusters, cname))
		}
		for _, ref := range in.Services {
			if cname, name, ok := s.serviceRef(clusterRef, ref); ok {
				refs = append(refs, store.RefTo(s.st, services, serviceID(cname, name)))
			}
		}
		if err := store.Prefetch(tx, refs...); err != nil {
			return err
		}
		c, err := s.getActiveCluster(tx, clusterRef)
		if err != nil {
			return err
		}
		for _, ref := range in.Services {
			rec, err := s.getService(tx, clusterRef, ref)
			if e, ok := awserr.As(err); ok && e.Code == ecstypes.ErrCodeServiceNotFoundException {
				arn := ref
				if !strings.HasPrefix(ref, "arn:") {
					arn = s.arns.service(aws.ToString(c.Cluster.ClusterName), ref)
				}
				out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")})
				continue
			}
			if err != nil {
				return err
			}
			out.Services = append(out.Services, serviceReply(s.withCurrentRevisions(&rec), withTags))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !withTags {
		for i := range out.Services {
			out.Services[i].Tags = nil
		}
	}
	return out, nil
}

// ListServices lists the ARNs of a cluster's ACTIVE services, sorted by
// name, a page at a time from the read model: DRAINING services are no
// longer listed, as ECS documents (DescribeServices still finds them).
func (s *Service) ListServices(ctx context.Context, in *ecstypes.ListServicesRequest) (*ecstypes.ListServicesResponse, error) {
	limit, after, err := pageArgs(in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	if in.MaxResults == nil {
		limit = defaultServicesPage
	}
	out := &ecstypes.ListServicesResponse{}
	err = s.st.View(ctx, func(tx *store.Tx) error {
		out.ServiceArns, out.NextToken = []string{}, nil
		c, err := s.getActiveCluster(tx, aws.ToString(in.Cluster))
		if err != nil {
			return err
		}
		cname := aws.ToString(c.Cluster.ClusterName)
		if after != "" {
			ac, an, ok := s.serviceRef("", after)
			if !ok || ac != cname || !strings.HasPrefix(after, "arn:") {
				return awserr.InvalidParameter("The nextToken is not valid.")
			}
			after = serviceID(ac, an)
		}
		rm, err := s.syncedModel(ctx, tx.Revision(), servicesPart)
		if err != nil {
			return err
		}
		mgmt := aws.ToString(in.ResourceManagementType)
		var last string
		rm.services.Ascend(idxServiceCluster, cname, after, func(_ string, r *serviceRecord) bool {
			svc := &r.Service
			switch {
			case aws.ToString(svc.Status) != "ACTIVE",
				in.LaunchType != nil && aws.ToString(svc.LaunchType) != *in.LaunchType,
				in.SchedulingStrategy != nil && aws.ToString(svc.SchedulingStrategy) != *in.SchedulingStrategy,
				mgmt != "" && mgmt != cmp.Or(aws.ToString(svc.ResourceManagementType), ecstypes.ResourceManagementTypeCUSTOMER):
				return true
			}
			if len(out.ServiceArns) == limit {
				out.NextToken = nextToken(last)
				return false
			}
			last = aws.ToString(svc.ServiceArn)
			out.ServiceArns = append(out.ServiceArns, last)
			return true
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateService changes what an ACTIVE service asks for. A new task
// definition, forceNewDeployment, or new placement, load balancers or
// registries start a new PRIMARY deployment; the previous PRIMARY stays,
// ACTIVE, until the controller has drained it. Any change moves the
// service's generation.
func (s *Service) UpdateService(ctx context.Context, in *ecstypes.UpdateServiceRequest) (*ecstypes.UpdateServiceResponse, error) {
	if err := checkUpdateService(in); err != nil {
		return nil, err
	}
	var out ecstypes.Service
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		rec, err := s.getService(tx, aws.ToString(in.Cluster), aws.ToString(in.Service))
		if err != nil {
			return err
		}
		if aws.ToString(rec.Service.Status) != "ACTIVE" || rec.Deleted {
			return errServiceNotActive()
		}
		before, err := json.Marshal(rec.Service)
		if err != nil {
			return fmt.Errorf("encode service: %w", err)
		}
		svc := &rec.Service
		redeploy, def, err := s.applyServiceUpdate(ctx, tx, svc, in)
		if err != nil {
			return err
		}
		now := ecstypes.Time(s.now())
		if redeploy {
			for i := range svc.Deployments {
				if aws.ToString(svc.Deployments[i].Status) == deploymentPrimary {
					svc.Deployments[i].Status = aws.String(deploymentActive)
					svc.Deployments[i].UpdatedAt = now
				}
			}
			svc.Deployments = append([]ecstypes.Deployment{s.newDeployment(svc)}, svc.Deployments...)
			if err := s.recordNewDeployment(tx, &rec, def, now.Time); err != nil {
				return err
			}
		} else if in.DesiredCount != nil {
			for i := range svc.Deployments {
				d := &svc.Deployments[i]
				if aws.ToString(d.Status) == deploymentPrimary && aws.ToInt32(d.DesiredCount) != *in.DesiredCount {
					d.DesiredCount = aws.Int32(*in.DesiredCount)
					d.UpdatedAt = now
				}
			}
		}
		after, err := json.Marshal(rec.Service)
		if err != nil {
			return fmt.Errorf("encode service: %w", err)
		}
		if string(before) != string(after) {
			rec.Generation++
			store.Put(tx, services, serviceID(clusterOfARN(svc), aws.ToString(svc.ServiceName)), rec)
		}
		out = s.withCurrentRevisions(&rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	svc := serviceReply(out, len(out.Tags) > 0)
	return &ecstypes.UpdateServiceResponse{Service: &svc}, nil
}

// clusterOfARN is the cluster name of a service record.
func clusterOfARN(svc *ecstypes.Service) string {
	_, name, _ := strings.Cut(aws.ToString(svc.ClusterArn), ":cluster/")
	return name
}

// applyServiceUpdate lays an update over the service and says whether it
// needs a new deployment, and of which task definition. Nothing is written here: a failed check leaves
// the transaction without writes.
func (s *Service) applyServiceUpdate(ctx context.Context, tx *store.Tx, svc *ecstypes.Service, in *ecstypes.UpdateServiceRequest) (redeploy bool, def ecstypes.TaskDefinition, err error) {
	if isDaemon(svc) {
		if err := checkDaemonUpdate(in); err != nil { // services_ctl_daemon.go
			return false, def, err
		}
	}
	redeploy = aws.ToBool(in.ForceNewDeployment)
	defRef := aws.ToString(svc.TaskDefinition)
	if in.TaskDefinition != nil {
		defRef = aws.ToString(in.TaskDefinition)
	}
	constraints, strategies := svc.PlacementConstraints, svc.PlacementStrategy
	if in.PlacementConstraints != nil {
		constraints = in.PlacementConstraints
		redeploy = redeploy || !reflect.DeepEqual(orEmpty(constraints), orEmpty(svc.PlacementConstraints))
	}
	if in.PlacementStrategy != nil {
		strategies = in.PlacementStrategy
		redeploy = redeploy || !reflect.DeepEqual(orEmpty(strategies), orEmpty(svc.PlacementStrategy))
	}
	lbs, regs := svc.LoadBalancers, svc.ServiceRegistries
	if in.LoadBalancers != nil {
		lbs = in.LoadBalancers
		redeploy = redeploy || !reflect.DeepEqual(orEmpty(lbs), orEmpty(svc.LoadBalancers))
	}
	if in.ServiceRegistries != nil {
		regs = in.ServiceRegistries
		redeploy = redeploy || !reflect.DeepEqual(orEmpty(regs), orEmpty(svc.ServiceRegistries))
	}
	if in.TaskDefinition != nil || in.NetworkConfiguration != nil {
		spec, err := s.prepareLaunch(tx, launchInput{
			taskDefinition: defRef, group: serviceGroup(aws.ToString(svc.ServiceName)),
			launchType: aws.ToString(svc.LaunchType), networkConfiguration: in.NetworkConfiguration,
		})
		if err != nil {
			return false, def, err
		}
		def = spec.def
		redeploy = redeploy || aws.ToString(def.TaskDefinitionArn) != aws.ToString(svc.TaskDefinition)
	} else {
		rec, err := s.resolveTaskDef(tx, defRef)
		if err != nil {
			return false, def, err
		}
		def = rec.TaskDefinition
	}
	if err := checkAgainstTaskDef(def, lbs, regs, constraints); err != nil {
		return false, def, err
	}
	if in.LoadBalancers != nil || in.TaskDefinition != nil {
		if err := s.checkTargetGroups(ctx, def, lbs); err != nil { // services_ctl_lb.go
			return false, def, err
		}
	}
	dc := svc.DeploymentConfiguration
	if dc == nil {
		dc = defaultDeploymentConfiguration()
	}
	if dc, err = mergeDeploymentConfiguration(dc, in.DeploymentConfiguration); err != nil {
		return false, def, err
	}
	svc.DeploymentConfiguration = dc
	svc.TaskDefinition = def.TaskDefinitionArn
	svc.PlacementConstraints, svc.PlacementStrategy = orEmpty(constraints), orEmpty(strategies)
	svc.LoadBalancers, svc.ServiceRegistries = orEmpty(lbs), orEmpty(regs)
	if in.DesiredCount != nil {
		svc.DesiredCount = aws.Int32(*in.DesiredCount)
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		svc.HealthCheckGracePeriodSeconds = in.HealthCheckGracePeriodSeconds
	}
	if in.EnableExecuteCommand != nil {
		svc.EnableExecuteCommand = in.EnableExecuteCommand
	}
	if in.EnableECSManagedTags != nil {
		svc.EnableECSManagedTags = in.EnableECSManagedTags
	}
	if in.PropagateTags != nil {
		svc.PropagateTags = in.PropagateTags
	}
	if in.AvailabilityZoneRebalancing != nil {
		svc.AvailabilityZoneRebalancing = in.AvailabilityZoneRebalancing
	}
	return redeploy, def, nil
}

// DeleteService marks a service DRAINING with nothing desired: the
// controller stops its tasks, then sets it INACTIVE. A service still
// scaled above 0 is deleted only with force.
func (s *Service) DeleteService(ctx context.Context, in *ecstypes.DeleteServiceRequest) (*ecstypes.DeleteServiceResponse, error) {
	if aws.ToString(in.Service) == "" {
		return nil, errServiceName()
	}
	var out ecstypes.Service
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		rec, err := s.getService(tx, aws.ToString(in.Cluster), aws.ToString(in.Service))
		if err != nil {
			return err
		}
		if aws.ToString(rec.Service.Status) != "ACTIVE" || rec.Deleted {
			return errServiceNotActive()
		}
		svc := &rec.Service
		if aws.ToInt32(svc.DesiredCount) > 0 && !aws.ToBool(in.Force) && !isDaemon(svc) {
			return awserr.InvalidParameter("The service cannot be stopped while it is scaled above 0.")
		}
		now := ecstypes.Time(s.now())
		svc.DesiredCount = aws.Int32(0)
		for i := range svc.Deployments {
			svc.Deployments[i].DesiredCount = aws.Int32(0)
			svc.Deployments[i].UpdatedAt = now
		}
		svc.Status = aws.String("DRAINING")
		rec.Deleted = true
		rec.Generation++
		if err := s.stopCurrentServiceDeployment(tx, &rec, now.Time); err != nil {
			return err
		}
		store.Put(tx, services, serviceID(clusterOfARN(svc), aws.ToString(svc.ServiceName)), rec)
		out = s.withCurrentRevisions(&rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	svc := serviceReply(out, len(out.Tags) > 0)
	return &ecstypes.DeleteServiceResponse{Service: &svc}, nil
}
