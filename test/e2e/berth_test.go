package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Root credentials of the non-dev servers the tests start; chosen by the
// test through BERTH_ROOT_*, so they differ from the dev ones on purpose.
const (
	rootAccessKeyID     = "AKIAE2ETESTROOT00001"
	rootSecretAccessKey = "e2e-root-secret-access-key-0123456789"
	devAccessKeyID      = "AKIABERTHDEVELOPMENT"
	devSecretAccessKey  = "berth-dev-secret-access-key"
	accountID           = "000000000000"
)

const (
	startTimeout = 60 * time.Second // a process becoming ready
	stateTimeout = 90 * time.Second // a task or instance reaching a state
)

var bannerRE = regexp.MustCompile(`Berth server ready on http://(\S+) `)

// server is one `berth server` process, restartable on its data dir and port.
type server struct {
	dataDir, logDir string
	addr            string // host:port; "127.0.0.1:0" until the first start
	dev             bool
	agentConfig     string
	etcd            []string
	regions         []string
	args            []string // further flags (serverOptions.Args)
	keyID, secret   string
	proc            *proc
}

type serverOptions struct {
	Dev         bool
	AgentConfig string // ecs.config of the --dev in-process agent
	// GeneratedRoot starts a non-dev server without BERTH_ROOT_*, so it
	// generates its root credentials (or takes those its etcd holds) and
	// writes them into the data dir.
	GeneratedRoot bool
	// EtcdEndpoints points the server at an external etcd (see startEtcd).
	EtcdEndpoints []string
	// Regions are further regions the server serves (--regions).
	Regions []string
	// Args are further flags, e.g. "--lost-agent-grace", "5s".
	Args []string
}

// startServer starts a server on a free loopback port with its own data dir
// and waits until it answers signed API calls.
func startServer(t *testing.T, opts serverOptions) *server {
	t.Helper()
	s := &server{
		dataDir: t.TempDir(), logDir: t.TempDir(), addr: "127.0.0.1:0",
		dev: opts.Dev, agentConfig: opts.AgentConfig, etcd: opts.EtcdEndpoints, regions: opts.Regions, args: opts.Args,
		keyID: rootAccessKeyID, secret: rootSecretAccessKey,
	}
	switch {
	case s.dev:
		s.keyID, s.secret = devAccessKeyID, devSecretAccessKey
	case opts.GeneratedRoot:
		s.keyID, s.secret = "", ""
	}
	s.start(t)
	return s
}

// start (re)starts the process on s.addr and s.dataDir.
func (s *server) start(t *testing.T) {
	t.Helper()
	args := []string{"server", "--listen", s.addr, "--data-dir", s.dataDir, "--region", region}
	if len(s.etcd) > 0 {
		args = append(args, "--etcd-endpoints", strings.Join(s.etcd, ","))
	}
	if len(s.regions) > 0 {
		args = append(args, "--regions", strings.Join(s.regions, ","))
	}
	args = append(args, s.args...)
	env := childEnv()
	if s.dev {
		args = append(args, "--dev")
		if s.agentConfig != "" {
			args = append(args, "--agent-config", s.agentConfig)
		}
	} else if s.keyID != "" {
		env = append(env, "BERTH_ROOT_ACCESS_KEY_ID="+s.keyID, "BERTH_ROOT_SECRET_ACCESS_KEY="+s.secret)
	}
	s.proc = startProc(t, s.logDir, "server", env, args...)
	waitFor(t, startTimeout, "the server banner", func() bool {
		s.proc.failIfExited(t)
		m := bannerRE.FindStringSubmatch(readFile(s.proc.stdout))
		if m != nil {
			s.addr = m[1]
		}
		return m != nil
	})
	if s.keyID == "" {
		s.keyID, s.secret = generatedRootCredentials(t, s.dataDir)
	}
	client := s.ecs()
	waitFor(t, startTimeout, "the server to answer ListClusters", func() bool {
		s.proc.failIfExited(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := client.ListClusters(ctx, &ecs.ListClustersInput{})
		return err == nil
	})
}

// generatedRootCredentials reads the key pair a non-dev server generated.
func generatedRootCredentials(t *testing.T, dataDir string) (string, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "root-credentials.json"))
	if err != nil {
		t.Fatalf("generated root credentials: %v", err)
	}
	var c struct{ AccessKeyID, SecretAccessKey string }
	if err := json.Unmarshal(b, &c); err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" {
		t.Fatalf("generated root credentials: %v in %s", err, b)
	}
	return c.AccessKeyID, c.SecretAccessKey
}

// stop ends the server with sig (SIGTERM: graceful) and waits for it.
func (s *server) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	s.proc.stop(t, sig, 30*time.Second)
}

func (s *server) endpoint() string { return "http://" + s.addr }

// ecs returns an SDK client signed with the server's root credentials.
func (s *server) ecs() *ecs.Client {
	return ecs.New(ecs.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.keyID, s.secret, ""),
		BaseEndpoint: aws.String(s.endpoint()),
	})
}

func (s *server) clusterARN(name string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", region, accountID, name)
}

// uniqueName is a cluster or family name unique to this test and run.
func uniqueName(t *testing.T, prefix string) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.TrimPrefix(t.Name(), "Test"))
	return fmt.Sprintf("%s-%s-%d", prefix, strings.ToLower(name), time.Now().UnixNano()%1_000_000)
}

// createCluster creates a cluster through the SDK and removes, when t ends,
// every container labelled with it.
func (s *server) createCluster(t *testing.T, name string, tags ...types.Tag) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.ecs().CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name), Tags: tags})
	if err != nil {
		t.Fatalf("CreateCluster %s: %v", name, err)
	}
	arn := aws.ToString(out.Cluster.ClusterArn)
	if arn != s.clusterARN(name) {
		t.Fatalf("cluster ARN = %q, want %q", arn, s.clusterARN(name))
	}
	removeContainersOnCleanup(t, labelCluster, func() string { return arn })
	return arn
}

