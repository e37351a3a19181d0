package ecs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gorilla/websocket"

	"github.com/berth-dev/berth/internal/acs"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store/storetest"
)

// acsModel is the part of ECS's ACS model that the server's messages can
// reach (aws/amazon-ecs-agent ecs-agent/acs/model/api/api-2.json, the model
// the official agent's types are generated from), one shape a line:
// "structure member:Shape ...", "list Shape", "map ValueShape", or a
// scalar kind with its enum values. The members Berth never sends (role
// credentials, ENIs, EFS volumes, ...) are listed but their shapes left
// out: a message carrying one fails as "not in this excerpt".
var acsModel = map[string]string{
	"PayloadMessage":              "structure containerInstanceArn:String clusterArn:String tasks:TaskList generatedAt:Long messageId:String seqNum:Integer timeline:NullableLong",
	"String":                      "string",
	"TaskList":                    "list Task",
	"Task":                        "structure arn:String taskClusterArn:String containers:ContainerList desiredStatus:String family:String overrides:String version:String zone:String taskDefinitionAccountId:String volumes:VolumeList roleCredentials:IAMRoleCredentials executionRoleCredentials:IAMRoleCredentials elasticNetworkInterfaces:ElasticNetworkInterfaceList cpu:Double memory:Integer associations:Associations pidMode:String ipcMode:String proxyConfiguration:ProxyConfiguration agentConfiguration:String launchType:String attachments:AttachmentList networkMode:String serviceName:String group:String enableFaultInjection:Boolean trustedExecutionConfiguration:TrustedExecutionConfiguration",
	"ContainerList":               "list Container",
	"Container":                   "structure command:StringList cpu:Integer credentialSpecs:StringList entryPoint:StringList environment:EnvironmentVariables environmentFiles:EnvironmentFiles essential:Boolean restartPolicy:RestartPolicy image:String links:StringList memory:Integer name:String overrides:String portMappings:PortMappingList managedAgents:ManagedAgentList mountPoints:MountPointList linuxParameters:LinuxParameters privileged:BoxedBoolean networkInterfaceNames:StringList volumesFrom:VolumeFromList dockerConfig:DockerConfig healthCheckType:HealthCheckType registryAuthentication:RegistryAuthenticationData logsAuthStrategy:AuthStrategy secrets:SecretList dependsOn:ContainerDependencies startTimeout:Integer stopTimeout:Integer firelensConfiguration:FirelensConfiguration containerArn:String",
	"StringList":                  "list String",
	"Integer":                     "integer",
	"EnvironmentVariables":        "map String",
	"Boolean":                     "boolean",
	"PortMappingList":             "list PortMapping",
	"PortMapping":                 "structure containerPort:Integer hostPort:Integer containerPortRange:String protocol:TransportProtocol",
	"TransportProtocol":           "string tcp udp",
	"MountPointList":              "list MountPoint",
	"MountPoint":                  "structure sourceVolume:String containerPath:String readOnly:Boolean",
	"LinuxParameters":             "structure capabilities:KernelCapabilities devices:DevicesList initProcessEnabled:BoxedBoolean sharedMemorySize:BoxedInteger",
	"KernelCapabilities":          "structure add:StringList drop:StringList",
	"BoxedBoolean":                "boolean",
	"BoxedInteger":                "integer",
	"VolumeFromList":              "list VolumeFrom",
	"VolumeFrom":                  "structure sourceContainer:String readOnly:Boolean",
	"DockerConfig":                "structure version:String config:String hostConfig:String",
	"HealthCheckType":             "string docker",
	"AuthStrategy":                "string ExecutionRole",
	"SecretList":                  "list Secret",
	"Secret":                      "structure name:String valueFrom:String containerPath:String type:SecretType region:String provider:SecretProvider target:SecretTarget",
	"SecretType":                  "string ENVIRONMENT_VARIABLE MOUNT_POINT BOOTSTRAP",
	"SecretProvider":              "string ssm asm",
	"SecretTarget":                "string CONTAINER LOG_DRIVER",
	"ContainerDependencies":       "list ContainerDependency",
	"ContainerDependency":         "structure containerName:String condition:ContainerCondition",
	"ContainerCondition":          "string START COMPLETE SUCCESS HEALTHY",
	"VolumeList":                  "list Volume",
	"Volume":                      "structure name:String type:VolumeType host:HostVolumeProperties dockerVolumeConfiguration:DockerVolumeConfiguration efsVolumeConfiguration:EFSVolumeConfiguration fsxWindowsFileServerVolumeConfiguration:FSxWindowsFileServerVolumeConfiguration ebsVolumeConfiguration:EBSVolumeConfiguration logDriverVolumeConfiguration:LogDriverVolumeConfiguration",
	"VolumeType":                  "string host docker efs fsxWindowsFileServer ebs logDriverOutput",
	"HostVolumeProperties":        "structure sourcePath:String",
	"DockerVolumeConfiguration":   "structure scope:Scope autoprovision:Boolean driver:String driverOpts:StringMap labels:StringMap",
	"Scope":                       "string task shared",
	"StringMap":                   "map String",
	"Associations":                "list Association",
	"Association":                 "structure name:String type:AssociationType content:EncodedString containers:StringList",
	"AssociationType":             "string elastic-inference gpu",
	"EncodedString":               "structure value:String encoding:Encoding",
	"Encoding":                    "string identity base64",
	"Double":                      "double",
	"Long":                        "long",
	"NullableLong":                "long",
	"TaskManifestMessage":         "structure containerInstanceArn:String clusterArn:String tasks:TaskIdentifierList generatedAt:Long messageId:String timeline:Long",
	"TaskIdentifierList":          "list TaskIdentifier",
	"TaskIdentifier":              "structure taskArn:String taskClusterArn:String desiredStatus:String",
	"TaskStopVerificationAck":     "structure generatedAt:Long messageId:String stopTasks:TaskIdentifierList",
	"HeartbeatMessage":            "structure healthy:Boolean messageId:String",
	"InactiveInstanceException":   "structure message:String",
	"CloseMessage":                "structure message:String",
	"AckRequest":                  "structure cluster:String containerInstance:String messageId:String",
	"HeartbeatAckRequest":         "structure messageId:String",
	"TaskStopVerificationMessage": "structure messageId:String stopCandidates:TaskIdentifierList",
	"BadRequestException":         "structure message:String",
	"InvalidClusterException":     "structure message:String",
	"InvalidInstanceException":    "structure message:String",
	"AccessDeniedException":       "structure message:String",
	"ServerException":             "structure message:String",
}

