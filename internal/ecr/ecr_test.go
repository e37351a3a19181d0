package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/sigv4"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

const (
	testAccount = "000000000000"
	testRegion  = "us-east-1"
	testKey     = "AKIAECRTESTROOT00001"
	testSecret  = "ecr-test-root-secret"
	testHost    = "127.0.0.1:9320"
)

var testNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// harness is an ECR service behind the real API listener, a registry-like
// route authenticated with its tokens, and an aws-sdk-go-v2 client.
type harness struct {
	s      *Service
	st     *store.Store
	srv    *httptest.Server
	client *ecr.Client
	now    time.Time
	// blobs is the service's blob store; reg a registry handler over
	// RegistryMeta and blobs (requests carry no region: the default one).
	blobs *blob.Memory
	reg   *httptest.Server
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{st: storetest.New(t), now: testNow, blobs: blob.NewMemory(nil)}
	h.s = New(Config{Store: h.st, AccountID: testAccount, Region: testRegion, RegistryHost: testHost, Blobs: h.blobs,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return h.now }})
	h.reg = httptest.NewServer(registry.New(registry.Config{Meta: h.s.RegistryMeta(), Blobs: h.blobs,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return h.now }}))
	t.Cleanup(h.reg.Close)
	apiSrv := api.New(api.Config{
		Verifier: &sigv4.Verifier{Regions: sigv4.RegionList(testRegion, "eu-west-1"), Lookup: func(id string) (sigv4.Credential, bool) {
			return sigv4.Credential{AccessKeyID: testKey, SecretAccessKey: testSecret, Principal: "arn:aws:iam::" + testAccount + ":root"}, id == testKey
		}},
		Authorizer: api.RootAuthorizer{},
		Logger:     slog.New(slog.DiscardHandler),
	})
	apiSrv.Register(h.s.APIService())
	for _, rt := range h.s.VulnDBRoutes(apiSrv.SigV4("ecr")) {
		apiSrv.Route(rt)
	}
	t.Cleanup(h.s.Close) // the scan workers end after the API listener, before the store
	apiSrv.Route(api.Route{Pattern: "GET /v2/", Auth: []api.Authenticator{h.s.RegistryAuth()},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := api.PrincipalFrom(r.Context())
			region, _ := api.RegionFrom(r.Context())
			w.Write([]byte(p.ARN + " " + region))
		})})
	h.srv = httptest.NewServer(apiSrv)
	t.Cleanup(h.srv.Close)
	h.client = h.clientIn(testRegion)
	return h
}