// agent is one `berth agent` process with its own config and data dir.
type agent struct {
	opts                agentOptions
	srv                 *server
	dataDir, configPath string
	logDir              string
	proc                *proc
	instanceARN         string // known after the first start
}

type agentOptions struct {
	Name          string // unique in the cluster; also the e2e.node attribute
	Cluster       string
	CPU           int64  // BERTH_CPU_UNITS
	MemoryMiB     int64  // BERTH_MEMORY_MIB
	Zone          string // the e2e.zone attribute
	AZ            string // BERTH_AVAILABILITY_ZONE (ecs.availability-zone); "" for the default
	ReservedPorts []int  // ECS_RESERVED_PORTS beyond the ECS defaults
}

// startAgent writes the agent's ecs.config and starts it, then waits until
// its container instance is ACTIVE and connected.
func (s *server) startAgent(t *testing.T, o agentOptions) *agent {
	t.Helper()
	a := &agent{opts: o, srv: s, dataDir: t.TempDir(), logDir: t.TempDir()}
	a.configPath = filepath.Join(t.TempDir(), "ecs.config")
	if err := os.WriteFile(a.configPath, []byte(agentConfig(o, a.dataDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	removeContainersOnCleanup(t, labelInstance, func() string { return a.instanceARN })
	a.start(t)
	return a
}

// agentConfig is an ecs.config as a person would write it for the ECS agent.
func agentConfig(o agentOptions, dataDir string) string {
	attrs, _ := json.Marshal(map[string]string{"e2e.node": o.Name, "e2e.zone": o.Zone})
	reserved := []int{22, 2375, 2376, 51678, 51679}
	reserved = append(reserved, o.ReservedPorts...)
	ports, _ := json.Marshal(reserved)
	lines := []string{
		"# written by the Berth e2e tests",
		"ECS_CLUSTER=" + o.Cluster,
		"ECS_DATADIR=" + dataDir,
		"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1s",
		"ECS_CONTAINER_STOP_TIMEOUT=5s",
		"ECS_IMAGE_PULL_BEHAVIOR=prefer-cached", // no registry here: use the local images
		"ECS_INSTANCE_ATTRIBUTES=" + string(attrs),
		"ECS_RESERVED_PORTS=" + string(ports),
		fmt.Sprintf("BERTH_CPU_UNITS=%d", o.CPU),
		fmt.Sprintf("BERTH_MEMORY_MIB=%d", o.MemoryMiB),
		"ECS_ENABLE_TASK_IAM_ROLE=false", // an ECS key Berth ignores must not break loading
	}
	if o.AZ != "" {
		lines = append(lines, "BERTH_AVAILABILITY_ZONE="+o.AZ)
	}
	return strings.Join(lines, "\n") + "\n"
}

// start (re)starts the agent process with the same config and data dir.
func (a *agent) start(t *testing.T) {
	t.Helper()
	env := childEnv("AWS_ACCESS_KEY_ID="+a.srv.keyID, "AWS_SECRET_ACCESS_KEY="+a.srv.secret, "AWS_REGION="+region)
	a.proc = startProc(t, a.logDir, "agent-"+a.opts.Name, env,
		"agent", "--endpoint", a.srv.endpoint(), "--config", a.configPath, "--data-dir", a.dataDir)
	inst := a.waitConnected(t)
	arn := aws.ToString(inst.ContainerInstanceArn)
	if a.instanceARN != "" && arn != a.instanceARN {
		t.Fatalf("agent %s re-registered as %s, want its earlier ARN %s", a.opts.Name, arn, a.instanceARN)
	}
	a.instanceARN = arn
}

// waitConnected waits until the cluster has an ACTIVE, connected instance
// carrying this agent's e2e.node attribute and returns it.
func (a *agent) waitConnected(t *testing.T) types.ContainerInstance {
	t.Helper()
	var found types.ContainerInstance
	waitFor(t, startTimeout, "agent "+a.opts.Name+" to register and connect", func() bool {
		a.proc.failIfExited(t)
		for _, inst := range describeInstances(t, a.srv, a.opts.Cluster) {
			if attribute(inst.Attributes, "e2e.node") == a.opts.Name &&
				aws.ToString(inst.Status) == "ACTIVE" && inst.AgentConnected {
				found = inst
				return true
			}
		}
		return false
	})
	return found
}

// describeInstances lists and describes every container instance of cluster.
func describeInstances(t *testing.T, s *server, cluster string) []types.ContainerInstance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := s.ecs().ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
	if err != nil {
		t.Fatalf("ListContainerInstances: %v", err)
	}
	if len(list.ContainerInstanceArns) == 0 {
		return nil
	}
	out, err := s.ecs().DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String(cluster), ContainerInstances: list.ContainerInstanceArns,
	})
	if err != nil {
		t.Fatalf("DescribeContainerInstances: %v", err)
	}
	if len(out.Failures) > 0 {
		t.Fatalf("DescribeContainerInstances failures for listed instances: %+v", out.Failures)
	}
	return out.ContainerInstances
}

func attribute(attrs []types.Attribute, name string) string {
	i := slices.IndexFunc(attrs, func(a types.Attribute) bool { return aws.ToString(a.Name) == name })
	if i < 0 {
		return ""
	}
	return aws.ToString(attrs[i].Value)
}

func resource(rs []types.Resource, name string) types.Resource {
	i := slices.IndexFunc(rs, func(r types.Resource) bool { return aws.ToString(r.Name) == name })
	if i < 0 {
		return types.Resource{}
	}
	return rs[i]
}
