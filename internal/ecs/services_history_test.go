package ecs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// Tests of service deployments and revisions: the records CreateService,
// UpdateService, DeleteService and the controller write, and the calls
// that read them.

func TestServiceDeploymentIDRoundTrip(t *testing.T) {
	for range 200 {
		digits := deploymentDigits(newDeploymentID())
		id := serviceDeploymentID(digits)
		if len(id) != 21 || strings.Trim(id, base62) != "" {
			t.Fatalf("id %q of %s: want 21 letters and digits", id, digits)
		}
		if got, ok := deploymentOfServiceDeploymentID(id); !ok || got != digits {
			t.Fatalf("decode %q = %q, %v; want %s", id, got, ok, digits)
		}
		flipped := []byte(id)
		flipped[20] = base62[(strings.IndexByte(base62, flipped[20])+1)%62]
		if _, ok := deploymentOfServiceDeploymentID(string(flipped)); ok {
			t.Fatalf("altered id %q decoded", flipped)
		}
	}
	for _, bad := range []string{"", "ejGvqq2ilnbKT9qj0vLJe", "zzzzzzzzzzzzzzzzzzzzz", "ejGvqq2ilnbKT9qj0vLJ!", "short"} {
		if d, ok := deploymentOfServiceDeploymentID(bad); ok {
			t.Errorf("decode %q = %q, want refused", bad, d)
		}
	}
	if serviceDeploymentID("123") != "" {
		t.Error("an id of a malformed deployment id")
	}
}

// listSD lists a service's service deployments, which must succeed.
func listSD(t *testing.T, s *Service, in *ecstypes.ListServiceDeploymentsRequest) *ecstypes.ListServiceDeploymentsResponse {
	t.Helper()
	out, err := s.ListServiceDeployments(t.Context(), in)
	if err != nil {
		t.Fatalf("ListServiceDeployments(%s): %v", mustJSON(in), err)
	}
	return out
}

// serviceDeploymentsOf are the service deployments of cluster/name, newest first.
func serviceDeploymentsOf(t *testing.T, s *Service, cluster, name string) []ecstypes.ServiceDeployment {
	t.Helper()
	list := listSD(t, s, &ecstypes.ListServiceDeploymentsRequest{Cluster: aws.String(cluster), Service: aws.String(name)})
	var arns []string
	for _, b := range list.ServiceDeployments {
		arns = append(arns, aws.ToString(b.ServiceDeploymentArn))
	}
	if len(arns) == 0 {
		return nil
	}
	out, err := s.DescribeServiceDeployments(t.Context(), &ecstypes.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: arns})
	if err != nil || len(out.Failures) > 0 || len(out.ServiceDeployments) != len(arns) {
		t.Fatalf("DescribeServiceDeployments: %v, failures %s", err, mustJSON(out))
	}
	return out.ServiceDeployments
}

// revisionOf describes one service revision.
func revisionOf(t *testing.T, s *Service, arn string) ecstypes.ServiceRevision {
	t.Helper()
	out, err := s.DescribeServiceRevisions(t.Context(), &ecstypes.DescribeServiceRevisionsRequest{ServiceRevisionArns: []string{arn}})
	if err != nil || len(out.ServiceRevisions) != 1 {
		t.Fatalf("DescribeServiceRevisions(%s): %v %s", arn, err, mustJSON(out))
	}
	return out.ServiceRevisions[0]
}

