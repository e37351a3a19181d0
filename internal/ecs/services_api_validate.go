package ecs

import (
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// Checks of the service API's requests. What can be checked without a read
// is checked before the transaction (checkCreateService, checkUpdateService),
// so a malformed request never touches the store; what needs the task
// definition (load balancer containers, the constraint count) is checked
// inside it, where a failure still writes nothing.

// ECS's limits on a service.
const (
	maxServiceLoadBalancers = 5
	maxServiceRegistries    = 1
	maxServiceClientToken   = 32
	maxDescribeServices     = 10
	defaultServicesPage     = 10
)

func errServiceName() error {
	return awserr.InvalidParameter("Service name can be up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.")
}

// checkLaunchType accepts the launch types Berth runs (EC2, EXTERNAL:
// both are container instances here), as RunTask does.
func checkLaunchType(lt *string, capacity []ecstypes.CapacityProviderStrategyItem) error {
	if len(capacity) > 0 {
		return awserr.UnsupportedFeature("Berth does not support capacity provider strategies yet; use launchType EC2.")
	}
	switch v := aws.ToString(lt); v {
	case "", ecstypes.LaunchTypeEC2, ecstypes.LaunchTypeEXTERNAL:
		return nil
	default:
		return awserr.UnsupportedFeature("%s", "Berth does not support the "+v+" launch type yet.")
	}
}

// checkUnsupportedServiceFeatures refuses what Berth does not run yet:
// Service Connect, service volumes, VPC Lattice.
func checkUnsupportedServiceFeatures(sc *ecstypes.ServiceConnectConfiguration, vols []ecstypes.ServiceVolumeConfiguration, lattice []ecstypes.VpcLatticeConfiguration) error {
	switch {
	case sc != nil && aws.ToBool(sc.Enabled):
		return awserr.UnsupportedFeature("Berth does not support Service Connect yet.")
	case len(vols) > 0:
		return awserr.UnsupportedFeature("Berth does not support service volume configurations yet.")
	case len(lattice) > 0:
		return awserr.UnsupportedFeature("Berth does not support VPC Lattice configurations yet.")
	}
	return nil
}

// checkDeploymentController accepts the rolling update (ECS) controller only.
func checkDeploymentController(dc *ecstypes.DeploymentController) error {
	if dc == nil {
		return nil
	}
	switch t := aws.ToString(dc.Type); t {
	case ecstypes.DeploymentControllerTypeECS:
		return nil
	case ecstypes.DeploymentControllerTypeCODEDEPLOY, ecstypes.DeploymentControllerTypeEXTERNAL:
		return awserr.UnsupportedFeature("%s", "Berth does not support the "+t+" deployment controller yet; use ECS.")
	default:
		return awserr.InvalidParameter("%s", "Invalid deployment controller type "+t+".")
	}
}

// defaultDeploymentConfiguration is what ECS reports for a service created
// without one.
func defaultDeploymentConfiguration() *ecstypes.DeploymentConfiguration {
	return &ecstypes.DeploymentConfiguration{
		DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: aws.Bool(false), Rollback: aws.Bool(false)},
		MaximumPercent:           aws.Int32(200),
		MinimumHealthyPercent:    aws.Int32(100),
	}
}

// mergeDeploymentConfiguration checks a requested deployment configuration
// and lays it over base (the defaults on create, the service's own on
// update): what the request leaves out stays as it was.
func mergeDeploymentConfiguration(base *ecstypes.DeploymentConfiguration, in *ecstypes.DeploymentConfiguration) (*ecstypes.DeploymentConfiguration, error) {
	out := *base
	if base.DeploymentCircuitBreaker != nil {
		cb := *base.DeploymentCircuitBreaker
		out.DeploymentCircuitBreaker = &cb
	}
	if in == nil {
		return &out, nil
	}
	if s := aws.ToString(in.Strategy); s != "" && s != ecstypes.DeploymentStrategyROLLING {
		return nil, awserr.UnsupportedFeature("%s", "Berth does not support the "+s+" deployment strategy yet; use ROLLING.")
	}
	if in.BakeTimeInMinutes != nil || len(in.LifecycleHooks) > 0 || in.LinearConfiguration != nil || in.CanaryConfiguration != nil {
		return nil, awserr.UnsupportedFeature("Berth does not support bake times, lifecycle hooks, linear or canary deployments yet.")
	}
	if in.Alarms != nil && aws.ToBool(in.Alarms.Enable) {
		return nil, awserr.UnsupportedFeature("Berth does not support CloudWatch alarms in deployments yet.")
	}
	if in.MinimumHealthyPercent != nil {
		if v := *in.MinimumHealthyPercent; v < 0 || v > 100 {
			return nil, awserr.InvalidParameter("minimumHealthyPercent must be between 0 and 100.")
		}
		out.MinimumHealthyPercent = in.MinimumHealthyPercent
	}
	if in.MaximumPercent != nil {
		if *in.MaximumPercent < 100 {
			return nil, awserr.InvalidParameter("maximumPercent must be 100 or more for a service with the REPLICA scheduling strategy.")
		}
		out.MaximumPercent = in.MaximumPercent
	}
	if cb := in.DeploymentCircuitBreaker; cb != nil {
		out.DeploymentCircuitBreaker = &ecstypes.DeploymentCircuitBreaker{
			Enable: aws.Bool(aws.ToBool(cb.Enable)), Rollback: aws.Bool(aws.ToBool(cb.Rollback)),
		}
	}
	if in.Alarms != nil {
		out.Alarms = in.Alarms
	}
	if in.Strategy != nil {
		out.Strategy = in.Strategy
	}
	return &out, nil
}

