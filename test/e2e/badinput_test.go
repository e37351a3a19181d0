package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

const targetPrefix = "AmazonEC2ContainerServiceV20141113."

// signing says how a raw request is signed.
type signing int

const (
	signRoot        signing = iota // the server's root credentials, now
	signWrongSecret                // the right key id, the wrong secret
	signUnknownKey                 // a key id the server does not know
	signSkewed                     // right credentials, signed 10 minutes ago
	signNone                       // no Authorization header at all
)

// rawReply is an error reply as it came over the wire.
type rawReply struct {
	status     int
	headerType string // X-Amzn-ErrorType
	Type       string `json:"__type"`
	Message    string `json:"message"`
}

// rawCall sends one awsJson1.1 request with a body the SDK would never
// send, signed (or not) as mode says.
func rawCall(t *testing.T, s *server, target, body string, mode signing) rawReply {
	t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint()+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	creds := aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret}
	when := time.Now()
	switch mode {
	case signWrongSecret:
		creds.SecretAccessKey = "not-the-secret-access-key"
	case signUnknownKey:
		creds = aws.Credentials{AccessKeyID: "AKIAUNKNOWNKEY000000", SecretAccessKey: s.secret}
	case signSkewed:
		when = when.Add(-10 * time.Minute)
	}
	if mode != signNone {
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ecs", region, when); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	reply := rawReply{status: resp.StatusCode, headerType: resp.Header.Get("X-Amzn-ErrorType")}
	if err := json.Unmarshal(raw, &reply); err != nil {
		t.Fatalf("%s: error body is not JSON: %v\n%s", target, err, raw)
	}
	return reply
}

// writeState is everything a bad request could have written, read back.
func writeState(t *testing.T, s *server, cluster string) map[string]any {
	t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	c := s.ecs()
	state := map[string]any{}
	must := func(name string, v any, err error) {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		state[name] = v
	}
	clusters, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
	must("clusters", clusters.ClusterArns, err)
	families, err := c.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{Status: types.TaskDefinitionFamilyStatusAll})
	must("families", families.Families, err)
	defs, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{})
	must("task definitions", defs.TaskDefinitionArns, err)
	running, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster)})
	must("tasks", running.TaskArns, err)
	stopped, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), DesiredStatus: types.DesiredStatusStopped})
	must("stopped tasks", stopped.TaskArns, err)
	tags, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(s.clusterARN(cluster))})
	must("cluster tags", tags.Tags, err)
	return state
}