// checkACSShape returns how v (JSON decoded with UseNumber) departs from the
// model's shape: members the shape does not have, values of the wrong
// kind, strings outside an enum, nulls (the agent reads them as absent;
// send nothing instead).
func checkACSShape(path string, v any, shape string) []string {
	spec, ok := acsModel[shape]
	if !ok {
		return []string{fmt.Sprintf("%s: shape %s is not in this test's excerpt of the model", path, shape)}
	}
	if v == nil {
		return []string{fmt.Sprintf("%s: null", path)}
	}
	fields := strings.Fields(spec)
	kind, args := fields[0], fields[1:]
	bad := func(want string) []string {
		return []string{fmt.Sprintf("%s: %T %v, want %s (%s)", path, v, v, want, shape)}
	}
	switch kind {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		members := map[string]string{}
		for _, a := range args {
			name, sh, _ := strings.Cut(a, ":")
			members[name] = sh
		}
		var out []string
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			sh, ok := members[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s: %s has no member %q", path, shape, k))
				continue
			}
			out = append(out, checkACSShape(path+"."+k, obj[k], sh)...)
		}
		return out
	case "list":
		list, ok := v.([]any)
		if !ok {
			return bad("an array")
		}
		var out []string
		for i, e := range list {
			out = append(out, checkACSShape(fmt.Sprintf("%s[%d]", path, i), e, args[0])...)
		}
		return out
	case "map":
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		var out []string
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			out = append(out, checkACSShape(path+"["+k+"]", obj[k], args[0])...)
		}
		return out
	case "string":
		s, ok := v.(string)
		if !ok {
			return bad("a string")
		}
		if len(args) > 0 && !slices.Contains(args, s) {
			return bad("one of " + strings.Join(args, ", "))
		}
	case "integer", "long":
		// The agent's generated types hold both as int64.
		n, ok := v.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			return bad("an integer")
		}
	case "double":
		n, ok := v.(json.Number)
		if _, err := n.Float64(); !ok || err != nil {
			return bad("a number")
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad("a boolean")
		}
	default:
		return []string{fmt.Sprintf("%s: unknown kind %q of shape %s", path, kind, shape)}
	}
	return nil
}

