package ecs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/lbtarget"
	"github.com/berth-dev/berth/internal/store"
)

// Tests of the service API alone: no controller runs here, so a service's
// counts stay as the API wrote them. Assertions on DRAINING read the
// DeleteService reply, which no controller can have changed.

// createService creates a service of taskDef with desired tasks in cluster.
func createService(t *testing.T, s *Service, cluster, name, taskDef string, desired int32) ecstypes.Service {
	t.Helper()
	out, err := s.CreateService(t.Context(), &ecstypes.CreateServiceRequest{
		Cluster: aws.String(cluster), ServiceName: aws.String(name),
		TaskDefinition: aws.String(taskDef), DesiredCount: aws.Int32(desired),
	})
	if err != nil {
		t.Fatalf("CreateService(%s): %v", name, err)
	}
	return *out.Service
}

// serviceRecordOf reads a service's record as stored.
func serviceRecordOf(t *testing.T, s *Service, cluster, name string) serviceRecord {
	t.Helper()
	var rec serviceRecord
	err := s.st.View(t.Context(), func(tx *store.Tx) error {
		var err error
		rec, err = store.Get(tx, services, serviceID(cluster, name))
		return err
	})
	if err != nil {
		t.Fatalf("get service %s/%s: %v", cluster, name, err)
	}
	return rec
}

