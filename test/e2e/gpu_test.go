package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestSimGPUs places GPU tasks on one simulated instance with two GPUs
// (BERTH_SIM_GPUS=2): a task needing both runs and its container shows
// their ids; the next one fails with RESOURCE:GPU and says why; once the
// first has stopped, one runs again. The sim engine refuses a container
// given a GPU its host lacks, so RUNNING also says the agent got the ids
// the server chose.
func TestSimGPUs(t *testing.T) {
	srv := startServer(t, serverOptions{})
	cluster := uniqueName(t, "c")
	srv.createCluster(t, cluster)

	configPath := filepath.Join(t.TempDir(), "ecs.config")
	conf := "ECS_CLUSTER=" + cluster + "\nECS_CONTAINER_STOP_TIMEOUT=5s\nECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1s\n"
	if err := os.WriteFile(configPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := childEnv("AWS_ACCESS_KEY_ID="+srv.keyID, "AWS_SECRET_ACCESS_KEY="+srv.secret, "AWS_REGION="+region, "BERTH_SIM_GPUS=2")
	agentProc := startProc(t, t.TempDir(), "sim-gpu-agent", env,
		"agent", "--endpoint", srv.endpoint(), "--config", configPath, "--data-dir", t.TempDir(),
		"--runtime", "sim", "--instances", "1", "--cpu", "1024", "--memory", "2048")

	var inst types.ContainerInstance
	waitFor(t, stateTimeout, "the sim instance to register and connect", func() bool {
		agentProc.failIfExited(t)
		insts := describeInstances(t, srv, cluster)
		if len(insts) == 1 && aws.ToString(insts[0].Status) == "ACTIVE" && insts[0].AgentConnected {
			inst = insts[0]
			return true
		}
		return false
	})
	gpus := []string{"GPU-sim-0001-0", "GPU-sim-0001-1"}
	if got := resource(inst.RegisteredResources, "GPU"); aws.ToString(got.Type) != "STRINGSET" || !slices.Equal(got.StringSetValue, gpus) {
		t.Fatalf("registered GPU resource %s, want a STRINGSET of %v", jsonString(got), gpus)
	}

	train := simContainer("train", nil)
	train.ResourceRequirements = []types.ResourceRequirement{{Type: types.ResourceTypeGpu, Value: aws.String("2")}}
	def := registerTaskDef(t, srv, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(uniqueName(t, "train")), ContainerDefinitions: []types.ContainerDefinition{train},
	})
	// A fresh input per call: the SDK writes its generated clientToken into
	// the input, and a second call with the same token replays the first.
	run := func() *ecs.RunTaskInput {
		return &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: def.TaskDefinitionArn}
	}

	first := runTask(t, srv, run())[0]
	firstARN := aws.ToString(first.TaskArn)
	task := waitTaskStatus(t, srv, cluster, firstARN, "RUNNING")
	if got := containerNamed(t, task, "train").GpuIds; !slices.Equal(got, gpus) {
		t.Fatalf("container gpuIds %v, want %v", got, gpus)
	}

	out := runTaskOutput(t, srv, run())
	if len(out.Tasks) != 0 || len(out.Failures) != 1 {
		t.Fatalf("second RunTask: %d tasks, failures %s; want one failure", len(out.Tasks), jsonString(out.Failures))
	}
	f := out.Failures[0]
	if aws.ToString(f.Reason) != "RESOURCE:GPU" || aws.ToString(f.Arn) != aws.ToString(inst.ContainerInstanceArn) {
		t.Errorf("failure %s, want RESOURCE:GPU for the instance", jsonString(f))
	}
	if d := aws.ToString(f.Detail); !strings.Contains(d, "1 lacked GPUs (need 2, best had 0)") {
		t.Errorf("failure detail %q, want it to say the instance lacked GPUs", d)
	}

	stopTask(t, srv, cluster, firstARN, "done training")
	waitTaskStatus(t, srv, cluster, firstARN, "STOPPED")
	// STOPPED gives the GPUs back in the same write: the next task fits.
	again := runTask(t, srv, run())[0]
	task = waitTaskStatus(t, srv, cluster, aws.ToString(again.TaskArn), "RUNNING")
	if got := containerNamed(t, task, "train").GpuIds; !slices.Equal(got, gpus) {
		t.Fatalf("the next task's gpuIds %v, want %v", got, gpus)
	}
}