// decodeACS decodes one frame from the server as the agent's wsclient does
// ({"type": <shape name>, "message": {...}}) and checks the message
// against the model shape its type names.
func decodeACS(data []byte) (acsMessage, []string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var env map[string]any
	if err := dec.Decode(&env); err != nil {
		return acsMessage{}, []string{fmt.Sprintf("a frame that is not JSON (%v): %q", err, data)}
	}
	typ, _ := env["type"].(string)
	body, ok := env["message"].(map[string]any)
	if typ == "" || !ok || len(env) != 2 {
		return acsMessage{}, []string{fmt.Sprintf("a frame that is not {\"type\": ..., \"message\": {...}}: %s", data)}
	}
	var raw struct{ Message json.RawMessage }
	_ = json.Unmarshal(data, &raw)
	return acsMessage{Type: typ, Body: body, Raw: raw.Message}, checkACSShape(typ, body, typ)
}

// The official agent's handshake, query and signature as it sends them, is
// accepted with the cluster named either way, and fills the instance's
// versionInfo from the query, as ECS does for agents that register without.
func TestACSHandshakeAsTheOfficialAgent(t *testing.T) {
	h := newACSHarness(t, 0)
	if vi := describeInstance(t, h.s, "prod", h.inst).VersionInfo; vi != nil && aws.ToString(vi.AgentVersion) != "" {
		t.Fatalf("versionInfo before the handshake: %+v", *vi)
	}
	for _, tc := range []struct{ name, cluster string }{
		{"cluster name", "prod"},
		{"cluster ARN", h.s.arns.cluster("prod")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := h.signedUpgrade(t, agentQuery(tc.cluster, h.inst), acsRootKey, acsRootSecret)
			if auth := req.Header.Get("Authorization"); !strings.Contains(auth, "/"+testRegion+"/ecs/aws4_request") ||
				!strings.Contains(auth, "SignedHeaders=host;x-amz-date,") {
				t.Fatalf("the request is not signed as the agent signs it: %s", auth)
			}
			conn, resp, err := h.handshake(t, req)
			if err != nil {
				t.Fatalf("handshake refused: %v (response %v)", err, resp)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake status %d", resp.StatusCode)
			}
			agent := newOfficialAgent(t, conn)
			storetest.WaitFor(t, acsWait, "agentConnected", func() bool { return h.connected(t) })
			// The session begins with the manifest (the instance has no task).
			agent.waitFor(t, acs.TypeTaskManifest, nil)
			vi := describeInstance(t, h.s, "prod", h.inst).VersionInfo
			if vi == nil || aws.ToString(vi.AgentVersion) != "1.105.1" || aws.ToString(vi.AgentHash) != "4ed2e3a1" ||
				aws.ToString(vi.DockerVersion) != "DockerVersion: 20.10.24+dfsg1" {
				t.Fatalf("versionInfo = %+v", vi)
			}
			agent.close()
			storetest.WaitFor(t, acsWait, "agentConnected false", func() bool { return !h.connected(t) })
		})
	}
}