// storedServices is every service record, as JSON, to check that a failed
// request wrote nothing.
func storedServices(t *testing.T, s *Service) string {
	t.Helper()
	var all []serviceRecord
	err := s.st.View(t.Context(), func(tx *store.Tx) error {
		var err error
		all, err = store.List(tx, services, "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(all)
	return string(raw)
}

// setServiceStatus writes a service's status as the controller would.
func setServiceStatus(t *testing.T, s *Service, cluster, name, status string) {
	t.Helper()
	err := s.st.Update(t.Context(), func(tx *store.Tx) error {
		rec, err := store.Get(tx, services, serviceID(cluster, name))
		if err != nil {
			return err
		}
		rec.Service.Status = aws.String(status)
		store.Put(tx, services, serviceID(cluster, name), rec)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// jsonKeys are the top-level keys of v's JSON.
func jsonKeys(t *testing.T, v any) map[string]json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestServiceCreate(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	def := registerTaskDef(t, s, webTaskDef)
	out, err := s.CreateService(t.Context(), &ecstypes.CreateServiceRequest{
		Cluster: aws.String("prod"), ServiceName: aws.String("api"), TaskDefinition: aws.String("web"),
		DesiredCount: aws.Int32(3), Tags: []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("core")}},
		EnableExecuteCommand: aws.Bool(true), PropagateTags: aws.String("SERVICE"),
		PlacementStrategy: []ecstypes.PlacementStrategy{{Type: aws.String("spread"), Field: aws.String("instanceId")}},
	})
	if err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	svc := *out.Service
	checks := []struct{ field, got, want string }{
		{"serviceArn", aws.ToString(svc.ServiceArn), "arn:aws:ecs:us-east-1:000000000000:service/prod/api"},
		{"clusterArn", aws.ToString(svc.ClusterArn), s.arns.cluster("prod")},
		{"status", aws.ToString(svc.Status), "ACTIVE"},
		{"taskDefinition", aws.ToString(svc.TaskDefinition), def},
		{"launchType", aws.ToString(svc.LaunchType), "EC2"},
		{"schedulingStrategy", aws.ToString(svc.SchedulingStrategy), "REPLICA"},
		{"propagateTags", aws.ToString(svc.PropagateTags), "SERVICE"},
		{"createdBy", aws.ToString(svc.CreatedBy), "arn:aws:iam::000000000000:root"},
		{"deploymentController", aws.ToString(svc.DeploymentController.Type), "ECS"},
		{"counts", fmt.Sprint(aws.ToInt32(svc.DesiredCount), aws.ToInt32(svc.RunningCount), aws.ToInt32(svc.PendingCount)), "3 0 0"},
		{"deploymentConfiguration", fmt.Sprint(aws.ToInt32(svc.DeploymentConfiguration.MaximumPercent), aws.ToInt32(svc.DeploymentConfiguration.MinimumHealthyPercent),
			aws.ToBool(svc.DeploymentConfiguration.DeploymentCircuitBreaker.Enable), aws.ToBool(svc.DeploymentConfiguration.DeploymentCircuitBreaker.Rollback)), "200 100 false false"},
		{"enableExecuteCommand", fmt.Sprint(aws.ToBool(svc.EnableExecuteCommand), aws.ToBool(svc.EnableECSManagedTags)), "true false"},
		{"createdAt", svc.CreatedAt.Time.String(), testNow.String()},
		{"tags", fmt.Sprint(len(svc.Tags)), "1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if len(svc.Deployments) != 1 {
		t.Fatalf("deployments = %d, want 1", len(svc.Deployments))
	}
	d := svc.Deployments[0]
	id := aws.ToString(d.Id)
	if !strings.HasPrefix(id, "ecs-svc/") || len(id) != len("ecs-svc/")+19 {
		t.Errorf("deployment id = %q", id)
	}
	dchecks := []struct{ field, got, want string }{
		{"status", aws.ToString(d.Status), "PRIMARY"},
		{"taskDefinition", aws.ToString(d.TaskDefinition), def},
		{"counts", fmt.Sprint(aws.ToInt32(d.DesiredCount), aws.ToInt32(d.PendingCount), aws.ToInt32(d.RunningCount), aws.ToInt32(d.FailedTasks)), "3 0 0 0"},
		{"launchType", aws.ToString(d.LaunchType), "EC2"},
		{"rolloutState", aws.ToString(d.RolloutState), "IN_PROGRESS"},
		{"rolloutStateReason", aws.ToString(d.RolloutStateReason), "ECS deployment " + id + " in progress."},
		{"createdAt", d.CreatedAt.Time.String(), testNow.String()},
		{"updatedAt", d.UpdatedAt.Time.String(), testNow.String()},
	}
	for _, c := range dchecks {
		if c.got != c.want {
			t.Errorf("deployment %s = %q, want %q", c.field, c.got, c.want)
		}
	}
	// The lists ECS always sends are on the wire, empty or not.
	keys := jsonKeys(t, svc)
	for _, k := range []string{"events", "deployments", "loadBalancers", "serviceRegistries", "placementConstraints", "placementStrategy"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("reply lacks %q: %s", k, mustJSON(svc))
		}
	}
	if string(keys["events"]) != "[]" {
		t.Errorf("events = %s, want []", keys["events"])
	}
	rec := serviceRecordOf(t, s, "prod", "api")
	if rec.Generation != 1 || rec.Deleted {
		t.Errorf("record generation %d deleted %v, want 1 false", rec.Generation, rec.Deleted)
	}
	// The default cluster is the default.
	createCluster(t, s, "default")
	if svc := createService(t, s, "", "api", def, 0); aws.ToString(svc.ClusterArn) != s.arns.cluster("default") {
		t.Errorf("default cluster service in %s", aws.ToString(svc.ClusterArn))
	}
}

func mustJSON(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

func TestServiceCreateValidation(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerTaskDef(t, s, webTaskDef)
	registerTaskDef(t, s, portTaskDef)
	registerTaskDef(t, s, `{"family":"vpc","networkMode":"awsvpc","containerDefinitions":[{"name":"app","image":"nginx","memory":128}]}`)
	registerTaskDef(t, s, `{"family":"pinned","placementConstraints":[{"type":"memberOf","expression":"attribute:ecs.os-type == linux"}],
		"containerDefinitions":[{"name":"app","image":"nginx","memory":128}]}`)
	createService(t, s, "prod", "taken", "web", 1)

	constraints := func(n int) []ecstypes.PlacementConstraint {
		var out []ecstypes.PlacementConstraint
		for range n {
			out = append(out, ecstypes.PlacementConstraint{Type: aws.String("distinctInstance")})
		}
		return out
	}
	strategies := func(n int) []ecstypes.PlacementStrategy {
		var out []ecstypes.PlacementStrategy
		for range n {
			out = append(out, ecstypes.PlacementStrategy{Type: aws.String("random")})
		}
		return out
	}
	lb := func(container string, port int32) []ecstypes.LoadBalancer {
		return []ecstypes.LoadBalancer{{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg/1"),
			ContainerName: aws.String(container), ContainerPort: aws.Int32(port)}}
	}
	tests := []struct {
		name      string
		edit      func(*ecstypes.CreateServiceRequest)
		code, msg string
	}{
		{"bad name", func(r *ecstypes.CreateServiceRequest) { r.ServiceName = aws.String("a b") },
			awserr.CodeInvalidParameter, "Service name can be up to 255 letters"},
		{"long name", func(r *ecstypes.CreateServiceRequest) { r.ServiceName = aws.String(strings.Repeat("a", 256)) },
			awserr.CodeInvalidParameter, "Service name can be up to 255 letters"},
		{"daemon with a desired count", func(r *ecstypes.CreateServiceRequest) { r.SchedulingStrategy = aws.String("DAEMON") },
			awserr.CodeInvalidParameter, "The daemon scheduling strategy does not support a desired count for services."},
		{"no desired count", func(r *ecstypes.CreateServiceRequest) { r.DesiredCount = nil },
			awserr.CodeInvalidParameter, "desiredCount is required"},
		{"negative desired count", func(r *ecstypes.CreateServiceRequest) { r.DesiredCount = aws.Int32(-1) },
			awserr.CodeInvalidParameter, "desiredCount must be 0 or more."},
		{"no task definition", func(r *ecstypes.CreateServiceRequest) { r.TaskDefinition = nil },
			awserr.CodeInvalidParameter, "A task definition is required"},
		{"fargate", func(r *ecstypes.CreateServiceRequest) { r.LaunchType = aws.String("FARGATE") },
			awserr.CodeUnsupportedFeature, "Berth does not support the FARGATE launch type yet."},
		{"capacity providers", func(r *ecstypes.CreateServiceRequest) {
			r.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("cp")}}
		}, awserr.CodeUnsupportedFeature, "capacity provider strategies"},
		{"code deploy", func(r *ecstypes.CreateServiceRequest) {
			r.DeploymentController = &ecstypes.DeploymentController{Type: aws.String("CODE_DEPLOY")}
		}, awserr.CodeUnsupportedFeature, "CODE_DEPLOY deployment controller"},
		{"external controller", func(r *ecstypes.CreateServiceRequest) {
			r.DeploymentController = &ecstypes.DeploymentController{Type: aws.String("EXTERNAL")}
		}, awserr.CodeUnsupportedFeature, "EXTERNAL deployment controller"},
		{"min healthy above 100", func(r *ecstypes.CreateServiceRequest) {
			r.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(101)}
		}, awserr.CodeInvalidParameter, "minimumHealthyPercent must be between 0 and 100."},
		{"max below 100", func(r *ecstypes.CreateServiceRequest) {
			r.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{MaximumPercent: aws.Int32(99)}
		}, awserr.CodeInvalidParameter, "maximumPercent must be 100 or more"},
		{"blue green", func(r *ecstypes.CreateServiceRequest) {
			r.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Strategy: aws.String("BLUE_GREEN")}
		}, awserr.CodeUnsupportedFeature, "BLUE_GREEN deployment strategy"},
		{"alarms", func(r *ecstypes.CreateServiceRequest) {
			r.DeploymentConfiguration = &ecstypes.DeploymentConfiguration{Alarms: &ecstypes.DeploymentAlarms{Enable: aws.Bool(true), AlarmNames: []string{"a"}}}
		}, awserr.CodeUnsupportedFeature, "CloudWatch alarms"},
		{"six strategies", func(r *ecstypes.CreateServiceRequest) { r.PlacementStrategy = strategies(6) },
			awserr.CodeInvalidParameter, "A maximum of 5 placement strategies is allowed."},
		{"bad strategy", func(r *ecstypes.CreateServiceRequest) {
			r.PlacementStrategy = []ecstypes.PlacementStrategy{{Type: aws.String("binpack"), Field: aws.String("disk")}}
		}, awserr.CodeInvalidParameter, "Invalid placement strategy"},
		{"bad memberOf", func(r *ecstypes.CreateServiceRequest) {
			r.PlacementConstraints = []ecstypes.PlacementConstraint{{Type: aws.String("memberOf"), Expression: aws.String("attribute:x ==")}}
		}, awserr.CodeInvalidParameter, "Invalid memberOf placement constraint"},
		{"eleven constraints", func(r *ecstypes.CreateServiceRequest) { r.PlacementConstraints = constraints(11) },
			awserr.CodeInvalidParameter, "at most 10 placement constraints"},
		{"ten constraints and the definition's", func(r *ecstypes.CreateServiceRequest) {
			r.TaskDefinition = aws.String("pinned")
			r.PlacementConstraints = constraints(10)
		}, awserr.CodeInvalidParameter, "at most 10 placement constraints"},
		{"target group and classic", func(r *ecstypes.CreateServiceRequest) {
			r.LoadBalancers = lb("app", 80)
			r.LoadBalancers[0].LoadBalancerName = aws.String("classic")
		}, awserr.CodeInvalidParameter, "either a targetGroupArn or a loadBalancerName"},
		{"load balancer without container", func(r *ecstypes.CreateServiceRequest) {
			r.LoadBalancers = lb("", 80)
		}, awserr.CodeInvalidParameter, "requires a containerName and a containerPort"},
		{"six load balancers", func(r *ecstypes.CreateServiceRequest) {
			for range 6 {
				r.LoadBalancers = append(r.LoadBalancers, lb("app", 80)...)
			}
		}, awserr.CodeInvalidParameter, "at most 5 load balancers"},
		{"load balancer unknown container", func(r *ecstypes.CreateServiceRequest) {
			r.TaskDefinition = aws.String("port")
			r.LoadBalancers = lb("web", 80)
		}, awserr.CodeInvalidParameter, "The container web does not exist in the task definition."},
		{"load balancer unknown port", func(r *ecstypes.CreateServiceRequest) {
			r.TaskDefinition = aws.String("port")
			r.LoadBalancers = lb("app", 81)
		}, awserr.CodeInvalidParameter, "The container app did not have a container port 81 defined."},
		{"role without load balancer", func(r *ecstypes.CreateServiceRequest) { r.Role = aws.String("ecsServiceRole") },
			awserr.CodeInvalidParameter, "A role can only be given to a service that has load balancers."},
		{"two registries", func(r *ecstypes.CreateServiceRequest) {
			reg := ecstypes.ServiceRegistry{RegistryArn: aws.String("arn:aws:servicediscovery:us-east-1:000000000000:service/srv-1")}
			r.ServiceRegistries = []ecstypes.ServiceRegistry{reg, reg}
		}, awserr.CodeInvalidParameter, "at most one service registry"},
		{"negative grace period", func(r *ecstypes.CreateServiceRequest) { r.HealthCheckGracePeriodSeconds = aws.Int32(-1) },
			awserr.CodeInvalidParameter, "healthCheckGracePeriodSeconds must be 0 or more."},
		{"bad propagateTags", func(r *ecstypes.CreateServiceRequest) { r.PropagateTags = aws.String("TASK") },
			awserr.CodeInvalidParameter, "Invalid propagateTags value TASK"},
		{"reserved tag", func(r *ecstypes.CreateServiceRequest) {
			r.Tags = []ecstypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}
		}, awserr.CodeInvalidParameter, "reserved"},
		{"long client token", func(r *ecstypes.CreateServiceRequest) { r.ClientToken = aws.String(strings.Repeat("t", 33)) },
			awserr.CodeInvalidParameter, "clientToken must be 1 to 32 ASCII characters."},
		{"platform version", func(r *ecstypes.CreateServiceRequest) { r.PlatformVersion = aws.String("LATEST") },
			awserr.CodeInvalidParameter, "platformVersion is only valid"},
		{"service connect", func(r *ecstypes.CreateServiceRequest) {
			r.ServiceConnectConfiguration = &ecstypes.ServiceConnectConfiguration{Enabled: aws.Bool(true)}
		}, awserr.CodeUnsupportedFeature, "Service Connect"},
		{"unknown cluster", func(r *ecstypes.CreateServiceRequest) { r.Cluster = aws.String("nope") },
			awserr.CodeClusterNotFound, "Cluster not found."},
		{"unknown task definition", func(r *ecstypes.CreateServiceRequest) { r.TaskDefinition = aws.String("nope") },
			awserr.CodeClient, "TaskDefinition not found."},
		{"awsvpc", func(r *ecstypes.CreateServiceRequest) { r.TaskDefinition = aws.String("vpc") },
			awserr.CodeUnsupportedFeature, "awsvpc network mode"},
		{"network configuration in bridge mode", func(r *ecstypes.CreateServiceRequest) {
			r.NetworkConfiguration = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}
		}, awserr.CodeInvalidParameter, "Network Configuration is not valid"},
		{"name taken", func(r *ecstypes.CreateServiceRequest) { r.ServiceName = aws.String("taken") },
			awserr.CodeInvalidParameter, "Creation of service was not idempotent."},
	}
	before := storedServices(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &ecstypes.CreateServiceRequest{
				Cluster: aws.String("prod"), ServiceName: aws.String("api"),
				TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(2),
			}
			tt.edit(in)
			_, err := s.CreateService(t.Context(), in)
			wantAWSErr(t, err, tt.code, tt.msg)
			if after := storedServices(t, s); after != before {
				t.Fatalf("a failed CreateService wrote: %s", after)
			}
		})
	}
}

