package elb

import (
	"errors"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/sigv4"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

const (
	testAccount = "000000000000"
	testRegion  = "us-east-1"
	testKey     = "AKIAELBTESTROOT00001"
	testSecret  = "elb-test-root-secret"
)

// harness is an ELB service behind the real API listener and an
// aws-sdk-go-v2 client. Tests that need more of Config set it in cfg
// before newHarnessWith.
type harness struct {
	s      *Service
	st     *store.Store
	srv    *httptest.Server
	client *elasticloadbalancingv2.Client
	now    time.Time
}

func newHarness(t *testing.T) *harness { return newHarnessWith(t, Config{}) }

func newHarnessWith(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{st: storetest.New(t), now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	cfg.Store, cfg.AccountID, cfg.Region = h.st, testAccount, testRegion
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return h.now }
	}
	h.s = New(cfg)
	apiSrv := api.New(api.Config{
		Verifier: &sigv4.Verifier{Regions: sigv4.RegionList(testRegion, "eu-west-1"), Lookup: func(id string) (sigv4.Credential, bool) {
			return sigv4.Credential{AccessKeyID: testKey, SecretAccessKey: testSecret, Principal: "arn:aws:iam::" + testAccount + ":root"}, id == testKey
		}},
		Authorizer: api.RootAuthorizer{},
		Logger:     slog.New(slog.DiscardHandler),
	})
	apiSrv.Register(h.s.APIService())
	h.srv = httptest.NewServer(apiSrv)
	t.Cleanup(h.srv.Close)
	h.client = h.clientIn(testRegion)
	return h
}

func (h *harness) clientIn(region string) *elasticloadbalancingv2.Client {
	return elasticloadbalancingv2.New(elasticloadbalancingv2.Options{
		Region: region, BaseEndpoint: aws.String(h.srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
	})
}

// code is the AWS error code of err ("" for none).
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