// Every refused handshake answers before the upgrade with an ACS error
// envelope, which the agent's wsclient decodes from the body: the
// service's refusals and the API layer's (signature, key, IAM) alike.
func TestACSHandshakeRefused(t *testing.T) {
	h := newACSHarness(t, 0)
	s := h.s
	gone := registerInstance(t, s, "prod", 1024, 1024)
	if _, err := s.DeregisterContainerInstance(t.Context(), &ecstypes.DeregisterContainerInstanceRequest{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(gone),
	}); err != nil {
		t.Fatal(err)
	}
	without := func(key string) string {
		q, err := url.ParseQuery(agentQuery("prod", h.inst))
		if err != nil {
			t.Fatal(err)
		}
		q.Del(key)
		return q.Encode()
	}
	good := agentQuery("prod", h.inst)
	tests := []struct {
		name        string
		query       string
		key, secret string
		tamper      func(*http.Request)
		status      int
		envelope    bool
		typ         string
	}{
		{name: "bad signature", query: good, key: acsRootKey, secret: "not-the-secret",
			status: http.StatusForbidden, envelope: true, typ: acs.ErrorTypeAccessDenied},
		{name: "query changed after signing", query: good, key: acsRootKey, secret: acsRootSecret,
			tamper: func(r *http.Request) { r.URL.RawQuery = agentQuery("prod", gone) },
			status: http.StatusForbidden, envelope: true, typ: acs.ErrorTypeAccessDenied},
		{name: "unknown access key", query: good, key: "AKIDNOBODY", secret: "x",
			status: http.StatusForbidden, envelope: true, typ: acs.ErrorTypeAccessDenied},
		{name: "unsigned", query: good,
			status: http.StatusForbidden, envelope: true, typ: acs.ErrorTypeAccessDenied},
		{name: "caller without ecs:Poll", query: good, key: acsUserKey, secret: acsUserSecret,
			status: http.StatusForbidden, envelope: true, typ: acs.ErrorTypeAccessDenied},
		{name: "unknown instance", query: agentQuery("prod", s.arns.instance("prod", "00000000-0000-4000-8000-000000000000")),
			key: acsRootKey, secret: acsRootSecret, status: http.StatusBadRequest, envelope: true, typ: acs.ErrorTypeInactiveInstance},
		{name: "deregistered instance", query: agentQuery("prod", gone), key: acsRootKey, secret: acsRootSecret,
			status: http.StatusBadRequest, envelope: true, typ: acs.ErrorTypeInactiveInstance},
		{name: "unknown cluster", query: agentQuery("nope", h.inst), key: acsRootKey, secret: acsRootSecret,
			status: http.StatusBadRequest, envelope: true, typ: acs.ErrorTypeInvalidCluster},
		{name: "cluster of another account", query: agentQuery("arn:aws:ecs:us-east-1:111111111111:cluster/prod", h.inst),
			key: acsRootKey, secret: acsRootSecret, status: http.StatusBadRequest, envelope: true, typ: acs.ErrorTypeInvalidCluster},
		{name: "no containerInstanceArn", query: without(acs.QueryContainerInstanceArn), key: acsRootKey, secret: acsRootSecret,
			status: http.StatusBadRequest, envelope: true, typ: acs.ErrorTypeBadRequest},
		{name: "no clusterArn", query: without(acs.QueryClusterArn), key: acsRootKey, secret: acsRootSecret,
			status: http.StatusBadRequest, envelope: true, typ: acs.ErrorTypeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := h.signedUpgrade(t, tc.query, tc.key, tc.secret)
			if tc.tamper != nil {
				tc.tamper(req)
			}
			conn, resp, err := h.handshake(t, req)
			if err == nil {
				conn.Close()
				t.Fatal("the socket was upgraded")
			}
			if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("dial error %v, response %v; want HTTP %d", err, resp, tc.status)
			}
			typ, envelope := refusal(t, resp)
			if typ != tc.typ || envelope != tc.envelope {
				t.Fatalf("refused with %s (ACS envelope %t), want %s (ACS envelope %t)", typ, envelope, tc.typ, tc.envelope)
			}
			inst := describeInstance(t, s, "prod", h.inst)
			if aws.ToBool(inst.AgentConnected) || inst.VersionInfo != nil && aws.ToString(inst.VersionInfo.AgentVersion) != "" {
				t.Fatalf("a refused handshake changed the instance: connected %t versionInfo %+v", aws.ToBool(inst.AgentConnected), inst.VersionInfo)
			}
		})
	}
}

// shopTaskDef: web waits for db to be HEALTHY and publishes a dynamic host
// port; task-level cpu and memory.
const shopTaskDef = `{"family":"shop","networkMode":"bridge","cpu":"512","memory":"1024","containerDefinitions":[
	{"name":"db","image":"postgres:16","cpu":256,"memory":512,"essential":true,
	 "environment":[{"name":"POSTGRES_DB","value":"shop"}],
	 "healthCheck":{"command":["CMD-SHELL","pg_isready -U postgres"],"interval":5,"timeout":3,"retries":4,"startPeriod":10}},
	{"name":"web","image":"nginx:1.27","cpu":128,"memory":256,"memoryReservation":128,"essential":true,
	 "command":["nginx","-g","daemon off;"],
	 "environment":[{"name":"MODE","value":"prod"},{"name":"PORT","value":"80"}],
	 "portMappings":[{"containerPort":80,"hostPort":0,"protocol":"tcp"}],
	 "dependsOn":[{"containerName":"db","condition":"HEALTHY"}]}]}`