func TestServiceCreateIdempotency(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerTaskDef(t, s, webTaskDef)
	in := &ecstypes.CreateServiceRequest{
		Cluster: aws.String("prod"), ServiceName: aws.String("api"), TaskDefinition: aws.String("web"),
		DesiredCount: aws.Int32(1), ClientToken: aws.String("token-1"),
	}
	first, err := s.CreateService(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	// A retry of the same request with its token returns the service.
	again, err := s.CreateService(t.Context(), in)
	if err != nil {
		t.Fatalf("retry with the same clientToken: %v", err)
	}
	if aws.ToString(again.Service.Deployments[0].Id) != aws.ToString(first.Service.Deployments[0].Id) {
		t.Fatalf("retry created a new deployment")
	}
	// The same token with other parameters, or no token, is not a retry.
	other := *in
	other.DesiredCount = aws.Int32(2)
	_, err = s.CreateService(t.Context(), &other)
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "Creation of service was not idempotent.")
	other = *in
	other.ClientToken = nil
	_, err = s.CreateService(t.Context(), &other)
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "Creation of service was not idempotent.")

	// DRAINING: still not idempotent, even with the first token.
	if _, err := s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String("api"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateService(t.Context(), in)
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "Creation of service was not idempotent.")

	// INACTIVE (the controller's last word): the name is free again.
	setServiceStatus(t, s, "prod", "api", "INACTIVE")
	out, err := s.CreateService(t.Context(), &other)
	if err != nil {
		t.Fatalf("CreateService over an INACTIVE service: %v", err)
	}
	if aws.ToString(out.Service.Status) != "ACTIVE" || aws.ToString(out.Service.Deployments[0].Id) == aws.ToString(first.Service.Deployments[0].Id) {
		t.Fatalf("re-created service = %s", mustJSON(out.Service))
	}
	if rec := serviceRecordOf(t, s, "prod", "api"); rec.Generation != 1 || rec.Deleted {
		t.Fatalf("re-created record generation %d deleted %v", rec.Generation, rec.Deleted)
	}
}

