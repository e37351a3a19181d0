package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth-dev/berth/bench/internal/benchproc"
)

// curve measures the latency curve and the throughput on one cluster.
func curve(ctx context.Context, bin, dir string, o options) error {
	// Room for large tasks of 1 CPU unit and 6 MiB on the instances.
	per := o.large/o.instances + 100
	c, err := startCluster(ctx, bin, dir, o.instances, max(per, 1024), max(per*6, 1024))
	if err != nil {
		return err
	}
	defer c.stop()
	def, err := registerDef(ctx, c.client)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var arns []string
	add := func(more []string) {
		mu.Lock()
		arns = append(arns, more...)
		mu.Unlock()
	}
	current := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return arns
	}
	list := ops(c.client, def, current)

	more, err := fill(ctx, c.client, def, 0, o.small, o.workers)
	if err != nil {
		return err
	}
	add(more)
	if err := waitRunning(ctx, c.client, len(current())); err != nil {
		return err
	}
	settle(c)
	small, err := timeOps(ctx, list, o.samples)
	if err != nil {
		return err
	}
	have := len(current()) + o.samples // the RunTask samples added one each

	began := time.Now()
	s0, a0 := benchproc.CPUTicks(c.server.Pid()), benchproc.CPUTicks(c.agent.Pid())
	more, err = fill(ctx, c.client, def, have, o.large, o.workers)
	if err != nil {
		return err
	}
	placed := time.Since(began)
	add(more)
	if err := waitRunning(ctx, c.client, o.large); err != nil {
		return err
	}
	elapsed := time.Since(began)
	serverCPU := float64(benchproc.CPUTicks(c.server.Pid())-s0) / 100 / elapsed.Seconds()
	agentCPU := float64(benchproc.CPUTicks(c.agent.Pid())-a0) / 100 / elapsed.Seconds()
	tasksPerSec := float64(len(more)) / elapsed.Seconds()
	putsPerSec, err := etcdPutRate(ctx, c.dataDir, o.workers, 5000)
	if err != nil {
		return err
	}
	settle(c)
	large, err := timeOps(ctx, list, o.samples)
	if err != nil {
		return err
	}

	fmt.Printf("== latency curve and throughput (%d sim instances, %d clients, %d calls per op per sample)\n", o.instances, o.workers, o.samples)
	fmt.Printf("%-14s %16s %16s %8s\n", "p50", fmt.Sprintf("%d tasks", o.small), fmt.Sprintf("%d tasks", o.large), "ratio")
	for _, op := range list {
		s, l := percentile(small[op.name], 50), percentile(large[op.name], 50)
		fmt.Printf("%-14s %16s %16s %8.2f\n", op.name, ms(s), ms(l), float64(l)/float64(s))
	}
	fmt.Printf("%-14s %16s %16s\n", "p90", "", "")
	for _, op := range list {
		s, l := percentile(small[op.name], 90), percentile(large[op.name], 90)
		fmt.Printf("%-14s %16s %16s %8.2f\n", op.name, ms(s), ms(l), float64(l)/float64(s))
	}
	fmt.Printf("throughput: %d tasks RUNNING in %s = %.0f tasks/s (RunTask of 10 from %d clients; all placed after %s); CPU: server %.0f%%, agents %.0f%% of one core\n",
		len(more), elapsed.Round(time.Millisecond), tasksPerSec, o.workers, placed.Round(time.Millisecond), serverCPU*100, agentCPU*100)
	fmt.Printf("reference:  the same etcd takes %.0f plain puts/s from %d clients; tasks/s : puts/s = %.2f\n",
		putsPerSec, o.workers, tasksPerSec/putsPerSec)
	fmt.Printf("server RSS with %d tasks: %.0f MiB\n", o.large, float64(benchproc.RSS(c.server.Pid()))/1024)
	c.report()
	fmt.Println()
	return nil
}

// etcdPutRate measures plain etcd puts/s on the server's embedded etcd
// (its client port is in the data dir) from workers clients: the
// reference for the throughput.
func etcdPutRate(ctx context.Context, dataDir string, workers, n int) (float64, error) {
	cli, err := etcdClient(dataDir)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	value := string(make([]byte, 1024)) // about a task record
	var next int64
	var mu sync.Mutex
	var firstErr error
	began := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= int64(n) {
					return
				}
				if _, err := cli.Put(ctx, fmt.Sprintf("/bench-reference/%d", i), value); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	rate := float64(n) / time.Since(began).Seconds()
	_, _ = cli.Delete(ctx, "/bench-reference/", clientv3.WithPrefix())
	return rate, firstErr
}

