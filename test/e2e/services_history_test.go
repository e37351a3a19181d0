package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// checkServiceHistory checks, through the SDK, a service's history after a
// completed rollout from dep1 on td1 to dep2 on td2: two service
// deployments, newest first, both SUCCESSFUL, the second with the first's
// revision as its source, and the revisions' task definitions and images.
func checkServiceHistory(t *testing.T, srv *server, cluster, name, dep1, td1, dep2, td2 string) {
	t.Helper()
	client := srv.ecs()
	var list *ecs.ListServiceDeploymentsOutput
	// The controller marks the deployment SUCCESSFUL in the write that
	// makes it COMPLETED, which the stable service has already seen.
	waitFor(t, svcTimeout, "the second service deployment SUCCESSFUL", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		list, err = client.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String(cluster), Service: aws.String(name)})
		if err != nil {
			t.Fatalf("ListServiceDeployments: %v", err)
		}
		return len(list.ServiceDeployments) > 0 && list.ServiceDeployments[0].Status == types.ServiceDeploymentStatusSuccessful
	})
	if len(list.ServiceDeployments) != 2 {
		t.Fatalf("ListServiceDeployments: %s, want 2", jsonString(list.ServiceDeployments))
	}
	var arns []string
	for _, b := range list.ServiceDeployments {
		arns = append(arns, aws.ToString(b.ServiceDeploymentArn))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	desc, err := client.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: arns})
	if err != nil || len(desc.ServiceDeployments) != 2 || len(desc.Failures) != 0 {
		t.Fatalf("DescribeServiceDeployments: %v %s", err, jsonString(desc))
	}
	second, first := desc.ServiceDeployments[0], desc.ServiceDeployments[1]
	revARN := func(dep string) string {
		return "arn:aws:ecs:" + region + ":" + accountID + ":service-revision/" + cluster + "/" + name + "/" + strings.TrimPrefix(dep, "ecs-svc/")
	}
	for _, c := range []struct {
		sd      types.ServiceDeployment
		dep, td string
	}{{second, dep2, td2}, {first, dep1, td1}} {
		sd := c.sd
		if sd.Status != types.ServiceDeploymentStatusSuccessful || sd.FinishedAt == nil || sd.TargetServiceRevision == nil ||
			aws.ToString(sd.TargetServiceRevision.Arn) != revARN(c.dep) ||
			!strings.HasPrefix(aws.ToString(sd.ServiceDeploymentArn), "arn:aws:ecs:"+region+":"+accountID+":service-deployment/"+cluster+"/"+name+"/") {
			t.Errorf("service deployment of %s: %s", c.dep, jsonString(sd))
		}
		revs, err := client.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{revARN(c.dep)}})
		if err != nil || len(revs.ServiceRevisions) != 1 {
			t.Fatalf("DescribeServiceRevisions(%s): %v %s", revARN(c.dep), err, jsonString(revs))
		}
		rev := revs.ServiceRevisions[0]
		if aws.ToString(rev.TaskDefinition) != c.td || len(rev.ContainerImages) != 1 || aws.ToString(rev.ContainerImages[0].Image) != appImage {
			t.Errorf("revision of %s: %s, want one on %s running %s", c.dep, jsonString(rev), c.td, appImage)
		}
	}
	if src := second.SourceServiceRevisions; len(src) != 1 || aws.ToString(src[0].Arn) != revARN(dep1) || src[0].RequestedTaskCount != 4 {
		t.Errorf("sources of the second service deployment: %s, want the first revision with 4 requested", jsonString(src))
	}
	if len(first.SourceServiceRevisions) != 0 {
		t.Errorf("sources of the first service deployment: %s, want none", jsonString(first.SourceServiceRevisions))
	}
}
