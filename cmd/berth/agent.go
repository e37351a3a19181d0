package main

import (
	"context"
	"fmt"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/agent/config"
	"github.com/berth-dev/berth/internal/agent/ecrauth"
	"github.com/berth-dev/berth/internal/agent/fleet"
	"github.com/berth-dev/berth/internal/agent/runtime/docker"
)

// simFlags are the flags of `berth agent --runtime sim`.
type simFlags struct {
	instances, concurrency int
	configFile             string
	latency, failures      string
	failImages             []string
}

func agentCmd() *cobra.Command {
	var endpoint, configFile, dataDir, region, runtimeName string
	var cpu, memory int64
	var sf simFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent that joins a cluster and runs its tasks on the local Docker engine",
		Long: `Run a Berth agent. It reads an ECS agent config file (/etc/ecs/ecs.config format:
ECS_CLUSTER, ECS_INSTANCE_ATTRIBUTES, ECS_RESERVED_MEMORY, ECS_CONTAINER_STOP_TIMEOUT,
ECS_IMAGE_PULL_BEHAVIOR, ...); environment variables of the same names win. It signs its
calls with the standard AWS credential chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).
Images on the server's registry (host:port of --endpoint) are pulled with an ECR token it
gets with those credentials; other registries anonymously.

With --runtime sim it runs --instances simulated container instances instead, each with
its own identity under --data-dir (sim-0001, ...), zone and resources, running tasks through
the same task engine on a simulated container engine: no containers are started. Container
definitions script their simulated process with BERTH_SIM_EXIT_AFTER, BERTH_SIM_EXIT_CODE,
BERTH_SIM_HEALTH, BERTH_SIM_HEALTH_AFTER, BERTH_SIM_STOP_AFTER and BERTH_SIM_START_ERROR.
BERTH_SIM_GPUS=N gives each simulated instance N GPUs (GPU-sim-0001-0, ...).

With ECS_ENABLE_GPU_SUPPORT=true the agent registers the host's NVIDIA GPUs (BERTH_GPU_IDS,
else /var/lib/ecs/gpu/nvidia-gpu-info.json, else nvidia-smi) and runs containers given GPUs
with the nvidia runtime (ECS_NVIDIA_RUNTIME) and NVIDIA_VISIBLE_DEVICES.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger(cmd)
			if err != nil {
				return err
			}
			if endpoint == "" {
				return fmt.Errorf("--endpoint is required (the Berth server URL, e.g. http://127.0.0.1:9320)")
			}
			if err := checkRuntimeFlags(cmd, runtimeName); err != nil {
				return err
			}
			cfg, err := config.Load(configFile, os.LookupEnv)
			if err != nil {
				return err
			}
			if cpu > 0 {
				cfg.CPUUnits = cpu
			}
			if memory > 0 {
				cfg.MemoryMiB = memory
			}
			awsCfg, err := awsconfig.LoadDefaultConfig(cmd.Context(), awsconfig.WithRegion(region))
			if err != nil {
				return fmt.Errorf("load AWS credentials: %w", err)
			}
			ctx := cmd.Context()
			opts := agent.Options{
				Endpoint: endpoint, Region: awsCfg.Region, Credentials: awsCfg.Credentials,
				Config: cfg, DataDir: dataDir, Logger: log,
			}
			if runtimeName == "sim" {
				return runSim(ctx, opts, sf, cpu, memory)
			}
			auth, err := ecrauth.New(ecrauth.Config{
				Endpoint: endpoint, Region: awsCfg.Region, Credentials: awsCfg.Credentials, Logger: log,
			})
			if err != nil {
				return err
			}
			rt, err := docker.New(ctx, docker.Options{RegistryAuth: auth})
			if err != nil {
				return fmt.Errorf("connect to Docker (is dockerd running?): %w", err)
			}
			opts.Runtime = rt
			opts.FindGPUs = agent.GPUFinder{}.Find
			return runAgent(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint", "", "Berth server URL")
	f.StringVar(&configFile, "config", "/etc/ecs/ecs.config", "agent config file (ecs.config format)")
	f.StringVar(&dataDir, "data-dir", "", "agent state directory (default ECS_DATADIR, else /var/lib/berth/agent)")
	f.StringVar(&region, "region", "us-east-1", "region of the server")
	f.Int64Var(&cpu, "cpu", 0, "CPU units to offer (default BERTH_CPU_UNITS, else cores x 1024); with --runtime sim, per instance")
	f.Int64Var(&memory, "memory", 0, "memory MiB to offer (default BERTH_MEMORY_MIB, else host memory); with --runtime sim, per instance")
	f.StringVar(&runtimeName, "runtime", "docker", "container runtime: docker, or sim (simulated instances, no containers)")
	f.IntVar(&sf.instances, "instances", 1, "sim: how many container instances to simulate")
	f.StringVar(&sf.configFile, "sim-config", "", "sim: JSON file with per-instance zones, types, resources, attributes, latency, failures")
	f.StringVar(&sf.latency, "sim-latency", "", `sim: engine call latency, e.g. "pull=1s-3s,create=50ms,start=100ms,stop=0s"`)
	f.StringVar(&sf.failures, "sim-failures", "", `sim: failure probabilities, e.g. "pull=0.01,create=0,start=0.001"`)
	f.StringSliceVar(&sf.failImages, "sim-fail-images", nil, `sim: image patterns whose pulls always fail, e.g. "*/broken:*"`)
	f.IntVar(&sf.concurrency, "sim-register-concurrency", fleet.DefaultRegisterConcurrency, "sim: instances registering or connecting at once")
	return cmd
}

// checkRuntimeFlags rejects sim flags without --runtime sim, so a typo does
// not silently start a Docker agent.
func checkRuntimeFlags(cmd *cobra.Command, runtimeName string) error {
	switch runtimeName {
	case "docker":
		for _, name := range []string{"instances", "sim-config", "sim-latency", "sim-failures", "sim-fail-images", "sim-register-concurrency"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s needs --runtime sim", name)
			}
		}
		return nil
	case "sim":
		return nil
	default:
		return fmt.Errorf("--runtime %q: want docker or sim", runtimeName)
	}
}

// runSim runs the simulated instances; --cpu and --memory are per instance.
func runSim(ctx context.Context, opts agent.Options, sf simFlags, cpu, memory int64) error {
	spec, err := fleet.LoadSpec(sf.configFile)
	if err != nil {
		return err
	}
	if cpu > 0 {
		spec.CPU = cpu
	}
	if memory > 0 {
		spec.Memory = memory
	}
	if err := spec.ApplyLatencyFlag(sf.latency); err != nil {
		return fmt.Errorf("--sim-latency: %w", err)
	}
	if err := spec.ApplyFailureFlag(sf.failures); err != nil {
		return fmt.Errorf("--sim-failures: %w", err)
	}
	if len(sf.failImages) > 0 {
		spec.Failures.PullImages = sf.failImages
	}
	// The instances' directories go under the data dir chosen as for one
	// agent (--data-dir, else ECS_DATADIR).
	err = fleet.Run(ctx, fleet.Config{
		Instances: sf.instances, Agent: opts, Spec: spec, RegisterConcurrency: sf.concurrency,
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func runAgent(ctx context.Context, opts agent.Options) error {
	if opts.DataDir == "" && opts.Config.DataDir == "" {
		opts.DataDir = "/var/lib/berth/agent"
	}
	err := agent.Run(ctx, opts)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
