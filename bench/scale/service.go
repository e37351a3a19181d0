package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth-dev/berth/bench/internal/benchproc"
)

// The service run: a service of -service-tasks tasks over -service-instances
// sim instances rolls out a new task definition revision; how long that
// takes and how many store writes (etcd revisions) it costs per task
// replaced, beside the same figures for the service's create (the
// controller starting as many tasks from none: the reference) and for
// plain RunTask and StopTask of as many tasks by one client, in calls of
// 10 as the controller makes them. Every phase's writes are read from the
// embedded etcd: its revision before and after, and a watch over the
// phase that sorts them by what they changed.

const (
	svcName   = "bench"
	svcFamily = "svc-bench"
	svcGroup  = "service:" + svcName
)

// phase is what one measured phase cost.
type phase struct {
	name      string
	tasks     int           // tasks started, stopped or replaced
	elapsed   time.Duration // until the API said done (stable, all RUNNING, all STOPPED)
	settled   time.Duration // until every task it stopped was STOPPED too, and the writes were counted
	revisions int64         // etcd revision delta from start to settled
	w         *writes       // the watch's breakdown
	// From the API, sampled (DescribeClusters, DescribeServices), and from
	// the watch, at every revision: the service's tasks RUNNING, and
	// RUNNING or on their way (not STOPPED).
	sampled, exact bounds
	// reported: the service's own runningCount and runningCount +
	// pendingCount (DescribeServices), as the controller last wrote them.
	reported    bounds
	samples     int
	serverTicks int64
	agentTicks  int64
}

// bounds are the fewest and most tasks seen.
type bounds struct {
	minRunning, maxRunning, maxLive int
	seen                            bool
}

func (b *bounds) add(running, live int) {
	if !b.seen {
		b.minRunning, b.maxRunning, b.maxLive, b.seen = running, running, live, true
		return
	}
	b.minRunning = min(b.minRunning, running)
	b.maxRunning = max(b.maxRunning, running)
	b.maxLive = max(b.maxLive, live)
}