// storedHistory is every history record, as JSON, to check that a failed
// request wrote nothing.
func storedHistory(t *testing.T, s *Service) string {
	t.Helper()
	var deps []serviceDeploymentRecord
	var revs []serviceRevisionRecord
	err := s.st.View(t.Context(), func(tx *store.Tx) (err error) {
		if deps, err = store.List(tx, serviceDeployments, ""); err != nil {
			return err
		}
		revs, err = store.List(tx, serviceRevisions, "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal([]any{deps, revs})
	return string(raw)
}

// wantSD checks a service deployment's status and its target's counts.
func wantSD(t *testing.T, what string, sd ecstypes.ServiceDeployment, status string, requested, running int32) {
	t.Helper()
	tr := sd.TargetServiceRevision
	if aws.ToString(sd.Status) != status || tr == nil || aws.ToInt32(tr.RequestedTaskCount) != requested || aws.ToInt32(tr.RunningTaskCount) != running {
		t.Fatalf("%s: %s", what, mustJSON(sd))
	}
}

func updateService(t *testing.T, s *Service, in *ecstypes.UpdateServiceRequest) ecstypes.Service {
	t.Helper()
	out, err := s.UpdateService(t.Context(), in)
	if err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	return *out.Service
}

// The life of a service deployment: IN_PROGRESS with the revision it
// deploys, SUCCESSFUL once the controller completes it; the next one has
// the first revision as its source.
func TestServiceDeploymentLifecycle(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 8192)
	td1 := registerTaskDef(t, s, webTaskDef)
	created := createService(t, s, "prod", "web", td1, 2)
	dep1 := aws.ToString(created.Deployments[0].Id)
	sdARN := s.arns.serviceDeployment("prod", "web", deploymentDigits(dep1))
	revARN := s.arns.serviceRevision("prod", "web", deploymentDigits(dep1))
	if aws.ToString(created.CurrentServiceDeployment) != sdARN || len(created.CurrentServiceRevisions) != 1 ||
		aws.ToString(created.CurrentServiceRevisions[0].Arn) != revARN {
		t.Fatalf("CreateService reply: current %s %s, want %s %s", aws.ToString(created.CurrentServiceDeployment),
			mustJSON(created.CurrentServiceRevisions), sdARN, revARN)
	}
	if !strings.HasPrefix(sdARN, "arn:aws:ecs:us-east-1:000000000000:service-deployment/prod/web/") ||
		revARN != "arn:aws:ecs:us-east-1:000000000000:service-revision/prod/web/"+deploymentDigits(dep1) {
		t.Fatalf("ARNs %s %s", sdARN, revARN)
	}

	sds := serviceDeploymentsOf(t, s, "prod", "web")
	if len(sds) != 1 || aws.ToString(sds[0].ServiceDeploymentArn) != sdARN || aws.ToString(sds[0].TargetServiceRevision.Arn) != revARN ||
		len(sds[0].SourceServiceRevisions) != 0 || sds[0].StartedAt == nil || sds[0].FinishedAt != nil ||
		aws.ToString(sds[0].DeploymentCircuitBreaker.Status) != "DISABLED" || aws.ToInt32(sds[0].DeploymentCircuitBreaker.Threshold) != 3 ||
		aws.ToInt32(sds[0].DeploymentConfiguration.MaximumPercent) != 200 {
		t.Fatalf("service deployment %s", mustJSON(sds))
	}
	wantSD(t, "created", sds[0], "IN_PROGRESS", 2, 0)
	if keys := jsonKeys(t, sds[0]); keys["sourceServiceRevisions"] == nil {
		t.Fatalf("sourceServiceRevisions absent: %s", mustJSON(sds[0]))
	}
	rev := revisionOf(t, s, revARN)
	if aws.ToString(rev.TaskDefinition) != td1 || aws.ToString(rev.ServiceArn) != aws.ToString(created.ServiceArn) ||
		aws.ToString(rev.LaunchType) != "EC2" || len(rev.ContainerImages) != 1 || aws.ToString(rev.ContainerImages[0].Image) != "nginx" ||
		aws.ToString(rev.ContainerImages[0].ContainerName) != "app" || rev.GuardDutyEnabled == nil || *rev.GuardDutyEnabled || rev.CreatedAt == nil {
		t.Fatalf("revision %s", mustJSON(rev))
	}

	pass(t, s)
	wantSD(t, "tasks started", serviceDeploymentsOf(t, s, "prod", "web")[0], "IN_PROGRESS", 2, 0) // live: 2 pending
	if p := serviceDeploymentsOf(t, s, "prod", "web")[0].TargetServiceRevision.PendingTaskCount; aws.ToInt32(p) != 2 {
		t.Fatalf("pending %d, want 2 live", aws.ToInt32(p))
	}
	agentCatchUp(t, s, "prod")
	pass(t, s)
	sd := serviceDeploymentsOf(t, s, "prod", "web")[0]
	wantSD(t, "completed", sd, "SUCCESSFUL", 2, 2)
	if sd.FinishedAt == nil || sd.StoppedAt != nil {
		t.Fatalf("completed: %s", mustJSON(sd))
	}

	td2 := registerTaskDef(t, s, webTaskDef)
	upd := updateService(t, s, &ecstypes.UpdateServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: aws.String(td2)})
	sds = serviceDeploymentsOf(t, s, "prod", "web")
	if len(sds) != 2 || aws.ToString(upd.CurrentServiceDeployment) != aws.ToString(sds[0].ServiceDeploymentArn) || len(upd.CurrentServiceRevisions) != 2 {
		t.Fatalf("after the update: %s, reply current %s", mustJSON(sds), aws.ToString(upd.CurrentServiceDeployment))
	}
	wantSD(t, "second", sds[0], "IN_PROGRESS", 2, 0)
	wantSD(t, "first stays", sds[1], "SUCCESSFUL", 2, 2)
	if src := sds[0].SourceServiceRevisions; len(src) != 1 || aws.ToString(src[0].Arn) != revARN || aws.ToInt32(src[0].RunningTaskCount) != 2 {
		t.Fatalf("sources %s", mustJSON(src))
	}
	if rev := revisionOf(t, s, aws.ToString(sds[0].TargetServiceRevision.Arn)); aws.ToString(rev.TaskDefinition) != td2 {
		t.Fatalf("second revision on %s, want %s", aws.ToString(rev.TaskDefinition), td2)
	}

	// DeleteService stops the one in progress.
	if _, err := s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	sd = serviceDeploymentsOf(t, s, "prod", "web")[0]
	if aws.ToString(sd.Status) != "STOPPED" || aws.ToString(sd.StatusReason) != reasonServiceDeleted || sd.StoppedAt == nil {
		t.Fatalf("after delete: %s", mustJSON(sd))
	}
}

// A new deployment while one is in progress stops it; its sources are the
// deployments running then, with their counts.
func TestServiceDeploymentSuperseded(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	td := registerTaskDef(t, s, webTaskDef)
	createService(t, s, "prod", "web", td, 3)
	for i := range 2 {
		updateService(t, s, &ecstypes.UpdateServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"), ForceNewDeployment: aws.Bool(true)})
		sds := serviceDeploymentsOf(t, s, "prod", "web")
		if len(sds) != i+2 {
			t.Fatalf("%d service deployments, want %d", len(sds), i+2)
		}
		wantSD(t, "newest", sds[0], "IN_PROGRESS", 3, 0)
		if src := sds[0].SourceServiceRevisions; len(src) != i+1 || aws.ToString(src[0].Arn) != aws.ToString(sds[1].TargetServiceRevision.Arn) ||
			aws.ToInt32(src[0].RequestedTaskCount) != 3 {
			t.Fatalf("sources %s", mustJSON(src))
		}
		prev := sds[1]
		if aws.ToString(prev.Status) != "STOPPED" || aws.ToString(prev.StatusReason) != reasonSuperseded || prev.StoppedAt == nil || prev.FinishedAt != nil {
			t.Fatalf("superseded: %s", mustJSON(prev))
		}
	}
	// An update that starts no deployment leaves the history alone.
	before := storedHistory(t, s)
	updateService(t, s, &ecstypes.UpdateServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"), DesiredCount: aws.Int32(1)})
	if after := storedHistory(t, s); after != before {
		t.Fatalf("a scaling update changed the history:\n%s\n%s", before, after)
	}
}

// The circuit breaker: a trip with rollback is ROLLBACK_IN_PROGRESS with
// the revision rolled back to, then ROLLBACK_SUCCESSFUL; without rollback
// the service deployment is STOPPED.
func TestServiceDeploymentCircuitBreaker(t *testing.T) {
	for _, mode := range []string{"rollback", "no rollback", "rollback fails"} {
		rollback := mode != "no rollback"
		t.Run(mode, func(t *testing.T) {
			s := newTestService(t)
			createCluster(t, s, "prod")
			registerInstance(t, s, "prod", 4096, 8192)
			td1 := registerTaskDef(t, s, webTaskDef)
			_, err := s.CreateService(t.Context(), &ecstypes.CreateServiceRequest{
				Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(2),
				DeploymentConfiguration: &ecstypes.DeploymentConfiguration{DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{
					Enable: aws.Bool(true), Rollback: aws.Bool(rollback)}},
			})
			if err != nil {
				t.Fatal(err)
			}
			pass(t, s)
			agentCatchUp(t, s, "prod")
			pass(t, s)
			first := serviceDeploymentsOf(t, s, "prod", "web")[0]
			wantSD(t, "first", first, "SUCCESSFUL", 2, 2)
			if cb := first.DeploymentCircuitBreaker; aws.ToString(cb.Status) != "MONITORING_COMPLETE" {
				t.Fatalf("first breaker %s", mustJSON(cb))
			}
			td2 := registerTaskDef(t, s, webTaskDef)
			upd := updateService(t, s, &ecstypes.UpdateServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: aws.String(td2)})
			second := aws.ToString(upd.Deployments[0].Id)
			pass(t, s)
			failToStart(t, s, "prod", second)
			pass(t, s) // counts them
			if cb := serviceDeploymentsOf(t, s, "prod", "web")[0].DeploymentCircuitBreaker; aws.ToString(cb.Status) != "MONITORING" || aws.ToInt32(cb.FailureCount) != 2 {
				t.Fatalf("breaker while watching %s, want MONITORING with 2 failures live", mustJSON(cb))
			}
			tripOnFailures(t, s, second)
			sd := serviceDeploymentsOf(t, s, "prod", "web")[0]
			if cb := sd.DeploymentCircuitBreaker; aws.ToString(cb.Status) != "TRIGGERED" || aws.ToInt32(cb.FailureCount) != 4 || aws.ToInt32(cb.Threshold) != 3 {
				t.Fatalf("breaker %s", mustJSON(cb))
			}
			if !rollback {
				if aws.ToString(sd.Status) != "STOPPED" || sd.StoppedAt == nil || aws.ToString(sd.StatusReason) != breakerFailedReason || sd.Rollback != nil {
					t.Fatalf("tripped without rollback: %s", mustJSON(sd))
				}
				return
			}
			if aws.ToString(sd.Status) != "ROLLBACK_IN_PROGRESS" || sd.Rollback == nil || sd.Rollback.StartedAt == nil ||
				aws.ToString(sd.Rollback.Reason) == "" {
				t.Fatalf("tripped: %s", mustJSON(sd))
			}
			back := getService(t, s, "prod", "web").Service.Deployments[0]
			if want := s.arns.serviceRevision("prod", "web", deploymentDigits(aws.ToString(back.Id))); aws.ToString(sd.Rollback.ServiceRevisionArn) != want {
				t.Fatalf("rollback revision %s, want %s", aws.ToString(sd.Rollback.ServiceRevisionArn), want)
			}
			if rev := revisionOf(t, s, aws.ToString(sd.Rollback.ServiceRevisionArn)); aws.ToString(rev.TaskDefinition) != td1 || len(rev.ContainerImages) != 1 {
				t.Fatalf("rollback revision %s, want one on %s", mustJSON(rev), td1)
			}
			desc, err := s.DescribeServices(t.Context(), &ecstypes.DescribeServicesRequest{Cluster: aws.String("prod"), Services: []string{"web"}})
			if err != nil || aws.ToString(desc.Services[0].CurrentServiceDeployment) != aws.ToString(sd.ServiceDeploymentArn) {
				t.Fatalf("current service deployment %s, want %s (%v)", mustJSON(desc), aws.ToString(sd.ServiceDeploymentArn), err)
			}
			if mode == "rollback fails" {
				tripOnFailures(t, s, aws.ToString(back.Id))
				sd = serviceDeploymentsOf(t, s, "prod", "web")[0]
				if aws.ToString(sd.Status) != "ROLLBACK_FAILED" || sd.FinishedAt == nil || aws.ToString(sd.StatusReason) != reasonRollbackFailed {
					t.Fatalf("rollback failed: %s", mustJSON(sd))
				}
				if rec := getService(t, s, "prod", "web"); rec.History.Rollback != nil {
					t.Fatalf("history %s after the failed rollback", mustJSON(rec.History))
				}
				return
			}
			for i := 0; aws.ToString(sd.Status) == "ROLLBACK_IN_PROGRESS"; i++ {
				if i == 10 {
					t.Fatalf("rollback not done in 10 steps: %s", mustJSON(sd))
				}
				pass(t, s)
				agentCatchUp(t, s, "prod")
				sd = serviceDeploymentsOf(t, s, "prod", "web")[0]
			}
			if aws.ToString(sd.Status) != "ROLLBACK_SUCCESSFUL" || sd.FinishedAt == nil || aws.ToString(sd.StatusReason) != reasonRollbackDone {
				t.Fatalf("rolled back: %s", mustJSON(sd))
			}
			if rec := getService(t, s, "prod", "web"); rec.History.Rollback != nil || len(rec.History.Deployments) != 2 {
				t.Fatalf("history %s after the rollback", mustJSON(rec.History))
			}
		})
	}
}

// ListServiceDeployments: newest first, pages, status and createdAt filters.
func TestListServiceDeploymentsPagesAndFilters(t *testing.T) {
	clock := &movingClock{now: testNow}
	s := newClockService(t, nil, clock)
	createCluster(t, s, "prod")
	td := registerTaskDef(t, s, webTaskDef)
	createService(t, s, "prod", "web", td, 1)
	createService(t, s, "prod", "other", td, 1)
	for range 4 {
		clock.Advance(time.Minute)
		updateService(t, s, &ecstypes.UpdateServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"), ForceNewDeployment: aws.Bool(true)})
	}
	all := serviceDeploymentsOf(t, s, "prod", "web")
	if len(all) != 5 {
		t.Fatalf("%d service deployments, want 5", len(all))
	}
	for i := 1; i < len(all); i++ {
		if !all[i-1].CreatedAt.After(all[i].CreatedAt.Time) {
			t.Fatalf("not newest first: %s", mustJSON(all))
		}
	}
	arnOf := func(sds []ecstypes.ServiceDeployment) []string {
		var out []string
		for _, sd := range sds {
			out = append(out, aws.ToString(sd.ServiceDeploymentArn))
		}
		return out
	}
	svcARN := s.arns.service("prod", "web")
	for _, c := range []struct {
		name string
		in   ecstypes.ListServiceDeploymentsRequest
		want []string
	}{
		{"by ARN", ecstypes.ListServiceDeploymentsRequest{Cluster: aws.String("prod"), Service: aws.String(svcARN)}, arnOf(all)},
		{"IN_PROGRESS", ecstypes.ListServiceDeploymentsRequest{Status: []string{"IN_PROGRESS"}}, arnOf(all[:1])},
		{"STOPPED or SUCCESSFUL", ecstypes.ListServiceDeploymentsRequest{Status: []string{"STOPPED", "SUCCESSFUL"}}, arnOf(all[1:])},
		{"created after", ecstypes.ListServiceDeploymentsRequest{CreatedAt: &ecstypes.CreatedAt{After: ecstypes.Time(testNow.Add(2*time.Minute + time.Second))}}, arnOf(all[:2])},
		{"created before", ecstypes.ListServiceDeploymentsRequest{CreatedAt: &ecstypes.CreatedAt{Before: ecstypes.Time(testNow.Add(time.Second))}}, arnOf(all[4:])},
		{"none", ecstypes.ListServiceDeploymentsRequest{Status: []string{"ROLLBACK_FAILED"}}, nil},
	} {
		in := c.in
		if in.Service == nil {
			in.Cluster, in.Service = aws.String("prod"), aws.String("web")
		}
		var got []string
		for page := 0; ; page++ {
			in.MaxResults = aws.Int32(2)
			out := listSD(t, s, &in)
			if len(out.ServiceDeployments) > 2 || page > 5 {
				t.Fatalf("%s: page %d of %d", c.name, page, len(out.ServiceDeployments))
			}
			for _, b := range out.ServiceDeployments {
				got = append(got, aws.ToString(b.ServiceDeploymentArn))
				if aws.ToString(b.ServiceArn) != svcARN || b.TargetServiceRevisionArn == nil || b.CreatedAt == nil {
					t.Fatalf("%s: brief %s", c.name, mustJSON(b))
				}
			}
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if out := listSD(t, s, &ecstypes.ListServiceDeploymentsRequest{Cluster: aws.String("prod"), Service: aws.String("web")}); len(out.ServiceDeployments) != 5 || out.NextToken != nil {
		t.Fatalf("default page: %d, token %v", len(out.ServiceDeployments), out.NextToken)
	}
}

// Errors as ECS answers them; unknown ARNs are failures; a failed request
// writes no history.
func TestServiceHistoryErrors(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	td := registerTaskDef(t, s, webTaskDef)
	created := createService(t, s, "prod", "web", td, 1)
	good := aws.ToString(created.CurrentServiceDeployment)
	goodRev := aws.ToString(created.CurrentServiceRevisions[0].Arn)
	id := good[strings.LastIndexByte(good, '/')+1:]
	unknownID := serviceDeploymentID(deploymentDigits(newDeploymentID()))
	many := make([]string, 21)
	for i := range many {
		many[i] = good
	}
	prefix := "arn:aws:ecs:us-east-1:000000000000:"
	for _, c := range []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"describe 21", func() error {
			_, err := s.DescribeServiceDeployments(t.Context(), &ecstypes.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: many})
			return err
		}, "InvalidParameterException", "serviceDeploymentArns can have at most 20 items."},
		{"describe none", func() error {
			_, err := s.DescribeServiceDeployments(t.Context(), &ecstypes.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: []string{}})
			return err
		}, "InvalidParameterException", "serviceDeploymentArns cannot be empty."},
		{"revisions 21", func() error {
			_, err := s.DescribeServiceRevisions(t.Context(), &ecstypes.DescribeServiceRevisionsRequest{ServiceRevisionArns: many})
			return err
		}, "InvalidParameterException", "serviceRevisionArns can have at most 20 items."},
		{"list: no cluster", func() error {
			_, err := s.ListServiceDeployments(t.Context(), &ecstypes.ListServiceDeploymentsRequest{Cluster: aws.String("nope"), Service: aws.String("web")})
			return err
		}, "ClusterNotFoundException", "Cluster not found."},
		{"list: default cluster missing", func() error {
			_, err := s.ListServiceDeployments(t.Context(), &ecstypes.ListServiceDeploymentsRequest{Service: aws.String("web")})
			return err
		}, "ClusterNotFoundException", "Cluster not found."},
		{"list: no service", func() error {
			_, err := s.ListServiceDeployments(t.Context(), &ecstypes.ListServiceDeploymentsRequest{Cluster: aws.String("prod"), Service: aws.String("nope")})
			return err
		}, "ServiceNotFoundException", "Service not found."},
		{"list: bad token", func() error {
			_, err := s.ListServiceDeployments(t.Context(), &ecstypes.ListServiceDeploymentsRequest{Cluster: aws.String("prod"), Service: aws.String("web"), NextToken: nextToken("42")})
			return err
		}, "InvalidParameterException", "The nextToken is not valid."},
		{"list: maxResults 101", func() error {
			_, err := s.ListServiceDeployments(t.Context(), &ecstypes.ListServiceDeploymentsRequest{Cluster: aws.String("prod"), Service: aws.String("web"), MaxResults: aws.Int32(101)})
			return err
		}, "InvalidParameterException", "maxResults must be between 1 and 100."},
	} {
		err := c.call()
		if e, ok := awserr.As(err); !ok || e.Code != c.code || e.Message != c.msg {
			t.Errorf("%s: %v, want %s %q", c.name, err, c.code, c.msg)
		}
	}

	unknown := []string{
		prefix + "service-deployment/prod/web/" + unknownID,
		prefix + "service-deployment/prod/other/" + id,
		prefix + "service-deployment/prod/web/ejGvqq2ilnbKT9qj0vLJe",
		prefix + "service-revision/prod/web/" + deploymentDigits(newDeploymentID()),
		"arn:aws:ecs:eu-west-1:000000000000:service-deployment/prod/web/" + id,
		"not an arn",
	}
	out, err := s.DescribeServiceDeployments(t.Context(), &ecstypes.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: append([]string{good}, unknown...)})
	if err != nil || len(out.ServiceDeployments) != 1 || len(out.Failures) != len(unknown) {
		t.Fatalf("describe: %v %s", err, mustJSON(out))
	}
	for i, f := range out.Failures {
		if aws.ToString(f.Arn) != unknown[i] || aws.ToString(f.Reason) != "MISSING" {
			t.Errorf("failure %d: %s", i, mustJSON(f))
		}
	}
	revs, err := s.DescribeServiceRevisions(t.Context(), &ecstypes.DescribeServiceRevisionsRequest{ServiceRevisionArns: []string{goodRev, good, unknown[3]}})
	if err != nil || len(revs.ServiceRevisions) != 1 || len(revs.Failures) != 2 {
		t.Fatalf("describe revisions: %v %s", err, mustJSON(revs))
	}
	empty, err := s.DescribeServiceRevisions(t.Context(), &ecstypes.DescribeServiceRevisionsRequest{ServiceRevisionArns: []string{good}})
	if err != nil || empty.ServiceRevisions == nil || jsonKeys(t, empty)["serviceRevisions"] == nil {
		t.Fatalf("no revision found: %v %s", err, mustJSON(empty))
	}

	// Failed creates and updates write no history.
	before := storedHistory(t, s)
	for _, c := range []func() error{
		func() error {
			_, err := s.CreateService(t.Context(), &ecstypes.CreateServiceRequest{Cluster: aws.String("prod"), ServiceName: aws.String("web"),
				TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1)})
			return err
		},
		func() error {
			_, err := s.CreateService(t.Context(), &ecstypes.CreateServiceRequest{Cluster: aws.String("prod"), ServiceName: aws.String("new"),
				TaskDefinition: aws.String("missing:1"), DesiredCount: aws.Int32(1)})
			return err
		},
		func() error {
			_, err := s.UpdateService(t.Context(), &ecstypes.UpdateServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"),
				TaskDefinition: aws.String("missing:1")})
			return err
		},
		func() error {
			_, err := s.UpdateService(t.Context(), &ecstypes.UpdateServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"),
				ForceNewDeployment: aws.Bool(true), DeploymentConfiguration: &ecstypes.DeploymentConfiguration{MaximumPercent: aws.Int32(50)}})
			return err
		},
	} {
		if err := c(); err == nil {
			t.Fatal("a bad request succeeded")
		}
	}
	if after := storedHistory(t, s); after != before {
		t.Fatalf("failed requests wrote history:\n%s\n%s", before, after)
	}
}

