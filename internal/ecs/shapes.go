package ecs

import (
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// Reply shapes. Every generated member is omitzero, so a nil list vanishes
// from the JSON while an empty one is sent as []. ECS sends some lists even
// when they are empty (boto3's resp["tags"], the CLI's length(...) depend on
// it) and leaves others out unless asked for with include; the helpers here
// say which, per resource, so every handler answers the same way. The
// shapes follow the AWS CLI's own ECS examples (awscli/examples/ecs/*.rst)
// and the API reference.

// orEmpty is s, or an empty (non-nil) list when s is nil.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// includes reports whether an include list names field.
func includes(include []string, field string) bool { return slices.Contains(include, field) }

// clusterReply is a cluster as CreateCluster, UpdateCluster and
// DeleteCluster answer with it: statistics, tags, settings, capacity
// providers and the default strategy always present, empty when unset.
func clusterReply(c ecstypes.Cluster) ecstypes.Cluster {
	c.Statistics = orEmpty(c.Statistics)
	c.Tags = orEmpty(c.Tags)
	c.Settings = orEmpty(c.Settings)
	c.CapacityProviders = orEmpty(c.CapacityProviders)
	c.DefaultCapacityProviderStrategy = orEmpty(c.DefaultCapacityProviderStrategy)
	return c
}

// describedCluster is a cluster as DescribeClusters answers with it: the
// lists of clusterReply, where tags, settings and statistics are empty
// unless include names them, configuration and attachments absent unless
// it does. Its counts must already be filled (withCounts).
func describedCluster(c ecstypes.Cluster, include []string) ecstypes.Cluster {
	c = clusterReply(c)
	if !includes(include, ecstypes.ClusterFieldTAGS) {
		c.Tags = []ecstypes.Tag{}
	}
	if !includes(include, ecstypes.ClusterFieldSETTINGS) {
		c.Settings = []ecstypes.ClusterSetting{}
	}
	if !includes(include, ecstypes.ClusterFieldCONFIGURATIONS) {
		c.Configuration = nil
	}
	c.Statistics = []ecstypes.KeyValuePair{}
	if includes(include, ecstypes.ClusterFieldSTATISTICS) {
		c.Statistics = clusterStatistics(aws.ToInt32(c.RunningTasksCount), aws.ToInt32(c.PendingTasksCount))
	}
	c.Attachments = nil
	if includes(include, ecstypes.ClusterFieldATTACHMENTS) {
		// Attachments are capacity provider resources: Berth has none yet.
		c.Attachments = []ecstypes.Attachment{}
	}
	return c
}

// clusterStatistics are the task and service counts by launch type, named
// and ordered as ECS lists them. Every Berth task runs on a container
// instance (EC2), and Berth has no services yet.
func clusterStatistics(running, pending int32) []ecstypes.KeyValuePair {
	counts := []struct {
		name string
		n    int32
	}{
		{"runningEC2TasksCount", running},
		{"runningFargateTasksCount", 0},
		{"pendingEC2TasksCount", pending},
		{"pendingFargateTasksCount", 0},
		{"runningExternalTasksCount", 0},
		{"pendingExternalTasksCount", 0},
		{"activeEC2ServiceCount", 0},
		{"activeFargateServiceCount", 0},
		{"drainingEC2ServiceCount", 0},
		{"drainingFargateServiceCount", 0},
		{"activeExternalServiceCount", 0},
		{"drainingExternalServiceCount", 0},
	}
	out := make([]ecstypes.KeyValuePair, 0, len(counts))
	for _, c := range counts {
		out = append(out, ecstypes.KeyValuePair{Name: aws.String(c.name), Value: aws.String(strconv.Itoa(int(c.n)))})
	}
	return out
}

// instanceReply is a container instance as every instance operation
// answers with it: attributes, resources, attachments and tags present,
// empty when there are none. Tags are the instance's own when withTags (the
// include TAGS of DescribeContainerInstances), else empty.
func instanceReply(inst ecstypes.ContainerInstance, withTags bool) ecstypes.ContainerInstance {
	inst.Attributes = orEmpty(inst.Attributes)
	inst.RegisteredResources = orEmpty(inst.RegisteredResources)
	inst.RemainingResources = orEmpty(inst.RemainingResources)
	inst.Attachments = orEmpty(inst.Attachments)
	inst.Tags = orEmpty(inst.Tags)
	if !withTags {
		inst.Tags = []ecstypes.Tag{}
	}
	return inst
}

// taskReply is a task as every task operation answers with it: attachments,
// attributes, containers, the overrides' lists and tags present, empty
// when there are none. Tags are the task's own when withTags (the include
// TAGS of DescribeTasks), else empty.
func taskReply(t ecstypes.Task, withTags bool) ecstypes.Task {
	t.Attachments = orEmpty(t.Attachments)
	t.Attributes = orEmpty(t.Attributes)
	t.Containers = orEmpty(t.Containers)
	ov := ecstypes.TaskOverride{}
	if t.Overrides != nil {
		ov = *t.Overrides
	}
	ov.ContainerOverrides = orEmpty(ov.ContainerOverrides)
	ov.InferenceAcceleratorOverrides = orEmpty(ov.InferenceAcceleratorOverrides)
	t.Overrides = &ov
	t.Tags = orEmpty(t.Tags)
	if !withTags {
		t.Tags = []ecstypes.Tag{}
	}
	return t
}

// everyContainerOverride lists an override for every container, as ECS
// reports a task's overrides: the request's, in its order, then one naming
// each container it did not mention.
func everyContainerOverride(defs []ecstypes.ContainerDefinition, given []ecstypes.ContainerOverride) []ecstypes.ContainerOverride {
	out := make([]ecstypes.ContainerOverride, 0, max(len(defs), len(given)))
	out = append(out, given...)
	for _, c := range defs {
		if !slices.ContainsFunc(given, func(o ecstypes.ContainerOverride) bool { return aws.ToString(o.Name) == aws.ToString(c.Name) }) {
			out = append(out, ecstypes.ContainerOverride{Name: c.Name})
		}
	}
	return out
}
