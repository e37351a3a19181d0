package engine

import (
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/agent/runtime"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// link is one entry of a container definition's links: the linked
// container's name in the task and the alias the linking container sees it
// by (the name when the entry has no alias).
type link struct{ target, alias string }

// parseLink parses "name" or "name:alias": ECS and Docker share the form.
func parseLink(s string) (link, error) {
	target, alias, err := runtime.ParseLink(s)
	return link{target: target, alias: alias}, err
}

// linkProblem finds the first container whose links cannot work, so the task
// fails before anything is pulled. The server's RegisterTaskDefinition
// rejects the same definitions; this guards tasks that reach the agent anyway.
func linkProblem(defs []ecstypes.ContainerDefinition, mode string) (container, reason string, bad bool) {
	names := map[string]bool{}
	for _, d := range defs {
		names[aws.ToString(d.Name)] = true
	}
	for _, d := range defs {
		name := aws.ToString(d.Name)
		if len(d.Links) > 0 && mode != ecstypes.NetworkModeBridge {
			return name, fmt.Sprintf("container %s has links, which need the bridge network mode (the task uses %s)", name, mode), true
		}
		for _, s := range d.Links {
			l, err := parseLink(s)
			switch {
			case err != nil:
				return name, fmt.Sprintf("container %s: %v", name, err), true
			case l.target == name:
				return name, fmt.Sprintf("container %s links to itself", name), true
			case !names[l.target]:
				return name, fmt.Sprintf("container %s links to unknown container %s", name, l.target), true
			}
		}
	}
	return "", "", false
}

// startDependencies are def's dependsOn plus, as in ECS, an implicit START
// dependency on each linked container dependsOn does not already name:
// Docker refuses to start a container whose linked container is not running.
func startDependencies(def ecstypes.ContainerDefinition) []ecstypes.ContainerDependency {
	deps := slices.Clone(def.DependsOn)
	for _, s := range def.Links {
		l, err := parseLink(s)
		if err != nil {
			continue // linkProblem fails the task
		}
		named := slices.ContainsFunc(deps, func(d ecstypes.ContainerDependency) bool {
			return aws.ToString(d.ContainerName) == l.target
		})
		if !named {
			deps = append(deps, ecstypes.ContainerDependency{
				ContainerName: aws.String(l.target),
				Condition:     aws.String(ecstypes.ContainerConditionSTART),
			})
		}
	}
	return deps
}

// linkTargets are the names of the containers def links to.
func linkTargets(def ecstypes.ContainerDefinition) []string {
	var out []string
	for _, s := range def.Links {
		if l, err := parseLink(s); err == nil {
			out = append(out, l.target)
		}
	}
	return out
}

// dockerLinks maps def's links onto Docker's "<engine name>:<alias>" form.
func dockerLinks(task Task, def ecstypes.ContainerDefinition) ([]string, error) {
	var out []string
	for _, s := range def.Links {
		l, err := parseLink(s)
		if err != nil {
			return nil, err
		}
		out = append(out, containerName(task.TaskDefinition, task.Arn, l.target)+":"+l.alias)
	}
	return out, nil
}
