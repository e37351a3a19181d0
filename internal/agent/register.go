package agent

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecssdk "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/agent/config"
)

// Version and GitHash identify this build (set with -ldflags -X); the agent
// registers as "berth-<Version>".
var (
	Version = "dev"
	GitHash = ""
)

// registerAPI is the ECS call that registers the instance.
type registerAPI interface {
	RegisterContainerInstance(ctx context.Context, in *ecs.RegisterContainerInstanceInput, optFns ...func(*ecs.Options)) (*ecs.RegisterContainerInstanceOutput, error)
}

var _ registerAPI = (*ecs.Client)(nil)

// clusterAPI is the ECS call that creates the default cluster.
type clusterAPI interface {
	CreateCluster(ctx context.Context, in *ecs.CreateClusterInput, optFns ...func(*ecs.Options)) (*ecs.CreateClusterOutput, error)
}

var _ clusterAPI = (*ecs.Client)(nil)

// codeClusterNotFound is the error RegisterContainerInstance answers for a
// cluster that does not exist.
const codeClusterNotFound = "ClusterNotFoundException"

// dockerVersioner is implemented by runtimes that can name their engine's
// version; it is optional (the simulated runtime has none).
type dockerVersioner interface {
	Version(ctx context.Context) (string, error)
}

// minDockerAPI and maxDockerAPI bound the docker-remote-api capabilities
// registered, as the ECS agent registers every version it can speak.
const (
	minDockerAPI = 17
	maxDockerAPI = 41
)

// registration is what RegisterContainerInstance needs, gathered once.
type registration struct {
	cfg           config.Config
	region        string
	instanceARN   string // from state.json; "" registers a new instance
	dockerVersion string
	gpus          GPUInfo // registered only with GPU support on
}

// registerInput builds the request as the ECS agent does: resources net of
// reservations, built-in and custom attributes, version info and tags.
func registerInput(r registration) *ecs.RegisterContainerInstanceInput {
	cfg := r.cfg
	in := &ecs.RegisterContainerInstanceInput{
		Cluster: aws.String(cfg.Cluster),
		TotalResources: []ecssdk.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: int32(cfg.CPUUnits)},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: int32(cfg.RegisteredMemoryMiB())},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: portStrings(cfg.ReservedPorts)},
			{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: portStrings(cfg.ReservedPortsUDP)},
		},
		Attributes: attributes(cfg, r.region),
		VersionInfo: &ecssdk.VersionInfo{
			AgentVersion: aws.String("berth-" + Version),
			AgentHash:    optString(GitHash),
		},
	}
	if r.dockerVersion != "" {
		in.VersionInfo.DockerVersion = aws.String("DockerVersion: " + r.dockerVersion)
	}
	if r.instanceARN != "" {
		in.ContainerInstanceArn = aws.String(r.instanceARN)
	}
	if cfg.GPUSupportEnabled {
		// As the ECS agent declares them: platform devices, not a resource.
		for _, id := range r.gpus.IDs {
			in.PlatformDevices = append(in.PlatformDevices, ecssdk.PlatformDevice{Id: aws.String(id), Type: ecssdk.PlatformDeviceTypeGpu})
		}
		if v := r.gpus.DriverVersion; v != "" {
			in.Attributes = append(in.Attributes,
				ecssdk.Attribute{Name: aws.String("ecs.capability.nvidia-driver-version." + v)},
				ecssdk.Attribute{Name: aws.String("ecs.capability.gpu-driver-version"), Value: aws.String(v)})
		}
	}
	for _, k := range sortedKeys(cfg.ContainerInstanceTags) {
		in.Tags = append(in.Tags, ecssdk.Tag{Key: aws.String(k), Value: aws.String(cfg.ContainerInstanceTags[k])})
	}
	return in
}