func (h *harness) clientIn(region string) *ecr.Client {
	return ecr.New(ecr.Options{
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

func TestCreateDescribeDeleteRepository(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	out, err := h.client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/web"),
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}})
	if err != nil {
		t.Fatalf("CreateRepository: %v", err)
	}
	r := out.Repository
	if aws.ToString(r.RepositoryArn) != "arn:aws:ecr:us-east-1:000000000000:repository/team/web" ||
		aws.ToString(r.RepositoryUri) != testHost+"/team/web" || aws.ToString(r.RegistryId) != testAccount ||
		r.ImageTagMutability != types.ImageTagMutabilityMutable || r.ImageScanningConfiguration == nil ||
		r.ImageScanningConfiguration.ScanOnPush || r.EncryptionConfiguration == nil ||
		r.EncryptionConfiguration.EncryptionType != types.EncryptionTypeAes256 || r.CreatedAt == nil {
		t.Fatalf("created repository %+v", r)
	}
	if _, err := h.client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/web")}); code(err) != "RepositoryAlreadyExistsException" ||
		!strings.Contains(err.Error(), "The repository with name 'team/web' already exists in the registry with id '000000000000'") {
		t.Fatalf("second CreateRepository: %v", err)
	}
	for _, name := range []string{"app", "zeta", "team"} {
		if _, err := h.client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name),
			ImageTagMutability: types.ImageTagMutabilityImmutable}); err != nil {
			t.Fatalf("CreateRepository(%s): %v", name, err)
		}
	}

	// Paged, in name order.
	var names []string
	p := ecr.NewDescribeRepositoriesPaginator(h.client, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(3)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("DescribeRepositories: %v", err)
		}
		for _, r := range page.Repositories {
			names = append(names, aws.ToString(r.RepositoryName))
		}
	}
	if got := strings.Join(names, ","); got != "app,team,team/web,zeta" {
		t.Fatalf("DescribeRepositories pages = %s", got)
	}
	byName, err := h.client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"zeta", "app"}})
	if err != nil || len(byName.Repositories) != 2 || aws.ToString(byName.Repositories[0].RepositoryName) != "zeta" ||
		byName.Repositories[1].ImageTagMutability != types.ImageTagMutabilityImmutable {
		t.Fatalf("DescribeRepositories by name: %v %+v", err, byName)
	}
	if _, err := h.client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"app", "nope"}}); code(err) != "RepositoryNotFoundException" ||
		!strings.Contains(err.Error(), "The repository with name 'nope' does not exist in the registry with id '000000000000'") {
		t.Fatalf("DescribeRepositories of a missing one: %v", err)
	}
	// Regions are apart.
	if other, err := h.clientIn("eu-west-1").DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}); err != nil || len(other.Repositories) != 0 {
		t.Fatalf("eu-west-1 DescribeRepositories: %v %+v", err, other)
	}

	// A repository with images is deleted only with force.
	err = h.st.WithNamespace("/berth/"+testAccount+"/"+testRegion).Update(ctx, func(tx *store.Tx) error {
		store.Put(tx, images, imagePrefix("team")+"sha256:aa", imageRecord{Digest: "sha256:aa"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team")}); code(err) != "RepositoryNotEmptyException" {
		t.Fatalf("DeleteRepository of a repository with images: %v", err)
	}
	if _, err := h.client.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team/web")}); err != nil {
		t.Fatalf("DeleteRepository of team/web (its name extends a repository with images): %v", err)
	}
	del, err := h.client.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team"), Force: true})
	if err != nil || aws.ToString(del.Repository.RepositoryName) != "team" {
		t.Fatalf("DeleteRepository --force: %v %+v", err, del)
	}
	if _, err := h.client.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team")}); code(err) != "RepositoryNotFoundException" {
		t.Fatalf("DeleteRepository of a deleted one: %v", err)
	}
	var left []imageRecord
	_ = h.st.WithNamespace("/berth/"+testAccount+"/"+testRegion).View(ctx, func(tx *store.Tx) (err error) {
		left, err = store.List(tx, images, "")
		return err
	})
	if len(left) != 0 {
		t.Fatalf("images left after a forced delete: %v", left)
	}
}

// Bad input is refused in ECR's words and writes nothing.
func TestCreateRepositoryRefusals(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name string
		in   ecr.CreateRepositoryInput
		code string
	}{
		{"upper case", ecr.CreateRepositoryInput{RepositoryName: aws.String("Web")}, "InvalidParameterException"},
		{"too short", ecr.CreateRepositoryInput{RepositoryName: aws.String("a")}, "InvalidParameterException"},
		{"traversal", ecr.CreateRepositoryInput{RepositoryName: aws.String("a/../b")}, "InvalidParameterException"},
		{"bad mutability", ecr.CreateRepositoryInput{RepositoryName: aws.String("web"), ImageTagMutability: "SOMETIMES"}, "InvalidParameterException"},
		{"KMS", ecr.CreateRepositoryInput{RepositoryName: aws.String("web"), EncryptionConfiguration: &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms}}, "UnsupportedFeatureException"},
		{"aws: tag", ecr.CreateRepositoryInput{RepositoryName: aws.String("web"), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}}, "InvalidTagParameterException"},
		{"other registry", ecr.CreateRepositoryInput{RepositoryName: aws.String("web"), RegistryId: aws.String("123456789012")}, "InvalidParameterException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := h.client.CreateRepository(t.Context(), &c.in); code(err) != c.code {
				t.Fatalf("CreateRepository: %v, want %s", err, c.code)
			}
		})
	}
	if out, err := h.client.DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{}); err != nil || len(out.Repositories) != 0 {
		t.Fatalf("after refusals: %v %+v", err, out)
	}
}