// History is bounded: the oldest service deployments go, with their
// revisions, unless a deployment still runs the revision.
func TestServiceHistoryIsBounded(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	td := registerTaskDef(t, s, webTaskDef)
	created := createService(t, s, "prod", "web", td, 1)
	first := aws.ToString(created.CurrentServiceDeployment)
	firstRev := aws.ToString(created.CurrentServiceRevisions[0].Arn)
	var second string
	for i := range maxServiceDeployments + 1 {
		upd := updateService(t, s, &ecstypes.UpdateServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"), ForceNewDeployment: aws.Bool(true)})
		if i == 0 {
			second = aws.ToString(upd.CurrentServiceDeployment)
			continue
		}
		// Drained, as the controller would, but for the first deployment.
		editService(t, s, "prod", "web", func(rec *serviceRecord) {
			d := rec.Service.Deployments
			rec.Service.Deployments = append(d[:1:1], d[len(d)-1])
		})
	}
	rec := getService(t, s, "prod", "web")
	if n := len(rec.History.Deployments); n != maxServiceDeployments+1 {
		t.Fatalf("%d kept, want %d: the first still runs", n, maxServiceDeployments+1)
	}
	out, err := s.DescribeServiceDeployments(t.Context(), &ecstypes.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: []string{first, second}})
	if err != nil || len(out.ServiceDeployments) != 1 || aws.ToString(out.ServiceDeployments[0].ServiceDeploymentArn) != first ||
		len(out.Failures) != 1 || aws.ToString(out.Failures[0].Arn) != second {
		t.Fatalf("after %d deployments: %v %s", maxServiceDeployments+2, err, mustJSON(out))
	}
	revisionOf(t, s, firstRev)
	var n int
	if err := s.st.View(t.Context(), func(tx *store.Tx) error {
		all, err := store.List(tx, serviceRevisions, "prod/web/")
		n = len(all)
		return err
	}); err != nil || n != maxServiceDeployments+1 {
		t.Fatalf("%d revisions stored (%v), want %d", n, err, maxServiceDeployments+1)
	}
}

