package sts

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdksts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

const (
	account = "123456789012"
	rootKey = "AKIASTSTESTROOT00001"
	secret  = "sts-test-secret"
)

// newServer is the real listener with STS on it, signed by the root key.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	root := sigv4.Credential{AccessKeyID: rootKey, SecretAccessKey: secret, Principal: "arn:aws:iam::" + account + ":root"}
	s := api.New(api.Config{
		Verifier: &sigv4.Verifier{
			Regions: sigv4.AnyRegion,
			Lookup:  func(id string) (sigv4.Credential, bool) { return root, id == rootKey },
		},
		Authorizer: api.RootAuthorizer{},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	s.Register(New(Config{AccountID: account}).APIService())
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func client(srv *httptest.Server, key, sec string) *sdksts.Client {
	return sdksts.New(sdksts.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
		Credentials:  credentials.NewStaticCredentialsProvider(key, sec, ""),
	})
}

func TestGetCallerIdentityWithTheSDK(t *testing.T) {
	srv := newServer(t)
	out, err := client(srv, rootKey, secret).GetCallerIdentity(context.Background(), &sdksts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if aws.ToString(out.UserId) != account || aws.ToString(out.Account) != account ||
		aws.ToString(out.Arn) != "arn:aws:iam::"+account+":root" {
		t.Fatalf("identity = %s %s %s", aws.ToString(out.UserId), aws.ToString(out.Account), aws.ToString(out.Arn))
	}
}

// TestPresignedGetCallerIdentity is what EKS tokens and Vault's AWS auth do:
// a presigned GET that someone else sends.
func TestPresignedGetCallerIdentity(t *testing.T) {
	srv := newServer(t)
	pre, err := sdksts.NewPresignClient(client(srv, rootKey, secret)).PresignGetCallerIdentity(context.Background(), &sdksts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(pre.Method, pre.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = pre.SignedHeader
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), "<UserId>"+account+"</UserId>") {
		t.Fatalf("%s %d: %s", pre.Method, res.StatusCode, body)
	}
}

func TestSTSErrorsWithTheSDK(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name, key, secret, code string
		call                    func(*sdksts.Client) error
	}{
		{"not implemented", rootKey, secret, "InvalidAction", func(c *sdksts.Client) error {
			_, err := c.AssumeRole(context.Background(), &sdksts.AssumeRoleInput{
				RoleArn: aws.String("arn:aws:iam::" + account + ":role/r"), RoleSessionName: aws.String("s")})
			return err
		}},
		{"wrong secret", rootKey, "wrong", "SignatureDoesNotMatch", func(c *sdksts.Client) error {
			_, err := c.GetCallerIdentity(context.Background(), &sdksts.GetCallerIdentityInput{})
			return err
		}},
		{"unknown key", "AKIAUNKNOWN000000000", secret, "InvalidClientTokenId", func(c *sdksts.Client) error {
			_, err := c.GetCallerIdentity(context.Background(), &sdksts.GetCallerIdentityInput{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(client(srv, tt.key, tt.secret))
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.code {
				t.Fatalf("error = %v, want %s", err, tt.code)
			}
		})
	}
}

func TestGetCallerIdentityPrincipals(t *testing.T) {
	s := New(Config{AccountID: account})
	tests := []struct {
		name                 string
		ctx                  context.Context
		userID, acct, arnOut string
	}{
		{"root", api.WithPrincipal(context.Background(), api.Principal{ARN: "arn:aws:iam::" + account + ":root", AccessKeyID: rootKey}),
			account, account, "arn:aws:iam::" + account + ":root"},
		{"user", api.WithPrincipal(context.Background(), api.Principal{ARN: "arn:aws:iam::" + account + ":user/alice", AccessKeyID: "AKIAALICE"}),
			"AKIAALICE", account, "arn:aws:iam::" + account + ":user/alice"},
		{"no principal", context.Background(), account, account, "arn:aws:iam::" + account + ":root"},
	}
	for _, tt := range tests {
		out, err := s.GetCallerIdentity(tt.ctx, nil)
		if err != nil || aws.ToString(out.UserId) != tt.userID || aws.ToString(out.Account) != tt.acct || aws.ToString(out.Arn) != tt.arnOut {
			t.Errorf("%s: %+v, %v", tt.name, out, err)
		}
	}
}
