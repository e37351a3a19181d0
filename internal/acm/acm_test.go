package acm

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acm/types"
)

func (h *harness) importCert(t *testing.T, c *issued, chain []byte, tags ...types.Tag) string {
	t.Helper()
	out, err := h.client.ImportCertificate(t.Context(), &acm.ImportCertificateInput{
		Certificate: c.certPEM, PrivateKey: c.keyPEM, CertificateChain: chain, Tags: tags,
	})
	if err != nil {
		t.Fatalf("ImportCertificate: %v", err)
	}
	return aws.ToString(out.CertificateArn)
}

func tag(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

func TestImportDescribeGetDelete(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	c := newCert(t, certSpec{cn: "www.example.com", dns: []string{"www.example.com", "example.com"}, org: "Example"})
	arn := h.importCert(t, c, nil, tag("env", "prod"))
	if !arnPattern.MatchString(arn) || !strings.HasPrefix(arn, "arn:aws:acm:us-east-1:000000000000:certificate/") {
		t.Fatalf("ARN %q", arn)
	}

	d, err := h.client.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("DescribeCertificate: %v", err)
	}
	got := d.Certificate
	if aws.ToString(got.CertificateArn) != arn || aws.ToString(got.DomainName) != "www.example.com" ||
		!slices.Equal(got.SubjectAlternativeNames, []string{"www.example.com", "example.com"}) ||
		got.Status != types.CertificateStatusIssued || got.Type != types.CertificateTypeImported ||
		got.KeyAlgorithm != types.KeyAlgorithmRsa2048 || aws.ToString(got.Issuer) != "Example" ||
		aws.ToString(got.Serial) != serial(c.cert) || aws.ToString(got.SignatureAlgorithm) != "SHA256WITHRSA" ||
		!got.NotBefore.Equal(c.cert.NotBefore) || !got.NotAfter.Equal(c.cert.NotAfter) ||
		got.ImportedAt == nil || !got.ImportedAt.Equal(testNow) || got.InUseBy == nil || len(got.InUseBy) != 0 {
		t.Fatalf("described %+v", got)
	}
	if len(got.ExtendedKeyUsages) != 1 || got.ExtendedKeyUsages[0].Name != types.ExtendedKeyUsageNameTlsWebServerAuthentication {
		t.Fatalf("extended key usages %+v", got.ExtendedKeyUsages)
	}

	g, err := h.client.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	if aws.ToString(g.Certificate) != string(c.certPEM) || g.CertificateChain != nil {
		t.Fatalf("GetCertificate: %q chain %v", aws.ToString(g.Certificate), g.CertificateChain)
	}

	tags, err := h.client.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" {
		t.Fatalf("ListTagsForCertificate: %+v %v", tags, err)
	}

	if _, err := h.client.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(arn)}); err != nil {
		t.Fatalf("DeleteCertificate: %v", err)
	}
	for name, call := range map[string]func() error{
		"Describe": func() error {
			_, err := h.client.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
			return err
		},
		"Get": func() error {
			_, err := h.client.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(arn)})
			return err
		},
		"Delete": func() error {
			_, err := h.client.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(arn)})
			return err
		},
		"ListTags": func() error {
			_, err := h.client.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: aws.String(arn)})
			return err
		},
	} {
		if err := call(); code(err) != "ResourceNotFoundException" || !strings.Contains(err.Error(), "Could not find certificate "+arn) {
			t.Errorf("%s after delete: %v", name, err)
		}
	}
}

func TestImportWithChainAndKeyTypes(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	ca := newCert(t, certSpec{cn: "Test CA", org: "Berth Test CA", key: "ec384", isCA: true})
	tests := []struct {
		key     string
		alg     types.KeyAlgorithm
		sigAlgo string
	}{
		{"ec256", types.KeyAlgorithmEcPrime256v1, "SHA384WITHECDSA"},
		{"ec384", types.KeyAlgorithmEcSecp384r1, "SHA384WITHECDSA"},
		{"rsa2048", types.KeyAlgorithmRsa2048, "SHA384WITHECDSA"},
		{"ed25519", "", "SHA384WITHECDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			leaf := newCert(t, certSpec{cn: tt.key + ".example.com", key: tt.key, parent: ca})
			arn := h.importCert(t, leaf, ca.certPEM)
			d, err := h.client.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
			if err != nil {
				t.Fatal(err)
			}
			if d.Certificate.KeyAlgorithm != tt.alg || aws.ToString(d.Certificate.Issuer) != "Berth Test CA" ||
				aws.ToString(d.Certificate.SignatureAlgorithm) != tt.sigAlgo ||
				!slices.Equal(d.Certificate.SubjectAlternativeNames, []string{tt.key + ".example.com"}) {
				t.Fatalf("described %+v", d.Certificate)
			}
			g, err := h.client.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(arn)})
			if err != nil || aws.ToString(g.CertificateChain) != string(ca.certPEM) {
				t.Fatalf("GetCertificate chain %q, %v", aws.ToString(g.CertificateChain), err)
			}
			pair, err := h.s.Certificate(ctx, arn)
			if err != nil || len(pair.Certificate) != 2 {
				t.Fatalf("Certificate: %d certs, %v", len(pair.Certificate), err)
			}
		})
	}
}

