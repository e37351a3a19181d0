package ecs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

const (
	maxTaskDefBytes    = 64 << 10
	maxContainers      = 10
	minContainerMemory = 6 // MiB
)

const msgNameChars = "Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed."

// checkRegisterRequest applies ECS's business rules to a request that has
// already passed the model's own validation (required members, enums).
func checkRegisterRequest(in *ecstypes.RegisterTaskDefinitionRequest) error {
	raw, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode task definition: %w", err)
	}
	if len(raw) > maxTaskDefBytes {
		return awserr.Client("Actual task definition size (%d bytes) exceeds the limit (%d bytes).", len(raw), maxTaskDefBytes)
	}
	if !validName(aws.ToString(in.Family)) {
		return awserr.Client("Family contains invalid characters. " + msgNameChars)
	}
	if err := checkTaskResources(in); err != nil {
		return err
	}
	if err := checkContainers(in); err != nil {
		return err
	}
	// A task definition's constraints are memberOf expressions, checked
	// now so that every RunTask of the definition does not fail on them.
	for _, pc := range in.PlacementConstraints {
		if t := aws.ToString(pc.Type); t != ecstypes.TaskDefinitionPlacementConstraintTypeMemberOf {
			return awserr.Client("%s", "Invalid placement constraint type "+t+" in a task definition: only memberOf is allowed.")
		}
	}
	if _, err := placementConstraints(in.PlacementConstraints, nil); err != nil {
		return err
	}
	return validateTags(in.Tags)
}

// checkTaskResources checks task-level cpu/memory, and the Fargate rules
// when the definition asks for FARGATE (taskdefs_fargate.go).
func checkTaskResources(in *ecstypes.RegisterTaskDefinitionRequest) error {
	if in.Cpu != nil {
		if _, err := parseTaskCPU(*in.Cpu); err != nil {
			return awserr.Client("Invalid 'cpu' setting for task: %q is not CPU units (\"256\") or vCPUs (\"0.25 vCPU\").", *in.Cpu)
		}
	}
	if in.Memory != nil {
		if _, err := parseTaskMemory(*in.Memory); err != nil {
			return awserr.Client("Invalid 'memory' setting for task: %q is not MiB (\"512\") or GB (\"1 GB\").", *in.Memory)
		}
	}
	if requiresFargate(in) {
		return checkFargate(in)
	}
	return nil
}

// checkContainers checks the container list, each container, their
// dependencies and their port mappings.
func checkContainers(in *ecstypes.RegisterTaskDefinitionRequest) error {
	defs := in.ContainerDefinitions
	switch {
	case len(defs) == 0:
		return awserr.Client("Container list cannot be empty.")
	case len(defs) > maxContainers:
		return awserr.Client("Too many containers: a task definition can have at most %d containers, got %d.", maxContainers, len(defs))
	}
	byName := make(map[string]*ecstypes.ContainerDefinition, len(defs))
	essential := false
	for i := range defs {
		c := &defs[i]
		name := aws.ToString(c.Name)
		if err := checkContainer(c, in.Memory != nil); err != nil {
			return err
		}
		if _, dup := byName[name]; dup {
			return awserr.Client("Container names must be unique within a task definition: '%s' is used more than once.", name)
		}
		byName[name] = c
		essential = essential || aws.ToBool(c.Essential) || c.Essential == nil
	}
	if !essential {
		return awserr.Client("A task definition must have at least one essential container.")
	}
	// Links first: the cycle check in checkDependsOn follows them too.
	if err := checkLinks(defs, byName, networkModeOf(in.NetworkMode)); err != nil {
		return err
	}
	if err := checkDependsOn(defs, byName); err != nil {
		return err
	}
	return checkPortMappings(defs, networkModeOf(in.NetworkMode))
}

