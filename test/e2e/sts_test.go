package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// boto3Script calls STS GetCallerIdentity with boto3 and prints the
// identity, or the error code and HTTP status, as JSON.
const boto3Script = `
import json, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
c = boto3.client("sts", endpoint_url=sys.argv[1], region_name=sys.argv[2],
    aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4],
    config=Config(retries={"max_attempts": 1}))
try:
    r = c.get_caller_identity()
    print(json.dumps({k: r[k] for k in ("UserId", "Account", "Arn")}))
except ClientError as e:
    print(json.dumps({"Code": e.response["Error"]["Code"], "Status": str(e.response["ResponseMetadata"]["HTTPStatusCode"])}))
`

// boto3Call runs boto3Script against s. A machine without boto3 fails the
// test: scripts/deps.sh installs it (python3-boto3).
func boto3Call(t *testing.T, s *server, secret string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, boto3Python(t), "-c", boto3Script, s.endpoint(), region, s.keyID, secret)
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 boto3 GetCallerIdentity: %v\n%s", err, errb.String())
	}
	var v map[string]string
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("boto3 output is not JSON: %v\n%s", err, out.String())
	}
	return v
}

// boto3Python is the python3 on PATH if it has boto3, else Debian's
// /usr/bin/python3 if it does (python3-boto3, which scripts/deps.sh
// installs). Neither is a failure, never a skip.
func boto3Python(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import boto3").Run() == nil {
			return py
		}
	}
	t.Fatal("boto3 is missing: neither python3 on PATH nor /usr/bin/python3 can import it; " +
		"run ./scripts/test (it installs python3-boto3) or apt-get install python3-boto3")
	return ""
}

// queryReply is an awsQuery error reply as it came over the wire.
type queryReply struct {
	status    int
	NS        string `xml:"xmlns,attr"`
	Type      string `xml:"Error>Type"`
	Code      string `xml:"Error>Code"`
	Message   string `xml:"Error>Message"`
	RequestID string `xml:"RequestId"`
}

// rawQuery sends one STS form POST the CLI would never send, signed as
// mode says, and decodes the XML error it must get.
func rawQuery(t *testing.T, s *server, form string, mode signing) queryReply {
	t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint()+"/", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds := aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret}
	if mode == signWrongSecret {
		creds.SecretAccessKey = "not-the-secret-access-key"
	}
	if mode != signNone {
		sum := sha256.Sum256([]byte(form))
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sts", region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", form, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	reply := queryReply{status: resp.StatusCode}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
		t.Errorf("%s: Content-Type %q, want text/xml", form, ct)
	}
	if err := xml.Unmarshal(raw, &reply); err != nil {
		t.Fatalf("%s: error body is not XML: %v\n%s", form, err, raw)
	}
	if reply.RequestID == "" || reply.RequestID != resp.Header.Get("X-Amzn-RequestId") {
		t.Errorf("%s: RequestId %q, header %q", form, reply.RequestID, resp.Header.Get("X-Amzn-RequestId"))
	}
	return reply
}

// TestSTSGetCallerIdentity: Berth's first awsQuery service answers the AWS
// CLI v2 and boto3 alike, with what AWS answers for root credentials, on
// the same listener as ECS's awsJson; bad requests get AWS's XML errors.
func TestSTSGetCallerIdentity(t *testing.T) {
	srv := startServer(t, serverOptions{})
	want := map[string]string{"UserId": accountID, "Account": accountID, "Arn": "arn:aws:iam::" + accountID + ":root"}

	var cli map[string]string
	cliJSON(t, srv, &cli, "sts", "get-caller-identity")
	if !equalMaps(cli, want) {
		t.Errorf("aws sts get-caller-identity = %v, want %v", cli, want)
	}
	if py := boto3Call(t, srv, srv.secret); !equalMaps(py, cli) {
		t.Errorf("boto3 get_caller_identity = %v, the CLI said %v", py, cli)
	}

	// ECS's awsJson still works beside it, on the same endpoint.
	ctx, cancel := callCtx()
	defer cancel()
	if _, err := srv.ecs().ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
		t.Fatalf("ECS ListClusters beside STS: %v", err)
	}

	t.Run("wrong secret", func(t *testing.T) {
		bad := *srv
		bad.secret = "not-the-secret-access-key"
		if code := cliError(t, &bad, "sts", "get-caller-identity"); code != "SignatureDoesNotMatch" {
			t.Errorf("CLI error = %s, want SignatureDoesNotMatch", code)
		}
		if py := boto3Call(t, srv, bad.secret); py["Code"] != "SignatureDoesNotMatch" || py["Status"] != "403" {
			t.Errorf("boto3 error = %v, want SignatureDoesNotMatch 403", py)
		}
		r := rawQuery(t, srv, "Action=GetCallerIdentity&Version=2011-06-15", signWrongSecret)
		if r.status != 403 || r.Code != "SignatureDoesNotMatch" || r.Type != "Sender" {
			t.Errorf("raw reply = %+v, want 403 Sender SignatureDoesNotMatch", r)
		}
	})
	tests := []struct {
		name, form string
		mode       signing
		status     int
		code, msg  string
	}{
		{"unknown action", "Action=GetCallerSecrets&Version=2011-06-15", signRoot, 400, "InvalidAction",
			"Could not find operation GetCallerSecrets for version 2011-06-15"},
		{"missing version", "Action=GetCallerIdentity", signRoot, 400, "InvalidAction",
			"Could not find operation GetCallerIdentity for version NO_VERSION_SPECIFIED"},
		{"missing action", "Version=2011-06-15", signRoot, 400, "MissingAction", ""},
		{"not implemented yet", "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A000000000000%3Arole%2Fr&RoleSessionName=s",
			signRoot, 400, "InvalidAction", "Berth does not implement the STS action AssumeRole yet."},
		{"unsigned", "Action=GetCallerIdentity&Version=2011-06-15", signNone, 403, "MissingAuthenticationToken", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rawQuery(t, srv, tt.form, tt.mode)
			if r.status != tt.status || r.Code != tt.code || !strings.Contains(r.Message, tt.msg) ||
				r.NS != "https://sts.amazonaws.com/doc/2011-06-15/" {
				t.Errorf("reply = %+v, want %d %s containing %q", r, tt.status, tt.code, tt.msg)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
