// Command registry pushes and pulls the same multi-layer image (about 200 MB
// of incompressible layers) to Berth's registry and to Debian's
// docker-registry (distribution 2.8, the reference) in one run, alternating
// the two, and prints MB/s for each and the ratio Berth/reference.
//
//	go run ./bench/registry [-rounds 3] [-layers 8] [-layer-mb 25] [-parallel 3] [-docker=true]
//
// Needs /usr/bin/docker-registry (apt-get install docker-registry); the
// docker CLI cases need a running Docker engine and are skipped without one.
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/berth-dev/berth/bench/internal/benchproc"
)

const (
	keyID  = "AKIAREGISTRYBENCH001"
	secret = "registry-bench-secret"
	refBin = "/usr/bin/docker-registry"
)

func main() {
	rounds := flag.Int("rounds", 3, "rounds; each pushes and pulls a fresh image once to each registry")
	layers := flag.Int("layers", 8, "layers per image")
	layerMB := flag.Int("layer-mb", 25, "MB (10^6 bytes) of random data per layer")
	parallel := flag.Int("parallel", 3, "blobs the client moves at once (docker pulls 3, pushes 5)")
	withDocker := flag.Bool("docker", true, "also time docker push and docker pull (skipped without a Docker engine)")
	flag.Parse()
	if err := run(*rounds, *layers, *layerMB*1_000_000, *parallel, *withDocker); err != nil {
		fmt.Fprintln(os.Stderr, "registry bench:", err)
		os.Exit(1)
	}
}

// registry is one side of the comparison.
type registry struct {
	target
	host string // 127.0.0.1:PORT
	proc *benchproc.Proc
	// create makes a repository before it is first pushed to (the ECR API
	// for Berth; nothing for the reference, which creates on push).
	create func(ctx context.Context, name string) error
}

func run(rounds, nLayers, layerBytes, parallel int, withDocker bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := os.Stat(refBin); err != nil {
		return fmt.Errorf("%s: %w (apt-get install docker-registry)", refBin, err)
	}
	dir, err := os.MkdirTemp("", "berth-bench-registry-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	loadBefore := benchproc.LoadAvg()

	bin, err := benchproc.Build(dir)
	if err != nil {
		return err
	}
	berth, err := startBerth(ctx, bin, dir)
	if err != nil {
		return err
	}
	defer berth.proc.Stop()
	ref, err := startReference(ctx, dir)
	if err != nil {
		return err
	}
	defer ref.proc.Stop()
	regs := []*registry{berth, ref}

	var dockerCfg string
	if withDocker {
		if dockerCfg, err = dockerSetup(ctx, dir, berth); err != nil {
			fmt.Fprintf(os.Stderr, "docker cases skipped: %v\n", err)
			withDocker = false
		}
	}

	c := &client{http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}, parallel: parallel}
	res := newResults()
	var imageBytes int64
	for i := range rounds {
		seed := uint64(time.Now().UnixNano())
		im, err := buildImage(seed, nLayers, layerBytes)
		if err != nil {
			return err
		}
		imageBytes = im.size()
		order := regs
		if i%2 == 1 {
			order = []*registry{ref, berth}
		}
		repo := fmt.Sprintf("bench/r%d", i)
		fmt.Fprintf(os.Stderr, "round %d/%d: %s first\n", i+1, rounds, order[0].name)
		for _, r := range order {
			if err := r.create(ctx, repo); err != nil {
				return err
			}
			s0, start := benchproc.CPUTicks(r.proc.Pid()), time.Now()
			up, err := c.push(ctx, r.target, repo, "latest", im)
			if err != nil {
				return fmt.Errorf("%s: push: %w", r.name, err)
			}
			if up != nLayers+1 {
				return fmt.Errorf("%s: push uploaded %d of %d blobs: not a fresh push", r.name, up, nLayers+1)
			}
			res.add("push", r.name, im.size(), time.Since(start), benchproc.CPUTicks(r.proc.Pid())-s0)

			s0, start = benchproc.CPUTicks(r.proc.Pid()), time.Now()
			if up, err = c.push(ctx, r.target, repo, "again", im); err != nil {
				return fmt.Errorf("%s: push again: %w", r.name, err)
			}
			if up != 0 {
				return fmt.Errorf("%s: push again uploaded %d blobs, want 0", r.name, up)
			}
			res.add("push again", r.name, im.size(), time.Since(start), benchproc.CPUTicks(r.proc.Pid())-s0)
		}
		for _, r := range order {
			s0, start := benchproc.CPUTicks(r.proc.Pid()), time.Now()
			n, err := c.pull(ctx, r.target, repo, "latest", im)
			if err != nil {
				return fmt.Errorf("%s: pull: %w", r.name, err)
			}
			res.add("pull", r.name, n, time.Since(start), benchproc.CPUTicks(r.proc.Pid())-s0)
		}
		if withDocker {
			if err := dockerRound(ctx, dir, dockerCfg, i, im, order, res); err != nil {
				return err
			}
		}
	}

	fmt.Printf("load average (1, 5, 15 min) before: %s; after: %s; %d CPUs\n", loadBefore, benchproc.LoadAvg(), benchproc.NumCPU())
	fmt.Printf("image: %d layers of %d MB random bytes (uncompressed tar) + config + manifest = %.1f MB; %d rounds, a fresh image and repository each\n",
		nLayers, layerBytes/1_000_000, float64(imageBytes)/1e6, rounds)
	fmt.Printf("Berth: berth server (not --dev), fs blob store; reference: %s\n", refVersion())
	fmt.Printf("client: this command's OCI client, %d blobs at a time (HEAD, POST, PATCH whole blob, PUT ?digest=; pull: GET manifest, GET blobs, sha256 checked)\n", parallel)
	cases := []string{"push", "push again", "pull"}
	if withDocker {
		cases = append(cases, "docker push", "docker pull")
	}
	res.print(cases, berth.name, ref.name)
	fmt.Println("push again: the same image to the same repository, every blob present (HEADs and a manifest PUT); MB/s of the image's size")
	if withDocker {
		fmt.Println("docker push/pull: the docker CLI through the local engine (push compresses each layer with gzip, pull extracts it); MB/s of the image's size")
	}
	for _, r := range regs {
		if r == berth {
			if n, first := benchproc.CountWarnings(r.proc.Log); n > 0 {
				fmt.Printf("berth server warnings: %d, first: %s\n", n, first)
			}
		}
	}
	return nil
}

