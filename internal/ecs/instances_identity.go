package ecs

import (
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
)

// msgIdentityInvalid is how ECS refuses an instance identity document it
// cannot use.
const msgIdentityInvalid = "The identity document and identity document signature were not valid."

// instanceIdentity is what RegisterContainerInstance takes from an EC2
// instance identity document, the JSON the instance metadata service serves
// at /latest/dynamic/instance-identity/document and the ECS agent passes
// on as it is. Berth cannot check the document's signature (that needs AWS's
// keys), so it trusts the document as the agent's own description of its
// host, the way the agent's other attributes are trusted.
type instanceIdentity struct {
	InstanceID       string `json:"instanceId"`
	AvailabilityZone string `json:"availabilityZone"`
	InstanceType     string `json:"instanceType"`
	ImageID          string `json:"imageId"`
}

// parseIdentityDocument reads the request's document; none (or an empty
// one, as agents without instance metadata send) is the zero identity.
func parseIdentityDocument(doc *string) (instanceIdentity, error) {
	var id instanceIdentity
	if aws.ToString(doc) == "" {
		return id, nil
	}
	if err := json.Unmarshal([]byte(*doc), &id); err != nil {
		return instanceIdentity{}, awserr.Client(msgIdentityInvalid)
	}
	return id, nil
}

// attributes are the built-in attributes ECS derives from the document.
// They win over attributes of the same name in the request.
func (id instanceIdentity) attributes() []ecstypes.Attribute {
	var out []ecstypes.Attribute
	for _, a := range []struct{ name, value string }{
		{"ecs.availability-zone", id.AvailabilityZone},
		{"ecs.instance-type", id.InstanceType},
		{"ecs.ami-id", id.ImageID},
	} {
		if a.value != "" {
			out = append(out, ecstypes.Attribute{Name: aws.String(a.name), Value: aws.String(a.value)})
		}
	}
	return out
}
