package ecr

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
)

// Image and layer errors in ECR's words.

// idString renders an image id as ECR's messages do.
func idString(id ecrtypes.ImageIdentifier) string {
	str := func(p *string) string {
		if p == nil {
			return "null"
		}
		return "'" + *p + "'"
	}
	return "{imageDigest:" + str(id.ImageDigest) + ", imageTag:" + str(id.ImageTag) + "}"
}

func (s *Service) imageNotFound(repo string, id ecrtypes.ImageIdentifier) error {
	return awserr.Newf(ecrtypes.ErrCodeImageNotFoundException, "%s",
		"The image with imageId "+idString(id)+" does not exist within the repository with name '"+repo+"' in the registry with id '"+s.cfg.AccountID+"'")
}

func (s *Service) imageAlreadyExists(repo, digest, tag string) error {
	what := "Image with digest '" + digest + "'"
	if tag != "" {
		what += " and tag '" + tag + "'"
	}
	return awserr.Newf(ecrtypes.ErrCodeImageAlreadyExistsException, "%s",
		what+" already exists in the repository with name '"+repo+"' in registry with id '"+s.cfg.AccountID+"'")
}

func imageTagAlreadyExists(repo, tag string) error {
	return awserr.Newf(ecrtypes.ErrCodeImageTagAlreadyExistsException, "%s",
		"The image tag '"+tag+"' already exists in the '"+repo+"' repository and cannot be overwritten because the repository is immutable.")
}

func (s *Service) layersNotFound(repo string, digests []string) error {
	return awserr.Newf(ecrtypes.ErrCodeLayersNotFoundException, "%s",
		"Layers with digests '["+strings.Join(digests, ", ")+"]' required for pushing image into repository with name '"+repo+"' in the registry with id '"+s.cfg.AccountID+"' do not exist")
}

func (s *Service) referencedImagesNotFound(repo string, digests []string) error {
	return awserr.Newf(ecrtypes.ErrCodeReferencedImagesNotFoundException, "%s",
		"Images with digests '["+strings.Join(digests, ", ")+"]' referenced by the manifest list do not exist in the repository with name '"+repo+"' in the registry with id '"+s.cfg.AccountID+"'")
}

func (s *Service) uploadNotFound(repo, id string) error {
	return awserr.Newf(ecrtypes.ErrCodeUploadNotFoundException, "%s",
		"Upload with id '"+id+"' does not exist in the repository with name '"+repo+"' in the registry with id '"+s.cfg.AccountID+"'")
}

// invalidLayerPart carries, as ECR's does, where the upload stands.
func (s *Service) invalidLayerPart(repo, id string, size int64, format string, args ...any) error {
	e := awserr.Newf(ecrtypes.ErrCodeInvalidLayerPartException, format, args...)
	e.Fields = map[string]any{
		"registryId": s.cfg.AccountID, "repositoryName": repo, "uploadId": id,
		"lastValidByteReceived": size - 1,
	}
	return e
}

func failure(id ecrtypes.ImageIdentifier, code, reason string) ecrtypes.ImageFailure {
	return ecrtypes.ImageFailure{ImageId: &ecrtypes.ImageIdentifier{ImageDigest: id.ImageDigest, ImageTag: id.ImageTag},
		FailureCode: aws.String(code), FailureReason: aws.String(reason)}
}

func layerFailure(d, code, reason string) ecrtypes.LayerFailure {
	return ecrtypes.LayerFailure{LayerDigest: aws.String(d), FailureCode: aws.String(code), FailureReason: aws.String(reason)}
}

// blobsMissing answers the image and layer APIs when the service has no
// blob store (a server wired without a registry).
func blobsMissing(action string) error {
	return awserr.UnsupportedFeature("%s", fmt.Sprintf("%s needs the registry's blob store, which this server does not have.", action))
}
