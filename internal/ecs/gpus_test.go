package ecs

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/scheduler"
)

// gpuTaskDef asks for two GPUs: one for each of "train" and "eval"; "log"
// has none.
const gpuTaskDef = `{"family":"gpu","containerDefinitions":[
	{"name":"train","image":"cuda","cpu":10,"memory":10,"resourceRequirements":[{"type":"GPU","value":"1"}]},
	{"name":"log","image":"busybox","cpu":10,"memory":10,"essential":false},
	{"name":"eval","image":"cuda","cpu":10,"memory":10,"resourceRequirements":[{"type":"GPU","value":"1"}]}]}`

// registerGPUInstance registers a connected instance whose agent declares
// gpus as the ECS agent does (platformDevices of type GPU).
func registerGPUInstance(t *testing.T, s *Service, cluster string, gpus ...string) string {
	t.Helper()
	in := &ecstypes.RegisterContainerInstanceRequest{Cluster: aws.String(cluster), TotalResources: instanceResources(4096, 4096)}
	for _, id := range gpus {
		in.PlatformDevices = append(in.PlatformDevices, ecstypes.PlatformDevice{Id: aws.String(id), Type: aws.String("GPU")})
	}
	out, err := s.RegisterContainerInstance(t.Context(), in)
	if err != nil {
		t.Fatalf("RegisterContainerInstance: %v", err)
	}
	arn := aws.ToString(out.ContainerInstance.ContainerInstanceArn)
	connectAgent(t, s, arn)
	return arn
}

// gpusOf returns an instance's registered and remaining GPU ids, and
// whether it has a GPU resource at all.
func gpusOf(t *testing.T, s *Service, cluster, arn string) (registered, free []string, ok bool) {
	t.Helper()
	inst := describeInstance(t, s, cluster, arn)
	registered, ok = resourceSetOK(inst.RegisteredResources, resGPU)
	free, okFree := resourceSetOK(inst.RemainingResources, resGPU)
	if ok != okFree {
		t.Fatalf("GPU in registeredResources %t, in remainingResources %t", ok, okFree)
	}
	return registered, free, ok
}

