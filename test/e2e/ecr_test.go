package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth-dev/berth/internal/registry/conformance"
)

// dockerTimeout bounds one docker or skopeo command (a build, push or pull
// of a few MB on loopback).
const dockerTimeout = 3 * time.Minute

// ecrRepository is the CLI's view of a repository.
type ecrRepository struct {
	RepositoryName, RepositoryUri, RepositoryArn, RegistryId, ImageTagMutability string
}

// createECRRepository creates a repository named name-<unique> with the AWS
// CLI and returns it.
func createECRRepository(t *testing.T, s *server, name string) ecrRepository {
	t.Helper()
	var out struct{ Repository ecrRepository }
	cliJSON(t, s, &out, "ecr", "create-repository", "--repository-name", name)
	r := out.Repository
	if r.RepositoryName != name || r.RepositoryUri != s.addr+"/"+name {
		t.Fatalf("create-repository %s: %+v, want repositoryUri %s/%s", name, r, s.addr, name)
	}
	return r
}

// ecrRepoName is a repository name unique to this test and run (ECR names
// are lower case).
func ecrRepoName(t *testing.T, prefix string) string {
	return strings.ToLower(uniqueName(t, prefix))
}

// loginPassword is `aws ecr get-login-password`.
func loginPassword(t *testing.T, s *server) string {
	t.Helper()
	pw := strings.TrimSpace(string(awsCLI(t, s, "ecr", "get-login-password")))
	if pw == "" || strings.Contains(pw, ":") {
		t.Fatalf("get-login-password printed %q", pw)
	}
	return pw
}

// TestECROCIConformance runs the OCI conformance suite, all four
// workflows, against a real berth server: its repositories made with
// `aws ecr create-repository`, its credentials those of
// `aws ecr get-login-password` (user AWS), as docker would log in.
func TestECROCIConformance(t *testing.T) {
	s := startServer(t, serverOptions{})
	repo1 := createECRRepository(t, s, ecrRepoName(t, "conformance/one"))
	repo2 := createECRRepository(t, s, ecrRepoName(t, "conformance/two"))
	conformance.Test(t, conformance.Target{
		Registry: s.addr,
		Repo1:    repo1.RepositoryName,
		Repo2:    repo2.RepositoryName,
		Username: "AWS",
		Password: loginPassword(t, s),
	})
}