// A service created again over its INACTIVE predecessor keeps the
// predecessor's history (it has the same ARN), under the same bound.
func TestServiceHistoryOfRecreatedService(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	td := registerTaskDef(t, s, webTaskDef)
	createService(t, s, "prod", "web", td, 1)
	if _, err := s.DeleteService(t.Context(), &ecstypes.DeleteServiceRequest{Cluster: aws.String("prod"), Service: aws.String("web"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	setServiceStatus(t, s, "prod", "web", "INACTIVE")
	again := createService(t, s, "prod", "web", td, 1)
	sds := serviceDeploymentsOf(t, s, "prod", "web")
	if len(sds) != 2 || aws.ToString(sds[0].ServiceDeploymentArn) != aws.ToString(again.CurrentServiceDeployment) {
		t.Fatalf("history %s, current %s", mustJSON(sds), aws.ToString(again.CurrentServiceDeployment))
	}
	wantSD(t, "new", sds[0], "IN_PROGRESS", 1, 0)
	if len(sds[0].SourceServiceRevisions) != 0 || aws.ToString(sds[1].Status) != "STOPPED" || aws.ToString(sds[1].StatusReason) != reasonServiceDeleted {
		t.Fatalf("history %s", mustJSON(sds))
	}
}

// A DAEMON service's service deployment completes as a REPLICA's does,
// its requested count the eligible instances.
func TestServiceDeploymentOfDaemon(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	registerInstance(t, s, "prod", 4096, 8192)
	registerInstance(t, s, "prod", 4096, 8192)
	createDaemon(t, s, "agent", registerTaskDef(t, s, webTaskDef))
	pass(t, s)
	agentCatchUp(t, s, "prod")
	pass(t, s)
	pass(t, s)
	sds := serviceDeploymentsOf(t, s, "prod", "agent")
	if len(sds) != 1 || sds[0].DeploymentCircuitBreaker == nil || aws.ToString(sds[0].DeploymentCircuitBreaker.Status) != "DISABLED" {
		t.Fatalf("daemon history %s", mustJSON(sds))
	}
	wantSD(t, "daemon", sds[0], "SUCCESSFUL", 2, 2)
}