func TestRepositorySettingsPoliciesAndTags(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	created, err := h.client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	arn := created.Repository.RepositoryArn
	if _, err := h.client.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("web"), ImageTagMutability: types.ImageTagMutabilityImmutable}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.PutImageScanningConfiguration(ctx, &ecr.PutImageScanningConfigurationInput{RepositoryName: aws.String("web"),
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true}}); err != nil {
		t.Fatal(err)
	}
	d, _ := h.client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"web"}})
	if r := d.Repositories[0]; r.ImageTagMutability != types.ImageTagMutabilityImmutable || !r.ImageScanningConfiguration.ScanOnPush {
		t.Fatalf("settings not kept: %+v", r)
	}

	if _, err := h.client.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("web")}); code(err) != "RepositoryPolicyNotFoundException" {
		t.Fatalf("GetRepositoryPolicy with none: %v", err)
	}
	if _, err := h.client.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("web"), PolicyText: aws.String("{nope")}); code(err) != "InvalidParameterException" {
		t.Fatalf("SetRepositoryPolicy of bad JSON: %v", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`
	if _, err := h.client.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("web"), PolicyText: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if got, err := h.client.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("web")}); err != nil || aws.ToString(got.PolicyText) != policy {
		t.Fatalf("GetRepositoryPolicy: %v %+v", err, got)
	}
	if got, err := h.client.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String("web")}); err != nil || aws.ToString(got.PolicyText) != policy {
		t.Fatalf("DeleteRepositoryPolicy: %v %+v", err, got)
	}

	lifecycle := `{"rules":[{"rulePriority":1,"description":"keep 10 tagged","selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}},` +
		`{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`
	if _, err := h.client.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("web"), LifecyclePolicyText: aws.String(lifecycle)}); err != nil {
		t.Fatal(err)
	}
	if got, err := h.client.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("web")}); err != nil || aws.ToString(got.LifecyclePolicyText) != lifecycle {
		t.Fatalf("GetLifecyclePolicy: %v %+v", err, got)
	}
	if _, err := h.client.DeleteLifecyclePolicy(ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("web")}); code(err) != "LifecyclePolicyNotFoundException" {
		t.Fatalf("GetLifecyclePolicy after delete: %v", err)
	}

	if _, err := h.client.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.UntagResource(ctx, &ecr.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := h.client.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "b" {
		t.Fatalf("ListTagsForResource: %v %+v", err, tags)
	}
	if _, err := h.client.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecr:us-east-1:000000000000:repository/none")}); code(err) != "RepositoryNotFoundException" {
		t.Fatalf("ListTagsForResource of a missing repository: %v", err)
	}
	if _, err := h.client.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:000000000000:cluster/x")}); code(err) != "InvalidParameterException" {
		t.Fatalf("ListTagsForResource of another service's ARN: %v", err)
	}
}

