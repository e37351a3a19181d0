package agent

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecssdk "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/acs"
)

// fakeGPUHost answers GPUFinder's file read and command.
type fakeGPUHost struct {
	file    string // "" : no file
	fileErr error
	smi     string
	smiErr  error
	ran     []string
}

func (h *fakeGPUHost) finder() GPUFinder {
	return GPUFinder{
		ReadFile: func(path string) ([]byte, error) {
			if path != NvidiaGPUInfoPath {
				return nil, errors.New("unexpected path " + path)
			}
			if h.fileErr != nil {
				return nil, h.fileErr
			}
			if h.file == "" {
				return nil, fs.ErrNotExist
			}
			return []byte(h.file), nil
		},
		Run: func(_ context.Context, name string, args ...string) ([]byte, error) {
			h.ran = append(h.ran, name+" "+strings.Join(args, " "))
			return []byte(h.smi), h.smiErr
		},
	}
}

func TestGPUFinder(t *testing.T) {
	tests := []struct {
		name       string
		host       fakeGPUHost
		want       GPUInfo
		wantErr    string
		wantSMIRun bool
	}{
		{
			name: "ecs-init's file, as the ECS agent reads it",
			host: fakeGPUHost{file: `{"DriverVersion":"535.104.05","GPUIDs":["GPU-0195","GPU-77aa"]}`},
			want: GPUInfo{IDs: []string{"GPU-0195", "GPU-77aa"}, DriverVersion: "535.104.05"},
		},
		{
			name:       "nvidia-smi when there is no file",
			host:       fakeGPUHost{smi: "GPU-8f6c0c8e-1111-2222-3333-444455556666, 550.54.15\nGPU-11d6a6e2-aaaa-bbbb-cccc-ddddeeeeffff, 550.54.15\n"},
			want:       GPUInfo{IDs: []string{"GPU-8f6c0c8e-1111-2222-3333-444455556666", "GPU-11d6a6e2-aaaa-bbbb-cccc-ddddeeeeffff"}, DriverVersion: "550.54.15"},
			wantSMIRun: true,
		},
		{name: "no GPUs at all", host: fakeGPUHost{smi: "\n"}, want: GPUInfo{}, wantSMIRun: true},
		{name: "nvidia-smi fails", host: fakeGPUHost{smiErr: errors.New("exec: \"nvidia-smi\": executable file not found in $PATH")},
			wantErr: "nvidia-smi failed", wantSMIRun: true},
		{name: "nvidia-smi says something else", host: fakeGPUHost{smi: "No devices were found\n"}, wantErr: "unexpected line", wantSMIRun: true},
		{name: "corrupt file", host: fakeGPUHost{file: "{"}, wantErr: NvidiaGPUInfoPath},
		{name: "unreadable file", host: fakeGPUHost{fileErr: fs.ErrPermission}, wantErr: "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host
			got, err := h.finder().Find(t.Context())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil || !slices.Equal(got.IDs, tt.want.IDs) || got.DriverVersion != tt.want.DriverVersion {
				t.Fatalf("Find = %+v, %v; want %+v", got, err, tt.want)
			}
			wantRun := []string(nil)
			if tt.wantSMIRun {
				wantRun = []string{"nvidia-smi --query-gpu=uuid,driver_version --format=csv,noheader"}
			}
			if !slices.Equal(h.ran, wantRun) {
				t.Errorf("ran %q, want %q", h.ran, wantRun)
			}
		})
	}
}

// The agent registers GPUs only with GPU support on: BERTH_GPU_IDS when
// set, else what it finds; finding none is not fatal.
func TestAgentGPUs(t *testing.T) {
	found := GPUInfo{IDs: []string{"GPU-found"}, DriverVersion: "550.1"}
	finder := func(context.Context) (GPUInfo, error) { return found, nil }
	failing := func(context.Context) (GPUInfo, error) { return GPUInfo{}, errors.New("no nvidia-smi") }
	tests := []struct {
		name    string
		enabled bool
		ids     []string
		find    func(context.Context) (GPUInfo, error)
		want    []string
	}{
		{"off", false, nil, finder, nil},
		{"configured ids win", true, []string{"GPU-a", "GPU-b"}, finder, []string{"GPU-a", "GPU-b"}},
		{"found", true, nil, finder, []string{"GPU-found"}},
		{"none found", true, nil, failing, nil},
		{"nothing to find with", true, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.GPUSupportEnabled, cfg.GPUIDs = tt.enabled, tt.ids
			a := &Agent{opts: Options{FindGPUs: tt.find}, log: testLogger(t)}
			if got := a.gpus(t.Context(), cfg); !slices.Equal(got.IDs, tt.want) {
				t.Fatalf("gpus = %v, want %v", got.IDs, tt.want)
			}
		})
	}
}

