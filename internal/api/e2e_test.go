package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

const ecsPrefix = "AmazonEC2ContainerServiceV20141113"

type listClustersInput struct {
	MaxResults *int32  `json:"maxResults"`
	NextToken  *string `json:"nextToken"`
}

type listClustersOutput struct {
	ClusterArns []string `json:"clusterArns"`
}

type deleteClusterInput struct {
	Cluster string `json:"cluster"`
}

func (in *deleteClusterInput) Validate() error {
	if in.Cluster == "" {
		return errors.New("cluster must be specified")
	}
	return nil
}

// e2eServer is a real listener (real clock) with a fake ECS service and a
// websocket route, for the real SDK and a real websocket client.
func e2eServer(t *testing.T) *httptest.Server {
	t.Helper()
	s := New(Config{
		Verifier:   &sigv4.Verifier{Lookup: testLookup, Region: testRegion},
		Authorizer: allowAll{},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	s.Register(Service{
		SigningName: "ecs",
		JSON:        &JSONProtocol{TargetPrefix: ecsPrefix, Version: "1.1"},
		Errors:      testErrors,
		Operations: map[string]Operation{
			"ListClusters": Op(func(ctx context.Context, in *listClustersInput) (*listClustersOutput, error) {
				p, _ := PrincipalFrom(ctx)
				return &listClustersOutput{ClusterArns: []string{
					"arn:aws:ecs:us-east-1:000000000000:cluster/" + p.ARN,
				}}, nil
			}, nil),
			"DeleteCluster": Op(func(ctx context.Context, in *deleteClusterInput) (*struct{}, error) {
				return nil, awserr.ClusterNotFound("Cluster not found.")
			}, nil),
		},
	})
	upgrader := websocket.Upgrader{}
	s.Route(Route{Pattern: "GET /ws", Auth: []Authenticator{s.SigV4("ecs")}, Timeout: NoTimeout,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cred, _ := PrincipalFrom(r.Context())
			conn, err := upgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			_ = conn.WriteMessage(websocket.TextMessage, []byte(cred.ARN+": "+string(msg)))
		})})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func ecsClient(srv *httptest.Server, key, secret string) *ecs.Client {
	return ecs.New(ecs.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, nil
		}),
	})
}

func TestEndToEndSDK(t *testing.T) {
	srv := e2eServer(t)
	ctx := context.Background()

	out, err := ecsClient(srv, testKey, testSecret).ListClusters(ctx, &ecs.ListClustersInput{MaxResults: aws.Int32(5)})
	if err != nil {
		t.Fatalf("ListClusters: %v", err)
	}
	if len(out.ClusterArns) != 1 || !strings.HasSuffix(out.ClusterArns[0], "/alice") {
		t.Fatalf("ClusterArns = %v", out.ClusterArns)
	}

	// A modeled error is decoded by the SDK into its typed exception.
	_, err = ecsClient(srv, testKey, testSecret).DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("gone")})
	var notFound *types.ClusterNotFoundException
	if !errors.As(err, &notFound) || notFound.ErrorMessage() != "Cluster not found." {
		t.Fatalf("DeleteCluster error = %v, want ClusterNotFoundException", err)
	}
	var respErr *awshttp.ResponseError
	if !errors.As(err, &respErr) || respErr.ServiceRequestID() == "" || respErr.HTTPStatusCode() != 400 {
		t.Fatalf("response error = %v, want request ID and status 400", err)
	}

	tests := []struct {
		name, key, secret, wantCode string
	}{
		{"unknown key", "AKIDNOPE", "x", awserr.CodeUnrecognizedClient},
		{"wrong secret", testKey, "wrong", awserr.CodeInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ecsClient(srv, tt.key, tt.secret).ListClusters(ctx, &ecs.ListClustersInput{})
			var coded interface{ ErrorCode() string }
			if !errors.As(err, &coded) || coded.ErrorCode() != tt.wantCode {
				t.Fatalf("error = %v, want %s", err, tt.wantCode)
			}
		})
	}
}

func TestEndToEndWebsocketPresigned(t *testing.T) {
	srv := e2eServer(t)
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/ws?cluster=default", nil)
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, sha(nil), "ecs", testRegion, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wsURL := "ws" + strings.TrimPrefix(signed, "http")

	conn, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("dial presigned: %v", err)
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := conn.ReadMessage()
	if err != nil || string(msg) != "alice: ping" {
		t.Fatalf("read = %q, %v", msg, err)
	}

	_, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned dial: err=%v res=%v, want 403", err, res)
	}
}