// checkPropagateTags accepts SERVICE, TASK_DEFINITION and NONE.
func checkPropagateTags(v *string) error {
	if v != nil && !slices.Contains(ecstypes.PropagateTagsValues, *v) {
		return awserr.InvalidParameter("%s", "Invalid propagateTags value "+*v+": use SERVICE, TASK_DEFINITION or NONE.")
	}
	return nil
}

// checkServiceClientToken checks a CreateService clientToken: up to 32
// printable ASCII characters, as the model documents.
func checkServiceClientToken(tok *string) error {
	if tok == nil {
		return nil
	}
	if *tok == "" || len(*tok) > maxServiceClientToken {
		return awserr.InvalidParameter("clientToken must be 1 to %d ASCII characters.", maxServiceClientToken)
	}
	for i := 0; i < len(*tok); i++ {
		if (*tok)[i] < 33 || (*tok)[i] > 126 {
			return awserr.InvalidParameter("clientToken may only contain ASCII characters 33 to 126.")
		}
	}
	return nil
}

// checkServicePlacement checks the strategies (at most 5, each valid) and
// compiles the request's constraints alone, as RunTask does before any read.
func checkServicePlacement(strategies []ecstypes.PlacementStrategy, constraints []ecstypes.PlacementConstraint) error {
	_, err := parsePlacement(&ecstypes.RunTaskRequest{PlacementStrategy: strategies, PlacementConstraints: constraints})
	return err
}

// checkLoadBalancersShape checks what a load balancer needs whatever the
// task definition: at most 5, one target group or classic load balancer
// each, and the container it routes to.
func checkLoadBalancersShape(lbs []ecstypes.LoadBalancer) error {
	if len(lbs) > maxServiceLoadBalancers {
		return awserr.InvalidParameter("A service can have at most %d load balancers (target groups).", maxServiceLoadBalancers)
	}
	for _, lb := range lbs {
		tg, name := aws.ToString(lb.TargetGroupArn), aws.ToString(lb.LoadBalancerName)
		switch {
		case tg != "" && name != "":
			return awserr.InvalidParameter("A load balancer takes either a targetGroupArn or a loadBalancerName, not both.")
		case tg == "" && name == "":
			return awserr.InvalidParameter("A load balancer requires a targetGroupArn or a loadBalancerName.")
		case aws.ToString(lb.ContainerName) == "" || lb.ContainerPort == nil:
			return awserr.InvalidParameter("A load balancer requires a containerName and a containerPort.")
		}
	}
	return nil
}

// checkServiceRegistriesShape allows one registry, which names its ARN.
func checkServiceRegistriesShape(regs []ecstypes.ServiceRegistry) error {
	if len(regs) > maxServiceRegistries {
		return awserr.InvalidParameter("A service can have at most one service registry.")
	}
	for _, r := range regs {
		if aws.ToString(r.RegistryArn) == "" {
			return awserr.InvalidParameter("A service registry requires a registryArn.")
		}
	}
	return nil
}

// checkAgainstTaskDef checks what the service routes to against its task
// definition: each load balancer's and registry's container must exist and
// map the container port; and the task's constraints, the definition's and
// the service's together, are at most 10 and compile.
func checkAgainstTaskDef(def ecstypes.TaskDefinition, lbs []ecstypes.LoadBalancer, regs []ecstypes.ServiceRegistry, constraints []ecstypes.PlacementConstraint) error {
	for _, lb := range lbs {
		if err := checkContainerPort(def, aws.ToString(lb.ContainerName), lb.ContainerPort); err != nil {
			return err
		}
	}
	for _, r := range regs {
		if r.ContainerName == nil && r.ContainerPort == nil {
			continue
		}
		if err := checkContainerPort(def, aws.ToString(r.ContainerName), r.ContainerPort); err != nil {
			return err
		}
	}
	_, err := placementConstraints(def.PlacementConstraints, constraints)
	return err
}