// checkLinks accepts links ("name" or "name:alias") only in bridge mode, only
// to other containers of the task, and not to a container this one waits to
// see exit (Docker cannot link to a container that is not running).
func checkLinks(defs []ecstypes.ContainerDefinition, byName map[string]*ecstypes.ContainerDefinition, mode string) error {
	for i := range defs {
		name := aws.ToString(defs[i].Name)
		if len(defs[i].Links) > 0 && mode != ecstypes.NetworkModeBridge {
			return awserr.Client("Links are not supported for network mode '%s'. Container '%s' has links; they are only supported in bridge mode.", mode, name)
		}
		for _, l := range defs[i].Links {
			target, alias, hasAlias := strings.Cut(l, ":")
			if !validName(target) || hasAlias && !validName(alias) {
				return awserr.Client("Invalid link '%s' in container '%s': use 'name' or 'name:alias' with letters, numbers, hyphens and underscores.", l, name)
			}
			if _, ok := byName[target]; !ok || target == name {
				return awserr.Client("Invalid link '%s' in container '%s': links must name another container in this task definition.", l, name)
			}
			for _, d := range defs[i].DependsOn {
				if c := aws.ToString(d.Condition); aws.ToString(d.ContainerName) == target && (c == "COMPLETE" || c == "SUCCESS") {
					return awserr.Client("Invalid link '%s' in container '%s': it depends on '%s' with condition %s, but a linked container must be running.", l, name, target, c)
				}
			}
		}
	}
	return nil
}

// linkTargets returns the containers c links to.
func linkTargets(c *ecstypes.ContainerDefinition) []string {
	var out []string
	for _, l := range c.Links {
		target, _, _ := strings.Cut(l, ":")
		out = append(out, target)
	}
	return out
}

func checkContainer(c *ecstypes.ContainerDefinition, taskMemory bool) error {
	name := aws.ToString(c.Name)
	switch {
	case name == "":
		return awserr.Client("Container.name should not be null or empty.")
	case !validName(name):
		return awserr.Client("Container name '%s' contains invalid characters. %s", name, msgNameChars)
	case aws.ToString(c.Image) == "":
		return awserr.Client("Container.image should not be null or empty.")
	case !taskMemory && c.Memory == nil && c.MemoryReservation == nil:
		return awserr.Client("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", name)
	case c.Memory != nil && *c.Memory < minContainerMemory:
		return awserr.Client("Invalid 'memory' setting for container '%s'. The minimum is %d MiB.", name, minContainerMemory)
	case c.MemoryReservation != nil && *c.MemoryReservation < minContainerMemory:
		return awserr.Client("Invalid 'memoryReservation' setting for container '%s'. The minimum is %d MiB.", name, minContainerMemory)
	case c.Memory != nil && c.MemoryReservation != nil && *c.MemoryReservation > *c.Memory:
		return awserr.Client("Invalid setting for container '%s'. 'memory' must be greater than or equal to 'memoryReservation'.", name)
	case c.Cpu != nil && *c.Cpu < 0:
		return awserr.Client("Invalid 'cpu' setting for container '%s'.", name)
	}
	return checkResourceRequirements(c)
}

// checkDependsOn rejects dependencies on unknown containers, on oneself,
// HEALTHY dependencies without a health check, and cycles.
func checkDependsOn(defs []ecstypes.ContainerDefinition, byName map[string]*ecstypes.ContainerDefinition) error {
	for i := range defs {
		name := aws.ToString(defs[i].Name)
		for _, d := range defs[i].DependsOn {
			dep := aws.ToString(d.ContainerName)
			target, ok := byName[dep]
			switch {
			case dep == name:
				return awserr.Client("Invalid dependsOn for container '%s': a container cannot depend on itself.", name)
			case !ok:
				return awserr.Client("Invalid dependsOn for container '%s': container '%s' is not defined in this task definition.", name, dep)
			case aws.ToString(d.Condition) == "HEALTHY" && target.HealthCheck == nil:
				return awserr.Client("Invalid dependsOn for container '%s': condition HEALTHY requires container '%s' to have a healthCheck.", name, dep)
			}
		}
	}
	// Depth-first search; a grey node reached again closes a cycle.
	const (
		white = iota
		grey
		black
	)
	color := make(map[string]int, len(defs))
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		path = append(path, name)
		switch color[name] {
		case grey:
			return awserr.Client("Invalid dependsOn: container dependencies (dependsOn and links) form a cycle (%s).", strings.Join(path, " -> "))
		case black:
			return nil
		}
		color[name] = grey
		for _, d := range byName[name].DependsOn {
			if err := visit(aws.ToString(d.ContainerName), path); err != nil {
				return err
			}
		}
		for _, target := range linkTargets(byName[name]) { // a link starts its target first
			if err := visit(target, path); err != nil {
				return err
			}
		}
		color[name] = black
		return nil
	}
	for i := range defs {
		if err := visit(aws.ToString(defs[i].Name), nil); err != nil {
			return err
		}
	}
	return nil
}