func TestParseLifecyclePolicy(t *testing.T) {
	rule := func(prio int, sel string) string {
		return `{"rulePriority":` + strconv.Itoa(prio) + `,"selection":` + sel + `,"action":{"type":"expire"}}`
	}
	tagged := `{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":3}`
	anySel := `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3}`
	cases := []struct {
		name, text string
		ok         bool
	}{
		{"one rule", `{"rules":[` + rule(1, tagged) + `]}`, true},
		{"any last", `{"rules":[` + rule(1, tagged) + `,` + rule(5, anySel) + `]}`, true},
		{"any not last", `{"rules":[` + rule(9, tagged) + `,` + rule(5, anySel) + `]}`, false},
		{"no rules", `{"rules":[]}`, false},
		{"same priority", `{"rules":[` + rule(1, tagged) + `,` + rule(1, anySel) + `]}`, false},
		{"tagged without prefixes", `{"rules":[` + rule(1, `{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":3}`) + `]}`, false},
		{"untagged with prefixes", `{"rules":[` + rule(1, `{"tagStatus":"untagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":3}`) + `]}`, false},
		{"days without unit", `{"rules":[` + rule(1, `{"tagStatus":"any","countType":"sinceImagePushed","countNumber":3}`) + `]}`, false},
		{"count with unit", `{"rules":[` + rule(1, `{"tagStatus":"any","countType":"imageCountMoreThan","countUnit":"days","countNumber":3}`) + `]}`, false},
		{"zero count", `{"rules":[` + rule(1, `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":0}`) + `]}`, false},
		{"not JSON", `rules`, false},
		{"patterns", `{"rules":[` + rule(1, `{"tagStatus":"tagged","tagPatternList":["*test*1*2*3","prod*"],"countType":"imageCountMoreThan","countNumber":3}`) + `]}`, true},
		{"five wildcards", `{"rules":[` + rule(1, `{"tagStatus":"tagged","tagPatternList":["*a*b*c*d*"],"countType":"imageCountMoreThan","countNumber":3}`) + `]}`, false},
		{"prefixes and patterns", `{"rules":[` + rule(1, `{"tagStatus":"tagged","tagPrefixList":["v"],"tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":3}`) + `]}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseLifecyclePolicy(c.text)
			if (err == nil) != c.ok {
				t.Fatalf("ParseLifecyclePolicy = %v, want ok %v", err, c.ok)
			}
		})
	}
}

// docker login's password works on the registry route for 12 hours, in
// the token's region; anything else gets 401 with a Basic challenge.
func TestAuthorizationToken(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	tok, err := h.clientIn("eu-west-1").GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(tok.AuthorizationData) != 1 {
		t.Fatalf("GetAuthorizationToken: %v %+v", err, tok)
	}
	ad := tok.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	user, password, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok || user != "AWS" || strings.Contains(password, ":") {
		t.Fatalf("token %q: want base64(AWS:<password without colons>)", raw)
	}
	if !ad.ExpiresAt.Equal(testNow.Add(12*time.Hour)) || aws.ToString(ad.ProxyEndpoint) != "http://"+testHost {
		t.Fatalf("expiresAt %v proxyEndpoint %s", ad.ExpiresAt, aws.ToString(ad.ProxyEndpoint))
	}

	get := func(user, password string) (int, string, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/v2/", nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := res.Body.Read(buf)
		b.Write(buf[:n])
		return res.StatusCode, b.String(), res.Header.Get("WWW-Authenticate")
	}
	if status, body, _ := get("AWS", password); status != 200 || body != "arn:aws:iam::000000000000:root eu-west-1" {
		t.Fatalf("with the token: %d %q", status, body)
	}
	for name, c := range map[string][2]string{
		"no credentials": {"", ""},
		"wrong user":     {"root", password},
		"tampered":       {"AWS", strings.Replace(password, "berth1.e", "berth1.f", 1)},
		"garbage":        {"AWS", "berth1.x.y"},
	} {
		if status, _, challenge := get(c[0], c[1]); status != 401 || !strings.HasPrefix(challenge, "Basic ") {
			t.Errorf("%s: %d, challenge %q; want 401 with a Basic challenge", name, status, challenge)
		}
	}
	h.now = testNow.Add(12 * time.Hour)
	if status, _, challenge := get("AWS", password); status != 401 || challenge == "" {
		t.Fatalf("expired token: %d %q", status, challenge)
	}

	// Another server on the same etcd verifies the token with the same key.
	other := New(Config{Store: h.st, AccountID: testAccount, Region: testRegion, RegistryHost: testHost, Now: func() time.Time { return testNow }})
	key, err := other.signingKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c, err := verifyToken(key, password, testNow); err != nil || c.Region != "eu-west-1" || c.AccessKeyID != testKey {
		t.Fatalf("verify on another server: %v %+v", err, c)
	}
}
