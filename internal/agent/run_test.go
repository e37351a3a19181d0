package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/agent/config"
	"github.com/berth-dev/berth/internal/agent/engine"
	"github.com/berth-dev/berth/internal/agent/runtime/fake"
	"github.com/berth-dev/berth/internal/api/sigv4"
)

// fakeECSAPI serves the agent's ECS calls over the real awsJson1.1 protocol,
// verifying every request's SigV4 signature.
type fakeECSAPI struct {
	srv         *httptest.Server
	pollURL     string
	instanceARN string

	mu        sync.Mutex
	registers []map[string]any
	submits   chan submission
}

func newFakeECSAPI(t *testing.T, creds testCreds, pollURL string) *fakeECSAPI {
	f := &fakeECSAPI{
		pollURL:     pollURL,
		instanceARN: "arn:aws:ecs:us-east-1:000000000000:container-instance/prod/0123",
		submits:     make(chan submission, 100),
	}
	verifier := &sigv4.Verifier{
		Region: "us-east-1",
		Lookup: func(id string) (sigv4.Credential, bool) {
			return sigv4.Credential{AccessKeyID: creds.id, SecretAccessKey: creds.secret}, id == creds.id
		},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := verifier.Verify(r, body, "ecs"); err != nil {
			t.Errorf("ECS call signature: %v", err)
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			t.Errorf("ECS call body: %v", err)
		}
		var out any
		_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		switch op {
		case "RegisterContainerInstance":
			f.mu.Lock()
			f.registers = append(f.registers, in)
			f.mu.Unlock()
			out = map[string]any{"containerInstance": map[string]any{"containerInstanceArn": f.instanceARN}}
		case "DiscoverPollEndpoint":
			out = map[string]any{"endpoint": f.pollURL, "telemetryEndpoint": f.pollURL + fakeTelemetryPrefix}
		case "SubmitTaskStateChange":
			s := submission{task: in["task"].(string), status: in["status"].(string)}
			if in["cluster"] != "arn:aws:ecs:us-east-1:000000000000:cluster/prod" {
				t.Errorf("SubmitTaskStateChange cluster %v", in["cluster"])
			}
			f.submits <- s
			out = map[string]any{"acknowledgment": "ACK"}
		default:
			t.Errorf("unexpected ECS call %q", op)
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeECSAPI) registerCalls() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.registers...)
}

// waitStatus waits for a SubmitTaskStateChange of task with status.
func (f *fakeECSAPI) waitStatus(t *testing.T, task, status string) {
	t.Helper()
	for {
		s := recv(t, f.submits, task+" "+status)
		if s.task == task && s.status == status {
			return
		}
	}
}

// TestRunEndToEnd runs the whole agent (real SDK client, real engine on the
// fake runtime) against fake ECS and ACS servers, restarts it and checks it
// re-registers as the same instance.
func TestRunEndToEnd(t *testing.T) {
	creds := testCreds{id: "AKIDTEST", secret: "secret"}
	acsSrv := newFakeACS(t, creds)
	api := newFakeECSAPI(t, creds, acsSrv.srv.URL)
	rt := fake.New("busybox:latest")
	cfg := testConfig()
	dataDir := t.TempDir()

	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			errc <- Run(ctx, Options{
				Endpoint:          api.srv.URL,
				Region:            "us-east-1",
				Credentials:       credentials.NewStaticCredentialsProvider(creds.id, creds.secret, ""),
				Config:            cfg,
				Runtime:           rt,
				DataDir:           dataDir,
				Logger:            testLogger(t),
				HeartbeatInterval: 200 * time.Millisecond,
			})
		}()
		return func() {
			cancel()
			if err := recv(t, errc, "Run to return"); err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}

	task := acs.Task{
		Arn: "arn:aws:ecs:us-east-1:000000000000:task/prod/t1", DesiredStatus: "RUNNING", Family: "web", Version: "1",
		Containers: []acs.Container{{Name: "web", Image: "busybox:latest", Essential: true, Memory: 64}},
	}

	stop := start()
	sc := recv(t, acsSrv.conns, "first connection")
	if sc.query["containerInstanceArn"] != api.instanceARN {
		t.Fatalf("query %v", sc.query)
	}
	sc.payload(t, "m1", 1, task)
	sc.expectAck(t, "m1")
	api.waitStatus(t, task.Arn, "RUNNING")
	stop()

	if regs := api.registerCalls(); len(regs) != 1 || regs[0]["containerInstanceArn"] != nil || regs[0]["cluster"] != "prod" {
		t.Fatalf("first registration %v", regs)
	}
	st, err := loadState(dataDir)
	if err != nil || st.ContainerInstanceArn != api.instanceARN || st.Cluster != "prod" {
		t.Fatalf("state %+v, %v", st, err)
	}

	// Restart: same instance, the running task is re-reported on resync.
	stop = start()
	defer stop()
	sc = recv(t, acsSrv.conns, "connection after restart")
	if regs := api.registerCalls(); len(regs) != 2 || regs[1]["containerInstanceArn"] != api.instanceARN {
		t.Fatalf("re-registration %v", regs)
	}
	sc.payload(t, "m2", 2, task)
	sc.expectAck(t, "m2")
	api.waitStatus(t, task.Arn, "RUNNING")
	if cs, err := rt.ListContainers(context.Background(), nil); err != nil || len(cs) != 1 {
		t.Fatalf("containers after restart: %d, %v (adoption must not duplicate)", len(cs), err)
	}
}