// service runs the service benchmark on a fresh cluster.
func service(ctx context.Context, bin, dir string, o options) error {
	n, total := o.serviceInstances, o.serviceTasks
	if n < 1 || total < 1 {
		return fmt.Errorf("service: want at least 1 instance and 1 task")
	}
	second, err := parseDeploymentConfig(o.serviceSecond)
	if err != nil {
		return err
	}
	// Room for twice the service (a rollout at maximumPercent 200) of
	// tasks of 1 CPU unit and 6 MiB, as the other runs'.
	per := 2*total/n + 100
	c, err := startCluster(ctx, bin, dir, n, max(per, 1024), max(per*6, 1024))
	if err != nil {
		return err
	}
	defer c.stop()
	cli, err := etcdClient(c.dataDir)
	if err != nil {
		return err
	}
	defer cli.Close()
	rev1, err := registerSvcDef(ctx, c.client, "bench.example/app:1")
	if err != nil {
		return err
	}
	rev2, err := registerSvcDef(ctx, c.client, "bench.example/app:2")
	if err != nil {
		return err
	}
	m := &meter{c: c, cli: cli, timeout: o.serviceTimeout}

	// The machine's idle writes, to tell the phases' own from them.
	settle(c)
	idleRev0, err := m.revision(ctx)
	if err != nil {
		return err
	}
	const idleWindow = 10 * time.Second
	time.Sleep(idleWindow)
	idleRev1, err := m.revision(ctx)
	if err != nil {
		return err
	}
	idlePerSec := float64(idleRev1-idleRev0) / idleWindow.Seconds()

	// Reference 1: plain RunTask of total tasks, 10 a call, one client,
	// then StopTask of each, one client: the calls the controller makes,
	// made by hand.
	var arns []string
	runs, err := m.measure(ctx, "RunTask by hand", total, 0, 0, func(ctx context.Context) error {
		for len(arns) < total {
			out, err := c.client.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(rev1), Count: aws.Int32(int32(min(10, total-len(arns))))})
			if err != nil {
				return fmt.Errorf("run task: %w", err)
			}
			if len(out.Failures) > 0 {
				return fmt.Errorf("run task: %s", aws.ToString(out.Failures[0].Reason))
			}
			for _, t := range out.Tasks {
				arns = append(arns, aws.ToString(t.TaskArn))
			}
		}
		return nil
	}, func(cs clusterState, _ *types.Service) bool { return cs.running == total && cs.pending == 0 })
	if err != nil {
		return err
	}
	stops, err := m.measure(ctx, "StopTask by hand", total, 0, 0, func(ctx context.Context) error {
		for _, arn := range arns {
			if _, err := c.client.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn), Reason: aws.String("bench")}); err != nil {
				return fmt.Errorf("stop task: %w", err)
			}
		}
		return nil
	}, func(cs clusterState, _ *types.Service) bool { return cs.running == 0 && cs.pending == 0 })
	if err != nil {
		return err
	}
	settle(c)

	// Reference 2: the service's create, desiredCount tasks from none.
	create, err := m.measure(ctx, "create", total, 0, 0, func(ctx context.Context) error {
		_, err := c.client.CreateService(ctx, &ecs.CreateServiceInput{
			ServiceName: aws.String(svcName), TaskDefinition: aws.String(rev1), DesiredCount: aws.Int32(int32(total)),
		})
		if err != nil {
			return fmt.Errorf("create service: %w", err)
		}
		return nil
	}, stableOn(ctx, c.client, rev1, total))
	if err != nil {
		return err
	}
	settle(c)

	// The rollout: UpdateService to rev 2 under the default deployment
	// configuration (200/100), until stable on rev 2 with every task of rev
	// 2 RUNNING.
	def := deploymentConfig{min: 100, max: 200}
	rollouts := []*phase{}
	rollout, err := m.measure(ctx, fmt.Sprintf("rollout min %d max %d", def.min, def.max), total, def.min, def.max, func(ctx context.Context) error {
		_, err := c.client.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String(svcName), TaskDefinition: aws.String(rev2)})
		if err != nil {
			return fmt.Errorf("update service: %w", err)
		}
		return nil
	}, stableOn(ctx, c.client, rev2, total))
	if rollout != nil {
		rollouts = append(rollouts, rollout)
	}
	if err == nil && second != nil {
		settle(c)
		var r *phase
		r, err = m.measure(ctx, fmt.Sprintf("rollout min %d max %d", second.min, second.max), total, second.min, second.max, func(ctx context.Context) error {
			_, err := c.client.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String(svcName), TaskDefinition: aws.String(rev1),
				DeploymentConfiguration: &types.DeploymentConfiguration{
					MinimumHealthyPercent: aws.Int32(int32(second.min)), MaximumPercent: aws.Int32(int32(second.max))}})
			if err != nil {
				return fmt.Errorf("update service: %w", err)
			}
			return nil
		}, stableOn(ctx, c.client, rev1, total))
		if r != nil {
			rollouts = append(rollouts, r)
		}
	}

	fmt.Printf("== service rollout: a service of %d tasks over %d sim instances rolls out a new task definition revision\n", total, n)
	fmt.Printf("idle writes (no phase running, %s): %.1f revisions/s\n", idleWindow, idlePerSec)
	fmt.Printf("%-22s %6s %9s %9s %8s %10s %9s %9s   %s\n", "phase", "tasks", "to done", "settled", "tasks/s", "revisions", "per task", "(- idle)", "CPU per task: server, agents")
	all := append([]*phase{runs, stops, create}, rollouts...)
	for _, p := range all {
		fmt.Printf("%-22s %6d %9s %9s %8.0f %10d %9.2f %9.2f   %.2f ms, %.2f ms\n", p.name, p.tasks,
			p.elapsed.Round(time.Millisecond), p.settled.Round(time.Millisecond), rate(p.tasks, p.elapsed),
			p.revisions, float64(p.revisions)/float64(p.tasks), (float64(p.revisions)-idlePerSec*p.settled.Seconds())/float64(p.tasks),
			float64(p.serverTicks)*10/float64(p.tasks), float64(p.agentTicks)*10/float64(p.tasks))
	}
	fmt.Printf("(to done: until the API showed the phase done: all RUNNING, all STOPPED, or the service stable on its revision with all\n" +
		" its tasks of that revision RUNNING; settled: until the tasks it stopped were STOPPED too, over which the revisions are counted)\n")
	for _, r := range rollouts {
		fmt.Printf("ratio %s / create: %.2f in time to done, %.2f in revisions per task; / RunTask+StopTask by hand: %.2f in time, %.2f in revisions\n",
			r.name, float64(r.elapsed)/float64(create.elapsed), float64(r.revisions)/float64(create.revisions),
			float64(r.elapsed)/float64(runs.elapsed+stops.elapsed), float64(r.revisions)/float64(runs.revisions+stops.revisions))
	}
	fmt.Println("writes by what they changed (etcd transactions, each counted once, by the first that applies):")
	for _, p := range all {
		fmt.Printf("  %-20s %s\n", p.name+":", p.w.summary(p.tasks))
	}
	fmt.Println("when (first - last transaction of each kind, from the phase's start, as the watch received them):")
	for _, p := range all {
		fmt.Printf("  %-20s %s\n", p.name+":", p.w.timeline())
	}
	fmt.Println("key writes by collection:")
	for _, p := range all {
		fmt.Printf("  %-20s %s\n", p.name+":", p.w.keySummary())
	}
	var violations []string
	for _, r := range rollouts {
		fmt.Printf("%s bounds: RUNNING may not fall below %d nor exceed %d; sampled (%d samples of DescribeClusters): RUNNING %d..%d, not STOPPED at most %d; every revision (watch): RUNNING %d..%d, not STOPPED at most %d; the service's runningCount (DescribeServices) %d..%d\n",
			r.name, r.w.minHealthy, r.w.maxTotal, r.samples, r.sampled.minRunning, r.sampled.maxRunning, r.sampled.maxLive,
			r.exact.minRunning, r.exact.maxRunning, r.exact.maxLive, r.reported.minRunning, r.reported.maxRunning)
		for _, b := range []bounds{r.sampled, r.exact} {
			if b.minRunning < r.w.minHealthy || b.maxRunning > r.w.maxTotal {
				violations = append(violations, r.name)
			}
		}
	}
	fmt.Printf("server RSS at the end: %.0f MiB\n", float64(benchproc.RSS(c.server.Pid()))/1024)
	c.report()
	fmt.Println()
	if err != nil {
		return err
	}
	if len(violations) > 0 {
		return fmt.Errorf("running tasks left the deployment configuration's bounds in %s", strings.Join(slices.Compact(violations), ", "))
	}
	return nil
}