// TestBadInputs sends requests Berth must refuse, the way AWS does: each
// gets the AWS error name in __type and X-Amzn-ErrorType (and, where the
// CLI or SDK can send it, that client sees the same name), and none of
// them writes anything.
func TestBadInputs(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	srv.createCluster(t, cluster, types.Tag{Key: aws.String("env"), Value: aws.String("test")})
	// With a connected agent a RunTask that slipped through would really
	// place tasks, so "nothing written" is not vacuous.
	srv.startAgent(t, agentOptions{Name: "node-1", Cluster: cluster, CPU: 4096, MemoryMiB: 4096, Zone: "zone-a"})
	def := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(uniqueName(t, "f")), ContainerDefinitions: []types.ContainerDefinition{sleeper("main", true)},
	})
	defARN := aws.ToString(def.TaskDefinitionArn)

	container := `{"name":"c%d","image":"` + appImage + `","memory":32}`
	var eleven []string
	for i := range 11 {
		eleven = append(eleven, fmt.Sprintf(container, i))
	}
	elevenJSON := "[" + strings.Join(eleven, ",") + "]"
	validDef := `{"family":"sneaky","containerDefinitions":[` + fmt.Sprintf(container, 0) + `]}`
	createCluster := `{"clusterName":"sneaky"}`

	tests := []struct {
		name       string
		op         string // operation, or a full X-Amz-Target when it contains a dot
		body       string
		sign       signing
		wantStatus int
		wantType   string
		wantMsg    string // a substring of the message, when it matters
		cli        []string
		sdk        func(context.Context, *ecs.Client) error
	}{
		{name: "unknown operation", op: targetPrefix + "NoSuchThing", body: `{}`,
			wantStatus: 400, wantType: "UnknownOperationException"},
		{name: "malformed JSON", op: "RegisterTaskDefinition", body: `{"family":"sneaky","containerDefinitions":[`,
			wantStatus: 400, wantType: "SerializationException"},
		{name: "missing required family", op: "RegisterTaskDefinition",
			body:       `{"containerDefinitions":[` + fmt.Sprintf(container, 0) + `]}`,
			wantStatus: 400, wantType: "InvalidParameterException", wantMsg: "family"},
		{name: "count 11", op: "RunTask",
			body:       fmt.Sprintf(`{"cluster":%q,"taskDefinition":%q,"count":11}`, cluster, defARN),
			wantStatus: 400, wantType: "InvalidParameterException",
			cli: []string{"ecs", "run-task", "--cluster", cluster, "--task-definition", defARN, "--count", "11"},
			sdk: func(ctx context.Context, c *ecs.Client) error {
				_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String(defARN), Count: aws.Int32(11)})
				return err
			}},
		{name: "family with invalid characters", op: "RegisterTaskDefinition",
			body:       `{"family":"web app!","containerDefinitions":[` + fmt.Sprintf(container, 0) + `]}`,
			wantStatus: 400, wantType: "ClientException", wantMsg: "Family",
			cli: []string{"ecs", "register-task-definition", "--family", "web app!", "--container-definitions", "[" + fmt.Sprintf(container, 0) + "]"}},
		{name: "more than 10 containers", op: "RegisterTaskDefinition",
			body:       `{"family":"sneaky","containerDefinitions":` + elevenJSON + `}`,
			wantStatus: 400, wantType: "ClientException",
			cli: []string{"ecs", "register-task-definition", "--family", "sneaky", "--container-definitions", elevenJSON}},
		{name: "tag key with aws: prefix", op: "CreateCluster",
			body:       `{"clusterName":"sneaky","tags":[{"key":"aws:owner","value":"me"}]}`,
			wantStatus: 400, wantType: "InvalidParameterException",
			cli: []string{"ecs", "create-cluster", "--cluster-name", "sneaky", "--tags", "key=aws:owner,value=me"},
			sdk: func(ctx context.Context, c *ecs.Client) error {
				_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(srv.clusterARN(cluster)),
					Tags: []types.Tag{{Key: aws.String("aws:owner"), Value: aws.String("me")}}})
				return err
			}},
		{name: "unknown cluster", op: "RunTask",
			body:       fmt.Sprintf(`{"cluster":"no-such-cluster","taskDefinition":%q}`, defARN),
			wantStatus: 400, wantType: "ClusterNotFoundException",
			cli: []string{"ecs", "run-task", "--cluster", "no-such-cluster", "--task-definition", defARN},
			sdk: func(ctx context.Context, c *ecs.Client) error {
				_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("no-such-cluster"), TaskDefinition: aws.String(defARN)})
				var typed *types.ClusterNotFoundException
				if err != nil && !errors.As(err, &typed) {
					return fmt.Errorf("not a *types.ClusterNotFoundException: %w", err)
				}
				return err
			}},
		{name: "bad signature", op: "CreateCluster", body: createCluster, sign: signWrongSecret,
			wantStatus: 403, wantType: "InvalidSignatureException"},
		{name: "unknown access key", op: "RegisterTaskDefinition", body: validDef, sign: signUnknownKey,
			wantStatus: 403, wantType: "UnrecognizedClientException"},
		{name: "clock skew", op: "CreateCluster", body: createCluster, sign: signSkewed,
			wantStatus: 403, wantType: "InvalidSignatureException", wantMsg: "Signature expired"},
		{name: "no authentication", op: "RegisterTaskDefinition", body: validDef, sign: signNone,
			wantStatus: 403, wantType: "MissingAuthenticationTokenException"},
	}

	before := writeState(t, srv, cluster)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.op
			if !strings.Contains(target, ".") {
				target = targetPrefix + target
			}
			got := rawCall(t, srv, target, tt.body, tt.sign)
			if got.status != tt.wantStatus || got.Type != tt.wantType || got.headerType != tt.wantType {
				t.Errorf("got HTTP %d, __type %q, X-Amzn-ErrorType %q (message %q); want %d %s",
					got.status, got.Type, got.headerType, got.Message, tt.wantStatus, tt.wantType)
			}
			if !strings.Contains(got.Message, tt.wantMsg) {
				t.Errorf("message %q does not mention %q", got.Message, tt.wantMsg)
			}
			if tt.cli != nil {
				if code := cliError(t, srv, tt.cli...); code != tt.wantType {
					t.Errorf("the AWS CLI saw %s, want %s", code, tt.wantType)
				}
			}
			if tt.sdk != nil {
				ctx, cancel := callCtx()
				defer cancel()
				var apiErr smithy.APIError
				if err := tt.sdk(ctx, srv.ecs()); !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantType {
					t.Errorf("the SDK got %v, want a %s", err, tt.wantType)
				}
			}
			if after := writeState(t, srv, cluster); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused request wrote something:\nbefore %s\nafter  %s", jsonString(before), jsonString(after))
			}
		})
	}
}