func TestRegisterInputGPUs(t *testing.T) {
	cfg := testConfig()
	gpus := GPUInfo{IDs: []string{"GPU-a", "GPU-b"}, DriverVersion: "535.104.05"}
	off := registerInput(registration{cfg: cfg, region: "eu-west-1", gpus: gpus})
	if len(off.PlatformDevices) != 0 {
		t.Fatalf("GPU support off: platformDevices %+v", off.PlatformDevices)
	}

	cfg.GPUSupportEnabled = true
	in := registerInput(registration{cfg: cfg, region: "eu-west-1", gpus: gpus})
	var got []string
	for _, d := range in.PlatformDevices {
		if d.Type != ecssdk.PlatformDeviceTypeGpu {
			t.Errorf("platform device type %q, want GPU", d.Type)
		}
		got = append(got, aws.ToString(d.Id))
	}
	if !slices.Equal(got, gpus.IDs) {
		t.Fatalf("platformDevices %v, want %v", got, gpus.IDs)
	}
	// The ECS agent declares GPUs as devices, not as a resource.
	for _, r := range in.TotalResources {
		if aws.ToString(r.Name) == "GPU" {
			t.Fatalf("totalResources has a GPU resource: %+v", r)
		}
	}
	attrs := map[string]*string{}
	for _, a := range in.Attributes {
		attrs[aws.ToString(a.Name)] = a.Value
	}
	if v, ok := attrs["ecs.capability.nvidia-driver-version.535.104.05"]; !ok || v != nil {
		t.Errorf("nvidia-driver-version capability: present %v value %v", ok, v)
	}
	if v := attrs["ecs.capability.gpu-driver-version"]; aws.ToString(v) != "535.104.05" {
		t.Errorf("gpu-driver-version = %v", aws.ToString(v))
	}
}

// engineTask takes each container's GPUs from the task's gpu
// associations; one naming no single container of the task fails it.
func TestEngineTaskGPUs(t *testing.T) {
	task := webTask("arn:task/gpu")
	assoc := func(id string, containers ...string) acs.Association {
		return acs.Association{Name: id, Type: acs.AssociationTypeGPU, Containers: containers, Content: &acs.EncodedString{Encoding: acs.EncodingIdentity}}
	}
	task.Associations = []acs.Association{assoc("GPU-1", "web"), assoc("GPU-0", "web"), assoc("GPU-2", "side"),
		{Name: "dev1", Type: "elastic-inference", Containers: []string{"web", "side"}}}
	et := engineTask(task)
	if et.Problem != "" {
		t.Fatalf("problem %q", et.Problem)
	}
	if !slices.Equal(et.GPUs["web"], []string{"GPU-1", "GPU-0"}) || !slices.Equal(et.GPUs["side"], []string{"GPU-2"}) || len(et.GPUs) != 2 {
		t.Fatalf("GPUs = %v", et.GPUs)
	}
	if plain := engineTask(webTask("arn:task/plain")); plain.GPUs != nil {
		t.Fatalf("a task without associations has GPUs %v", plain.GPUs)
	}
	for name, bad := range map[string]acs.Association{
		"two containers":    assoc("GPU-0", "web", "side"),
		"no container":      assoc("GPU-0"),
		"unknown container": assoc("GPU-0", "ghost"),
	} {
		task := webTask("arn:task/bad")
		task.Associations = []acs.Association{bad}
		if p := engineTask(task).Problem; !strings.HasPrefix(p, "CannotCreateContainerError: gpu association GPU-0") {
			t.Errorf("%s: problem %q", name, p)
		}
	}
}