// checkPortMappings checks port ranges, the host/awsvpc rule that host and
// container ports match, and that no static host port is claimed twice.
func checkPortMappings(defs []ecstypes.ContainerDefinition, mode string) error {
	used := map[string]string{} // "tcp/80" -> container name
	for i := range defs {
		name := aws.ToString(defs[i].Name)
		if mode == "none" && len(defs[i].PortMappings) > 0 {
			return awserr.Client("Invalid setting for container '%s'. Port mappings are not allowed with network mode 'none'.", name)
		}
		for _, pm := range defs[i].PortMappings {
			if pm.ContainerPortRange != nil {
				if err := checkPortRange(name, pm); err != nil {
					return err
				}
				continue
			}
			cp := aws.ToInt32(pm.ContainerPort)
			if pm.ContainerPort == nil || cp < 1 || cp > 65535 {
				return awserr.Client("Invalid 'containerPort' setting for container '%s'. It must be between 1 and 65535.", name)
			}
			hp := aws.ToInt32(pm.HostPort)
			if hp < 0 || hp > 65535 {
				return awserr.Client("Invalid 'hostPort' setting for container '%s'. It must be between 0 and 65535.", name)
			}
			if mode == "host" || mode == "awsvpc" {
				if pm.HostPort != nil && hp != cp {
					return awserr.Client("When networkMode=%s, the host ports and container ports in port mappings must match.", mode)
				}
				hp = cp
			}
			if hp == 0 {
				continue // dynamic: the agent picks a free port at launch
			}
			key := aws.ToString(pm.Protocol)
			if key == "" {
				key = "tcp"
			}
			key += "/" + strconv.Itoa(int(hp))
			if other, dup := used[key]; dup {
				return awserr.Client("Invalid port mappings: host port %s is used by both container '%s' and container '%s'.", key, other, name)
			}
			used[key] = name
		}
	}
	return nil
}

// checkPortRange accepts "start-end" with 1 <= start < end <= 65535; a
// mapping with a range takes neither containerPort nor hostPort.
func checkPortRange(name string, pm ecstypes.PortMapping) error {
	bad := awserr.Client("Invalid 'containerPortRange' setting for container '%s'.", name)
	if pm.ContainerPort != nil || pm.HostPort != nil {
		return bad
	}
	lo, hi, ok := strings.Cut(*pm.ContainerPortRange, "-")
	if !ok {
		return bad
	}
	a, errA := strconv.Atoi(strings.TrimSpace(lo))
	b, errB := strconv.Atoi(strings.TrimSpace(hi))
	if errA != nil || errB != nil || a < 1 || b > 65535 || a >= b {
		return bad
	}
	return nil
}

// parseTaskCPU parses a task-level cpu value into CPU units: "256",
// "1024", "1 vCPU", "0.25 vcpu".
func parseTaskCPU(s string) (int32, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	if num, ok := strings.CutSuffix(v, "vcpu"); ok {
		v, mult = strings.TrimSpace(num), 1024
	}
	n, err := parseUnits(v, mult)
	if err != nil {
		return 0, fmt.Errorf("parse task cpu %q: %w", s, err)
	}
	return n, nil
}

// parseTaskMemory parses a task-level memory value into MiB: "512",
// "1 GB", "2GB", "512 MiB".
func parseTaskMemory(s string) (int32, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"gib", 1024}, {"gb", 1024}, {"mib", 1}, {"mb", 1}} {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := parseUnits(v, mult)
	if err != nil {
		return 0, fmt.Errorf("parse task memory %q: %w", s, err)
	}
	return n, nil
}

// parseUnits parses a positive decimal number times mult that must come out
// as a whole number fitting in an int32.
func parseUnits(v string, mult float64) (int32, error) {
	if v == "" || strings.Trim(v, "0123456789.") != "" {
		return 0, errors.New("not a decimal number")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("not a number")
	}
	f *= mult
	switch {
	case f <= 0:
		return 0, errors.New("must be positive")
	case f != math.Trunc(f):
		return 0, errors.New("not a whole number of units")
	case f > math.MaxInt32:
		return 0, errors.New("too large")
	}
	return int32(f), nil
}
