package ecr

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/store"
)

// The layer APIs share the registry's upload sessions (Meta's) and blob
// store: an upload started with InitiateLayerUpload is a registry upload
// session whose id is a UUID, as ECR's are.

// partSize is the part size InitiateLayerUpload advises (ECR takes parts
// up to 20 MiB).
const partSize = 10 << 20

// newUploadID is a random UUID (version 4), the form of ECR's upload ids.
func newUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// uploadLocks serialise the calls on one upload in this process (a blob
// upload takes one session at a time), striped by id.
var uploadLocks [64]sync.Mutex

func lockUpload(id string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	l := &uploadLocks[h.Sum32()%uint32(len(uploadLocks))]
	l.Lock()
	return l.Unlock
}

// BatchCheckLayerAvailability says which of the layers are in the
// repository (linked, and their bytes stored), with their sizes; digests
// that are not valid, or not there, come back as failures.
func (s *Service) BatchCheckLayerAvailability(ctx context.Context, in *ecrtypes.BatchCheckLayerAvailabilityRequest) (*ecrtypes.BatchCheckLayerAvailabilityResponse, error) {
	st, err := s.imageStore(ctx, in.RegistryId)
	if err != nil {
		return nil, err
	}
	if s.cfg.Blobs == nil {
		return nil, blobsMissing("BatchCheckLayerAvailability")
	}
	name := aws.ToString(in.RepositoryName)
	var linked map[string]linkRecord
	err = st.View(ctx, func(tx *store.Tx) error {
		if _, err := s.getRepository(tx, name); err != nil {
			return err
		}
		var ids []string
		for _, d := range in.LayerDigests {
			if validDigest(d) {
				ids = append(ids, imageID(name, d))
			}
		}
		var err error
		linked, err = store.GetMany(tx, blobLinks, ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &ecrtypes.BatchCheckLayerAvailabilityResponse{Layers: []ecrtypes.Layer{}, Failures: []ecrtypes.LayerFailure{}}
	for _, d := range in.LayerDigests {
		if !validDigest(d) {
			out.Failures = append(out.Failures, layerFailure(d, ecrtypes.LayerFailureCodeInvalidLayerDigest, "Invalid layer digest"))
			continue
		}
		if _, ok := linked[imageID(name, d)]; !ok {
			out.Failures = append(out.Failures, layerFailure(d, ecrtypes.LayerFailureCodeMissingLayerDigest, "Could not find layer"))
			continue
		}
		info, err := s.cfg.Blobs.Stat(ctx, digest.Digest(d))
		if errors.Is(err, blob.ErrNotFound) {
			out.Failures = append(out.Failures, layerFailure(d, ecrtypes.LayerFailureCodeMissingLayerDigest, "Could not find layer"))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("check layer %s in %s: %w", d, name, err)
		}
		out.Layers = append(out.Layers, ecrtypes.Layer{
			LayerDigest: aws.String(d), LayerAvailability: aws.String(ecrtypes.LayerAvailabilityAVAILABLE), LayerSize: aws.Int64(info.Size),
		})
	}
	return out, nil
}

// InitiateLayerUpload starts an upload session in the repository.
func (s *Service) InitiateLayerUpload(ctx context.Context, in *ecrtypes.InitiateLayerUploadRequest) (*ecrtypes.InitiateLayerUploadResponse, error) {
	if _, err := s.imageStore(ctx, in.RegistryId); err != nil {
		return nil, err
	}
	if s.cfg.Blobs == nil {
		return nil, blobsMissing("InitiateLayerUpload")
	}
	name := aws.ToString(in.RepositoryName)
	id := newUploadID()
	err := s.RegistryMeta().CreateUpload(ctx, registry.UploadSession{ID: id, Repo: name, Started: s.now()})
	if errors.Is(err, registry.ErrNameUnknown) {
		return nil, repositoryNotFound(name, s.cfg.AccountID)
	}
	if err != nil {
		return nil, fmt.Errorf("initiate layer upload in %s: %w", name, err)
	}
	up, err := s.cfg.Blobs.Create(ctx, id)
	if err != nil {
		_ = s.RegistryMeta().DeleteUpload(context.WithoutCancel(ctx), id)
		return nil, fmt.Errorf("initiate layer upload in %s: %w", name, err)
	}
	if err := up.Close(); err != nil {
		return nil, fmt.Errorf("initiate layer upload in %s: %w", name, err)
	}
	return &ecrtypes.InitiateLayerUploadResponse{UploadId: aws.String(id), PartSize: aws.Int64(partSize)}, nil
}

// session returns upload id of repo and resumes its bytes
// (RepositoryNotFoundException, UploadNotFoundException: an upload is
// only usable in the repository it was started in).
func (s *Service) session(ctx context.Context, repo, id string) (blob.Upload, error) {
	if _, err := s.viewRepository(ctx, nil, repo); err != nil {
		return nil, err
	}
	sess, err := s.RegistryMeta().Upload(ctx, id)
	if errors.Is(err, registry.ErrUploadUnknown) || err == nil && sess.Repo != repo {
		return nil, s.uploadNotFound(repo, id)
	}
	if err != nil {
		return nil, fmt.Errorf("upload %s in %s: %w", id, repo, err)
	}
	up, err := s.cfg.Blobs.Resume(ctx, id)
	if errors.Is(err, blob.ErrUploadNotFound) {
		_ = s.RegistryMeta().DeleteUpload(ctx, id)
		return nil, s.uploadNotFound(repo, id)
	}
	if err != nil {
		return nil, fmt.Errorf("upload %s in %s: %w", id, repo, err)
	}
	return up, nil
}

// UploadLayerPart appends a part to an upload: it must start where the
// upload ends (partFirstByte) and its last byte must be partLastByte, else
// InvalidLayerPartException and nothing is written.
func (s *Service) UploadLayerPart(ctx context.Context, in *ecrtypes.UploadLayerPartRequest) (*ecrtypes.UploadLayerPartResponse, error) {
	if _, err := s.imageStore(ctx, in.RegistryId); err != nil {
		return nil, err
	}
	if s.cfg.Blobs == nil {
		return nil, blobsMissing("UploadLayerPart")
	}
	name, id := aws.ToString(in.RepositoryName), aws.ToString(in.UploadId)
	defer lockUpload(id)()
	up, err := s.session(ctx, name, id)
	if err != nil {
		return nil, err
	}
	defer up.Close()
	part := *in.LayerPartBlob
	first, last := aws.ToInt64(in.PartFirstByte), aws.ToInt64(in.PartLastByte)
	switch size := up.Size(); {
	case first != size:
		return nil, s.invalidLayerPart(name, id, size, "The part first byte %d does not continue the upload, which holds %d bytes.", first, size)
	case len(part) == 0:
		return nil, s.invalidLayerPart(name, id, size, "The layer part is empty.")
	case last != first+int64(len(part))-1:
		return nil, s.invalidLayerPart(name, id, size, "The part last byte %d does not match the part's %d bytes starting at %d.", last, len(part), first)
	}
	if _, err := bytes.NewReader(part).WriteTo(up); err != nil {
		return nil, fmt.Errorf("upload layer part of %s in %s: %w", id, name, err)
	}
	return &ecrtypes.UploadLayerPartResponse{
		RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name), UploadId: aws.String(id),
		LastByteReceived: aws.Int64(up.Size() - 1),
	}, nil
}

// CompleteLayerUpload commits an upload as the layer layerDigests names
// (one digest: Berth takes no other count) and links it in the
// repository. The bytes must hash to it (InvalidLayerException, and the
// upload is gone, as the blob store discards it); an empty upload is
// EmptyUploadException (the upload stays); a layer already in the
// repository LayerAlreadyExistsException (and the upload is discarded).
func (s *Service) CompleteLayerUpload(ctx context.Context, in *ecrtypes.CompleteLayerUploadRequest) (*ecrtypes.CompleteLayerUploadResponse, error) {
	if _, err := s.imageStore(ctx, in.RegistryId); err != nil {
		return nil, err
	}
	if s.cfg.Blobs == nil {
		return nil, blobsMissing("CompleteLayerUpload")
	}
	name, id := aws.ToString(in.RepositoryName), aws.ToString(in.UploadId)
	if len(in.LayerDigests) != 1 {
		return nil, awserr.InvalidParameter("Invalid parameter at 'layerDigests' failed to satisfy constraint: 'Member must have length 1'")
	}
	d, ok := registry.ParseDigest(in.LayerDigests[0])
	if !ok {
		return nil, awserr.InvalidParameter("%s", "Invalid parameter at 'layerDigests' failed to satisfy constraint: 'invalid digest "+in.LayerDigests[0]+"'")
	}
	defer lockUpload(id)()
	up, err := s.session(ctx, name, id)
	if err != nil {
		return nil, err
	}
	meta := s.RegistryMeta()
	forget := func() {
		_ = s.cfg.Blobs.Cancel(context.WithoutCancel(ctx), id)
		_ = meta.DeleteUpload(context.WithoutCancel(ctx), id)
	}
	if linked, err := meta.BlobLinked(ctx, name, d); err != nil {
		_ = up.Close()
		return nil, fmt.Errorf("complete layer upload %s in %s: %w", id, name, err)
	} else if linked {
		_ = up.Close()
		forget()
		return nil, awserr.Newf(ecrtypes.ErrCodeLayerAlreadyExistsException, "%s",
			"The layer '"+d.String()+"' already exists in the repository with name '"+name+"' in the registry with id '"+s.cfg.AccountID+"'")
	}
	if up.Size() == 0 {
		_ = up.Close()
		return nil, awserr.Newf(ecrtypes.ErrCodeEmptyUploadException, "%s", "The upload with id '"+id+"' does not contain any layer parts.")
	}
	if _, err := up.Commit(ctx, d); err != nil {
		if errors.Is(err, blob.ErrDigestMismatch) {
			_ = meta.DeleteUpload(context.WithoutCancel(ctx), id)
			return nil, awserr.Newf(ecrtypes.ErrCodeInvalidLayerException, "%s",
				"The layer digest calculated for the upload with id '"+id+"' does not match the digest '"+d.String()+"' given.")
		}
		if errors.Is(err, blob.ErrUnsupportedDigest) {
			return nil, awserr.InvalidParameter("%s", "Invalid parameter at 'layerDigests' failed to satisfy constraint: 'unsupported digest "+d.String()+"'")
		}
		return nil, fmt.Errorf("complete layer upload %s in %s: %w", id, name, err)
	}
	if err := meta.LinkBlob(ctx, name, d); err != nil {
		if errors.Is(err, registry.ErrNameUnknown) {
			return nil, repositoryNotFound(name, s.cfg.AccountID)
		}
		return nil, fmt.Errorf("complete layer upload %s in %s: %w", id, name, err)
	}
	if err := meta.DeleteUpload(ctx, id); err != nil && !errors.Is(err, registry.ErrUploadUnknown) {
		s.log.WarnContext(ctx, "forget a completed layer upload", "upload", id, "err", err)
	}
	return &ecrtypes.CompleteLayerUploadResponse{
		RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name), UploadId: aws.String(id), LayerDigest: aws.String(d.String()),
	}, nil
}

// GetDownloadUrlForLayer answers the registry URL of a layer in the
// repository: http://<RegistryHost>/v2/<repository>/blobs/<digest>. Unlike
// ECR's presigned S3 URLs it needs the registry's authentication (Basic
// with the GetAuthorizationToken password).
func (s *Service) GetDownloadUrlForLayer(ctx context.Context, in *ecrtypes.GetDownloadUrlForLayerRequest) (*ecrtypes.GetDownloadUrlForLayerResponse, error) {
	if _, err := s.imageStore(ctx, in.RegistryId); err != nil {
		return nil, err
	}
	if s.cfg.Blobs == nil {
		return nil, blobsMissing("GetDownloadUrlForLayer")
	}
	name, raw := aws.ToString(in.RepositoryName), aws.ToString(in.LayerDigest)
	d, ok := registry.ParseDigest(raw)
	if !ok {
		return nil, awserr.InvalidParameter("%s", "Invalid parameter at 'layerDigest' failed to satisfy constraint: 'invalid digest "+raw+"'")
	}
	if _, err := s.viewRepository(ctx, nil, name); err != nil {
		return nil, err
	}
	linked, err := s.RegistryMeta().BlobLinked(ctx, name, d)
	if err != nil && !errors.Is(err, registry.ErrNameUnknown) {
		return nil, fmt.Errorf("download url of %s in %s: %w", d, name, err)
	}
	if !linked {
		return nil, awserr.Newf(ecrtypes.ErrCodeLayersNotFoundException, "%s",
			"The image layer with digest '"+d.String()+"' does not exist in the repository with name '"+name+"' in the registry with id '"+s.cfg.AccountID+"'")
	}
	if _, err := s.cfg.Blobs.Stat(ctx, d); errors.Is(err, blob.ErrNotFound) {
		return nil, awserr.Newf(ecrtypes.ErrCodeLayerInaccessibleException, "%s",
			"The image layer with digest '"+d.String()+"' in the repository with name '"+name+"' is not accessible: its bytes are missing from the blob store.")
	} else if err != nil {
		return nil, fmt.Errorf("download url of %s in %s: %w", d, name, err)
	}
	return &ecrtypes.GetDownloadUrlForLayerResponse{
		DownloadUrl: aws.String("http://" + s.cfg.RegistryHost + "/v2/" + name + "/blobs/" + d.String()),
		LayerDigest: aws.String(d.String()),
	}, nil
}