type deploymentConfig struct{ min, max int }

// parseDeploymentConfig reads "50/200" (minimumHealthyPercent /
// maximumPercent); "" is none.
func parseDeploymentConfig(s string) (*deploymentConfig, error) {
	if s == "" {
		return nil, nil
	}
	lo, hi, ok := strings.Cut(s, "/")
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil {
		return nil, fmt.Errorf("-service-second %q: want minimumHealthyPercent/maximumPercent, as 50/200", s)
	}
	return &deploymentConfig{min: a, max: b}, nil
}

// registerSvcDef registers a revision of the service's task definition:
// the curve's one small container, with image telling the revisions apart.
func registerSvcDef(ctx context.Context, client *ecs.Client, image string) (string, error) {
	out, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(svcFamily),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String(image), Cpu: 1, Memory: aws.Int32(6),
		}},
	})
	if err != nil {
		return "", fmt.Errorf("register task definition: %w", err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn), nil
}

// etcdClient connects to the server's embedded etcd (its client port is in
// the data dir).
func etcdClient(dataDir string) (*clientv3.Client, error) {
	raw, err := os.ReadFile(filepath.Join(dataDir, "etcd", "berth-ports.json"))
	if err != nil {
		return nil, fmt.Errorf("embedded etcd port: %w", err)
	}
	var ports struct{ Client int }
	if err := json.Unmarshal(raw, &ports); err != nil {
		return nil, fmt.Errorf("embedded etcd port: %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:" + strconv.Itoa(ports.Client)}, DialTimeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd: %w", err)
	}
	return cli, nil
}