func TestImportRejects(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	good := newCert(t, certSpec{cn: "good.example.com", key: "ec256"})
	other := newCert(t, certSpec{cn: "other.example.com", key: "ec256"})
	ca := newCert(t, certSpec{cn: "CA", key: "ec256", isCA: true})
	otherCA := newCert(t, certSpec{cn: "Other CA", key: "ec256", isCA: true})
	leaf := newCert(t, certSpec{cn: "leaf.example.com", key: "ec256", parent: ca})
	p224 := newCert(t, certSpec{cn: "p224.example.com", key: "ec224"})
	encrypted := []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")

	tests := []struct {
		name              string
		cert, key, chain  []byte
		code, wantMessage string
	}{
		{"not PEM", []byte("hello"), good.keyPEM, nil, "ValidationException", msgCertParse},
		{"PEM of garbage", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), good.keyPEM, nil, "ValidationException", msgCertParse},
		{"two certificates", append(slices.Clone(good.certPEM), other.certPEM...), good.keyPEM, nil, "ValidationException", msgCertMany},
		{"key of another certificate", good.certPEM, other.keyPEM, nil, "ValidationException", msgKeyMismatch},
		{"key not PEM", good.certPEM, []byte("secret"), nil, "ValidationException", msgKeyParse},
		{"encrypted key", good.certPEM, encrypted, nil, "ValidationException", msgKeyEncrypted},
		{"P-224 key", p224.certPEM, p224.keyPEM, nil, "ValidationException", msgKeyType},
		{"chain not PEM", leaf.certPEM, leaf.keyPEM, []byte("chain"), "ValidationException", msgChainParse},
		{"chain of another CA", leaf.certPEM, leaf.keyPEM, otherCA.certPEM, "ValidationException", msgChainMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.client.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: tt.cert, PrivateKey: tt.key, CertificateChain: tt.chain})
			if code(err) != tt.code || !strings.Contains(err.Error(), tt.wantMessage) {
				t.Fatalf("ImportCertificate: %v, want %s %q", err, tt.code, tt.wantMessage)
			}
		})
	}
	all := []types.KeyAlgorithm{types.KeyAlgorithmRsa2048, types.KeyAlgorithmEcPrime256v1}
	out, err := h.client.ListCertificates(ctx, &acm.ListCertificatesInput{Includes: &types.Filters{KeyTypes: all}})
	if err != nil || len(out.CertificateSummaryList) != 0 {
		t.Fatalf("after refused imports: %+v %v", out, err)
	}
}

func TestReimport(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	first := newCert(t, certSpec{cn: "old.example.com", key: "ec256"})
	arn := h.importCert(t, first, nil, tag("team", "web"))

	h.now = testNow.Add(time.Hour)
	second := newCert(t, certSpec{cn: "new.example.com", key: "ec256"})
	out, err := h.client.ImportCertificate(ctx, &acm.ImportCertificateInput{CertificateArn: aws.String(arn), Certificate: second.certPEM, PrivateKey: second.keyPEM})
	if err != nil || aws.ToString(out.CertificateArn) != arn {
		t.Fatalf("re-import: %+v %v", out, err)
	}
	d, err := h.client.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil || aws.ToString(d.Certificate.DomainName) != "new.example.com" || !d.Certificate.ImportedAt.Equal(h.now) {
		t.Fatalf("after re-import: %+v %v", d, err)
	}
	tags, err := h.client.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil || len(tags.Tags) != 1 {
		t.Fatalf("tags after re-import: %+v %v", tags, err)
	}
	pair, err := h.s.Certificate(ctx, arn)
	if err != nil || !bytes.Equal(pair.Certificate[0], second.cert.Raw) {
		t.Fatalf("Certificate after re-import: %v", err)
	}

	if _, err := h.client.ImportCertificate(ctx, &acm.ImportCertificateInput{CertificateArn: aws.String(arn),
		Certificate: second.certPEM, PrivateKey: second.keyPEM, Tags: []types.Tag{tag("a", "b")}}); code(err) != "ValidationException" {
		t.Fatalf("re-import with tags: %v", err)
	}
	unknown := "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-4000-8000-000000000000"
	if _, err := h.client.ImportCertificate(ctx, &acm.ImportCertificateInput{CertificateArn: aws.String(unknown),
		Certificate: second.certPEM, PrivateKey: second.keyPEM}); code(err) != "ResourceNotFoundException" {
		t.Fatalf("re-import of an unknown ARN: %v", err)
	}
	// A failed re-import leaves the certificate as it was.
	if _, err := h.client.ImportCertificate(ctx, &acm.ImportCertificateInput{CertificateArn: aws.String(arn),
		Certificate: first.certPEM, PrivateKey: second.keyPEM}); code(err) != "ValidationException" {
		t.Fatalf("re-import with a mismatched key: %v", err)
	}
	g, err := h.client.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(arn)})
	if err != nil || aws.ToString(g.Certificate) != string(second.certPEM) {
		t.Fatalf("after a refused re-import: %v", err)
	}
}

