package acs

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// richDefinition has every container setting Berth's agent applies, in the
// shape registration stores (defaults filled in).
const richDefinition = `{
  "family": "web", "revision": 7, "networkMode": "bridge", "cpu": "512", "memory": "1024",
  "volumes": [{"name": "data", "host": {"sourcePath": "/srv/data"}}, {"name": "scratch"},
              {"name": "cache", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}}],
  "containerDefinitions": [
    {"name": "app", "image": "example.com/app:1", "cpu": 256, "memory": 512, "memoryReservation": 256,
     "essential": true, "command": ["serve", "--port", "8080"], "entryPoint": ["/app"],
     "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "two words"}],
     "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}, {"containerPort": 53, "hostPort": 5353, "protocol": "udp"}],
     "links": ["db:database"], "workingDirectory": "/srv", "user": "1000:1000", "hostname": "app",
     "dockerLabels": {"team": "web"}, "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
     "dnsServers": ["10.0.0.2"], "dnsSearchDomains": ["corp"], "extraHosts": [{"hostname": "db.local", "ipAddress": "10.0.0.3"}],
     "readonlyRootFilesystem": true, "privileged": false,
     "healthCheck": {"command": ["CMD-SHELL", "curl -f localhost:8080"], "interval": 10, "timeout": 3, "retries": 2, "startPeriod": 5},
     "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}], "startTimeout": 30, "stopTimeout": 10,
     "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": true}],
     "linuxParameters": {"initProcessEnabled": true, "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
                         "tmpfs": [{"containerPath": "/tmp", "size": 64, "mountOptions": ["noexec"]}]},
     "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "10m"}},
     "dockerSecurityOptions": ["no-new-privileges"], "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
     "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:t"}]},
    {"name": "db", "image": "postgres", "cpu": 0, "essential": false, "memoryReservation": 128,
     "volumesFrom": [{"sourceContainer": "app", "readOnly": false}]}
  ]}`

func decodeDef(t *testing.T, js string) ecstypes.TaskDefinition {
	t.Helper()
	var def ecstypes.TaskDefinition
	if err := json.Unmarshal([]byte(js), &def); err != nil {
		t.Fatal(err)
	}
	return def
}

// containers encodes the definition's containers and volumes the way the
// round trip is compared: as JSON.
func shape(t *testing.T, def ecstypes.TaskDefinition) string {
	t.Helper()
	b, err := json.Marshal(struct {
		Containers               []ecstypes.ContainerDefinition
		Volumes                  []ecstypes.Volume
		Cpu, Memory, NetworkMode *string
		Family                   *string
		Revision                 *int32
	}{def.ContainerDefinitions, def.Volumes, def.Cpu, def.Memory, def.NetworkMode, def.Family, def.Revision})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// What the agent rebuilds from the ACS task is the definition the server
// sent, for every setting Berth's agent applies.
func TestDefinitionRoundTrip(t *testing.T) {
	def := decodeDef(t, richDefinition)
	task, err := NewTask(TaskInput{Arn: "arn:aws:ecs:us-east-1:1:task/c/1", ClusterArn: "arn:c", DesiredStatus: "RUNNING", Definition: def})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(task) // through the wire, as the agent gets it
	if err != nil {
		t.Fatal(err)
	}
	var wire Task
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatal(err)
	}
	back, err := wire.Definition()
	if err != nil {
		t.Fatal(err)
	}
	want := def
	// Not carried: a scratch volume has no host path either way; secrets keep
	// name and valueFrom.
	if got, w := shape(t, back), shape(t, want); got != w {
		t.Fatalf("round trip differs:\ngot  %s\nwant %s", got, w)
	}
	if task.CPU != 0.5 || task.Memory != 1024 || task.Version != "7" {
		t.Fatalf("task cpu %v memory %v version %q", task.CPU, task.Memory, task.Version)
	}
	app := task.Containers[0]
	if app.HealthCheckType != "docker" || app.Secrets[0].Provider != "asm" || app.Secrets[0].Region != "eu-west-1" {
		t.Fatalf("app container = %+v", app)
	}
	if !strings.Contains(aws.ToString(app.DockerConfig.Config), `"Interval":10000000000`) ||
		!strings.Contains(aws.ToString(app.DockerConfig.HostConfig), `"MemoryReservation":268435456`) {
		t.Fatalf("docker config = %s / %s", aws.ToString(app.DockerConfig.Config), aws.ToString(app.DockerConfig.HostConfig))
	}
}