// clusterState is one sample of the cluster's task counts.
type clusterState struct{ running, pending int }

// meter measures phases.
type meter struct {
	c       *cluster
	cli     *clientv3.Client
	timeout time.Duration
}

func (m *meter) revision(ctx context.Context) (int64, error) {
	resp, err := m.cli.Get(ctx, "/berth-bench-revision") // any key: the header has the store's revision
	if err != nil {
		return 0, fmt.Errorf("etcd revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// measure runs act and polls DescribeClusters and DescribeServices
// until done says the phase is done; then waits until the cluster holds
// tasks RUNNING and none on their way (the stopped tasks STOPPED) and reads
// the revision. A watch over the phase sorts its writes. minPct and maxPct,
// when set, are the bounds the service's RUNNING tasks must keep.
func (m *meter) measure(ctx context.Context, name string, tasks, minPct, maxPct int, act func(context.Context) error,
	done func(clusterState, *types.Service) bool) (*phase, error) {
	p := &phase{name: name, tasks: tasks}
	rev0, err := m.revision(ctx)
	if err != nil {
		return nil, err
	}
	seed, err := m.cli.Get(ctx, "/berth/", clientv3.WithPrefix(), clientv3.WithRev(rev0))
	if err != nil {
		return nil, fmt.Errorf("etcd: read tasks: %w", err)
	}
	p.w = newWrites(seed.Kvs)
	if maxPct > 0 {
		p.w.maxTotal, p.w.minHealthy = tasks*maxPct/100, (tasks*minPct+99)/100
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch := m.cli.Watch(wctx, "", clientv3.WithPrefix(), clientv3.WithRev(rev0+1), clientv3.WithPrevKV())
	watched := make(chan error, 1)
	var stopAt = make(chan int64, 1)
	go func() { watched <- p.w.follow(watch, stopAt, &p.exact) }()

	pctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	s0, a0 := benchproc.CPUTicks(m.c.server.Pid()), benchproc.CPUTicks(m.c.agent.Pid())
	began := time.Now()
	p.w.began = began
	if err := act(pctx); err != nil {
		return p, fmt.Errorf("%s: %w", name, err)
	}
	for stage := 0; stage < 2; {
		cs, err := clusterCounts(pctx, m.c.client)
		if err == nil && maxPct > 0 {
			p.sampled.add(cs.running, cs.running+cs.pending)
			p.samples++
		}
		var svc *types.Service
		if err == nil {
			svc, err = describeService(pctx, m.c.client)
		}
		if err == nil && svc != nil && maxPct > 0 {
			p.reported.add(int(svc.RunningCount), int(svc.RunningCount+svc.PendingCount))
		}
		switch {
		case err != nil:
			if pctx.Err() != nil {
				m.stalled(ctx, name, svc)
				return p, fmt.Errorf("%s: not done after %s: %w", name, m.timeout, err)
			}
		case stage == 0 && done(cs, svc):
			p.elapsed = time.Since(began)
			stage = 1
			continue
		case stage == 1 && cs.running == tasksLeft(name, tasks) && cs.pending == 0:
			stage = 2
			continue
		}
		select {
		case <-pctx.Done():
			m.stalled(ctx, name, svc)
			return p, fmt.Errorf("%s: not done after %s (stage %d)", name, m.timeout, stage)
		case <-time.After(50 * time.Millisecond): // polling pace
		}
	}
	p.settled = time.Since(began)
	rev1, err := m.revision(ctx)
	if err != nil {
		return p, err
	}
	p.serverTicks = benchproc.CPUTicks(m.c.server.Pid()) - s0
	p.agentTicks = benchproc.CPUTicks(m.c.agent.Pid()) - a0
	p.revisions = rev1 - rev0
	stopAt <- rev1
	if err := <-watched; err != nil {
		return p, fmt.Errorf("%s: watch: %w", name, err)
	}
	return p, nil
}

// tasksLeft is how many tasks the cluster runs once a phase has settled.
func tasksLeft(name string, tasks int) int {
	if name == "StopTask by hand" {
		return 0
	}
	return tasks
}

// stalled prints what the service says when a phase does not finish.
func (m *meter) stalled(ctx context.Context, name string, svc *types.Service) {
	if s, err := describeService(ctx, m.c.client); err == nil && s != nil {
		svc = s
	}
	fmt.Printf("%s stalled:\n", name)
	if svc == nil {
		return
	}
	fmt.Printf("  service: desired %d, running %d, pending %d\n", svc.DesiredCount, svc.RunningCount, svc.PendingCount)
	for _, d := range svc.Deployments {
		fmt.Printf("  deployment %s %s %s: running %d, pending %d, failed %d, rollout %s\n", aws.ToString(d.Id), aws.ToString(d.Status),
			aws.ToString(d.TaskDefinition), d.RunningCount, d.PendingCount, d.FailedTasks, d.RolloutState)
	}
	for i, e := range svc.Events {
		if i == 10 {
			break
		}
		msg := aws.ToString(e.Message)
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		fmt.Printf("  event %s %s\n", e.CreatedAt.Format(time.TimeOnly), msg)
	}
}

// clusterCounts samples the default cluster's RUNNING and pending tasks.
func clusterCounts(ctx context.Context, client *ecs.Client) (clusterState, error) {
	out, err := client.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	if err != nil {
		return clusterState{}, fmt.Errorf("describe clusters: %w", err)
	}
	if len(out.Clusters) != 1 {
		return clusterState{}, fmt.Errorf("describe clusters: %d clusters", len(out.Clusters))
	}
	return clusterState{int(out.Clusters[0].RunningTasksCount), int(out.Clusters[0].PendingTasksCount)}, nil
}

// describeService returns the benchmark's service, or nil before it exists.
func describeService(ctx context.Context, client *ecs.Client) (*types.Service, error) {
	out, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{svcName}})
	if err != nil {
		return nil, fmt.Errorf("describe services: %w", err)
	}
	if len(out.Services) == 0 {
		return nil, nil
	}
	return &out.Services[0], nil
}

// stableOn says whether the service is stable on def: one deployment, of
// def, runningCount == desiredCount == tasks, none pending; and then,
// asked of the tasks themselves, every task the service runs is of def
// and RUNNING.
func stableOn(ctx context.Context, client *ecs.Client, def string, tasks int) func(clusterState, *types.Service) bool {
	return func(_ clusterState, svc *types.Service) bool {
		if svc == nil || len(svc.Deployments) != 1 || aws.ToString(svc.Deployments[0].TaskDefinition) != def ||
			svc.DesiredCount != int32(tasks) || svc.RunningCount != svc.DesiredCount || svc.PendingCount != 0 {
			return false
		}
		var arns []string
		pages := ecs.NewListTasksPaginator(client, &ecs.ListTasksInput{ServiceName: aws.String(svcName),
			DesiredStatus: types.DesiredStatusRunning, MaxResults: aws.Int32(100)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return false
			}
			arns = append(arns, page.TaskArns...)
		}
		if len(arns) != tasks {
			return false
		}
		for batch := range slices.Chunk(arns, 100) {
			out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: batch})
			if err != nil || len(out.Failures) > 0 {
				return false
			}
			for _, t := range out.Tasks {
				if aws.ToString(t.TaskDefinitionArn) != def || aws.ToString(t.LastStatus) != "RUNNING" {
					return false
				}
			}
		}
		return true
	}
}