func TestServiceDescribe(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerTaskDef(t, s, webTaskDef)
	if _, err := s.CreateService(t.Context(), &ecstypes.CreateServiceRequest{
		Cluster: aws.String("prod"), ServiceName: aws.String("api"), TaskDefinition: aws.String("web"),
		DesiredCount: aws.Int32(1), Tags: []ecstypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	}); err != nil {
		t.Fatal(err)
	}
	arn := s.arns.service("prod", "api")
	describe := func(in *ecstypes.DescribeServicesRequest) *ecstypes.DescribeServicesResponse {
		t.Helper()
		out, err := s.DescribeServices(t.Context(), in)
		if err != nil {
			t.Fatalf("DescribeServices: %v", err)
		}
		return out
	}
	out := describe(&ecstypes.DescribeServicesRequest{Cluster: aws.String("prod"), Services: []string{"api", arn, "nope", s.arns.service("other", "api")}})
	if len(out.Services) != 2 || aws.ToString(out.Services[1].ServiceArn) != arn {
		t.Fatalf("services = %s", mustJSON(out.Services))
	}
	if got := failureReasons(out.Failures); !slices.Equal(got, []string{"MISSING", "MISSING"}) {
		t.Fatalf("failures = %v", got)
	}
	if got := aws.ToString(out.Failures[0].Arn); got != s.arns.service("prod", "nope") {
		t.Fatalf("failure ARN = %s", got)
	}
	if out.Services[0].Tags != nil {
		t.Fatalf("tags without include TAGS: %v", out.Services[0].Tags)
	}
	keys := jsonKeys(t, out.Services[0])
	for _, k := range []string{"events", "deployments", "loadBalancers", "serviceRegistries", "placementConstraints", "placementStrategy"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("described service lacks %q", k)
		}
	}
	out = describe(&ecstypes.DescribeServicesRequest{Cluster: aws.String(s.arns.cluster("prod")), Services: []string{arn}, Include: []string{"TAGS"}})
	if len(out.Services) != 1 || len(out.Services[0].Tags) != 1 {
		t.Fatalf("by ARN with TAGS: %s", mustJSON(out))
	}

	_, err := s.DescribeServices(t.Context(), &ecstypes.DescribeServicesRequest{Cluster: aws.String("prod")})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "Services cannot be empty.")
	_, err = s.DescribeServices(t.Context(), &ecstypes.DescribeServicesRequest{Cluster: aws.String("prod"), Services: slices.Repeat([]string{"api"}, 11)})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "A maximum of 10 services can be described at once.")
	_, err = s.DescribeServices(t.Context(), &ecstypes.DescribeServicesRequest{Cluster: aws.String("nope"), Services: []string{"api"}})
	wantAWSErr(t, err, awserr.CodeClusterNotFound, "")
	// As in ECS, a service outside the default cluster needs its cluster
	// named, even by ARN.
	_, err = s.DescribeServices(t.Context(), &ecstypes.DescribeServicesRequest{Services: []string{arn}})
	wantAWSErr(t, err, awserr.CodeClusterNotFound, "")

	// Deleted services are still described, with their status.
	if _, err := s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String("api"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	setServiceStatus(t, s, "prod", "api", "INACTIVE")
	out = describe(&ecstypes.DescribeServicesRequest{Cluster: aws.String("prod"), Services: []string{"api"}})
	if len(out.Services) != 1 || aws.ToString(out.Services[0].Status) != "INACTIVE" {
		t.Fatalf("INACTIVE service: %s", mustJSON(out))
	}
}

