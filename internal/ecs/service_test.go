package ecs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

// denyRecorder refuses every request and remembers what it was asked, so
// handlers never run and need no store.
type denyRecorder struct {
	mu   sync.Mutex
	seen []api.AuthzRequest
}

func (d *denyRecorder) Authorize(_ context.Context, req api.AuthzRequest) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seen = append(d.seen, req)
	return &api.Denied{Resource: req.Resources[0]}
}

// TestAPIServiceResources checks the action and resource ARNs each ECS
// operation declares, in the region the request was signed for.
func TestAPIServiceResources(t *testing.T) {
	const p = "arn:aws:ecs:eu-west-1:123456789012:"
	tests := []struct {
		op, body, action string
		resources        []string
	}{
		{"RunTask", `{"cluster":"prod","taskDefinition":"web:3"}`, "ecs:RunTask",
			[]string{p + "cluster/prod", p + "task-definition/web:3"}},
		{"RunTask", `{"taskDefinition":"arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1"}`, "ecs:RunTask",
			[]string{p + "cluster/default", p + "task-definition/web:1"}},
		{"DescribeClusters", `{}`, "ecs:DescribeClusters", []string{p + "cluster/default"}},
		{"DescribeClusters", `{"clusters":["a","arn:aws:ecs:eu-west-1:123456789012:cluster/b"]}`, "ecs:DescribeClusters",
			[]string{p + "cluster/a", p + "cluster/b"}},
		{"DescribeTasks", `{"cluster":"arn:aws:ecs:eu-west-1:123456789012:cluster/prod","tasks":["abc","` + p + `task/prod/def"]}`,
			"ecs:DescribeTasks", []string{p + "cluster/prod", p + "task/prod/abc", p + "task/prod/def"}},
		{"DescribeContainerInstances", `{"cluster":"prod","containerInstances":["i1"]}`, "ecs:DescribeContainerInstances",
			[]string{p + "cluster/prod", p + "container-instance/prod/i1"}},
		{"StopTask", `{"task":"abc"}`, "ecs:StopTask", []string{p + "cluster/default", p + "task/default/abc"}},
		{"PutAttributes", `{"cluster":"prod","attributes":[{"name":"a","targetId":"i1"}]}`, "ecs:PutAttributes",
			[]string{p + "cluster/prod", p + "container-instance/prod/i1"}},
		{"TagResource", `{"resourceArn":"` + p + `cluster/prod","tags":[]}`, "ecs:TagResource", []string{p + "cluster/prod"}},
		{"ListClusters", `{}`, "ecs:ListClusters", []string{"*"}},
		{"CreateService", `{"serviceName":"s","taskDefinition":"web"}`, "ecs:CreateService",
			[]string{p + "cluster/default", p + "service/default/s"}},
		{"DescribeServices", `{"cluster":"prod","services":["a","` + p + `service/prod/b"]}`, "ecs:DescribeServices",
			[]string{p + "cluster/prod", p + "service/prod/a", p + "service/prod/b"}},
		{"DeleteService", `{"cluster":"prod","service":"a"}`, "ecs:DeleteService", []string{p + "cluster/prod", p + "service/prod/a"}},
		{"ListServices", `{"cluster":"prod"}`, "ecs:ListServices", []string{p + "cluster/prod"}},
		{"ListServiceDeployments", `{"service":"a"}`, "ecs:ListServiceDeployments", []string{p + "cluster/default", p + "service/default/a"}},
		{"DescribeServiceDeployments", `{"serviceDeploymentArns":["` + p + `service-deployment/prod/a/ejGvqq2ilnbKT9qj0vLJe"]}`,
			"ecs:DescribeServiceDeployments", []string{p + "service-deployment/prod/a/ejGvqq2ilnbKT9qj0vLJe"}},
		{"DescribeServiceRevisions", `{"serviceRevisionArns":["` + p + `service-revision/prod/a/1234567890123456789"]}`,
			"ecs:DescribeServiceRevisions", []string{p + "service-revision/prod/a/1234567890123456789"}},
		{"ListServicesByNamespace", `{"namespace":"n"}`, "ecs:ListServicesByNamespace", []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			svc := New(Config{Region: "us-east-1", AccountID: "123456789012"})
			defer svc.Close()
			deny := &denyRecorder{}
			s := api.New(api.Config{
				Verifier: &sigv4.Verifier{Regions: sigv4.AnyRegion, Lookup: func(id string) (sigv4.Credential, bool) {
					return sigv4.Credential{SecretAccessKey: "s", Principal: "arn:aws:iam::123456789012:user/bob"}, true
				}},
				Authorizer: deny,
				Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			s.Register(svc.APIService())
			req := httptest.NewRequest(http.MethodPost, "http://berth.local/", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113."+tt.op)
			creds := aws.Credentials{AccessKeyID: "AKIABOB", SecretAccessKey: "s"}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha(tt.body), "ecs", "eu-west-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != 400 || !strings.Contains(rec.Body.String(), "AccessDeniedException") {
				t.Fatalf("reply %d %s, want AccessDeniedException", rec.Code, rec.Body)
			}
			if len(deny.seen) != 1 || deny.seen[0].Action != tt.action || !slices.Equal(deny.seen[0].Resources, tt.resources) {
				t.Fatalf("authorizer saw %+v, want %s on %v", deny.seen, tt.action, tt.resources)
			}
		})
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestUnsupportedOperationsNameTheAction: the model's operations Berth
// lacks answer UnsupportedFeatureException, after authentication;
// ListServicesByNamespace, implemented, knows no namespace.
func TestUnsupportedOperationsNameTheAction(t *testing.T) {
	svc := New(Config{Region: "us-east-1", AccountID: "123456789012"})
	defer svc.Close()
	s := api.New(api.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s.Register(svc.APIService())
	for _, c := range []struct{ action, body, code, msg string }{
		{"StopServiceDeployment", `{"serviceDeploymentArn":"x"}`, "UnsupportedFeatureException",
			"Berth does not implement the ECS action StopServiceDeployment yet."},
		{"ListServicesByNamespace", `{"namespace":"n"}`, "NamespaceNotFoundException", "Namespace not found."},
		{"ListServicesByNamespace", `{"namespace":"n","maxResults":0}`, "InvalidParameterException", "maxResults"},
	} {
		req := httptest.NewRequest(http.MethodPost, "http://berth.local/", strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113."+c.action)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 400 || rec.Header().Get("X-Amzn-ErrorType") != c.code || !strings.Contains(rec.Body.String(), c.msg) {
			t.Errorf("%s %s: reply %d %s %s", c.action, c.body, rec.Code, rec.Header().Get("X-Amzn-ErrorType"), rec.Body)
		}
	}
}