// Overrides are applied before the task leaves the server.
func TestNewTaskAppliesOverrides(t *testing.T) {
	def := decodeDef(t, richDefinition)
	ov := &ecstypes.TaskOverride{Cpu: aws.String("1024"), Memory: aws.String("2048"), ContainerOverrides: []ecstypes.ContainerOverride{{
		Name: aws.String("app"), Command: []string{"migrate"}, Cpu: aws.Int32(512), Memory: aws.Int32(768), MemoryReservation: aws.Int32(300),
		Environment: []ecstypes.KeyValuePair{{Name: aws.String("B"), Value: aws.String("2")}, {Name: aws.String("C"), Value: aws.String("3")}},
	}}}
	task, err := NewTask(TaskInput{Arn: "t", DesiredStatus: "RUNNING", Definition: def, Overrides: ov})
	if err != nil {
		t.Fatal(err)
	}
	back, err := task.Definition()
	if err != nil {
		t.Fatal(err)
	}
	app := back.ContainerDefinitions[0]
	env := map[string]string{}
	for _, kv := range app.Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	switch {
	case task.CPU != 1 || task.Memory != 2048:
		t.Fatalf("task size %v/%v, want 1 vCPU and 2048 MiB", task.CPU, task.Memory)
	case strings.Join(app.Command, " ") != "migrate":
		t.Fatalf("command %v", app.Command)
	case aws.ToInt32(app.Cpu) != 512 || aws.ToInt32(app.Memory) != 768 || aws.ToInt32(app.MemoryReservation) != 300:
		t.Fatalf("sizes %d/%d/%d", aws.ToInt32(app.Cpu), aws.ToInt32(app.Memory), aws.ToInt32(app.MemoryReservation))
	case env["A"] != "1" || env["B"] != "2" || env["C"] != "3":
		t.Fatalf("environment %v", env)
	case task.Overrides == "":
		t.Fatal("task overrides not carried for information")
	case task.Containers[0].Overrides != `{"command":["migrate"]}`:
		// The official agent refuses a container's overrides with any key
		// but command.
		t.Fatalf("container overrides = %s, want only the command", task.Containers[0].Overrides)
	}
	// A container override without a command (DescribeTasks lists one per
	// container) sends no overrides at all.
	ov.ContainerOverrides[0].Command = nil
	if task, err = NewTask(TaskInput{Arn: "t", DesiredStatus: "RUNNING", Definition: def, Overrides: ov}); err != nil {
		t.Fatal(err)
	}
	if got := task.Containers[0].Overrides; got != "" {
		t.Fatalf("container overrides = %s, want none", got)
	}
}

func TestDefinitionRejectsBadDockerConfig(t *testing.T) {
	for _, c := range []Container{
		{Name: "a", DockerConfig: DockerConfig{Config: aws.String("{")}},
		{Name: "a", DockerConfig: DockerConfig{HostConfig: aws.String(`{"ExtraHosts":["nohostip"]}`)}},
	} {
		if _, err := (Task{Version: "1", Containers: []Container{c}}).Definition(); err == nil {
			t.Errorf("Definition of %+v succeeded", c.DockerConfig)
		}
	}
	if _, err := (Task{Version: "x"}).Definition(); err == nil {
		t.Error("a non-numeric version was accepted")
	}
}
