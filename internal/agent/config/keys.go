package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// setters maps every key Berth understands to the function that parses and
// validates its value into a Config.
var setters = map[string]func(*Config, string) error{
	"ECS_CLUSTER": func(c *Config, v string) error {
		c.Cluster = v
		return nil
	},
	"ECS_INSTANCE_ATTRIBUTES": func(c *Config, v string) error {
		m, err := parseStringMap(v)
		if err != nil {
			return err
		}
		for name, value := range m {
			if err := validateAttribute(name, value); err != nil {
				return err
			}
		}
		c.InstanceAttributes = m
		return nil
	},
	"ECS_RESERVED_MEMORY": func(c *Config, v string) error {
		n, err := parseMiB(v)
		c.ReservedMemoryMiB = n
		return err
	},
	"ECS_RESERVED_PORTS": func(c *Config, v string) error {
		p, err := parsePorts(v)
		c.ReservedPorts = p
		return err
	},
	"ECS_RESERVED_PORTS_UDP": func(c *Config, v string) error {
		p, err := parsePorts(v)
		c.ReservedPortsUDP = p
		return err
	},
	"ECS_CONTAINER_STOP_TIMEOUT": func(c *Config, v string) error {
		d, err := parseDuration(v)
		if err == nil && d == 0 {
			err = fmt.Errorf("must be positive")
		}
		c.ContainerStopTimeout = d
		return err
	},
	"ECS_IMAGE_PULL_BEHAVIOR": func(c *Config, v string) error {
		switch v {
		case PullDefault, PullAlways, PullOnce, PullPreferCached:
			c.ImagePullBehavior = v
			return nil
		}
		return fmt.Errorf("%q is not one of default, always, once, prefer-cached", v)
	},
	"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": func(c *Config, v string) error {
		d, err := parseDuration(v)
		c.TaskCleanupWait = d
		return err
	},
	"ECS_DATADIR": func(c *Config, v string) error {
		c.DataDir = v
		return nil
	},
	"ECS_AVAILABLE_LOGGING_DRIVERS": func(c *Config, v string) error {
		var drivers []string
		if err := json.Unmarshal([]byte(v), &drivers); err != nil {
			return fmt.Errorf("want a JSON list of strings: %w", err)
		}
		c.AvailableLoggingDrivers = drivers
		return nil
	},
	"ECS_CONTAINER_INSTANCE_TAGS": func(c *Config, v string) error {
		m, err := parseStringMap(v)
		if err != nil {
			return err
		}
		if err := validateTags(m); err != nil {
			return err
		}
		c.ContainerInstanceTags = m
		return nil
	},
	"ECS_DISABLE_METRICS": func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is neither true nor false", v)
		}
		c.DisableMetrics = b
		return nil
	},
	"ECS_ENABLE_GPU_SUPPORT": func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is neither true nor false", v)
		}
		c.GPUSupportEnabled = b
		return nil
	},
	"ECS_NVIDIA_RUNTIME": func(c *Config, v string) error {
		c.NvidiaRuntime = v
		return nil
	},
	"BERTH_GPU_IDS": func(c *Config, v string) error {
		ids, err := parseGPUIDs(v)
		c.GPUIDs = ids
		return err
	},
	"BERTH_SIM_GPUS": func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxSimGPUs {
			return fmt.Errorf("%q is not a number of GPUs from 0 to %d", v, MaxSimGPUs)
		}
		c.SimGPUs = n
		return nil
	},
	"BERTH_CPU_UNITS": func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive number of CPU units", v)
		}
		c.CPUUnits = n
		return nil
	},
	"BERTH_MEMORY_MIB": func(c *Config, v string) error {
		n, err := parseMiB(v)
		if err == nil && n == 0 {
			err = fmt.Errorf("must be positive")
		}
		c.MemoryMiB = n
		return err
	},
	"BERTH_AVAILABILITY_ZONE": func(c *Config, v string) error {
		c.AvailabilityZoneRaw = v
		return nil
	},
	"BERTH_INSTANCE_TYPE": func(c *Config, v string) error {
		c.InstanceType = v
		return nil
	},
}

// parseGPUIDs reads a comma-separated list of GPU ids (as nvidia-smi
// names them, e.g. GPU-8f6c...); spaces around ids are dropped.
func parseGPUIDs(v string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for _, id := range strings.Split(v, ",") {
		id = strings.TrimSpace(id)
		switch {
		case id == "":
			return nil, fmt.Errorf("%q has an empty GPU id (want ids separated by commas)", v)
		case strings.ContainsAny(id, " \t\"'"):
			return nil, fmt.Errorf("GPU id %q has a space or a quote", id)
		case seen[id]:
			return nil, fmt.Errorf("GPU id %q is listed twice", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	return ids, nil
}

func parseMiB(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a number of MiB", v)
	}
	return n, nil
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 30s or 3h: %w", v, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", v)
	}
	return d, nil
}

func parsePorts(v string) ([]uint16, error) {
	var raw []int
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, fmt.Errorf("want a JSON list of port numbers such as [22, 2375]: %w", err)
	}
	ports := make([]uint16, 0, len(raw))
	seen := map[int]bool{}
	for _, p := range raw {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("port %d out of range 1-65535", p)
		}
		if !seen[p] {
			seen[p] = true
			ports = append(ports, uint16(p))
		}
	}
	return ports, nil
}

func parseStringMap(v string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return nil, fmt.Errorf(`want a JSON object of strings such as {"key": "value"}: %w`, err)
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}

// validateAttribute follows ECS's Attribute rules: a name of 1-128 letters,
// digits, hyphens, underscores, periods, forward or back slashes; a value of
// 1-128 of those plus @, : and spaces, not starting or ending with a space.
// The ecs. prefix is kept for the built-in attributes.
func validateAttribute(name, value string) error {
	if len(name) < 1 || len(name) > 128 || !allIn(name, "-_./\\") {
		return fmt.Errorf("attribute name %q must be 1-128 letters, digits, '-', '_', '.', '/' or '\\'", name)
	}
	if strings.HasPrefix(name, "ecs.") {
		return fmt.Errorf("attribute name %q: the ecs. prefix is reserved for built-in attributes", name)
	}
	if len(value) < 1 || len(value) > 128 || !allIn(value, "-_./\\@: ") ||
		strings.HasPrefix(value, " ") || strings.HasSuffix(value, " ") {
		return fmt.Errorf("attribute %q value %q must be 1-128 letters, digits, spaces or '-_./\\@:' and not start or end with a space", name, value)
	}
	return nil
}

// validateTags follows ECS's tag limits.
func validateTags(m map[string]string) error {
	if len(m) > 50 {
		return fmt.Errorf("%d tags, at most 50 allowed", len(m))
	}
	for k, v := range m {
		if len(k) < 1 || len(k) > 128 {
			return fmt.Errorf("tag key %q must be 1-128 characters", k)
		}
		if len(v) > 256 {
			return fmt.Errorf("tag %q value must be at most 256 characters", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return fmt.Errorf("tag key %q: the aws: prefix is reserved", k)
		}
	}
	return nil
}

func allIn(s, extra string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(extra, r):
		default:
			return false
		}
	}
	return true
}