// attributes returns the custom attributes followed by the built-in ones.
func attributes(cfg config.Config, region string) []ecssdk.Attribute {
	var out []ecssdk.Attribute
	add := func(name, value string) {
		a := ecssdk.Attribute{Name: aws.String(name)}
		if value != "" {
			a.Value = aws.String(value)
		}
		out = append(out, a)
	}
	for _, k := range sortedKeys(cfg.InstanceAttributes) {
		add(k, cfg.InstanceAttributes[k])
	}
	if az := cfg.AvailabilityZone(region); az != "" {
		add("ecs.availability-zone", az)
	}
	add("ecs.instance-type", cfg.InstanceType)
	add("ecs.os-type", "linux")
	add("ecs.os-family", "LINUX")
	add("ecs.cpu-architecture", cpuArchitecture(goruntime.GOARCH))
	// Capabilities are presence-only attributes.
	for v := minDockerAPI; v <= maxDockerAPI; v++ {
		add(fmt.Sprintf("com.amazonaws.ecs.capability.docker-remote-api.1.%d", v), "")
	}
	for _, d := range cfg.AvailableLoggingDrivers {
		add("com.amazonaws.ecs.capability.logging-driver."+d, "")
	}
	add("com.amazonaws.ecs.capability.privileged-container", "")
	add("ecs.capability.container-health-check", "")
	return out
}

// cpuArchitecture maps GOARCH to the names ECS uses.
func cpuArchitecture(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "arm64"
	}
	return goarch
}

func portStrings(ports []uint16) []string {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		out = append(out, strconv.Itoa(int(p)))
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// register registers the instance, retrying with backoff while the server is
// unreachable or failing. A request the server rejects as invalid is final,
// except that a stale persisted instance ARN is dropped once and a fresh
// registration tried (the server no longer knows the instance). A missing
// cluster is final too, unless it is the default cluster: as the ECS agent
// does when ECS_CLUSTER is unset, the agent creates it once and registers
// again.
func (a *Agent) register(ctx context.Context, r registration) (string, error) {
	createdDefault := false
	for attempt := 0; ; attempt++ {
		release, err := a.opts.Throttle.acquire(ctx)
		if err != nil {
			return "", fmt.Errorf("register container instance: %w", err)
		}
		callCtx, cancel := context.WithTimeout(ctx, a.callTimeout)
		out, err := a.api.RegisterContainerInstance(callCtx, registerInput(r))
		cancel()
		release()
		if err == nil {
			if out.ContainerInstance == nil || aws.ToString(out.ContainerInstance.ContainerInstanceArn) == "" {
				return "", errors.New("register container instance: no containerInstanceArn in response")
			}
			return *out.ContainerInstance.ContainerInstanceArn, nil
		}
		switch {
		case isCode(err, codeClusterNotFound) && r.cfg.Cluster == config.DefaultCluster && !createdDefault:
			a.log.Info("cluster does not exist; creating it", "cluster", r.cfg.Cluster)
			err = a.createCluster(ctx, r.cfg.Cluster)
			if err == nil {
				createdDefault = true
				continue // register again at once
			}
			if permanent(err) {
				return "", err
			}
		case isCode(err, codeClusterNotFound):
			return "", fmt.Errorf("register container instance: cluster %s does not exist (create it first): %w", r.cfg.Cluster, err)
		case permanent(err):
			if r.instanceARN != "" {
				a.log.Warn("re-registration refused; registering as a new instance", "containerInstanceArn", r.instanceARN, "err", err)
				r.instanceARN = ""
				continue
			}
			return "", fmt.Errorf("register container instance in cluster %s: %w", r.cfg.Cluster, err)
		}
		d := a.retry.delay(attempt)
		a.log.Warn("register container instance failed; retrying", "cluster", r.cfg.Cluster, "retryIn", d, "err", err)
		if !sleepCtx(ctx, d) {
			return "", fmt.Errorf("register container instance: %w", ctx.Err())
		}
	}
}

// createCluster creates the named cluster (CreateCluster returns an
// existing one as it is, so a race with another agent is harmless).
func (a *Agent) createCluster(ctx context.Context, name string) error {
	callCtx, cancel := context.WithTimeout(ctx, a.callTimeout)
	defer cancel()
	if _, err := a.api.CreateCluster(callCtx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		return fmt.Errorf("create cluster %s: %w", name, err)
	}
	a.log.Info("created cluster", "cluster", name)
	return nil
}

func isCode(err error, code string) bool {
	var apiErr interface{ ErrorCode() string }
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == code
}

// clusterARN returns cluster if it already is an ARN, else builds the
// cluster's ARN from the instance ARN
// (arn:aws:ecs:REGION:ACCOUNT:container-instance/CLUSTER/ID).
func clusterARN(cluster, instanceARN string) string {
	if strings.HasPrefix(cluster, "arn:") {
		return cluster
	}
	prefix, _, ok := strings.Cut(instanceARN, ":container-instance/")
	if !ok {
		return cluster
	}
	return prefix + ":cluster/" + cluster
}
