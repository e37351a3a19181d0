// Command scale measures how Berth's control plane scales with the tasks
// and instances it holds, end to end through the API, etcd and simulated
// agents (`berth agent --runtime sim`), each figure beside a reference
// measured in the same run:
//
//   - the latency curve: RunTask, DescribeTasks and ListTasks with -small
//     tasks in the cluster and again with -large, as ratios (goal: at most
//     1.3);
//   - throughput: RunTask calls of 10 tasks from -workers clients until
//     -large tasks are RUNNING, in tasks/s (goal: at least 1,000/s), beside
//     the raw etcd puts/s of the same etcd at the same concurrency;
//   - the fleet: with -fleet-instances instances and -fleet-tasks tasks, the
//     server's RSS (goal: at most 2 GiB) and the p99 of a mix of API calls
//     (goal: at most 100 ms), beside the p99 of ListClusters, the API's floor;
//   - with -service (or -service-only, which skips the others): a service
//     of -service-tasks tasks over -service-instances instances rolls out a
//     new task definition revision: its time and store writes (etcd
//     revisions) per task replaced, beside the service's create and plain
//     RunTask and StopTask of as many tasks, and the running tasks' bounds;
//   - with -placement (or -placement-only, which skips the other two): on a
//     cluster of -placement-instances instances of differing zones and
//     types, RunTask of 10 tasks with spread, binpack and a memberOf
//     constraint beside plain RunTask of 10 tasks, -placement-tasks of each,
//     in tasks/s and as a ratio, then where the placed tasks went.
//
// Usage:
//
//	go run ./bench/scale [-instances 20] [-small 100] [-large 10000] [-workers 8]
//	                     [-fleet-instances 5000] [-fleet-tasks 50000] [-skip-fleet]
//	                     [-placement | -placement-only] [-placement-instances 1000] [-placement-tasks 5000]
//	                     [-service | -service-only] [-service-instances 200] [-service-tasks 1000] [-service-second 50/200]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-dev/berth/bench/internal/benchproc"
)

const (
	keyID  = "AKIASCALEBENCH000001"
	secret = "scale-bench-secret-access-key"
)

type options struct {
	instances, small, large, workers, samples int
	fleetInstances, fleetTasks                int
	placementInstances, placementTasks        int
	skipFleet, skipCurve, keep                bool
	placement, placementOnly                  bool
	service, serviceOnly                      bool
	serviceInstances, serviceTasks            int
	serviceSecond                             string
	serviceTimeout                            time.Duration
	timeout                                   time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.instances, "instances", 20, "sim instances for the latency curve and throughput")
	flag.IntVar(&o.small, "small", 100, "tasks in the cluster for the first latency sample")
	flag.IntVar(&o.large, "large", 10000, "tasks in the cluster for the second sample (and the throughput run)")
	flag.IntVar(&o.workers, "workers", 8, "concurrent API clients")
	flag.IntVar(&o.samples, "samples", 40, "calls per operation per latency sample")
	flag.IntVar(&o.fleetInstances, "fleet-instances", 5000, "sim instances of the fleet run")
	flag.IntVar(&o.fleetTasks, "fleet-tasks", 50000, "tasks of the fleet run")
	flag.BoolVar(&o.skipFleet, "skip-fleet", false, "skip the fleet run")
	flag.BoolVar(&o.skipCurve, "skip-curve", false, "skip the latency curve and throughput run")
	flag.BoolVar(&o.placement, "placement", false, "also run the placement run (after the curve, before the fleet)")
	flag.BoolVar(&o.placementOnly, "placement-only", false, "run only the placement run")
	flag.IntVar(&o.placementInstances, "placement-instances", 1000, "sim instances of the placement run")
	flag.IntVar(&o.placementTasks, "placement-tasks", 5000, "tasks of the placement run, per side (plain and placed)")
	flag.BoolVar(&o.service, "service", false, "also run the service rollout run (after the placement run, before the fleet)")
	flag.BoolVar(&o.serviceOnly, "service-only", false, "run only the service rollout run")
	flag.IntVar(&o.serviceInstances, "service-instances", 200, "sim instances of the service run")
	flag.IntVar(&o.serviceTasks, "service-tasks", 1000, "desiredCount of the service run's service")
	flag.StringVar(&o.serviceSecond, "service-second", "50/200", `a second rollout's minimumHealthyPercent/maximumPercent ("" for none)`)
	flag.DurationVar(&o.serviceTimeout, "service-timeout", 10*time.Minute, "give up on one phase of the service run after this long")
	flag.BoolVar(&o.keep, "keep", false, "keep the processes' logs and data")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	flag.Parse()
	if o.placementOnly {
		o.placement, o.skipCurve, o.skipFleet = true, true, true
	}
	if o.serviceOnly {
		o.service, o.skipCurve, o.skipFleet = true, true, true
	}

	tmp, err := os.MkdirTemp("", "berth-scale-")
	check(err)
	bin, err := benchproc.Build(tmp)
	check(err)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	if !o.skipCurve {
		err = curve(ctx, bin, filepath.Join(tmp, "curve"), o)
	}
	if err == nil && o.placement {
		err = placement(ctx, bin, filepath.Join(tmp, "placement"), o)
	}
	if err == nil && o.service {
		err = service(ctx, bin, filepath.Join(tmp, "service"), o)
	}
	if err == nil && !o.skipFleet {
		err = fleet(ctx, bin, filepath.Join(tmp, "fleet"), o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err, "(logs kept in", tmp+")")
		os.Exit(1)
	}
	if o.keep {
		fmt.Println("logs and data kept in", tmp)
		return
	}
	os.RemoveAll(tmp)
}