func TestListCertificates(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	var rsaARNs []string
	for _, cn := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		rsaARNs = append(rsaARNs, h.importCert(t, newCert(t, certSpec{cn: cn}), nil))
	}
	ecARN := h.importCert(t, newCert(t, certSpec{cn: "ec.example.com", key: "ec256"}), nil)
	expiredARN := h.importCert(t, newCert(t, certSpec{cn: "old.example.com", key: "ec256",
		notBefore: testNow.Add(-48 * time.Hour), notAfter: testNow.Add(-24 * time.Hour)}), nil)

	list := func(in *acm.ListCertificatesInput) []string {
		t.Helper()
		var arns []string
		p := acm.NewListCertificatesPaginator(h.client, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListCertificates: %v", err)
			}
			if in.MaxItems != nil && len(page.CertificateSummaryList) > int(*in.MaxItems) {
				t.Fatalf("page of %d, MaxItems %d", len(page.CertificateSummaryList), *in.MaxItems)
			}
			for _, s := range page.CertificateSummaryList {
				arns = append(arns, aws.ToString(s.CertificateArn))
			}
		}
		slices.Sort(arns)
		return arns
	}
	sorted := func(a ...string) []string { a = slices.Clone(a); slices.Sort(a); return a }

	tests := []struct {
		name string
		in   *acm.ListCertificatesInput
		want []string
	}{
		{"default key types are RSA_1024 and RSA_2048", &acm.ListCertificatesInput{}, sorted(rsaARNs...)},
		{"paged", &acm.ListCertificatesInput{MaxItems: aws.Int32(2)}, sorted(rsaARNs...)},
		{"EC", &acm.ListCertificatesInput{Includes: &types.Filters{KeyTypes: []types.KeyAlgorithm{types.KeyAlgorithmEcPrime256v1}}},
			sorted(ecARN, expiredARN)},
		{"EC issued", &acm.ListCertificatesInput{CertificateStatuses: []types.CertificateStatus{types.CertificateStatusIssued},
			Includes: &types.Filters{KeyTypes: []types.KeyAlgorithm{types.KeyAlgorithmEcPrime256v1}}}, []string{ecARN}},
		{"expired", &acm.ListCertificatesInput{CertificateStatuses: []types.CertificateStatus{types.CertificateStatusExpired},
			Includes: &types.Filters{KeyTypes: []types.KeyAlgorithm{types.KeyAlgorithmEcPrime256v1, types.KeyAlgorithmRsa2048}}}, []string{expiredARN}},
		{"by creation, one a page", &acm.ListCertificatesInput{MaxItems: aws.Int32(1), SortBy: types.SortByCreatedAt, SortOrder: types.SortOrderDescending},
			sorted(rsaARNs...)},
		{"pending validation", &acm.ListCertificatesInput{CertificateStatuses: []types.CertificateStatus{types.CertificateStatusPendingValidation}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := list(tt.in); !slices.Equal(got, tt.want) {
				t.Fatalf("listed %v, want %v", got, tt.want)
			}
		})
	}

	// The summary says what the detail says.
	out, err := h.client.ListCertificates(ctx, &acm.ListCertificatesInput{MaxItems: aws.Int32(1)})
	if err != nil || len(out.CertificateSummaryList) != 1 || out.NextToken == nil {
		t.Fatalf("first page: %+v %v", out, err)
	}
	s := out.CertificateSummaryList[0]
	if s.Status != types.CertificateStatusIssued || s.Type != types.CertificateTypeImported || s.KeyAlgorithm != types.KeyAlgorithmRsa2048 ||
		!strings.HasSuffix(aws.ToString(s.DomainName), ".example.com") || aws.ToBool(s.InUse) {
		t.Fatalf("summary %+v", s)
	}
	if _, err := h.client.ListCertificates(ctx, &acm.ListCertificatesInput{NextToken: aws.String("!!")}); code(err) != "InvalidArgsException" {
		t.Fatalf("bad token: %v", err)
	}
	// Another region has none of them.
	other, err := h.clientIn("eu-west-1").ListCertificates(ctx, &acm.ListCertificatesInput{})
	if err != nil || len(other.CertificateSummaryList) != 0 {
		t.Fatalf("eu-west-1: %+v %v", other, err)
	}
	if _, err := h.clientIn("eu-west-1").DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(ecARN)}); code(err) != "ResourceNotFoundException" {
		t.Fatalf("describe from another region: %v", err)
	}
}