// TestServiceWaiterShapes evaluates botocore's ecs waiters (waiters-2.json)
// on DescribeServices replies: services_stable succeeds when every service
// has one deployment and runningCount == desiredCount, fails on MISSING;
// services_inactive succeeds on INACTIVE.
func TestServiceWaiterShapes(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerTaskDef(t, s, webTaskDef)
	createService(t, s, "prod", "zero", "web", 0)
	createService(t, s, "prod", "two", "web", 2)
	describe := func(names ...string) map[string]any {
		out, err := s.DescribeServices(t.Context(), &ecstypes.DescribeServicesRequest{Cluster: aws.String("prod"), Services: names})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(mustJSON(out)), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	stable := func(m map[string]any) bool {
		for _, v := range m["services"].([]any) {
			svc := v.(map[string]any)
			if len(svc["deployments"].([]any)) != 1 || svc["runningCount"] != svc["desiredCount"] {
				return false
			}
		}
		return true
	}
	if !stable(describe("zero")) {
		t.Errorf("a service of 0 tasks with one deployment is not stable")
	}
	if stable(describe("zero", "two")) {
		t.Errorf("a service of 2 desired, 0 running is stable")
	}
	if f := describe("gone")["failures"].([]any); len(f) != 1 || f[0].(map[string]any)["reason"] != "MISSING" {
		t.Errorf("failures = %v, want MISSING", f)
	}
}

func TestServiceList(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	createCluster(t, s, "other")
	registerTaskDef(t, s, webTaskDef)
	var want []string
	for i := range 25 {
		name := fmt.Sprintf("svc-%02d", i)
		createService(t, s, "prod", name, "web", 0)
		want = append(want, s.arns.service("prod", name))
	}
	createService(t, s, "other", "elsewhere", "web", 0)
	if _, err := s.CreateService(t.Context(), &ecstypes.CreateServiceRequest{
		Cluster: aws.String("prod"), ServiceName: aws.String("ext"), TaskDefinition: aws.String("web"),
		DesiredCount: aws.Int32(0), LaunchType: aws.String("EXTERNAL"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String("svc-24")}); err != nil {
		t.Fatal(err)
	}
	want = want[:24] // svc-24 is DRAINING: not listed
	want = append(want, s.arns.service("prod", "ext"))
	slices.Sort(want)

	list := func(in *ecstypes.ListServicesRequest) *ecstypes.ListServicesResponse {
		t.Helper()
		out, err := s.ListServices(t.Context(), in)
		if err != nil {
			t.Fatalf("ListServices: %v", err)
		}
		return out
	}
	// Pages of 7, then the default page of 10.
	var got []string
	in := &ecstypes.ListServicesRequest{Cluster: aws.String("prod"), MaxResults: aws.Int32(7)}
	for pages := 0; ; pages++ {
		out := list(in)
		if len(out.ServiceArns) > 7 || pages > 5 {
			t.Fatalf("page %d: %d ARNs", pages, len(out.ServiceArns))
		}
		got = append(got, out.ServiceArns...)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged ARNs =\n%v\nwant\n%v", got, want)
	}
	if out := list(&ecstypes.ListServicesRequest{Cluster: aws.String("prod")}); len(out.ServiceArns) != 10 || out.NextToken == nil {
		t.Fatalf("default page: %d ARNs, token %v", len(out.ServiceArns), out.NextToken)
	}
	if out := list(&ecstypes.ListServicesRequest{Cluster: aws.String("prod"), LaunchType: aws.String("EXTERNAL")}); !slices.Equal(out.ServiceArns, []string{s.arns.service("prod", "ext")}) {
		t.Fatalf("EXTERNAL = %v", out.ServiceArns)
	}
	if out := list(&ecstypes.ListServicesRequest{Cluster: aws.String("prod"), SchedulingStrategy: aws.String("DAEMON")}); len(out.ServiceArns) != 0 {
		t.Fatalf("DAEMON = %v", out.ServiceArns)
	}
	errs := []struct {
		in        *ecstypes.ListServicesRequest
		code, msg string
	}{
		{&ecstypes.ListServicesRequest{Cluster: aws.String("nope")}, awserr.CodeClusterNotFound, "Cluster not found."},
		{&ecstypes.ListServicesRequest{Cluster: aws.String("prod"), MaxResults: aws.Int32(0)}, awserr.CodeInvalidParameter, "maxResults must be between 1 and 100."},
		{&ecstypes.ListServicesRequest{Cluster: aws.String("prod"), MaxResults: aws.Int32(101)}, awserr.CodeInvalidParameter, "maxResults must be between 1 and 100."},
		{&ecstypes.ListServicesRequest{Cluster: aws.String("prod"), NextToken: aws.String("!!")}, awserr.CodeInvalidParameter, "The nextToken is not valid."},
		{&ecstypes.ListServicesRequest{Cluster: aws.String("prod"), NextToken: nextToken(s.arns.service("other", "elsewhere"))}, awserr.CodeInvalidParameter, "The nextToken is not valid."},
	}
	for _, e := range errs {
		_, err := s.ListServices(t.Context(), e.in)
		wantAWSErr(t, err, e.code, e.msg)
	}
}

func TestServiceUpdate(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	v1 := registerTaskDef(t, s, webTaskDef)
	created := createService(t, s, "prod", "api", "web", 2)
	first := aws.ToString(created.Deployments[0].Id)
	update := func(in *ecstypes.UpdateServiceRequest) ecstypes.Service {
		t.Helper()
		if in.Cluster == nil {
			in.Cluster = aws.String("prod")
		}
		in.Service = aws.String("api")
		out, err := s.UpdateService(t.Context(), in)
		if err != nil {
			t.Fatalf("UpdateService: %v", err)
		}
		return *out.Service
	}
	gen := func() int64 { return serviceRecordOf(t, s, "prod", "api").Generation }

	// desiredCount: the PRIMARY deployment follows, no new deployment.
	svc := update(&ecstypes.UpdateServiceRequest{DesiredCount: aws.Int32(5)})
	if aws.ToInt32(svc.DesiredCount) != 5 || len(svc.Deployments) != 1 || aws.ToInt32(svc.Deployments[0].DesiredCount) != 5 {
		t.Fatalf("after desiredCount 5: %s", mustJSON(svc))
	}
	if g := gen(); g != 2 {
		t.Fatalf("generation = %d, want 2", g)
	}
	// The same values again change nothing, generation included.
	update(&ecstypes.UpdateServiceRequest{DesiredCount: aws.Int32(5), TaskDefinition: aws.String(v1)})
	if g := gen(); g != 2 {
		t.Fatalf("a no-op update moved the generation to %d", g)
	}

	// A new revision: a new PRIMARY; the old one stays ACTIVE with its counts.
	v2 := registerTaskDef(t, s, webTaskDef)
	svc = update(&ecstypes.UpdateServiceRequest{TaskDefinition: aws.String("web")})
	if len(svc.Deployments) != 2 || aws.ToString(svc.TaskDefinition) != v2 {
		t.Fatalf("after new revision: %s", mustJSON(svc))
	}
	primary, old := svc.Deployments[0], svc.Deployments[1]
	if aws.ToString(primary.Status) != "PRIMARY" || aws.ToString(primary.TaskDefinition) != v2 || aws.ToInt32(primary.DesiredCount) != 5 ||
		aws.ToString(primary.RolloutState) != "IN_PROGRESS" || aws.ToString(primary.Id) == first {
		t.Fatalf("new primary = %s", mustJSON(primary))
	}
	if aws.ToString(old.Status) != "ACTIVE" || aws.ToString(old.Id) != first || aws.ToString(old.TaskDefinition) != v1 {
		t.Fatalf("old deployment = %s", mustJSON(old))
	}
	if g := gen(); g != 3 {
		t.Fatalf("generation = %d, want 3", g)
	}

	// forceNewDeployment, and a placement change, each start one more.
	svc = update(&ecstypes.UpdateServiceRequest{ForceNewDeployment: aws.Bool(true)})
	if len(svc.Deployments) != 3 || aws.ToString(svc.Deployments[1].Status) != "ACTIVE" {
		t.Fatalf("after forceNewDeployment: %s", mustJSON(svc.Deployments))
	}
	svc = update(&ecstypes.UpdateServiceRequest{PlacementStrategy: []ecstypes.PlacementStrategy{{Type: aws.String("binpack"), Field: aws.String("memory")}}})
	if len(svc.Deployments) != 4 || len(svc.PlacementStrategy) != 1 {
		t.Fatalf("after a placement change: %s", mustJSON(svc))
	}
	primaries := 0
	for _, d := range svc.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			primaries++
		}
	}
	if primaries != 1 {
		t.Fatalf("%d PRIMARY deployments", primaries)
	}

	// Settings without a new deployment; the deployment configuration
	// keeps what the request leaves out.
	svc = update(&ecstypes.UpdateServiceRequest{
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(50),
			DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: aws.Bool(true), Rollback: aws.Bool(true)}},
		HealthCheckGracePeriodSeconds: aws.Int32(30), EnableExecuteCommand: aws.Bool(true), PropagateTags: aws.String("TASK_DEFINITION"),
	})
	dc := svc.DeploymentConfiguration
	if len(svc.Deployments) != 4 || aws.ToInt32(dc.MaximumPercent) != 200 || aws.ToInt32(dc.MinimumHealthyPercent) != 50 ||
		!aws.ToBool(dc.DeploymentCircuitBreaker.Enable) || !aws.ToBool(dc.DeploymentCircuitBreaker.Rollback) ||
		aws.ToInt32(svc.HealthCheckGracePeriodSeconds) != 30 || !aws.ToBool(svc.EnableExecuteCommand) || aws.ToString(svc.PropagateTags) != "TASK_DEFINITION" {
		t.Fatalf("after settings: %s", mustJSON(svc))
	}

	// Failures write nothing.
	registerTaskDef(t, s, `{"family":"vpc","networkMode":"awsvpc","containerDefinitions":[{"name":"app","image":"nginx","memory":128}]}`)
	before := storedServices(t, s)
	tests := []struct {
		name      string
		in        *ecstypes.UpdateServiceRequest
		code, msg string
	}{
		{"negative desired", &ecstypes.UpdateServiceRequest{DesiredCount: aws.Int32(-1)}, awserr.CodeInvalidParameter, "desiredCount must be 0 or more."},
		{"unknown task definition", &ecstypes.UpdateServiceRequest{DesiredCount: aws.Int32(1), TaskDefinition: aws.String("nope")}, awserr.CodeClient, "TaskDefinition not found."},
		{"awsvpc", &ecstypes.UpdateServiceRequest{TaskDefinition: aws.String("vpc")}, awserr.CodeUnsupportedFeature, "awsvpc"},
		{"max below 100", &ecstypes.UpdateServiceRequest{DesiredCount: aws.Int32(1),
			DeploymentConfiguration: &ecstypes.DeploymentConfiguration{MaximumPercent: aws.Int32(50)}}, awserr.CodeInvalidParameter, "maximumPercent must be 100 or more"},
		{"load balancer unknown container", &ecstypes.UpdateServiceRequest{DesiredCount: aws.Int32(1), LoadBalancers: []ecstypes.LoadBalancer{{
			LoadBalancerName: aws.String("lb"), ContainerName: aws.String("db"), ContainerPort: aws.Int32(80)}}}, awserr.CodeInvalidParameter, "The container db does not exist"},
		{"capacity providers", &ecstypes.UpdateServiceRequest{CapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("cp")}}},
			awserr.CodeUnsupportedFeature, "capacity provider"},
		{"code deploy", &ecstypes.UpdateServiceRequest{DeploymentController: &ecstypes.DeploymentController{Type: aws.String("CODE_DEPLOY")}},
			awserr.CodeUnsupportedFeature, "CODE_DEPLOY"},
		{"unknown cluster", &ecstypes.UpdateServiceRequest{Cluster: aws.String("nope"), DesiredCount: aws.Int32(1)}, awserr.CodeClusterNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.Cluster == nil {
				tt.in.Cluster = aws.String("prod")
			}
			tt.in.Service = aws.String("api")
			_, err := s.UpdateService(t.Context(), tt.in)
			wantAWSErr(t, err, tt.code, tt.msg)
			if after := storedServices(t, s); after != before {
				t.Fatalf("a failed UpdateService wrote")
			}
		})
	}
	_, err := s.UpdateService(t.Context(), &ecstypes.UpdateServiceRequest{Cluster: aws.String("prod"), Service: aws.String("nope"), DesiredCount: aws.Int32(1)})
	wantAWSErr(t, err, ecstypes.ErrCodeServiceNotFoundException, "Service not found.")

	// A deleted service cannot be updated.
	if _, err := s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String("api"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateService(t.Context(), &ecstypes.UpdateServiceRequest{Cluster: aws.String("prod"), Service: aws.String("api"), DesiredCount: aws.Int32(1)})
	wantAWSErr(t, err, ecstypes.ErrCodeServiceNotActiveException, "Service was not ACTIVE.")
}