// writes sorts a phase's etcd transactions (revisions) by what they
// changed, from a watch with the previous values, and follows the
// service's tasks' lastStatus through them.
type writes struct {
	byKind     map[string]int // transactions by kind
	keys       map[string]int // key writes by collection
	taskStatus map[string]string
	taskGroup  map[string]string
	// maxTotal and minHealthy: the bounds, when the phase has them.
	maxTotal, minHealthy int
	// span is when the watch saw the first and the last transaction of
	// each kind, from began (the phase's start).
	span  map[string][2]time.Duration
	began time.Time
}

func newWrites(seed []*mvccpb.KeyValue) *writes {
	w := &writes{byKind: map[string]int{}, keys: map[string]int{}, span: map[string][2]time.Duration{}, taskStatus: map[string]string{}, taskGroup: map[string]string{}}
	for _, kv := range seed {
		if collection(string(kv.Key)) == "ecs/tasks" {
			if t, ok := decodeTask(kv.Value); ok {
				w.taskStatus[string(kv.Key)], w.taskGroup[string(kv.Key)] = t.LastStatus, t.Group
			}
		}
	}
	return w
}

// taskFields are what the sorting reads of a task record.
type taskFields struct {
	LastStatus, DesiredStatus, Group, HealthStatus string
}

func decodeTask(raw []byte) (taskFields, bool) {
	var r struct {
		Task     taskFields `json:"task"`
		Released bool       `json:"released"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return taskFields{}, false
	}
	return r.Task, true
}

// collection is a key's collection: "ecs/tasks" of
// "/berth/<account>/<region>/ecs/tasks/<cluster>/<id>"; otherwise the key's
// first three segments.
func collection(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if p == "ecs" && i+1 < len(parts) {
			return "ecs/" + parts[i+1]
		}
	}
	return strings.Join(parts[:min(len(parts), 4)], "/")
}

// follow collects the watch's events until it has seen revision stopAt
// (sent once the phase has settled), then sorts each transaction up to it
// and, after each, counts the service's tasks RUNNING and not STOPPED into
// exact.
func (w *writes) follow(watch clientv3.WatchChan, stopAt chan int64, exact *bounds) error {
	var events []*clientv3.Event
	var seenAt []time.Time // when each event arrived
	last, end := int64(0), int64(-1)
	for end < 0 || last < end {
		select {
		case e := <-stopAt:
			end = e
		case resp, ok := <-watch:
			if !ok {
				return fmt.Errorf("watch closed at revision %d", last)
			}
			if err := resp.Err(); err != nil {
				return err
			}
			now := time.Now()
			for _, ev := range resp.Events {
				events = append(events, ev)
				seenAt = append(seenAt, now)
				last = ev.Kv.ModRevision
			}
		}
	}
	running, live := 0, 0
	for k, st := range w.taskStatus {
		if w.taskGroup[k] == svcGroup {
			running, live = running+btoi(st == "RUNNING"), live+btoi(st != "STOPPED")
		}
	}
	for len(events) > 0 && events[0].Kv.ModRevision <= end {
		i := 1
		for i < len(events) && events[i].Kv.ModRevision == events[0].Kv.ModRevision {
			i++
		}
		kind, dr, dl := w.kindOf(events[:i])
		w.byKind[kind]++
		at := seenAt[0].Sub(w.began)
		if sp, ok := w.span[kind]; ok {
			w.span[kind] = [2]time.Duration{sp[0], at}
		} else {
			w.span[kind] = [2]time.Duration{at, at}
		}
		seenAt = seenAt[i:]
		running, live = running+dr, live+dl
		if w.maxTotal > 0 {
			exact.add(running, live)
		}
		events = events[i:]
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// kindOf sorts one transaction's writes, updating the tasks' statuses; it
// returns the transaction's kind and how it changed the service's tasks
// RUNNING and not STOPPED.
func (w *writes) kindOf(txn []*clientv3.Event) (kind string, dRunning, dLive int) {
	count := func(key string, sign int) {
		if w.taskGroup[key] == svcGroup {
			st, ok := w.taskStatus[key]
			dRunning += sign * btoi(ok && st == "RUNNING")
			dLive += sign * btoi(ok && st != "STOPPED")
		}
	}
	var created, stopAsked, toRunning, toStopped, otherStatus, otherTask int
	cols := map[string]bool{}
	for _, ev := range txn {
		key := string(ev.Kv.Key)
		col := collection(key)
		w.keys[col]++
		cols[col] = true
		if col != "ecs/tasks" {
			continue
		}
		count(key, -1)
		if ev.Type == clientv3.EventTypeDelete {
			otherTask++
			delete(w.taskStatus, key)
			continue
		}
		t, _ := decodeTask(ev.Kv.Value)
		w.taskStatus[key], w.taskGroup[key] = t.LastStatus, t.Group
		count(key, +1)
		if ev.PrevKv == nil {
			created++
			continue
		}
		prev, _ := decodeTask(ev.PrevKv.Value)
		switch {
		case prev.DesiredStatus != "STOPPED" && t.DesiredStatus == "STOPPED" && prev.LastStatus == t.LastStatus:
			stopAsked++
		case prev.LastStatus != t.LastStatus && t.LastStatus == "RUNNING":
			toRunning++
		case prev.LastStatus != t.LastStatus && t.LastStatus == "STOPPED":
			toStopped++
		case prev.LastStatus != t.LastStatus:
			otherStatus++
		default:
			otherTask++
		}
	}
	switch {
	case created > 0:
		kind = "RunTask (tasks created)"
	case stopAsked > 0:
		kind = "StopTask (desiredStatus STOPPED)"
	case toRunning > 0:
		kind = "agent: task RUNNING"
	case toStopped > 0:
		kind = "agent: task STOPPED"
	case otherStatus > 0:
		kind = "agent: other lastStatus"
	case otherTask > 0:
		kind = "task: other change"
	case cols["ecs/services"]:
		kind = "controller: service status"
	default:
		kind = "other: " + strings.Join(slices.Sorted(maps.Keys(cols)), "+")
	}
	return kind, dRunning, dLive
}

// summary is the transactions by kind, most first, per task.
func (w *writes) summary(tasks int) string {
	return countsPerTask(w.byKind, tasks)
}

// timeline is each kind's first and last transaction, in the order they
// began.
func (w *writes) timeline() string {
	kinds := slices.Collect(maps.Keys(w.span))
	slices.SortFunc(kinds, func(a, b string) int { return cmp.Compare(w.span[a][0], w.span[b][0]) })
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %.1f-%.1f s", k, w.span[k][0].Seconds(), w.span[k][1].Seconds()))
	}
	return strings.Join(parts, ", ")
}

func (w *writes) keySummary() string {
	total := 0
	for _, n := range w.keys {
		total += n
	}
	return fmt.Sprintf("%d keys: %s", total, countsPerTask(w.keys, 0))
}

// countsPerTask formats counts, most first, with the count per task when
// tasks > 0.
func countsPerTask(m map[string]int, tasks int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys {
		if tasks > 0 {
			parts = append(parts, fmt.Sprintf("%s %d (%.2f)", k, m[k], float64(m[k])/float64(tasks)))
		} else {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}
