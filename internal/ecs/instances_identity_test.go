package ecs

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// identityDoc is an EC2 instance identity document as the instance metadata
// service serves it.
const identityDoc = `{
  "accountId" : "000000000000",
  "architecture" : "x86_64",
  "availabilityZone" : "us-east-1b",
  "billingProducts" : null,
  "imageId" : "ami-0abcdef1234567890",
  "instanceId" : "i-0123456789abcdef0",
  "instanceType" : "c5.large",
  "pendingTime" : "2025-01-02T03:04:05Z",
  "privateIp" : "10.0.1.23",
  "region" : "us-east-1",
  "version" : "2017-09-30"
}`

func TestRegisterInstanceIdentityDocument(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	register := func(doc *string, attrs ...ecstypes.Attribute) (*ecstypes.RegisterContainerInstanceResponse, error) {
		return s.RegisterContainerInstance(t.Context(), &ecstypes.RegisterContainerInstanceRequest{
			Cluster: aws.String("prod"), TotalResources: instanceResources(1024, 1024), Attributes: attrs,
			InstanceIdentityDocument: doc, InstanceIdentityDocumentSignature: aws.String("c2lnbmF0dXJl"),
		})
	}
	attr := func(name, value string) ecstypes.Attribute {
		return ecstypes.Attribute{Name: aws.String(name), Value: aws.String(value)}
	}
	tests := []struct {
		name      string
		doc       *string
		attrs     []ecstypes.Attribute
		wantEC2ID string // "" means a generated i- id
		wantAttrs map[string]string
		wantErr   bool
	}{
		{name: "from the document", doc: aws.String(identityDoc), wantEC2ID: "i-0123456789abcdef0",
			wantAttrs: map[string]string{"ecs.availability-zone": "us-east-1b", "ecs.instance-type": "c5.large", "ecs.ami-id": "ami-0abcdef1234567890"}},
		{name: "the document wins over the agent's attributes", doc: aws.String(identityDoc),
			attrs:     []ecstypes.Attribute{attr("ecs.availability-zone", "us-east-1a"), attr("stack", "prod")},
			wantEC2ID: "i-0123456789abcdef0",
			wantAttrs: map[string]string{"ecs.availability-zone": "us-east-1b", "stack": "prod"}},
		{name: "partial document", doc: aws.String(`{"instanceId":"i-0aaaabbbbccccdddd"}`), wantEC2ID: "i-0aaaabbbbccccdddd",
			wantAttrs: map[string]string{"ecs.ami-id": "", "ecs.instance-type": ""}},
		{name: "no document", attrs: []ecstypes.Attribute{attr("ecs.availability-zone", "us-east-1a")},
			wantAttrs: map[string]string{"ecs.availability-zone": "us-east-1a", "ecs.ami-id": ""}},
		{name: "empty document", doc: aws.String(""), wantAttrs: map[string]string{"ecs.ami-id": ""}},
		{name: "malformed JSON", doc: aws.String(`{"instanceId": "i-0123`), wantErr: true},
		{name: "not an object", doc: aws.String(`["i-0123456789abcdef0"]`), wantErr: true},
		{name: "wrong member type", doc: aws.String(`{"instanceId": 42}`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := register(tt.doc, tt.attrs...)
			if tt.wantErr {
				wantAWSErr(t, err, awserr.CodeClient, msgIdentityInvalid)
				return
			}
			if err != nil {
				t.Fatalf("RegisterContainerInstance: %v", err)
			}
			inst := describeInstance(t, s, "prod", aws.ToString(out.ContainerInstance.ContainerInstanceArn))
			got := aws.ToString(inst.Ec2InstanceId)
			if tt.wantEC2ID != "" && got != tt.wantEC2ID || tt.wantEC2ID == "" && len(got) != len("i-")+17 {
				t.Errorf("ec2InstanceId = %q, want %q", got, tt.wantEC2ID)
			}
			have := map[string]string{}
			for _, a := range inst.Attributes {
				have[aws.ToString(a.Name)] = aws.ToString(a.Value)
			}
			for name, want := range tt.wantAttrs {
				if have[name] != want {
					t.Errorf("attribute %s = %q, want %q", name, have[name], want)
				}
			}
		})
	}
	// Refused registrations wrote nothing: only the five accepted ones exist.
	list, err := s.ListContainerInstances(t.Context(), &ecstypes.ListContainerInstancesRequest{Cluster: aws.String("prod")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ContainerInstanceArns) != 5 {
		t.Errorf("%d instances registered, want 5", len(list.ContainerInstanceArns))
	}
}

func TestListContainerInstancesFilter(t *testing.T) {
	s := newTestService(t)
	createCluster(t, s, "prod")
	attr := func(name, value string) ecstypes.Attribute {
		return ecstypes.Attribute{Name: aws.String(name), Value: aws.String(value)}
	}
	small := registerInstance(t, s, "prod", 1024, 1024, attr("ecs.instance-type", "t3.micro"))
	big := registerInstance(t, s, "prod", 4096, 4096, attr("ecs.instance-type", "m5.xlarge"), attr("stack", "edge"))
	gone := registerInstance(t, s, "prod", 1024, 1024, attr("ecs.instance-type", "t3.small"))
	disconnectAgent(t, s, gone)
	td := registerTaskDef(t, s, webTaskDef)
	task := runOne(t, s, "prod", td)
	busy := aws.ToString(describeTask(t, s, "prod", task).ContainerInstanceArn)
	tests := []struct {
		filter string
		want   []string
	}{
		{"attribute:ecs.instance-type == t3.micro", []string{small}},
		{"attribute:ecs.instance-type =~ t3.*", []string{small, gone}},
		{"attribute:stack exists", []string{big}},
		{"not(attribute:stack exists) and agentConnected == true", []string{small}},
		{"runningTasksCount > 0", []string{busy}},
		{"task:group == family:web", []string{busy}},
		{"task:group != family:web and agentConnected == true", slices.DeleteFunc([]string{small, big}, func(a string) bool { return a == busy })},
		{"agentVersion >= 1.0.0 and registeredAt > 2000-01-01", []string{small, big, gone}},
	}
	for _, tc := range tests {
		out, err := s.ListContainerInstances(t.Context(), &ecstypes.ListContainerInstancesRequest{
			Cluster: aws.String("prod"), Filter: aws.String(tc.filter),
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		got, want := slices.Sorted(slices.Values(out.ContainerInstanceArns)), slices.Sorted(slices.Values(tc.want))
		if !slices.Equal(got, want) {
			t.Errorf("filter %q = %v, want %v", tc.filter, got, want)
		}
	}
	_, err := s.ListContainerInstances(t.Context(), &ecstypes.ListContainerInstancesRequest{
		Cluster: aws.String("prod"), Filter: aws.String("attribute:stack = edge"),
	})
	wantAWSErr(t, err, awserr.CodeInvalidParameter, "position")
}