// TestRunGPUTask runs an agent with GPU support on the fake runtime: it
// declares its GPUs as platform devices, and a task whose ACS associations
// give a container GPUs runs it with them in NVIDIA_VISIBLE_DEVICES and
// the nvidia runtime.
func TestRunGPUTask(t *testing.T) {
	creds := testCreds{id: "AKIDTEST", secret: "secret"}
	acsSrv := newFakeACS(t, creds)
	api := newFakeECSAPI(t, creds, acsSrv.srv.URL)
	rt := &fake.Runtime{Images: []string{"cuda:12"}, GPUs: []string{"GPU-a", "GPU-b", "GPU-c"}}
	cfg := testConfig()
	cfg.GPUSupportEnabled, cfg.GPUIDs, cfg.NvidiaRuntime = true, []string{"GPU-a", "GPU-b", "GPU-c"}, "nvidia"
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Options{
			Endpoint: api.srv.URL, Region: "us-east-1", Config: cfg, Runtime: rt, DataDir: t.TempDir(), Logger: testLogger(t),
			Credentials: credentials.NewStaticCredentialsProvider(creds.id, creds.secret, ""), HeartbeatInterval: 200 * time.Millisecond,
		})
	}()
	defer func() {
		cancel()
		if err := recv(t, errc, "Run to return"); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	task := acs.Task{
		Arn: "arn:aws:ecs:us-east-1:000000000000:task/prod/gpu", DesiredStatus: "RUNNING", Family: "train", Version: "1",
		Containers: []acs.Container{
			{Name: "train", Image: "cuda:12", Essential: true, Memory: 64},
			{Name: "log", Image: "cuda:12", Memory: 64},
		},
		Associations: []acs.Association{
			{Name: "GPU-b", Type: "gpu", Containers: []string{"train"}, Content: &acs.EncodedString{Encoding: "identity"}},
			{Name: "GPU-c", Type: "gpu", Containers: []string{"train"}, Content: &acs.EncodedString{Encoding: "identity"}},
		},
	}
	sc := recv(t, acsSrv.conns, "first connection")
	sc.payload(t, "m1", 1, task)
	sc.expectAck(t, "m1")
	api.waitStatus(t, task.Arn, "RUNNING")

	regs := api.registerCalls()
	if len(regs) != 1 {
		t.Fatalf("registrations %v", regs)
	}
	devices, _ := regs[0]["platformDevices"].([]any)
	var ids []string
	for _, d := range devices {
		m, _ := d.(map[string]any)
		if m["type"] != "GPU" {
			t.Errorf("platform device %v, want type GPU", m)
		}
		id, _ := m["id"].(string)
		ids = append(ids, id)
	}
	if !slices.Equal(ids, cfg.GPUIDs) {
		t.Fatalf("registered platformDevices %v, want %v", devices, cfg.GPUIDs)
	}

	cs, err := rt.ListContainers(context.Background(), nil)
	if err != nil || len(cs) != 2 {
		t.Fatalf("containers: %v, %v", cs, err)
	}
	for _, c := range cs {
		spec, err := rt.Spec(c.ID)
		if err != nil {
			t.Fatal(err)
		}
		hasEnv := slices.Contains(spec.Env, "NVIDIA_VISIBLE_DEVICES=GPU-b,GPU-c")
		switch c.Labels[engine.LabelContainerName] {
		case "train":
			if !hasEnv || spec.Runtime != "nvidia" || !slices.Equal(spec.GPUIDs, []string{"GPU-b", "GPU-c"}) {
				t.Errorf("train: env %v runtime %q GPUs %v", spec.Env, spec.Runtime, spec.GPUIDs)
			}
		case "log":
			if hasEnv || spec.Runtime != "" || spec.GPUIDs != nil {
				t.Errorf("log has GPU settings: env %v runtime %q GPUs %v", spec.Env, spec.Runtime, spec.GPUIDs)
			}
		default:
			t.Errorf("unexpected container %+v", c)
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	good := Options{
		Endpoint: "http://127.0.0.1:1", Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		Config:      testConfig(), Runtime: fake.New(), DataDir: t.TempDir(),
	}
	tests := []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"endpoint", func(o *Options) { o.Endpoint = "" }, "Endpoint"},
		{"region", func(o *Options) { o.Region = "" }, "Region"},
		{"credentials", func(o *Options) { o.Credentials = nil }, "Credentials"},
		{"runtime", func(o *Options) { o.Runtime = nil }, "Runtime"},
		{"config", func(o *Options) { o.Config = config.Config{} }, "config.Load"},
		{"data dir", func(o *Options) { o.DataDir = ""; o.Config.DataDir = "" }, "DataDir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := good
			tt.mutate(&opts)
			err := Run(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %s", err, tt.want)
			}
		})
	}
}
