package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Elastic Load Balancing through the AWS CLI v2, as a user of ECS on EC2
// uses it: an Application Load Balancer whose listener routes by path to
// two services' target groups, the services' tasks on dynamic host ports
// registered by ECS, a rolling deployment under a steady stream of
// requests, draining, and an unhealthy target taken out and replaced.

// The CLI's JSON for ELB, decoded into what the tests look at.
type (
	cliLoadBalancer struct {
		LoadBalancerArn, LoadBalancerName, DNSName, Type, Scheme string
		State                                                    struct{ Code string }
	}
	cliTargetHealth struct {
		Target struct {
			Id   string
			Port int
		}
		TargetHealth struct{ State, Reason, Description string }
	}
)

// elbCLI drives ELB through the CLI for one server.
type elbCLI struct{ srv *server }

func (e elbCLI) createALB(t *testing.T, name string) cliLoadBalancer {
	t.Helper()
	var out struct{ LoadBalancers []cliLoadBalancer }
	cliJSON(t, e.srv, &out, "elbv2", "create-load-balancer", "--name", name, "--type", "application")
	if len(out.LoadBalancers) != 1 || out.LoadBalancers[0].State.Code != "active" {
		t.Fatalf("create-load-balancer: %s", jsonString(out))
	}
	return out.LoadBalancers[0]
}

// createHTTPGroup creates an HTTP target group of instance targets whose
// health check is GET /healthz every 2 seconds, 2 in a row either way,
// with a 3-second deregistration delay.
func (e elbCLI) createHTTPGroup(t *testing.T, name string) string {
	t.Helper()
	var out struct {
		TargetGroups []struct{ TargetGroupArn string }
	}
	cliJSON(t, e.srv, &out, "elbv2", "create-target-group", "--name", name, "--protocol", "HTTP", "--port", "80",
		"--target-type", "instance", "--vpc-id", "vpc-berth", "--health-check-path", "/healthz",
		"--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
		"--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2")
	if len(out.TargetGroups) != 1 {
		t.Fatalf("create-target-group: %s", jsonString(out))
	}
	arn := out.TargetGroups[0].TargetGroupArn
	awsCLI(t, e.srv, "elbv2", "modify-target-group-attributes", "--target-group-arn", arn,
		"--attributes", "Key=deregistration_delay.timeout_seconds,Value=3")
	return arn
}

func (e elbCLI) targetHealth(t testing.TB, group string) []cliTargetHealth {
	t.Helper()
	var out struct{ TargetHealthDescriptions []cliTargetHealth }
	cliJSON(t, e.srv, &out, "elbv2", "describe-target-health", "--target-group-arn", group)
	return out.TargetHealthDescriptions
}

// healthyPorts waits until the group has exactly n targets, all healthy,
// and returns their ports.
func (e elbCLI) healthyPorts(t *testing.T, group string, n int) []int {
	t.Helper()
	var ports []int
	var last []cliTargetHealth
	waitFor(t, svcTimeout, fmt.Sprintf("%d healthy targets in %s", n, group), func() bool {
		last = e.targetHealth(t, group)
		ports = ports[:0]
		for _, th := range last {
			if th.TargetHealth.State != "healthy" {
				return false
			}
			ports = append(ports, th.Target.Port)
		}
		return len(ports) == n
	})
	slices.Sort(ports)
	return ports
}

// lbGet sends one request through the load balancer at addr with the load
// balancer's DNS name as Host.
func lbGet(ctx context.Context, client *http.Client, addr, host, path string) (int, appReply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, appReply{}, err
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return 0, appReply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, appReply{}, err
	}
	var r appReply
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &r); err != nil {
			return resp.StatusCode, r, fmt.Errorf("reply %q: %w", body, err)
		}
	}
	return resp.StatusCode, r, nil
}