// fleet measures the server's RSS and API latency with many instances and
// tasks.
func fleet(ctx context.Context, bin, dir string, o options) error {
	per := o.fleetTasks/o.fleetInstances + 10
	began := time.Now()
	c, err := startCluster(ctx, bin, dir, o.fleetInstances, max(per, 1024), max(per*6, 1024))
	if err != nil {
		return err
	}
	defer c.stop()
	connected := time.Since(began)
	def, err := registerDef(ctx, c.client)
	if err != nil {
		return err
	}
	began = time.Now()
	arns, err := fill(ctx, c.client, def, 0, o.fleetTasks, o.workers)
	if err != nil {
		return err
	}
	if err := waitRunning(ctx, c.client, len(arns)); err != nil {
		return err
	}
	filled := time.Since(began)
	rss := benchproc.RSS(c.server.Pid())

	mix := append(ops(c.client, def, func() []string { return arns }), op{"DescribeContainerInstances", func(ctx context.Context) error {
		list, err := c.client.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{MaxResults: aws.Int32(10)})
		if err != nil {
			return err
		}
		_, err = c.client.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: list.ContainerInstanceArns})
		return err
	}}, op{"DescribeClusters", func(ctx context.Context) error {
		_, err := c.client.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
		return err
	}})
	floor := []op{{"ListClusters", func(ctx context.Context) error {
		_, err := c.client.ListClusters(ctx, &ecs.ListClustersInput{})
		return err
	}}}
	loaded, err := concurrently(ctx, mix, o.workers, 25)
	if err != nil {
		return err
	}
	base, err := concurrently(ctx, floor, o.workers, 100)
	if err != nil {
		return err
	}
	alone, err := timeOps(ctx, mix, o.samples)
	if err != nil {
		return err
	}
	var all []time.Duration
	fmt.Printf("== fleet: %d sim instances (connected after %s), %d tasks (RUNNING after %s, %.0f tasks/s)\n",
		o.fleetInstances, connected.Round(time.Second), len(arns), filled.Round(time.Second), float64(len(arns))/filled.Seconds())
	fmt.Printf("server RSS: %.0f MiB (goal at most 2048 MiB)\n", float64(rss)/1024)
	fmt.Printf("%-28s %10s %10s   (%d clients at once) %10s (one client)\n", "", "p50", "p99", o.workers, "p50")
	for _, op := range mix {
		ds := loaded[op.name]
		all = append(all, ds...)
		fmt.Printf("%-28s %10s %10s %33s\n", op.name, ms(percentile(ds, 50)), ms(percentile(ds, 99)), ms(percentile(alone[op.name], 50)))
	}
	p99, floorP99 := percentile(all, 99), percentile(base["ListClusters"], 99)
	fmt.Printf("%-28s %10s %10s\n", "all of the above", ms(percentile(all, 50)), ms(p99))
	fmt.Printf("reference: ListClusters    %10s %10s; p99 ratio %.2f (goal: p99 at most 100 ms)\n",
		ms(percentile(base["ListClusters"], 50)), ms(floorP99), float64(p99)/float64(floorP99))
	c.report()
	return nil
}

// concurrently runs each op n times from workers clients at once and
// returns the durations by op name.
func concurrently(ctx context.Context, list []op, workers, n int) (map[string][]time.Duration, error) {
	var mu sync.Mutex
	out := map[string][]time.Duration{}
	var firstErr error
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				o := list[(w+i)%len(list)]
				began := time.Now()
				err := o.call(ctx)
				d := time.Since(began)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", o.name, err)
				}
				out[o.name] = append(out[o.name], d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// settle waits (up to 30s) until the server and the agents are quiet (under
// a fifth of a core each over a second), so that a latency sample measures
// the calls, not the tail of the work before it.
func settle(c *cluster) {
	for range 30 {
		s0, a0 := benchproc.CPUTicks(c.server.Pid()), benchproc.CPUTicks(c.agent.Pid())
		time.Sleep(time.Second) // the sampling window
		if benchproc.CPUTicks(c.server.Pid())-s0 < 20 && benchproc.CPUTicks(c.agent.Pid())-a0 < 20 {
			return
		}
	}
}
