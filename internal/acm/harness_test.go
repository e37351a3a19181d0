package acm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/smithy-go"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/sigv4"
	"github.com/berth-dev/berth/internal/elb"
	"github.com/berth-dev/berth/internal/store/storetest"
)

const (
	testAccount = "000000000000"
	testRegion  = "us-east-1"
	testKey     = "AKIAACMTESTROOT00001"
	testSecret  = "acm-test-root-secret"
)

var testNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// harness is an ACM service behind the real API listener and an
// aws-sdk-go-v2 client.
type harness struct {
	s      *Service
	srv    *httptest.Server
	client *acm.Client
	now    time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{now: testNow}
	h.s = New(Config{Store: storetest.New(t), AccountID: testAccount, Region: testRegion,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return h.now }})
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

func (h *harness) clientIn(region string) *acm.Client {
	return acm.New(acm.Options{
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

// certSpec describes a test certificate.
type certSpec struct {
	cn        string
	dns       []string
	key       string // "rsa2048" (default), "ec256", "ec384", "ed25519", "ec224"
	notBefore time.Time
	notAfter  time.Time
	isCA      bool
	org       string
	// parent signs the certificate (self-signed when nil).
	parent *issued
}

// issued is a generated certificate and its key.
type issued struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

func newKey(t *testing.T, kind string) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case "", "rsa2048":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ec256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ec384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ec224":
		k, err = ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serialCounter int64 = 0x1000

func newCert(t *testing.T, spec certSpec) *issued {
	t.Helper()
	key := newKey(t, spec.key)
	if spec.notBefore.IsZero() {
		spec.notBefore = testNow.Add(-time.Hour)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = testNow.Add(365 * 24 * time.Hour)
	}
	serialCounter++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serialCounter),
		Subject:      pkix.Name{CommonName: spec.cn, Organization: nonEmpty(spec.org)},
		DNSNames:     spec.dns,
		NotBefore:    spec.notBefore,
		NotAfter:     spec.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if spec.isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = nil
	}
	parent, signer := tmpl, key
	if spec.parent != nil {
		parent, signer = spec.parent.cert, spec.parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{
		cert: cert, key: key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// The ELB service takes its listener certificates from this one.
var _ elb.CertificateSource = (*Service)(nil)