// dockerCmd runs the docker CLI with its own client configuration dir (so
// logins stay in the test) and returns its combined output.
func dockerCmd(t *testing.T, config, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(childEnv(), "DOCKER_CONFIG="+config, "DOCKER_BUILDKIT=0")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustDocker runs docker and fails t when it fails.
func mustDocker(t *testing.T, config, stdin string, args ...string) string {
	t.Helper()
	out, err := dockerCmd(t, config, stdin, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// imageID is the local image id of ref.
func imageID(t *testing.T, config, ref string) string {
	t.Helper()
	return strings.TrimSpace(mustDocker(t, config, "", "image", "inspect", "--format", "{{.Id}}", ref))
}

// buildLayeredImage builds, with `docker build` from a context directory,
// an image of the test busybox plus two layers of fresh random content (so
// nothing is in the registry yet), tagged ref; docker rmi's it when t ends.
func buildLayeredImage(t *testing.T, config, ref string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"Dockerfile": []byte("FROM " + busyboxImage + "\nCOPY one.bin /data/one.bin\nCOPY two.bin /data/two.bin\n" +
			"CMD [\"sleep\", \"3600\"]\n"),
		"one.bin": randomBytes(t, 512<<10),
		"two.bin": randomBytes(t, 1<<20),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustDocker(t, config, "", "build", "-q", "-t", ref, dir)
	t.Cleanup(func() { _, _ = dockerCmd(t, config, "", "rmi", "-f", ref) })
}

// lastLine is the last non-empty line of a command's output (docker's
// error, after its progress).
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestECRDockerPushPull is the registry as a person uses it with the docker
// CLI: create a repository with the AWS CLI, log in with
// `aws ecr get-login-password | docker login`, push a multi-layer image to
// its repositoryUri, remove it locally, pull it back (same image id); a
// wrong password cannot log in, a push to an unknown repository fails with
// "name unknown", and an immutable tag cannot be pushed again.
func TestECRDockerPushPull(t *testing.T) {
	s := startServer(t, serverOptions{})
	config := t.TempDir()

	// Without credentials: the 401 that makes docker log in, in the OCI form.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint()+"/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ociErr struct{ Errors []struct{ Code string } }
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Basic realm=`) ||
		json.Unmarshal(body, &ociErr) != nil || len(ociErr.Errors) != 1 || ociErr.Errors[0].Code != "UNAUTHORIZED" {
		t.Fatalf("GET /v2/ without credentials: %d, WWW-Authenticate %q, body %s; want 401, a Basic challenge, UNAUTHORIZED",
			resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}

	if out, err := dockerCmd(t, config, "not-a-token\n", "login", "--username", "AWS", "--password-stdin", s.addr); err == nil {
		t.Fatalf("docker login with a wrong password succeeded:\n%s", out)
	} else if !strings.Contains(strings.ToLower(out), "unauthorized") {
		t.Errorf("docker login with a wrong password: %s, want it to say unauthorized", out)
	} else {
		t.Logf("docker login with a wrong password: %s", strings.TrimSpace(out))
	}
	mustDocker(t, config, loginPassword(t, s)+"\n", "login", "--username", "AWS", "--password-stdin", s.addr)

	repo := createECRRepository(t, s, ecrRepoName(t, "team/app"))
	ref := repo.RepositoryUri + ":v1"
	buildLayeredImage(t, config, ref)
	want := imageID(t, config, ref)
	pushed := pushedDigest(t, mustDocker(t, config, "", "push", ref))
	checkECRImage(t, s, repo.RepositoryName, pushed, "v1")
	checkSigV4TagList(t, s, repo.RepositoryName, "v1")
	mustDocker(t, config, "", "rmi", ref)
	if _, err := dockerCmd(t, config, "", "image", "inspect", ref); err == nil {
		t.Fatalf("%s is still there after docker rmi", ref)
	}
	mustDocker(t, config, "", "pull", ref)
	if got := imageID(t, config, ref); got != want {
		t.Errorf("pulled image id %s, pushed %s", got, want)
	}

	// A repository nobody created.
	missing := s.addr + "/" + ecrRepoName(t, "nobody/made") + ":v1"
	mustDocker(t, config, "", "tag", ref, missing)
	t.Cleanup(func() { _, _ = dockerCmd(t, config, "", "rmi", missing) })
	if out, err := dockerCmd(t, config, "", "push", missing); err == nil {
		t.Errorf("docker push to a repository nobody created succeeded:\n%s", out)
	} else if !strings.Contains(out, "name unknown") {
		t.Errorf("docker push to an unknown repository: %s, want NAME_UNKNOWN's \"name unknown\"", out)
	} else {
		t.Logf("docker push to an unknown repository: %s", lastLine(out))
	}

	// An immutable tag cannot name another image.
	awsCLI(t, s, "ecr", "put-image-tag-mutability", "--repository-name", repo.RepositoryName, "--image-tag-mutability", "IMMUTABLE")
	buildLayeredImage(t, config, ref) // new random layers: another image, same tag
	if got := imageID(t, config, ref); got == want {
		t.Fatalf("the rebuilt image has the same id %s", got)
	}
	if out, err := dockerCmd(t, config, "", "push", ref); err == nil {
		t.Errorf("re-push of immutable tag %s succeeded:\n%s", ref, out)
	} else if !strings.Contains(out, "tag invalid") {
		t.Errorf("re-push of an immutable tag: %s, want TAG_INVALID's \"tag invalid\"", out)
	} else {
		t.Logf("re-push of an immutable tag: %s", lastLine(out))
	}
	checkECRImage(t, s, repo.RepositoryName, pushed, "v1") // v1 still names the first image
}

// checkSigV4TagList lists repo's tags through /v2/ with a request SigV4-signed
// (service ecr) with the root credentials, the registry's other scheme.
func checkSigV4TagList(t *testing.T, s *server, repo, tag string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint()+"/v2/"+repo+"/tags/list", nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), "ecr", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tags struct {
		Name string
		Tags []string
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tags) != nil || tags.Name != repo ||
		len(tags.Tags) != 1 || tags.Tags[0] != tag {
		t.Errorf("SigV4-signed GET /v2/%s/tags/list: %d %s, want 200 and tag %s", repo, resp.StatusCode, body, tag)
	}
}

// pushDigestRE finds the manifest digest in docker push's last line
// ("v1: digest: sha256:... size: 945").
var pushDigestRE = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

func pushedDigest(t *testing.T, pushOutput string) string {
	t.Helper()
	m := pushDigestRE.FindStringSubmatch(pushOutput)
	if m == nil {
		t.Fatalf("docker push printed no digest:\n%s", pushOutput)
	}
	return m[1]
}

// checkECRImage checks that `aws ecr list-images` and `describe-images`
// show exactly one image in repo, of digest d and tagged tag, with a size
// and a push time.
func checkECRImage(t *testing.T, s *server, repo, d, tag string) {
	t.Helper()
	var list struct {
		ImageIds []struct{ ImageDigest, ImageTag string }
	}
	cliJSON(t, s, &list, "ecr", "list-images", "--repository-name", repo)
	if len(list.ImageIds) != 1 || list.ImageIds[0].ImageDigest != d || list.ImageIds[0].ImageTag != tag {
		t.Errorf("list-images %s: %+v, want %s tagged %s", repo, list.ImageIds, d, tag)
	}
	var desc struct {
		ImageDetails []struct {
			RepositoryName, ImageDigest, ImageManifestMediaType string
			ImageTags                                           []string
			ImageSizeInBytes                                    int64
			ImagePushedAt                                       any
		}
	}
	cliJSON(t, s, &desc, "ecr", "describe-images", "--repository-name", repo)
	if len(desc.ImageDetails) != 1 {
		t.Fatalf("describe-images %s: %+v, want one image", repo, desc.ImageDetails)
	}
	img := desc.ImageDetails[0]
	if img.RepositoryName != repo || img.ImageDigest != d || len(img.ImageTags) != 1 || img.ImageTags[0] != tag ||
		img.ImageSizeInBytes < 1<<20 || img.ImagePushedAt == nil || img.ImageManifestMediaType == "" {
		t.Errorf("describe-images %s: %+v, want %s tagged %s, over 1 MiB (its layers), pushed", repo, img, d, tag)
	}
}

// skopeoBin is Debian's skopeo (scripts/deps.sh installs it).
func skopeoBin(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("skopeo")
	if err != nil {
		t.Fatalf("skopeo needed (Debian package skopeo; ./scripts/test installs it): %v", err)
	}
	return path
}

// TestECRSkopeoCopy copies an image between two repositories with skopeo,
// registry to registry, with the ECR token as both sides' credentials,
// and checks the copy's manifest digest is the original's.
func TestECRSkopeoCopy(t *testing.T) {
	skopeo := skopeoBin(t)
	s := startServer(t, serverOptions{})
	config := t.TempDir()
	pw := loginPassword(t, s)
	mustDocker(t, config, pw+"\n", "login", "--username", "AWS", "--password-stdin", s.addr)
	src := createECRRepository(t, s, ecrRepoName(t, "skopeo/src"))
	dst := createECRRepository(t, s, ecrRepoName(t, "skopeo/dst"))
	buildLayeredImage(t, config, src.RepositoryUri+":v1")
	mustDocker(t, config, "", "push", src.RepositoryUri+":v1")

	creds := "AWS:" + pw
	skopeoRun := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, skopeo, args...)
		cmd.Env = childEnv()
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("skopeo %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String()
	}
	skopeoRun("copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-creds", creds, "--dest-creds", creds,
		"docker://"+src.RepositoryUri+":v1", "docker://"+dst.RepositoryUri+":copied")
	digest := func(ref string) string {
		var m struct{ Digest string }
		out := skopeoRun("inspect", "--tls-verify=false", "--creds", creds, "docker://"+ref)
		if err := json.Unmarshal([]byte(out), &m); err != nil || m.Digest == "" {
			t.Fatalf("skopeo inspect %s: %v\n%s", ref, err, out)
		}
		return m.Digest
	}
	if a, b := digest(src.RepositoryUri+":v1"), digest(dst.RepositoryUri+":copied"); a != b {
		t.Errorf("copy's digest %s, source's %s", b, a)
	}
	// Wrong credentials are refused.
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, skopeo, "inspect", "--tls-verify=false", "--creds", "AWS:wrong",
		"docker://"+src.RepositoryUri+":v1").CombinedOutput()
	if err == nil {
		t.Errorf("skopeo inspect with a wrong password succeeded:\n%s", out)
	}
}

// TestECRTaskPullsFromRegistry runs a task whose image is a Berth
// repositoryUri on a real agent with no local copy: the agent pulls it with
// an ECR token of its own and the task runs. With the image deleted from the
// repository (and the local copy removed again), the task stops with
// CannotPullContainerError.
func TestECRTaskPullsFromRegistry(t *testing.T) {
	s := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	s.createCluster(t, cluster)
	s.startAgent(t, agentOptions{Name: "node-1", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-a"})

	config := t.TempDir()
	mustDocker(t, config, loginPassword(t, s)+"\n", "login", "--username", "AWS", "--password-stdin", s.addr)
	repo := createECRRepository(t, s, ecrRepoName(t, "tasks/app"))
	ref := repo.RepositoryUri + ":v1"
	buildLayeredImage(t, config, ref)
	want := imageID(t, config, ref)
	mustDocker(t, config, "", "push", ref)
	mustDocker(t, config, "", "rmi", ref) // the agent must pull it

	def := map[string]any{
		"family": uniqueName(t, "f"),
		"containerDefinitions": []map[string]any{{
			"name": "app", "image": ref, "memory": 64, "essential": true,
		}},
	}
	var reg struct {
		TaskDefinition struct{ TaskDefinitionArn string }
	}
	cliJSON(t, s, &reg, "ecs", "register-task-definition", "--cli-input-json", "file://"+writeJSON(t, def))
	runTask := func() string {
		t.Helper()
		var run cliTasksResp
		cliJSON(t, s, &run, "ecs", "run-task", "--cluster", cluster, "--task-definition", reg.TaskDefinition.TaskDefinitionArn)
		if len(run.Tasks) != 1 || len(run.Failures) != 0 {
			t.Fatalf("run-task: %+v", run)
		}
		return run.Tasks[0].TaskArn
	}

	arn := runTask()
	task := cliWaitTask(t, s, cluster, arn, func(t cliTask) bool { return t.LastStatus == "RUNNING" }, "the task RUNNING")
	if insp := inspect(t, task.container(t, "app").RuntimeId); insp.Image != want || !insp.State.Running {
		t.Errorf("the task's container runs image %s (running %v), want the pushed %s", insp.Image, insp.State.Running, want)
	}
	awsCLI(t, s, "ecs", "stop-task", "--cluster", cluster, "--task", arn)
	cliWaitTask(t, s, cluster, arn, func(t cliTask) bool { return t.LastStatus == "STOPPED" }, "the task STOPPED")
	waitContainersGone(t, arn)

	awsCLI(t, s, "ecr", "batch-delete-image", "--repository-name", repo.RepositoryName, "--image-ids", "imageTag=v1")
	mustDocker(t, config, "", "rmi", "-f", ref) // the copy the agent pulled
	arn = runTask()
	task = cliWaitTask(t, s, cluster, arn, func(t cliTask) bool { return t.LastStatus == "STOPPED" }, "the task to fail to start")
	if !strings.Contains(task.StoppedReason, "CannotPullContainerError") || task.StopCode != "TaskFailedToStart" {
		t.Errorf("task without its image: stopCode %q stoppedReason %q, want TaskFailedToStart and CannotPullContainerError",
			task.StopCode, task.StoppedReason)
	} else {
		t.Logf("task without its image: %s", task.StoppedReason)
	}
}

// readmeRegistryRE finds the README's registry block.
var readmeRegistryRE = regexp.MustCompile("(?s)<!-- e2e:registry[^>]*-->\n```sh\n(.*?)```")

// TestReadmeRegistry runs the README's registry commands as written
// (create-repository, get-login-password | docker login, tag, push,
// describe-images), against a real server instead of 127.0.0.1:9320.
func TestReadmeRegistry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, berthBin, "demo-image").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != demoImage {
		t.Fatalf("berth demo-image: %v\n%s", err, out)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := readmeRegistryRE.FindSubmatch(readme)
	const readmeHost = "127.0.0.1:9320"
	if m == nil || !strings.Contains(string(m[1]), readmeHost) {
		t.Fatalf("README.md has no registry block using %s marked <!-- e2e:registry -->", readmeHost)
	}
	s := startServer(t, serverOptions{})
	script := strings.ReplaceAll(string(m[1]), readmeHost, s.addr)
	config := t.TempDir()
	t.Cleanup(func() { _, _ = dockerCmd(t, config, "", "rmi", s.addr+"/team/web:1") })

	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = repoRoot
	cmd.Env = childEnv("PATH="+awsOnPath(t)+string(os.PathListSeparator)+os.Getenv("PATH"), "DOCKER_CONFIG="+config,
		"AWS_ACCESS_KEY_ID="+s.keyID, "AWS_SECRET_ACCESS_KEY="+s.secret, "AWS_DEFAULT_REGION="+region)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README's registry commands failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	// The last command's output (the last JSON object printed, after
	// create-repository's and docker's): the pushed image, tagged 1.
	out := stdout.String()
	i := strings.LastIndex(out, "\n{")
	var desc struct {
		ImageDetails []struct{ ImageTags []string }
	}
	if i < 0 || json.Unmarshal([]byte(out[i+1:]), &desc) != nil || len(desc.ImageDetails) != 1 ||
		len(desc.ImageDetails[0].ImageTags) != 1 || desc.ImageDetails[0].ImageTags[0] != "1" {
		t.Fatalf("describe-images at the end of the README's commands did not show the image tagged 1:\n%s", out)
	}
}

// TestECRServersShareRegistry runs two servers on one etcd with one
// --registry-dir, as the README says servers sharing an etcd must: an image
// pushed through one is listed by and pulled through the other, with a token
// the first issued (the token key is in etcd). The repositoryUri is the one
// the repository was created with, through the first server.
func TestECRServersShareRegistry(t *testing.T) {
	etcd := startEtcd(t)
	opts := serverOptions{EtcdEndpoints: []string{etcd.endpoint}, Args: []string{"--registry-dir", t.TempDir()}}
	a := startServer(t, opts)
	b := startServer(t, opts)
	config := t.TempDir()
	pw := loginPassword(t, a)
	for _, s := range []*server{a, b} {
		mustDocker(t, config, pw+"\n", "login", "--username", "AWS", "--password-stdin", s.addr)
	}

	repo := createECRRepository(t, a, ecrRepoName(t, "shared/app"))
	ref := repo.RepositoryUri + ":v1"
	buildLayeredImage(t, config, ref)
	want := imageID(t, config, ref)
	pushed := pushedDigest(t, mustDocker(t, config, "", "push", ref))

	var desc struct{ Repositories []ecrRepository }
	cliJSON(t, b, &desc, "ecr", "describe-repositories", "--repository-names", repo.RepositoryName)
	if len(desc.Repositories) != 1 || desc.Repositories[0].RepositoryUri != repo.RepositoryUri {
		t.Fatalf("describe-repositories through the second server: %+v, want repositoryUri %s", desc.Repositories, repo.RepositoryUri)
	}
	checkECRImage(t, b, repo.RepositoryName, pushed, "v1")
	other := b.addr + "/" + repo.RepositoryName + ":v1"
	t.Cleanup(func() { _, _ = dockerCmd(t, config, "", "rmi", other) })
	mustDocker(t, config, "", "pull", other)
	if got := imageID(t, config, other); got != want {
		t.Errorf("image pulled through the second server: %s, pushed %s", got, want)
	}
}
