package main

import (
	"context"
	"fmt"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/agent/config"
	"github.com/berth-dev/berth/internal/agent/runtime/docker"
)

func agentCmd() *cobra.Command {
	var endpoint, configFile, dataDir, region string
	var cpu, memory int64
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent that joins a cluster and runs its tasks on the local Docker engine",
		Long: `Run a Berth agent. It reads an ECS agent config file (/etc/ecs/ecs.config format:
ECS_CLUSTER, ECS_INSTANCE_ATTRIBUTES, ECS_RESERVED_MEMORY, ECS_CONTAINER_STOP_TIMEOUT,
ECS_IMAGE_PULL_BEHAVIOR, ...); environment variables of the same names win. It signs its
calls with the standard AWS credential chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger(cmd)
			if err != nil {
				return err
			}
			if endpoint == "" {
				return fmt.Errorf("--endpoint is required (the Berth server URL, e.g. http://127.0.0.1:9320)")
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
			rt, err := docker.New(ctx)
			if err != nil {
				return fmt.Errorf("connect to Docker (is dockerd running?): %w", err)
			}
			return runAgent(ctx, agent.Options{
				Endpoint: endpoint, Region: awsCfg.Region, Credentials: awsCfg.Credentials,
				Config: cfg, Runtime: rt, DataDir: dataDir, Logger: log,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint", "", "Berth server URL")
	f.StringVar(&configFile, "config", "/etc/ecs/ecs.config", "agent config file (ecs.config format)")
	f.StringVar(&dataDir, "data-dir", "", "agent state directory (default ECS_DATADIR, else /var/lib/berth/agent)")
	f.StringVar(&region, "region", "us-east-1", "region of the server")
	f.Int64Var(&cpu, "cpu", 0, "CPU units to offer (default BERTH_CPU_UNITS, else cores x 1024)")
	f.Int64Var(&memory, "memory", 0, "memory MiB to offer (default BERTH_MEMORY_MIB, else host memory)")
	return cmd
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
