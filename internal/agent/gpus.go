package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/agent/config"
)

// NvidiaGPUInfoPath is where ecs-init leaves what NVML says of the host's
// GPUs on the ECS GPU-optimized AMI; the ECS agent reads its ids there.
const NvidiaGPUInfoPath = "/var/lib/ecs/gpu/nvidia-gpu-info.json"

// GPUInfo is what the agent registers of the host's NVIDIA GPUs: their
// UUIDs ("GPU-8f6c0c8e-..."), the ids Docker's nvidia runtime takes in
// NVIDIA_VISIBLE_DEVICES, and the driver's version.
type GPUInfo struct {
	IDs           []string
	DriverVersion string
}

// GPUFinder finds a Docker host's GPUs for ECS_ENABLE_GPU_SUPPORT=true
// when BERTH_GPU_IDS does not name them. Its fields default to the real
// file system and commands; tests replace them.
type GPUFinder struct {
	// ReadFile reads NvidiaGPUInfoPath (default os.ReadFile).
	ReadFile func(path string) ([]byte, error)
	// Run runs a command and returns its standard output (default
	// exec.CommandContext).
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
}

// nvidiaSMITimeout bounds nvidia-smi, which hangs on a wedged driver.
const nvidiaSMITimeout = 30 * time.Second

// Find returns the host's GPUs: from ecs-init's file when it is there (as
// the ECS agent reads them), else from `nvidia-smi --query-gpu=uuid,
// driver_version --format=csv,noheader`. A host without either is an
// error, which says what was tried.
func (f GPUFinder) Find(ctx context.Context) (GPUInfo, error) {
	readFile, run := f.ReadFile, f.Run
	if readFile == nil {
		readFile = os.ReadFile
	}
	if run == nil {
		run = runCommand
	}
	data, err := readFile(NvidiaGPUInfoPath)
	switch {
	case err == nil:
		var info struct {
			DriverVersion string   `json:"DriverVersion"`
			GPUIDs        []string `json:"GPUIDs"`
		}
		if err := json.Unmarshal(data, &info); err != nil {
			return GPUInfo{}, fmt.Errorf("read GPUs from %s: %w", NvidiaGPUInfoPath, err)
		}
		return GPUInfo{IDs: info.GPUIDs, DriverVersion: info.DriverVersion}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return GPUInfo{}, fmt.Errorf("read GPUs from %s: %w", NvidiaGPUInfoPath, err)
	}
	ctx, cancel := context.WithTimeout(ctx, nvidiaSMITimeout)
	defer cancel()
	out, err := run(ctx, "nvidia-smi", "--query-gpu=uuid,driver_version", "--format=csv,noheader")
	if err != nil {
		return GPUInfo{}, fmt.Errorf("find GPUs: no %s, and nvidia-smi failed: %w", NvidiaGPUInfoPath, err)
	}
	return parseNvidiaSMI(out)
}

// parseNvidiaSMI reads nvidia-smi's CSV: "<uuid>, <driver version>" a line.
func parseNvidiaSMI(out []byte) (GPUInfo, error) {
	var info GPUInfo
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		uuid, driver, _ := strings.Cut(line, ",")
		uuid, driver = strings.TrimSpace(uuid), strings.TrimSpace(driver)
		if !strings.HasPrefix(uuid, "GPU-") {
			return GPUInfo{}, fmt.Errorf("nvidia-smi: unexpected line %q (want \"GPU-<uuid>, <driver version>\")", line)
		}
		info.IDs = append(info.IDs, uuid)
		info.DriverVersion = driver
	}
	return info, nil
}

func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	return out, nil
}

// gpus is what the agent registers of the host's GPUs: none without GPU
// support, BERTH_GPU_IDS when set, else what FindGPUs finds. Like the ECS
// agent, an agent that finds none says so and registers without GPUs.
func (a *Agent) gpus(ctx context.Context, cfg config.Config) GPUInfo {
	switch {
	case !cfg.GPUSupportEnabled:
		return GPUInfo{}
	case len(cfg.GPUIDs) > 0:
		return GPUInfo{IDs: cfg.GPUIDs}
	case a.opts.FindGPUs == nil:
		a.log.Warn("GPU support is on but this runtime has no GPUs to find; registering without GPUs")
		return GPUInfo{}
	}
	info, err := a.opts.FindGPUs(ctx)
	if err != nil {
		a.log.Error("GPU support is on but no GPUs were found; registering without GPUs (set BERTH_GPU_IDS to name them)", "err", err)
		return GPUInfo{}
	}
	a.log.Info("found GPUs", "ids", info.IDs, "driverVersion", info.DriverVersion)
	return info
}
