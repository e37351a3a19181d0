package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/server"
)

func serverCmd() *cobra.Command {
	var cfg server.Config
	var etcd, regions, lbPorts string
	var lostGrace time.Duration
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (all APIs on one listener; embedded etcd by default)",
		Long: `Run the Berth control plane.

With --dev it also creates the cluster "default" and runs an agent in the same
process on the local Docker engine, with well-known credentials (override them
with BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY).

The account id and root credentials live in etcd: the first server on an etcd
stores them (BERTH_ROOT_*, the dev ones, or generated), and every server
sharing that etcd answers to them. Servers sharing an etcd elect one leader to
run the controllers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger(cmd)
			if err != nil {
				return err
			}
			cfg.Logger = log
			if etcd != "" {
				cfg.EtcdEndpoints = strings.Split(etcd, ",")
			}
			cfg.LostAgentGrace = lostGrace
			if lostGrace <= 0 {
				cfg.LostAgentGrace = -1 // never
			}
			if regions != "" {
				cfg.Regions = strings.Split(regions, ",")
			}
			if cfg.LBPortMap, err = parsePortMap(lbPorts); err != nil {
				return err
			}
			if net.ParseIP(cfg.LBListenAddress) == nil {
				return fmt.Errorf("--lb-listen-address: %q is not an IP address", cfg.LBListenAddress)
			}
			cfg.RootAccessKeyID = os.Getenv("BERTH_ROOT_ACCESS_KEY_ID")
			cfg.RootSecretAccessKey = os.Getenv("BERTH_ROOT_SECRET_ACCESS_KEY")
			cfg.Ready = func(info server.ReadyInfo) { printBanner(cmd, cfg, info) }
			return server.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&cfg.Dev, "dev", false, "all-in-one: default cluster, in-process agent on local Docker, dev credentials")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:9320", "address for every API (loopback unless you ask otherwise)")
	f.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "where embedded etcd and agent state live")
	f.StringVar(&cfg.RegistryDir, "registry-dir", "",
		"where the registry's image blobs live (default <data-dir>/registry; servers sharing an etcd must share it)")
	f.StringVar(&etcd, "etcd-endpoints", "", "comma-separated external etcd endpoints (default: embedded etcd)")
	f.StringVar(&cfg.Region, "region", "us-east-1", "the AWS region this server answers as")
	f.StringVar(&regions, "regions", "", "comma-separated further regions requests may be signed for (--dev accepts any)")
	f.StringVar(&cfg.AdvertiseURL, "advertise-url", "", "URL agents use to reach this server (default http://<listen>)")
	f.StringVar(&cfg.AgentConfigFile, "agent-config", "", "ecs.config file for the --dev in-process agent")
	f.DurationVar(&lostGrace, "lost-agent-grace", 3*time.Minute,
		"how long an agent may be disconnected before services replace its tasks elsewhere (0: never)")
	f.DurationVar(&cfg.ECRControllerInterval, "ecr-controller-interval", server.DefaultECRControllerInterval,
		"how often the ECR controllers (lifecycle policies) run")
	_ = f.MarkHidden("ecr-controller-interval") // for tests
	f.StringVar(&cfg.LBListenAddress, "lb-listen-address", "127.0.0.1",
		"IP every load balancer listener binds (loopback unless you ask otherwise)")
	f.StringVar(&lbPorts, "lb-port-map", "",
		"listener ports to bind elsewhere, e.g. 80=8080,443=8443 (to run without root)")
	f.StringVar(&cfg.AccountID, "account-id", "", "account id of a new etcd (default "+server.DefaultAccountID+"; an etcd keeps the one it was created with)")
	return cmd
}

func defaultDataDir() string {
	if d := os.Getenv("BERTH_DATA_DIR"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return home + "/.berth"
	}
	return ".berth"
}

func printBanner(cmd *cobra.Command, cfg server.Config, info server.ReadyInfo) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Berth server ready on http://%s (region %s)\n", info.Addr, info.Region)
	switch {
	case cfg.Dev:
		fmt.Fprintf(w, "Dev credentials:\n  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=%s\n",
			info.AccessKeyID, info.SecretAccessKey, info.Region)
	case cfg.RootAccessKeyID == "":
		fmt.Fprintf(w, "Root credentials are in %s\n", info.CredentialsFile)
	}
	fmt.Fprintf(w, "Try: aws --endpoint-url http://%s ecs list-clusters\n", info.Addr)
	fmt.Fprintf(w, "Registry: aws --endpoint-url http://%s ecr get-login-password | docker login --username AWS --password-stdin %s\n",
		info.Addr, info.RegistryHost)
}

// parsePortMap reads --lb-port-map: comma-separated listener=local port
// pairs.
func parsePortMap(s string) (map[int32]int32, error) {
	if s == "" {
		return nil, nil
	}
	out := map[int32]int32{}
	for _, pair := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(pair), "=")
		a, errA := strconv.ParseUint(from, 10, 16)
		b, errB := strconv.ParseUint(to, 10, 16)
		if !ok || errA != nil || errB != nil || a == 0 || b == 0 {
			return nil, fmt.Errorf("--lb-port-map: %q is not listener=local, two ports (1-65535)", pair)
		}
		if _, dup := out[int32(a)]; dup {
			return nil, fmt.Errorf("--lb-port-map: port %d is mapped twice", a)
		}
		out[int32(a)] = int32(b)
	}
	return out, nil
}