// TestCLIALBServices: two services behind one ALB by path; three tasks of
// one service on one instance on dynamic ports all get traffic; a rolling
// deployment under a steady stream of requests (some held in flight across
// the drains) fails none; a target that turns unhealthy is taken out and
// its task replaced.
func TestCLIALBServices(t *testing.T) {
	lbPort := freePort(t)
	srv := startServer(t, serverOptions{Args: []string{"--lb-port-map", fmt.Sprintf("80=%d", lbPort)}})
	cluster := uniqueName(t, "c")
	srv.createCluster(t, cluster)
	ag := srv.startAgent(t, agentOptions{Name: "node-a", Cluster: cluster, CPU: 1024, MemoryMiB: 1024, Zone: "zone-a"})
	var insts struct {
		ContainerInstances []struct{ Ec2InstanceId string }
	}
	cliJSON(t, srv, &insts, "ecs", "describe-container-instances", "--cluster", cluster, "--container-instances", ag.instanceARN)
	ec2ID := insts.ContainerInstances[0].Ec2InstanceId
	e := elbCLI{srv}

	t.Log("== 1. an ALB, two target groups, a listener routing /a/* and /b/* to them")
	alb := e.createALB(t, uniqueName(t, "alb"))
	if !strings.HasSuffix(alb.DNSName, ".elb.localhost") {
		t.Fatalf("DNSName %q: want a name under elb.localhost, which resolves to the loopback address the listeners bind", alb.DNSName)
	}
	tgA, tgB := e.createHTTPGroup(t, uniqueName(t, "tga")), e.createHTTPGroup(t, uniqueName(t, "tgb"))
	var lst struct {
		Listeners []struct{ ListenerArn string }
	}
	cliJSON(t, srv, &lst, "elbv2", "create-listener", "--load-balancer-arn", alb.LoadBalancerArn, "--protocol", "HTTP", "--port", "80",
		"--default-actions", `[{"Type":"fixed-response","FixedResponseConfig":{"StatusCode":"404","ContentType":"text/plain","MessageBody":"no route"}}]`)
	listener := lst.Listeners[0].ListenerArn
	for i, r := range []struct{ path, group string }{{"/a/*", tgA}, {"/b/*", tgB}} {
		awsCLI(t, srv, "elbv2", "create-rule", "--listener-arn", listener, "--priority", fmt.Sprint(10*(i+1)),
			"--conditions", fmt.Sprintf(`[{"Field":"path-pattern","Values":[%q]}]`, r.path),
			"--actions", fmt.Sprintf(`[{"Type":"forward","TargetGroupArn":%q}]`, r.group))
	}
	lbAddr := fmt.Sprintf("127.0.0.1:%d", lbPort)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	t.Cleanup(client.CloseIdleConnections)
	waitFor(t, stateTimeout, "the listener to answer its default action", func() bool {
		code, _, err := lbGet(t.Context(), client, lbAddr, alb.DNSName, "/nowhere")
		return err == nil && code == http.StatusNotFound
	})
	// The DNS name resolves (curl resolves *.localhost to loopback itself).
	curl := exec.CommandContext(t.Context(), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", fmt.Sprintf("http://%s:%d/nowhere", alb.DNSName, lbPort))
	if out, err := curl.Output(); err != nil || string(out) != "404" {
		t.Fatalf("curl through the DNS name: %q %v", out, err)
	}

	t.Log("== 2. service a (3 tasks) and service b (1 task) behind the groups")
	family := uniqueName(t, "web")
	taskDef := func(app string) string {
		path := writeJSON(t, map[string]any{
			"family": family + "-" + strings.Split(app, "-")[0], "networkMode": "bridge",
			"containerDefinitions": []map[string]any{{
				"name": "app", "image": appImage, "essential": true, "cpu": 64, "memoryReservation": 32,
				"portMappings": []map[string]any{{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}},
				"environment":  []map[string]string{{"name": "APP_NAME", "value": app}},
			}},
		})
		var reg struct {
			TaskDefinition struct{ TaskDefinitionArn string }
		}
		cliJSON(t, srv, &reg, "ecs", "register-task-definition", "--cli-input-json", "file://"+path)
		return reg.TaskDefinition.TaskDefinitionArn
	}
	tdA1, tdB := taskDef("a-v1"), taskDef("b-v1")
	svcA, svcB := svcCLI{srv, cluster, uniqueName(t, "sa")}, svcCLI{srv, cluster, uniqueName(t, "sb")}
	for _, c := range []struct {
		f     svcCLI
		td    string
		group string
		n     int
	}{{svcA, tdA1, tgA, 3}, {svcB, tdB, tgB, 1}} {
		awsCLI(t, srv, "ecs", "create-service", "--cluster", cluster, "--service-name", c.f.name, "--task-definition", c.td,
			"--desired-count", fmt.Sprint(c.n), "--health-check-grace-period-seconds", "60",
			"--deployment-configuration", "maximumPercent=200,minimumHealthyPercent=100",
			"--load-balancers", fmt.Sprintf("targetGroupArn=%s,containerName=app,containerPort=8080", c.group))
	}
	_, tasksA := svcA.waitStable(t, 3, tdA1)
	svcB.waitStable(t, 1, tdB)
	portsA := e.healthyPorts(t, tgA, 3)
	var hostPorts []int
	for _, task := range tasksA {
		hostPorts = append(hostPorts, task.container(t, "app").NetworkBindings[0].HostPort)
	}
	slices.Sort(hostPorts)
	if !slices.Equal(portsA, hostPorts) {
		t.Fatalf("group a's targets are on ports %v, its tasks on %v", portsA, hostPorts)
	}
	for _, th := range e.targetHealth(t, tgA) {
		if th.Target.Id != ec2ID {
			t.Fatalf("target %s, want the container instance %s", th.Target.Id, ec2ID)
		}
	}

	t.Log("== 3. traffic by path: /a/ reaches all three tasks of a, /b/ the task of b")
	seen := map[string]bool{}
	waitFor(t, stateTimeout, "requests to /a/ to reach all three tasks", func() bool {
		code, r, err := lbGet(t.Context(), client, lbAddr, alb.DNSName, "/a/hello")
		if err != nil || code != http.StatusOK || r.Env["APP_NAME"] != "a-v1" || r.Path != "/a/hello" {
			t.Fatalf("GET /a/hello: %d %+v %v", code, r, err)
		}
		seen[r.Hostname] = true
		return len(seen) == 3
	})
	if code, r, err := lbGet(t.Context(), client, lbAddr, alb.DNSName, "/b/x"); err != nil || code != http.StatusOK || r.Env["APP_NAME"] != "b-v1" {
		t.Fatalf("GET /b/x: %d %+v %v", code, r, err)
	}

	t.Log("== 4. a rolling deployment of a under a steady stream of requests, some held in flight")
	tdA2 := taskDef("a-v2")
	var (
		sent, failed atomic.Int64
		failMu       sync.Mutex
		failures     []string
		v2           atomic.Bool
	)
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				path := "/a/stream"
				if w == 0 {
					path = "/a/slow?sleep=1500ms" // in flight when its target starts draining
				}
				code, r, err := lbGet(context.Background(), client, lbAddr, alb.DNSName, path)
				sent.Add(1)
				if err != nil || code != http.StatusOK {
					failed.Add(1)
					failMu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %d %v", path, code, err))
					failMu.Unlock()
					continue
				}
				if r.Env["APP_NAME"] == "a-v2" {
					v2.Store(true)
				}
			}
		}()
	}
	awsCLI(t, srv, "ecs", "update-service", "--cluster", cluster, "--service", svcA.name, "--task-definition", tdA2)
	_, tasksA2 := svcA.waitStable(t, 3, tdA2)
	e.healthyPorts(t, tgA, 3) // the old targets drained away
	stop()
	wg.Wait()
	t.Logf("%d requests during the deployment, %d failed", sent.Load(), failed.Load())
	if failed.Load() != 0 || sent.Load() < 20 || !v2.Load() {
		t.Fatalf("%d of %d requests failed during the rolling deployment (new revision seen: %v): %q",
			failed.Load(), sent.Load(), v2.Load(), failures[:min(len(failures), 10)])
	}
	for _, task := range svcA.tasks(t, "STOPPED") {
		if task.TaskDefinitionArn == tdA1 && task.LastStatus == "STOPPED" && !strings.Contains(task.StoppedReason, "Scaling activity initiated by") {
			t.Errorf("old task stopped for %q", task.StoppedReason)
		}
	}

	t.Log("== 5. a target turns unhealthy: taken out of rotation, its task replaced")
	victim := tasksA2[0]
	victimPort := victim.container(t, "app").NetworkBindings[0].HostPort
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/healthz/fail", victimPort), "text/plain", nil)
	if err != nil {
		t.Fatalf("turn the task unhealthy: %v", err)
	}
	resp.Body.Close()
	waitFor(t, svcTimeout, "the failing task to be stopped for its ELB health checks", func() bool {
		got := svcA.describeTasks(t, victim.TaskArn)[0]
		return got.DesiredStatus == "STOPPED" && strings.HasPrefix(got.StoppedReason, "Task failed ELB health checks in (target-group "+tgA)
	})
	svcA.waitStable(t, 3, tdA2)
	for _, p := range e.healthyPorts(t, tgA, 3) {
		if p == victimPort {
			t.Fatalf("the unhealthy task's port %d is still a healthy target", victimPort)
		}
	}
	for range 12 {
		code, r, err := lbGet(t.Context(), client, lbAddr, alb.DNSName, "/a/after")
		if err != nil || code != http.StatusOK || r.Hostname == victim.container(t, "app").RuntimeId[:12] {
			t.Fatalf("GET /a/after: %d %+v %v (the unhealthy task must get no traffic)", code, r, err)
		}
	}

	t.Log("== 6. delete the services: their targets drain away")
	for _, f := range []svcCLI{svcA, svcB} {
		awsCLI(t, srv, "ecs", "delete-service", "--cluster", cluster, "--service", f.name, "--force")
	}
	for _, g := range []string{tgA, tgB} {
		waitFor(t, svcTimeout, "the group to be empty", func() bool { return len(e.targetHealth(t, g)) == 0 })
	}
	awsCLI(t, srv, "ecs", "wait", "services-inactive", "--cluster", cluster, "--services", svcA.name, svcB.name)
}