// cluster is a server and a sim agent process with their API client.
type cluster struct {
	server, agent *benchproc.Proc
	client        *ecs.Client
	dataDir       string
}

var bannerRE = regexp.MustCompile(`Berth server ready on http://(\S+) `)

// startCluster starts a fresh server and `berth agent --runtime sim` with n
// instances of cpu units and memMiB each (agentArgs added to the agent's
// command line), and waits until all are connected.
func startCluster(ctx context.Context, bin, dir string, n, cpu, memMiB int, agentArgs ...string) (*cluster, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "BERTH_ROOT_ACCESS_KEY_ID="+keyID, "BERTH_ROOT_SECRET_ACCESS_KEY="+secret,
		"AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_REGION=us-east-1")
	c := &cluster{dataDir: filepath.Join(dir, "srv")}
	var err error
	c.server, err = benchproc.Start(bin, env, filepath.Join(dir, "server.log"), "server", "--data-dir", c.dataDir, "--listen", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr, err := benchproc.WaitLine(ctx, c.server.Log, bannerRE)
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("server: %w", err)
	}
	conf := filepath.Join(dir, "ecs.config")
	if err := os.WriteFile(conf, []byte("ECS_CLUSTER=default\n"), 0o600); err != nil {
		c.stop()
		return nil, err
	}
	args := append([]string{"agent", "--endpoint", "http://" + addr,
		"--runtime", "sim", "--instances", strconv.Itoa(n), "--data-dir", filepath.Join(dir, "agent"), "--config", conf,
		"--cpu", strconv.Itoa(cpu), "--memory", strconv.Itoa(memMiB)}, agentArgs...)
	c.agent, err = benchproc.Start(bin, env, filepath.Join(dir, "agent.log"), args...)
	if err != nil {
		c.stop()
		return nil, err
	}
	if _, err := benchproc.WaitLine(ctx, c.agent.Log, regexp.MustCompile(`all sim instances connected".*took=(\S+)`)); err != nil {
		c.stop()
		return nil, fmt.Errorf("agent: %w", err)
	}
	// The SDK's own retries stay on, as for any client (Go's transport now and
	// then fails a read on a reused connection); a call the server failed is
	// reported from the server's log instead (report).
	c.client = ecs.New(ecs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr),
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})
	return c, nil
}

// report prints how many warnings and errors each process logged.
func (c *cluster) report() {
	sn, sfirst := benchproc.CountWarnings(c.server.Log)
	an, afirst := benchproc.CountWarnings(c.agent.Log)
	fmt.Printf("warnings and errors logged: server %d, agent %d\n", sn, an)
	for _, l := range []string{sfirst, afirst} {
		if l != "" {
			fmt.Printf("  first: %s\n", l)
		}
	}
}

func (c *cluster) stop() {
	if c.agent != nil {
		c.agent.Stop()
	}
	if c.server != nil {
		c.server.Stop()
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}