// A task reaches the agent in ECS's shape, member for member as the model
// names them (checked on the raw JSON by the agent's reader), with its
// overrides applied.
func TestACSPayloadAsTheModelSaysIt(t *testing.T) {
	h := newACSHarness(t, 0)
	s := h.s
	agent := h.connect(t, "prod")
	agent.waitFor(t, acs.TypeTaskManifest, nil)
	def := registerTaskDef(t, s, shopTaskDef)
	webCommand := []string{"nginx", "-g", "daemon off; worker_processes 2;"}
	out, err := s.RunTask(t.Context(), &ecstypes.RunTaskRequest{
		Cluster: aws.String("prod"), TaskDefinition: aws.String(def),
		Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{
			Name: aws.String("web"), Command: webCommand,
			Environment: []ecstypes.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("canary")}, {Name: aws.String("EXTRA"), Value: aws.String("1")}},
		}}},
	})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v, failures %v", err, out)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	described := describeTask(t, s, "prod", arn)
	containerArns := map[string]string{}
	for _, c := range described.Containers {
		containerArns[aws.ToString(c.Name)] = aws.ToString(c.ContainerArn)
	}

	m := agent.waitFor(t, acs.TypePayload, nil)
	p := m.Body
	if id, _ := p["messageId"].(string); id == "" {
		t.Fatalf("payload without messageId (the agent drops it): %s", m.Raw)
	}
	wantJSON(t, "payload", p, map[string]any{
		"clusterArn": s.arns.cluster("prod"), "containerInstanceArn": h.inst, "generatedAt": fmt.Sprint(testNow.Unix()),
	})
	if seq, err := p["seqNum"].(json.Number).Int64(); err != nil || seq <= 0 {
		t.Fatalf("seqNum %v", p["seqNum"])
	}
	tasks := p["tasks"].([]any)
	if len(tasks) != 1 {
		t.Fatalf("payload has %d tasks, want 1", len(tasks))
	}
	task := tasks[0].(map[string]any)
	wantJSON(t, "task", task, map[string]any{
		"arn": arn, "taskClusterArn": s.arns.cluster("prod"), "desiredStatus": "RUNNING", "family": "shop",
		"version": "1", "cpu": "0.5", "memory": "1024", "networkMode": "bridge", "launchType": "EC2",
	})
	containers := task["containers"].([]any)
	if len(containers) != 2 {
		t.Fatalf("task has %d containers, want 2", len(containers))
	}
	db, web := containers[0].(map[string]any), containers[1].(map[string]any)

	wantJSON(t, "db", db, map[string]any{
		"name": "db", "containerArn": containerArns["db"], "image": "postgres:16", "cpu": "256", "memory": "512",
		"essential": "true", "healthCheckType": "docker", "environment": `map[POSTGRES_DB:shop]`,
	})
	if _, ok := db["overrides"]; ok {
		t.Errorf("db was not overridden, yet has overrides %v", db["overrides"])
	}
	dbConfig := dockerJSON(t, db, "config")
	wantJSON(t, "db Healthcheck", dbConfig["Healthcheck"].(map[string]any), map[string]any{
		"Test": "[CMD-SHELL pg_isready -U postgres]", "Interval": "5000000000", "Timeout": "3000000000",
		"StartPeriod": "10000000000", "Retries": "4",
	})

	wantJSON(t, "web", web, map[string]any{
		"name": "web", "containerArn": containerArns["web"], "image": "nginx:1.27", "cpu": "128", "memory": "256",
		"essential": "true", "command": fmt.Sprint(webCommand),
		"environment":  `map[EXTRA:1 MODE:canary PORT:80]`,
		"portMappings": `[map[containerPort:80 hostPort:0 protocol:tcp]]`,
		"dependsOn":    `[map[condition:HEALTHY containerName:db]]`,
	})
	if _, ok := web["healthCheckType"]; ok {
		t.Errorf("web has no health check, yet healthCheckType %v", web["healthCheckType"])
	}
	// The agent reads a container's overrides as a JSON string of
	// {"command": [...]} and refuses any other member.
	overrides, _ := web["overrides"].(string)
	var co map[string][]string
	if err := json.Unmarshal([]byte(overrides), &co); err != nil || len(co) != 1 || !slices.Equal(co["command"], webCommand) {
		t.Fatalf("web overrides %q, want {\"command\": %q}", overrides, webCommand)
	}
	if got := dockerJSON(t, web, "hostConfig")["MemoryReservation"]; fmt.Sprint(got) != fmt.Sprint(128<<20) {
		t.Fatalf("web hostConfig MemoryReservation = %v, want %d bytes", got, 128<<20)
	}
}