func TestGPUInstanceRegistration(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")

	plain := registerInstance(t, s, "prod", 1024, 1024)
	if _, _, ok := gpusOf(t, s, "prod", plain); ok {
		t.Fatal("an instance without GPUs has a GPU resource")
	}

	// platformDevices (the ECS agent's way) and a GPU resource in
	// totalResources are both taken, merged, sorted, without duplicates.
	out, err := s.RegisterContainerInstance(t.Context(), &ecstypes.RegisterContainerInstanceRequest{
		Cluster: aws.String("prod"),
		TotalResources: append(instanceResources(1024, 1024), ecstypes.Resource{
			Name: aws.String("GPU"), Type: aws.String("STRINGSET"), StringSetValue: []string{"GPU-c", "GPU-a"},
		}),
		PlatformDevices: []ecstypes.PlatformDevice{
			{Id: aws.String("GPU-b"), Type: aws.String("GPU")}, {Id: aws.String("GPU-a"), Type: aws.String("GPU")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"GPU-a", "GPU-b", "GPU-c"}
	if got := resourceSet(out.ContainerInstance.RegisteredResources, resGPU); !slices.Equal(got, want) {
		t.Fatalf("RegisterContainerInstance reply: registered GPUs %v, want %v", got, want)
	}
	arn := aws.ToString(out.ContainerInstance.ContainerInstanceArn)
	reg, free, _ := gpusOf(t, s, "prod", arn)
	if !slices.Equal(reg, want) || !slices.Equal(free, want) {
		t.Fatalf("registered %v remaining %v, want both %v", reg, free, want)
	}
	for _, r := range describeInstance(t, s, "prod", arn).RegisteredResources {
		if aws.ToString(r.Name) == resGPU && aws.ToString(r.Type) != "STRINGSET" {
			t.Fatalf("GPU resource type %s, want STRINGSET", aws.ToString(r.Type))
		}
	}
}

// RunTask reserves the lowest free GPU ids, hands them to the containers
// in order and shows them as gpuIds; a task that needs more than are free
// fails with RESOURCE:GPU and says why; StopTask's STOPPED gives them back.
func TestRunTaskReservesAndReleasesGPUs(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerGPUInstance(t, s, "prod", "GPU-2", "GPU-0", "GPU-1")
	td := registerTaskDef(t, s, gpuTaskDef)

	out := runTask(t, s, "prod", td, 2)
	if len(out.Tasks) != 1 || !slices.Equal(failureReasons(out.Failures), []string{scheduler.ReasonGPU}) {
		t.Fatalf("placed %d, failures %v; want 1 and [RESOURCE:GPU]", len(out.Tasks), failureReasons(out.Failures))
	}
	if d := aws.ToString(out.Failures[0].Detail); d != "1 instance: 1 lacked GPUs (need 2, best had 1)" {
		t.Errorf("failure detail = %q", d)
	}
	if arn := aws.ToString(out.Failures[0].Arn); arn != inst {
		t.Errorf("failure arn = %s, want the instance %s", arn, inst)
	}
	first := aws.ToString(out.Tasks[0].TaskArn)
	wantIDs := map[string][]string{"train": {"GPU-0"}, "log": nil, "eval": {"GPU-1"}}
	for _, task := range []ecstypes.Task{out.Tasks[0], describeTask(t, s, "prod", first)} {
		for _, c := range task.Containers {
			if want := wantIDs[aws.ToString(c.Name)]; !slices.Equal(c.GpuIds, want) {
				t.Errorf("container %s gpuIds %v, want %v", aws.ToString(c.Name), c.GpuIds, want)
			}
		}
	}
	if _, free, _ := gpusOf(t, s, "prod", inst); !slices.Equal(free, []string{"GPU-2"}) {
		t.Fatalf("remaining GPUs %v, want [GPU-2]", free)
	}

	// StartTask places on the named instance with the same check.
	st, err := s.StartTask(t.Context(), &ecstypes.StartTaskRequest{
		Cluster: aws.String("prod"), TaskDefinition: aws.String(td), ContainerInstances: []string{inst},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Tasks) != 0 || len(st.Failures) != 1 || aws.ToString(st.Failures[0].Reason) != scheduler.ReasonGPU {
		t.Fatalf("StartTask: %d tasks, failures %+v; want RESOURCE:GPU", len(st.Tasks), st.Failures)
	}

	// A stop request alone holds on to the GPUs: the containers may still
	// run. The agent's STOPPED gives them back.
	stopTask(t, s, "prod", first, "")
	if _, free, _ := gpusOf(t, s, "prod", inst); !slices.Equal(free, []string{"GPU-2"}) {
		t.Fatalf("remaining GPUs after StopTask %v, want still [GPU-2]", free)
	}
	reportTask(t, s, "prod", first, "STOPPED", "")
	if _, free, _ := gpusOf(t, s, "prod", inst); !slices.Equal(free, []string{"GPU-0", "GPU-1", "GPU-2"}) {
		t.Fatalf("remaining GPUs after STOPPED %v, want all three", free)
	}
	again := runOne(t, s, "prod", td)
	if got := describeTask(t, s, "prod", again).Containers[0].GpuIds; !slices.Equal(got, []string{"GPU-0"}) {
		t.Fatalf("the next task's first container got %v, want the lowest free id GPU-0", got)
	}
}

func TestRunTaskGPUOverrides(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	inst := registerGPUInstance(t, s, "prod", "g0", "g1", "g2", "g3")
	td := registerTaskDef(t, s, gpuTaskDef)
	gpu := func(v string) []ecstypes.ResourceRequirement {
		return []ecstypes.ResourceRequirement{{Type: aws.String("GPU"), Value: aws.String(v)}}
	}
	run := func(ov ...ecstypes.ContainerOverride) (*ecstypes.RunTaskResponse, error) {
		return s.RunTask(t.Context(), &ecstypes.RunTaskRequest{
			Cluster: aws.String("prod"), TaskDefinition: aws.String(td),
			Overrides: &ecstypes.TaskOverride{ContainerOverrides: ov},
		})
	}

	for _, tc := range []struct {
		name string
		ov   ecstypes.ContainerOverride
		msg  string
	}{
		{"zero", ecstypes.ContainerOverride{Name: aws.String("train"), ResourceRequirements: gpu("0")}, "whole number greater than 0"},
		{"fraction", ecstypes.ContainerOverride{Name: aws.String("train"), ResourceRequirements: gpu("0.5")}, "whole number greater than 0"},
		{"inference accelerator", ecstypes.ContainerOverride{Name: aws.String("train"), ResourceRequirements: []ecstypes.ResourceRequirement{
			{Type: aws.String("InferenceAccelerator"), Value: aws.String("dev")}}}, "the only supported type is GPU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(tc.ov)
			wantAWSErr(t, err, awserr.CodeInvalidParameter, tc.msg)
			wantRemaining(t, s, "prod", inst, 4096, 4096)
		})
	}

	// train 3 + eval 1 takes all four; "log" may ask for GPUs too.
	out, err := run(ecstypes.ContainerOverride{Name: aws.String("train"), ResourceRequirements: gpu("3")})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	if got := out.Tasks[0].Containers[0].GpuIds; !slices.Equal(got, []string{"g0", "g1", "g2"}) {
		t.Fatalf("train got %v, want g0-g2", got)
	}
	out, err = run(ecstypes.ContainerOverride{Name: aws.String("log"), ResourceRequirements: gpu("1")})
	if err != nil || len(out.Failures) != 1 || !strings.Contains(aws.ToString(out.Failures[0].Detail), "lacked GPUs (need 3, best had 0)") {
		t.Fatalf("RunTask needing 3 GPUs of none: %v %+v", err, out.Failures)
	}
}

func TestTaskDefGPURules(t *testing.T) {
	s := newTestService(t)
	withGPU := func(values ...string) *ecstypes.RegisterTaskDefinitionRequest {
		in := simpleTaskDef("gpu")
		for _, v := range values {
			in.ContainerDefinitions[0].ResourceRequirements = append(in.ContainerDefinitions[0].ResourceRequirements,
				ecstypes.ResourceRequirement{Type: aws.String("GPU"), Value: aws.String(v)})
		}
		return in
	}
	for _, tc := range []struct{ name, value, msg string }{
		{"zero", "0", "must be a whole number greater than 0, got '0'"},
		{"negative", "-1", "got '-1'"},
		{"fraction", "1.5", "got '1.5'"},
		{"word", "two", "got 'two'"},
		{"empty", "", "got ''"},
		{"plus sign", "+1", "got '+1'"},
		{"huge", "99999999999", "got '99999999999'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.RegisterTaskDefinition(t.Context(), withGPU(tc.value))
			wantAWSErr(t, err, awserr.CodeClient, tc.msg)
		})
	}
	t.Run("GPU twice", func(t *testing.T) {
		_, err := s.RegisterTaskDefinition(t.Context(), withGPU("1", "1"))
		wantAWSErr(t, err, awserr.CodeClient, "Resource type GPU can be specified only once")
	})
	t.Run("fargate", func(t *testing.T) {
		in := fargateTaskDef()
		in.ContainerDefinitions[0].ResourceRequirements = []ecstypes.ResourceRequirement{{Type: aws.String("GPU"), Value: aws.String("1")}}
		_, err := s.RegisterTaskDefinition(t.Context(), in)
		wantAWSErr(t, err, awserr.CodeClient, "Fargate compatible task definitions do not support GPU resources.")
	})
	t.Run("accepted, not Fargate compatible", func(t *testing.T) {
		out, err := s.RegisterTaskDefinition(t.Context(), withGPU("2"))
		if err != nil {
			t.Fatal(err)
		}
		td := out.TaskDefinition
		if got := td.ContainerDefinitions[0].ResourceRequirements; len(got) != 1 || aws.ToString(got[0].Value) != "2" {
			t.Errorf("resourceRequirements = %+v", got)
		}
		if slices.Contains(td.Compatibilities, ecstypes.CompatibilityFARGATE) || !slices.Contains(td.Compatibilities, ecstypes.CompatibilityEC2) {
			t.Errorf("compatibilities = %v, want EC2 without FARGATE", td.Compatibilities)
		}
	})
}

// The payload of a GPU task carries one gpu association per GPU, naming
// the one container that gets it, in the ACS model's shape.
func TestPayloadGPUAssociations(t *testing.T) {
	f := newPayloadFixture(t)
	inst := registerGPUInstance(t, f.s, "prod", "GPU-a", "GPU-b", "GPU-c")
	f.sess = &acsSession{key: "prod/" + idFromARN(inst), cname: "prod", instArn: inst}
	td := registerTaskDef(t, f.s, gpuTaskDef)
	out, err := f.s.StartTask(t.Context(), &ecstypes.StartTaskRequest{
		Cluster: aws.String("prod"), TaskDefinition: aws.String(td), ContainerInstances: []string{inst},
	})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("StartTask: %v %+v", err, out)
	}
	msgs := f.payloads(t) // checked against the model
	if len(msgs) != 1 || len(msgs[0].Tasks) != 1 {
		t.Fatalf("payloads %+v, want one task", msgs)
	}
	task := msgs[0].Tasks[0]
	want := []acs.Association{
		{Name: "GPU-a", Type: "gpu", Containers: []string{"train"}, Content: &acs.EncodedString{Encoding: "identity"}},
		{Name: "GPU-b", Type: "gpu", Containers: []string{"eval"}, Content: &acs.EncodedString{Encoding: "identity"}},
	}
	if len(task.Associations) != len(want) {
		t.Fatalf("associations %+v, want %+v", task.Associations, want)
	}
	for i, a := range task.Associations {
		if a.Name != want[i].Name || a.Type != want[i].Type || !slices.Equal(a.Containers, want[i].Containers) || a.Content == nil || *a.Content != *want[i].Content {
			t.Errorf("association %d = %+v, want %+v", i, a, want[i])
		}
	}
	gpus, err := task.GPUs()
	if err != nil || !slices.Equal(gpus["train"], []string{"GPU-a"}) || !slices.Equal(gpus["eval"], []string{"GPU-b"}) || len(gpus) != 2 {
		t.Fatalf("GPUs() = %v, %v", gpus, err)
	}
	// A task without GPUs has no associations member at all.
	plain := f.start(t, f.inst, 1)
	f.sess = &acsSession{key: "prod/" + idFromARN(f.inst), cname: "prod", instArn: f.inst}
	for _, m := range f.payloads(t) {
		for _, pt := range m.Tasks {
			if pt.Arn == plain[0] && pt.Associations != nil {
				t.Fatalf("a task without GPUs has associations %+v", pt.Associations)
			}
		}
	}
}