func TestTags(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	arn := h.importCert(t, newCert(t, certSpec{cn: "t.example.com", key: "ec256"}), nil, tag("a", "1"))
	listed := func() map[string]string {
		t.Helper()
		out, err := h.client.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("ListTagsForCertificate: %v", err)
		}
		m := map[string]string{}
		for _, tg := range out.Tags {
			m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		return m
	}
	if _, err := h.client.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: aws.String(arn),
		Tags: []types.Tag{tag("a", "2"), tag("b", "3"), tag("c", "4")}}); err != nil {
		t.Fatalf("AddTagsToCertificate: %v", err)
	}
	if got := listed(); len(got) != 3 || got["a"] != "2" || got["b"] != "3" {
		t.Fatalf("after add: %v", got)
	}
	// A tag named with another value stays; by key alone it goes.
	if _, err := h.client.RemoveTagsFromCertificate(ctx, &acm.RemoveTagsFromCertificateInput{CertificateArn: aws.String(arn),
		Tags: []types.Tag{tag("a", "1"), {Key: aws.String("b")}}}); err != nil {
		t.Fatalf("RemoveTagsFromCertificate: %v", err)
	}
	if got := listed(); len(got) != 2 || got["a"] != "2" || got["c"] != "4" {
		t.Fatalf("after remove: %v", got)
	}

	if _, err := h.client.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: aws.String(arn),
		Tags: []types.Tag{tag("aws:name", "x")}}); code(err) != "InvalidTagException" {
		t.Fatalf("aws: tag: %v", err)
	}
	many := make([]types.Tag, 0, 49)
	for i := range 49 {
		many = append(many, tag("k"+string(rune('A'+i%26))+string(rune('a'+i/26)), "v"))
	}
	if _, err := h.client.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: aws.String(arn), Tags: many}); code(err) != "TooManyTagsException" {
		t.Fatalf("51 tags: %v", err)
	}
	unknown := "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-4000-8000-000000000000"
	if _, err := h.client.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: aws.String(unknown),
		Tags: []types.Tag{tag("a", "b")}}); code(err) != "ResourceNotFoundException" {
		t.Fatalf("unknown ARN: %v", err)
	}
	if _, err := h.client.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: aws.String("arn:aws:acm:us-east-1:000000000000:certificate/nope")}); code(err) != "InvalidArnException" && code(err) != "ValidationException" {
		t.Fatalf("bad ARN: %v", err)
	}
}

func TestCertificateServesTLS(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	ca := newCert(t, certSpec{cn: "CA", key: "ec256", isCA: true, notAfter: time.Now().Add(time.Hour), notBefore: time.Now().Add(-time.Hour)})
	leaf := newCert(t, certSpec{cn: "app.example.com", dns: []string{"app.example.com"}, key: "ec256", parent: ca,
		notAfter: time.Now().Add(time.Hour), notBefore: time.Now().Add(-time.Hour)})
	arn := h.importCert(t, leaf, ca.certPEM)

	pair, err := h.s.Certificate(ctx, arn)
	if err != nil {
		t.Fatalf("Certificate: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "app.example.com"}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET over the imported certificate: %v", err)
	}
	resp.Body.Close()

	unknown := "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-4000-8000-000000000000"
	if _, err := h.s.Certificate(ctx, unknown); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown ARN: %v", err)
	}
	// The ARN's region is the one looked in, whatever the caller's.
	if _, err := h.s.Certificate(ctx, strings.Replace(arn, "us-east-1", "eu-west-1", 1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ARN of another region: %v", err)
	}
	if _, err := h.s.Certificate(ctx, "not-an-arn"); err == nil {
		t.Fatal("a bad ARN gave a certificate")
	}
}

func TestUnsupportedActions(t *testing.T) {
	h := newHarness(t)
	_, err := h.client.RequestCertificate(t.Context(), &acm.RequestCertificateInput{DomainName: aws.String("example.com")})
	if code(err) != "UnsupportedFeatureException" || !strings.Contains(err.Error(), "RequestCertificate") {
		t.Fatalf("RequestCertificate: %v", err)
	}
}
