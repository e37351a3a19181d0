package engine

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// depVerdict says whether a container's dependsOn conditions allow it to start.
type depVerdict int

const (
	depWait  depVerdict = iota // not yet; a later event may satisfy it
	depReady                   // every condition holds
	depNever                   // a condition can no longer hold
)

// checkDependencies evaluates c's dependencies (dependsOn and links) against
// the task's containers. When the verdict is depNever, the reason says which
// condition failed.
func checkDependencies(c *containerState, byName map[string]*containerState) (depVerdict, string) {
	verdict := depReady
	for _, d := range c.deps {
		name := aws.ToString(d.ContainerName)
		dep := byName[name]
		if dep == nil {
			return depNever, fmt.Sprintf("dependency %s is not in the task", name)
		}
		cond := aws.ToString(d.Condition)
		v, why := checkCondition(dep, cond)
		switch v {
		case depNever:
			return depNever, fmt.Sprintf("dependency %s cannot reach condition %s: %s", name, cond, why)
		case depWait:
			verdict = depWait
		}
	}
	return verdict, ""
}

// checkCondition evaluates one dependsOn condition against dep's state.
func checkCondition(dep *containerState, cond string) (depVerdict, string) {
	stopped := dep.known == containerStopped
	switch cond {
	case ecstypes.ContainerConditionSTART, "":
		if dep.started {
			return depReady, ""
		}
		if stopped {
			return depNever, "it stopped without starting"
		}
	case ecstypes.ContainerConditionCOMPLETE:
		if stopped && dep.started {
			return depReady, ""
		}
		if stopped {
			return depNever, "it stopped without starting"
		}
	case ecstypes.ContainerConditionSUCCESS:
		if stopped && dep.exitCode != nil && *dep.exitCode == 0 {
			return depReady, ""
		}
		if stopped {
			return depNever, fmt.Sprintf("it exited with %s", describeExit(dep.exitCode))
		}
	case ecstypes.ContainerConditionHEALTHY:
		if dep.def.HealthCheck == nil {
			return depNever, "it has no health check"
		}
		if dep.health == ecstypes.HealthStatusHEALTHY {
			return depReady, ""
		}
		if stopped {
			return depNever, "it stopped before becoming healthy"
		}
	default:
		return depNever, fmt.Sprintf("unknown condition %q", cond)
	}
	return depWait, ""
}

func describeExit(code *int) string {
	if code == nil {
		return "no exit code"
	}
	return fmt.Sprintf("exit code %d", *code)
}

// dependencyCycle reports a container whose dependsOn/links chain loops, so such
// a task fails at once instead of waiting forever. It peels off containers
// whose dependencies are all peeled (Kahn's algorithm); what remains loops.
func dependencyCycle(defs []ecstypes.ContainerDefinition) (string, bool) {
	placed := map[string]bool{}
	known := map[string]bool{}
	for _, d := range defs {
		known[aws.ToString(d.Name)] = true
	}
	for progress := true; progress; {
		progress = false
		for _, d := range defs {
			name := aws.ToString(d.Name)
			if placed[name] {
				continue
			}
			ready := true
			for _, dep := range startDependencies(d) {
				n := aws.ToString(dep.ContainerName)
				if known[n] && !placed[n] {
					ready = false
					break
				}
			}
			if ready {
				placed[name] = true
				progress = true
			}
		}
	}
	for _, d := range defs {
		if name := aws.ToString(d.Name); !placed[name] {
			return name, true
		}
	}
	return "", false
}