func TestServiceDelete(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerTaskDef(t, s, webTaskDef)
	createService(t, s, "prod", "api", "web", 2)
	createService(t, s, "prod", "idle", "web", 0)
	del := func(name string, force bool) (*ecstypes.DeleteServiceResponse, error) {
		return s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String(name), Force: aws.Bool(force)})
	}
	before := storedServices(t, s)
	_, err := del("api", false)
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "The service cannot be stopped while it is scaled above 0.")
	if storedServices(t, s) != before {
		t.Fatal("a refused DeleteService wrote")
	}
	_, err = del("nope", true)
	wantAWSErr(t, err, ecstypes.ErrCodeServiceNotFoundException, "Service not found.")

	out, err := del(s.arns.service("prod", "api"), true)
	if err != nil {
		t.Fatalf("DeleteService force: %v", err)
	}
	svc := out.Service
	if aws.ToString(svc.Status) != "DRAINING" || aws.ToInt32(svc.DesiredCount) != 0 || aws.ToInt32(svc.Deployments[0].DesiredCount) != 0 {
		t.Fatalf("deleted service = %s", mustJSON(svc))
	}
	if rec := serviceRecordOf(t, s, "prod", "api"); !rec.Deleted || rec.Generation != 2 {
		t.Fatalf("deleted record: deleted %v generation %d", rec.Deleted, rec.Generation)
	}
	_, err = del("api", true)
	wantAWSErr(t, err, ecstypes.ErrCodeServiceNotActiveException, "Service was not ACTIVE.")

	// Scaled to 0, no force is needed.
	if _, err := del("idle", false); err != nil {
		t.Fatalf("DeleteService of a service at 0: %v", err)
	}
}

