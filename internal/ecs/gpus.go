package ecs

import (
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// GPUs, as ECS has them: a container asks for a whole number of GPUs with
// a resourceRequirement of type GPU (a RunTask override may change it); an
// instance declares its GPU ids at registration (registeredGPUs); placement
// gives a task the lowest free ids (scheduler.Candidate.Take) and records
// them on its containers (gpuIds) and in its reservation; the agent learns
// which container gets which ids from the task's ACS associations of type
// gpu, one per GPU, naming one container.

// gpuRequirement is the value of the GPU requirement among reqs, if any.
func gpuRequirement(reqs []ecstypes.ResourceRequirement) (string, bool) {
	for _, r := range reqs {
		if aws.ToString(r.Type) == ecstypes.ResourceTypeGPU {
			return aws.ToString(r.Value), true
		}
	}
	return "", false
}

// parseGPUCount reads a GPU requirement's value: a whole number of GPUs,
// at least 1, written in decimal digits only ("2", not "2.0" or "+2").
func parseGPUCount(v string) (int32, bool) {
	if v == "" || len(v) > 9 || !allDigits(v) {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return int32(n), err == nil && n >= 1
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// checkResourceRequirements checks a container definition's
// resourceRequirements: each type at most once, a GPU count a positive
// whole number. InferenceAccelerator values are left as they are (Berth
// runs no Elastic Inference accelerators and ignores them).
func checkResourceRequirements(c *ecstypes.ContainerDefinition) error {
	name := aws.ToString(c.Name)
	seen := map[string]bool{}
	for _, r := range c.ResourceRequirements {
		typ := aws.ToString(r.Type)
		if seen[typ] {
			return awserr.Client("Invalid 'resourceRequirements' setting for container '%s'. Resource type %s can be specified only once.", name, typ)
		}
		seen[typ] = true
		if typ != ecstypes.ResourceTypeGPU {
			continue
		}
		if _, ok := parseGPUCount(aws.ToString(r.Value)); !ok {
			return awserr.Client("Invalid 'resourceRequirements' setting for container '%s'. The value for resource type GPU must be a whole number greater than 0, got '%s'.", name, aws.ToString(r.Value))
		}
	}
	return nil
}

// usesGPUs reports whether any container of a definition asks for GPUs.
func usesGPUs(defs []ecstypes.ContainerDefinition) bool {
	return slices.ContainsFunc(defs, func(c ecstypes.ContainerDefinition) bool {
		_, ok := gpuRequirement(c.ResourceRequirements)
		return ok
	})
}

// containerGPUs is how many GPUs one container of a launched task gets:
// its override's GPU requirement if it has one, else its definition's.
// Overrides take only GPU requirements, as ECS documents them.
func containerGPUs(c ecstypes.ContainerDefinition, co ecstypes.ContainerOverride) (int32, error) {
	name := aws.ToString(c.Name)
	for _, r := range co.ResourceRequirements {
		if typ := aws.ToString(r.Type); typ != ecstypes.ResourceTypeGPU {
			return 0, awserr.InvalidParameter("Invalid resourceRequirements override for container '%s': resource type %s cannot be overridden; the only supported type is GPU.", name, typ)
		}
	}
	if v, ok := gpuRequirement(co.ResourceRequirements); ok {
		n, valid := parseGPUCount(v)
		if !valid {
			return 0, awserr.InvalidParameter("Invalid resourceRequirements override for container '%s': the value for resource type GPU must be a whole number greater than 0, got '%s'.", name, v)
		}
		return n, nil
	}
	v, ok := gpuRequirement(c.ResourceRequirements)
	if !ok {
		return 0, nil
	}
	n, _ := parseGPUCount(v) // checked at registration
	return n, nil
}

// assignGPUs hands a task's GPU ids (the lowest free ones of its instance,
// in order) to its containers in definition order: counts[i] to container
// i. The slices it returns do not share ids's array.
func assignGPUs(ids []string, counts []int32) [][]string {
	out := make([][]string, len(counts))
	for i, n := range counts {
		n = min(n, int32(len(ids)))
		if n > 0 {
			out[i] = slices.Clone(ids[:n])
			ids = ids[n:]
		}
	}
	return out
}

// gpuAssociations are the ACS associations telling an agent which GPUs
// each container of a task gets: one of type gpu per GPU, named by its id
// and naming the one container that gets it (the ECS agent refuses a GPU
// association naming more than one).
func gpuAssociations(containers []ecstypes.Container) []acs.Association {
	var out []acs.Association
	for _, c := range containers {
		for _, id := range c.GpuIds {
			out = append(out, acs.Association{
				Name: id, Type: acs.AssociationTypeGPU, Containers: []string{aws.ToString(c.Name)},
				Content: &acs.EncodedString{Encoding: acs.EncodingIdentity, Value: ""},
			})
		}
	}
	return out
}