func checkContainerPort(def ecstypes.TaskDefinition, name string, port *int32) error {
	for _, c := range def.ContainerDefinitions {
		if aws.ToString(c.Name) != name {
			continue
		}
		if port == nil {
			return nil
		}
		for _, pm := range c.PortMappings {
			if aws.ToInt32(pm.ContainerPort) == *port {
				return nil
			}
		}
		return awserr.InvalidParameter("The container %s did not have a container port %d defined.", name, *port)
	}
	return awserr.InvalidParameter("The container %s does not exist in the task definition.", name)
}

// checkCreateService checks what CreateService can without a read.
func checkCreateService(in *ecstypes.CreateServiceRequest) error {
	if !validName(aws.ToString(in.ServiceName)) {
		return errServiceName()
	}
	switch aws.ToString(in.SchedulingStrategy) {
	case "", ecstypes.SchedulingStrategyREPLICA:
	case ecstypes.SchedulingStrategyDAEMON:
		if err := checkDaemonCreate(in); err != nil { // services_ctl_daemon.go
			return err
		}
	default:
		return awserr.InvalidParameter("%s", "Invalid scheduling strategy "+aws.ToString(in.SchedulingStrategy)+": use REPLICA or DAEMON.")
	}
	if in.DesiredCount == nil && aws.ToString(in.SchedulingStrategy) != ecstypes.SchedulingStrategyDAEMON {
		return awserr.InvalidParameter("desiredCount is required for a service with the REPLICA scheduling strategy.")
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return awserr.InvalidParameter("desiredCount must be 0 or more.")
	}
	if aws.ToString(in.TaskDefinition) == "" {
		return awserr.InvalidParameter("A task definition is required for a service with the ECS deployment controller.")
	}
	if err := checkLaunchType(in.LaunchType, in.CapacityProviderStrategy); err != nil {
		return err
	}
	if in.PlatformVersion != nil {
		return awserr.InvalidParameter("platformVersion is only valid for services with the FARGATE launch type.")
	}
	if err := checkDeploymentController(in.DeploymentController); err != nil {
		return err
	}
	if err := checkUnsupportedServiceFeatures(in.ServiceConnectConfiguration, in.VolumeConfigurations, in.VpcLatticeConfigurations); err != nil {
		return err
	}
	if _, err := mergeDeploymentConfiguration(defaultDeploymentConfiguration(), in.DeploymentConfiguration); err != nil {
		return err
	}
	if err := checkServicePlacement(in.PlacementStrategy, in.PlacementConstraints); err != nil {
		return err
	}
	if err := checkLoadBalancersShape(in.LoadBalancers); err != nil {
		return err
	}
	if in.Role != nil && len(in.LoadBalancers) == 0 {
		return awserr.InvalidParameter("A role can only be given to a service that has load balancers.")
	}
	if err := checkServiceRegistriesShape(in.ServiceRegistries); err != nil {
		return err
	}
	if g := in.HealthCheckGracePeriodSeconds; g != nil && *g < 0 {
		return awserr.InvalidParameter("healthCheckGracePeriodSeconds must be 0 or more.")
	}
	if err := checkPropagateTags(in.PropagateTags); err != nil {
		return err
	}
	if err := validateTags(in.Tags); err != nil {
		return err
	}
	return checkServiceClientToken(in.ClientToken)
}

// checkUpdateService checks what UpdateService can without a read.
func checkUpdateService(in *ecstypes.UpdateServiceRequest) error {
	if aws.ToString(in.Service) == "" {
		return errServiceName()
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return awserr.InvalidParameter("desiredCount must be 0 or more.")
	}
	if err := checkLaunchType(nil, in.CapacityProviderStrategy); err != nil {
		return err
	}
	if in.PlatformVersion != nil {
		return awserr.InvalidParameter("platformVersion is only valid for services with the FARGATE launch type.")
	}
	if err := checkDeploymentController(in.DeploymentController); err != nil {
		return err
	}
	if err := checkUnsupportedServiceFeatures(in.ServiceConnectConfiguration, in.VolumeConfigurations, in.VpcLatticeConfigurations); err != nil {
		return err
	}
	if _, err := mergeDeploymentConfiguration(defaultDeploymentConfiguration(), in.DeploymentConfiguration); err != nil {
		return err
	}
	if err := checkServicePlacement(in.PlacementStrategy, in.PlacementConstraints); err != nil {
		return err
	}
	if err := checkLoadBalancersShape(in.LoadBalancers); err != nil {
		return err
	}
	if err := checkServiceRegistriesShape(in.ServiceRegistries); err != nil {
		return err
	}
	if g := in.HealthCheckGracePeriodSeconds; g != nil && *g < 0 {
		return awserr.InvalidParameter("healthCheckGracePeriodSeconds must be 0 or more.")
	}
	return checkPropagateTags(in.PropagateTags)
}