func TestClusterDeleteWithServices(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerTaskDef(t, s, webTaskDef)
	createService(t, s, "prod", "api", "web", 0)
	createService(t, s, "prod", "gone", "web", 0)
	if _, err := s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	d, err := s.DescribeClusters(t.Context(), &ecstypes.DescribeClustersRequest{Clusters: []string{"prod"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := aws.ToInt32(d.Clusters[0].ActiveServicesCount); n != 1 {
		t.Fatalf("activeServicesCount = %d, want 1 (the DRAINING one is not active)", n)
	}
	del := func() error {
		_, err := s.DeleteCluster(t.Context(), &ecstypes.DeleteClusterRequest{Cluster: aws.String("prod")})
		return err
	}
	wantAWSErr(t, del(), ecstypes.ErrCodeClusterContainsServicesException, "The Cluster cannot be deleted while Services are active.")
	if _, err := s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String("api")}); err != nil {
		t.Fatal(err)
	}
	// DRAINING services hold the cluster too, until they are INACTIVE.
	setServiceStatus(t, s, "prod", "api", "DRAINING")
	wantAWSErr(t, del(), ecstypes.ErrCodeClusterContainsServicesException, "")
	setServiceStatus(t, s, "prod", "api", "INACTIVE")
	setServiceStatus(t, s, "prod", "gone", "INACTIVE")
	if err := del(); err != nil {
		t.Fatalf("DeleteCluster with only INACTIVE services: %v", err)
	}
}

func TestServiceTags(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerTaskDef(t, s, webTaskDef)
	arn := aws.ToString(createService(t, s, "prod", "api", "web", 0).ServiceArn)
	if _, err := s.TagResource(t.Context(), &ecstypes.TagResourceRequest{ResourceArn: aws.String(arn),
		Tags: []ecstypes.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if _, err := s.UntagResource(t.Context(), &ecstypes.UntagResourceRequest{ResourceArn: aws.String(arn), TagKeys: []string{"a"}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	out, err := s.ListTagsForResource(t.Context(), &ecstypes.ListTagsForResourceRequest{ResourceArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("ListTagsForResource: %v", err)
	}
	if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "b" {
		t.Fatalf("tags = %s", mustJSON(out.Tags))
	}
	_, err = s.ListTagsForResource(t.Context(), &ecstypes.ListTagsForResourceRequest{ResourceArn: aws.String(s.arns.service("prod", "nope"))})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "The specified service is not found.")
}

func TestListTasksOfService(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 4096)
	td := registerTaskDef(t, s, tinyTaskDef)
	svc := createService(t, s, "prod", "web", td, 0)
	mine := s.mustRunTask(t, &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td), Count: aws.Int32(2), Group: aws.String("service:web")})
	s.mustRunTask(t, &ecstypes.RunTaskRequest{Cluster: aws.String("prod"), TaskDefinition: aws.String(td)})

	for _, ref := range []string{"web", aws.ToString(svc.ServiceArn)} {
		got := listTaskArns(t, s, &ecstypes.ListTasksRequest{Cluster: aws.String("prod"), ServiceName: aws.String(ref)})
		want := []string{aws.ToString(mine.Tasks[0].TaskArn), aws.ToString(mine.Tasks[1].TaskArn)}
		slices.Sort(want)
		if slices.Sort(got); !slices.Equal(got, want) {
			t.Errorf("ListTasks(serviceName %s) = %v, want %v", ref, got, want)
		}
	}
	_, err := s.ListTasks(t.Context(), &ecstypes.ListTasksRequest{Cluster: aws.String("prod"), ServiceName: aws.String("nope")})
	wantAWSErr(t, err, ecstypes.ErrCodeServiceNotFoundException, "Service not found.")
}

func TestServiceCreateLoadBalanced(t *testing.T) {
	tg := "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef"
	s := newLBService(t, newFakeLB(lbtarget.Group{ARN: tg, TargetType: "instance",
		LoadBalancerARNs: []string{"arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0123456789abcdef"}}))
	createCluster(t, s, "prod")
	registerTaskDef(t, s, portTaskDef)
	out, err := s.CreateService(t.Context(), &ecstypes.CreateServiceRequest{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String("port"), DesiredCount: aws.Int32(1),
		LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tg), ContainerName: aws.String("app"), ContainerPort: aws.Int32(80)}},
		Role:          aws.String("ecsServiceRole"),
		ServiceRegistries: []ecstypes.ServiceRegistry{{RegistryArn: aws.String("arn:aws:servicediscovery:us-east-1:000000000000:service/srv-1"),
			ContainerName: aws.String("app"), ContainerPort: aws.Int32(80)}},
	})
	if err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	svc := out.Service
	if len(svc.LoadBalancers) != 1 || aws.ToString(svc.LoadBalancers[0].TargetGroupArn) != tg || len(svc.ServiceRegistries) != 1 {
		t.Fatalf("load balancers and registries not kept: %s", mustJSON(svc))
	}
	// With a load balancer and no grace period, ECS reports 0.
	if svc.HealthCheckGracePeriodSeconds == nil || *svc.HealthCheckGracePeriodSeconds != 0 {
		t.Fatalf("healthCheckGracePeriodSeconds = %v, want 0", svc.HealthCheckGracePeriodSeconds)
	}
	if got := aws.ToString(svc.RoleArn); got != "arn:aws:iam::000000000000:role/ecsServiceRole" {
		t.Fatalf("roleArn = %s", got)
	}
}

// TestServiceCreateRace: concurrent creates of one name make one service;
// every other call is told creation was not idempotent.
func TestServiceCreateRace(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerTaskDef(t, s, webTaskDef)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := s.CreateService(t.Context(), &ecstypes.CreateServiceRequest{
				Cluster: aws.String("prod"), ServiceName: aws.String("api"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(1),
			})
			errs <- err
		}()
	}
	created := 0
	for range n {
		err := <-errs
		if err == nil {
			created++
			continue
		}
		if e, ok := awserr.As(err); !ok || e.Message != "Creation of service was not idempotent." {
			t.Errorf("concurrent create: %v", err)
		}
	}
	if created != 1 {
		t.Fatalf("%d creates succeeded, want 1", created)
	}
	if rec := serviceRecordOf(t, s, "prod", "api"); rec.Generation != 1 || len(rec.Service.Deployments) != 1 {
		t.Fatalf("record after the race: generation %d, %d deployments", rec.Generation, len(rec.Service.Deployments))
	}
}