var bannerRE = regexp.MustCompile(`Berth server ready on http://(\S+) `)

func startBerth(ctx context.Context, bin, dir string) (*registry, error) {
	env := append(os.Environ(), "BERTH_ROOT_ACCESS_KEY_ID="+keyID, "BERTH_ROOT_SECRET_ACCESS_KEY="+secret)
	logPath := filepath.Join(dir, "berth.log")
	p, err := benchproc.Start(bin, env, logPath, "server", "--data-dir", filepath.Join(dir, "berth-data"), "--listen", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	addr, err := benchproc.WaitLine(wctx, logPath, bannerRE)
	if err != nil {
		p.Stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("berth server: %w\n%s", err, log[max(0, len(log)-3000):])
	}
	api := ecr.New(ecr.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + addr),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})
	tok, err := api.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(tok.AuthorizationData) == 0 {
		p.Stop()
		return nil, fmt.Errorf("GetAuthorizationToken: %v", err)
	}
	token := aws.ToString(tok.AuthorizationData[0].AuthorizationToken)
	if dec, err := base64.StdEncoding.DecodeString(token); err != nil || !strings.HasPrefix(string(dec), "AWS:") {
		p.Stop()
		return nil, fmt.Errorf("authorization token is not base64 of AWS:<password>")
	}
	return &registry{
		target: target{name: "berth", base: "http://" + addr, auth: "Basic " + token},
		host:   addr, proc: p,
		create: func(ctx context.Context, name string) error {
			_, err := api.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)})
			if err != nil {
				return fmt.Errorf("CreateRepository %s: %w", name, err)
			}
			return nil
		},
	}, nil
}

// password is the registry password in Berth's token (base64 of AWS:<password>).
func (r *registry) password() string {
	dec, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.auth, "Basic "))
	return strings.TrimPrefix(string(dec), "AWS:")
}

// startReference starts Debian's docker-registry with filesystem storage in
// dir, on a loopback port, without authentication.
func startReference(ctx context.Context, dir string) (*registry, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	conf := filepath.Join(dir, "reference.yml")
	yml := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "reference-data"), host)
	if err := os.WriteFile(conf, []byte(yml), 0o600); err != nil {
		return nil, err
	}
	p, err := benchproc.Start(refBin, os.Environ(), filepath.Join(dir, "reference.log"), "serve", conf)
	if err != nil {
		return nil, err
	}
	base := "http://" + host
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if p.Exited() || time.Now().After(deadline) {
			p.Stop()
			log, _ := os.ReadFile(p.Log)
			return nil, fmt.Errorf("docker-registry did not answer /v2/ on %s: %v\n%s", host, err, log)
		}
		time.Sleep(50 * time.Millisecond) // polling pace
	}
	return &registry{
		target: target{name: "reference", base: base},
		host:   host, proc: p,
		create: func(context.Context, string) error { return nil },
	}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func refVersion() string {
	out, err := exec.Command(refBin, "--version").Output()
	if err != nil {
		return refBin
	}
	return strings.TrimSpace(string(out))
}