// wantJSON compares members of a generically decoded object with their
// wanted values, in fmt.Sprint's rendering (numbers as written).
func wantJSON(t *testing.T, what string, obj map[string]any, want map[string]any) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got := fmt.Sprint(obj[k]); got != fmt.Sprint(want[k]) {
			t.Errorf("%s.%s = %s, want %s", what, k, got, fmt.Sprint(want[k]))
		}
	}
}

// dockerJSON decodes a container's dockerConfig member (config or
// hostConfig), a string of Docker Engine API JSON for API version 1.17.
func dockerJSON(t *testing.T, container map[string]any, member string) map[string]any {
	t.Helper()
	dc, _ := container["dockerConfig"].(map[string]any)
	if v := dc["version"]; v != acs.DockerAPIVersion {
		t.Errorf("%s dockerConfig.version = %v, want %s", container["name"], v, acs.DockerAPIVersion)
	}
	raw, ok := dc[member].(string)
	if !ok {
		t.Fatalf("%s dockerConfig.%s = %v, want a JSON string", container["name"], member, dc[member])
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s dockerConfig.%s %q: %v", container["name"], member, raw, err)
	}
	return out
}

// The model check the other tests rely on catches what the agent would
// misread.
func TestACSModelCheck(t *testing.T) {
	tests := []struct {
		name, frame string
		want        string // a problem containing this; "" for none
	}{
		{"a well-formed payload", `{"type":"PayloadMessage","message":{"messageId":"m","clusterArn":"c","containerInstanceArn":"i","seqNum":1700000000000,"tasks":[
			{"arn":"t","desiredStatus":"RUNNING","cpu":0.25,"containers":[{"name":"a","environment":{"K":"v"},"portMappings":[{"containerPort":80,"protocol":"udp"}],
			 "dockerConfig":{"config":"{}"}}]}]}}`, ""},
		{"a member the model lacks", `{"type":"PayloadMessage","message":{"messageId":"m","tasks":[{"taskArn":"t"}]}}`, `Task has no member "taskArn"`},
		{"a number as a string", `{"type":"PayloadMessage","message":{"seqNum":"1"}}`, "want an integer"},
		{"a fraction for an integer", `{"type":"TaskManifestMessage","message":{"timeline":1.5}}`, "want an integer"},
		{"a value outside the enum", `{"type":"PayloadMessage","message":{"tasks":[{"containers":[{"dependsOn":[{"condition":"READY"}]}]}]}}`, "one of START"},
		{"a null", `{"type":"TaskStopVerificationAck","message":{"messageId":"m","stopTasks":null}}`, "null"},
		{"an object for a JSON string", `{"type":"PayloadMessage","message":{"tasks":[{"containers":[{"dockerConfig":{"config":{}}}]}]}}`, "want a string"},
		{"an unknown message type", `{"type":"HealthMessage","message":{}}`, "not in this test's excerpt"},
		{"an error without an envelope", `{"__type":"AccessDeniedException","message":"no"}`, "not {\"type\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := decodeACS([]byte(tc.frame))
			if tc.want == "" {
				if len(problems) != 0 {
					t.Fatalf("problems %q in a well-formed frame", problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Fatalf("problems %q, want one with %q", problems, tc.want)
			}
		})
	}
}
