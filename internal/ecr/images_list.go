package ecr

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/store"
)

// maxImagePage is ListImages' and DescribeImages' page size without
// maxResults (ECR's).
const maxImagePage = 100

// pageToken is where a listing of images stopped: the kind of listing
// (a token is refused by another), the id to go on after, and, for a
// listing of image ids, how many of the image At's tags were sent.
type pageToken struct {
	Kind  string `json:"k"`
	After string `json:"a,omitempty"`
	At    string `json:"t,omitempty"`
	Skip  int    `json:"s,omitempty"`
}

func (t pageToken) encode() *string {
	b, _ := json.Marshal(t)
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

// decodeToken reads a nextToken of a listing of kind (zero when none)
// whose ids start with prefix: a token cannot lead a listing out of its
// repository.
func decodeToken(tok *string, kind, prefix string) (pageToken, error) {
	if tok == nil || *tok == "" {
		return pageToken{Kind: kind}, nil
	}
	bad := awserr.InvalidParameter("Invalid parameter at 'nextToken' failed to satisfy constraint: 'the token is not valid'")
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	if err != nil {
		return pageToken{}, bad
	}
	var t pageToken
	if json.Unmarshal(b, &t) != nil || t.Kind != kind || t.Skip < 0 || t.After != "" && !strings.HasPrefix(t.After, prefix) {
		return pageToken{}, bad
	}
	return t, nil
}

// imageStore is the regional store of an image call, after checking its
// registryId.
func (s *Service) imageStore(ctx context.Context, registryID *string) (*store.Store, error) {
	st, _, err := s.regional(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkRegistry(registryID); err != nil {
		return nil, err
	}
	return st, nil
}

// filters returns a listing's tagStatus (ANY by default) and whether its
// imageStatus lets active images through (Berth archives none).
func filters(tagStatus, imageStatus *string) (string, bool) {
	ts := aws.ToString(tagStatus)
	if ts == "" {
		ts = ecrtypes.TagStatusANY
	}
	is := aws.ToString(imageStatus)
	return ts, is == "" || is == ecrtypes.ImageStatusFilterACTIVE || is == ecrtypes.ImageStatusFilterANY
}

// ListImages lists a repository's image ids: one per tag of a tagged
// image ({digest, tag}), one ({digest}) per untagged image, filtered by
// tagStatus, in pages of maxResults ids (1-1000, default 100). Tagged
// images are listed by tag, the others by digest.
func (s *Service) ListImages(ctx context.Context, in *ecrtypes.ListImagesRequest) (*ecrtypes.ListImagesResponse, error) {
	st, err := s.imageStore(ctx, in.RegistryId)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	var f ecrtypes.ListImagesFilter
	if in.Filter != nil {
		f = *in.Filter
	}
	tagStatus, active := filters(f.TagStatus, f.ImageStatus)
	limit := maxImagePage
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	prefix := imagePrefix(name)
	tok, err := decodeToken(in.NextToken, "list-"+tagStatus, prefix)
	if err != nil {
		return nil, err
	}
	out := &ecrtypes.ListImagesResponse{}
	err = st.View(ctx, func(tx *store.Tx) error {
		out.ImageIds, out.NextToken = []ecrtypes.ImageIdentifier{}, nil
		if _, err := s.getRepository(tx, name); err != nil || !active {
			return err
		}
		full := func(next pageToken) bool {
			if len(out.ImageIds) < limit {
				return false
			}
			out.NextToken = next.encode()
			return true
		}
		switch tagStatus {
		case ecrtypes.TagStatusTAGGED:
			return store.Scan(tx, imageTags, prefix, tok.After, false, func(id string, t tagRecord) (bool, error) {
				if len(out.ImageIds) > 0 && full(pageToken{Kind: tok.Kind, After: tagID(name, aws.ToString(out.ImageIds[len(out.ImageIds)-1].ImageTag))}) {
					return false, nil
				}
				out.ImageIds = append(out.ImageIds, ecrtypes.ImageIdentifier{ImageDigest: aws.String(t.Digest), ImageTag: aws.String(id[len(prefix):])})
				return true, nil
			})
		case ecrtypes.TagStatusUNTAGGED:
			sp := statusPrefix(name, false)
			return store.Scan(tx, imageStatus, sp, tok.After, false, func(id string, _ statusRecord) (bool, error) {
				if len(out.ImageIds) > 0 && full(pageToken{Kind: tok.Kind, After: statusID(name, false, aws.ToString(out.ImageIds[len(out.ImageIds)-1].ImageDigest))}) {
					return false, nil
				}
				out.ImageIds = append(out.ImageIds, ecrtypes.ImageIdentifier{ImageDigest: aws.String(id[len(sp):])})
				return true, nil
			})
		}
		// ANY: by image, each image's tags in order; a page may end in the
		// middle of an image's tags.
		emit := func(img imageRecord, skip int) bool {
			if !img.tagged() {
				if full(pageToken{Kind: tok.Kind, At: img.Digest}) {
					return false
				}
				out.ImageIds = append(out.ImageIds, ecrtypes.ImageIdentifier{ImageDigest: aws.String(img.Digest)})
				return true
			}
			for i := skip; i < len(img.Tags); i++ {
				if full(pageToken{Kind: tok.Kind, At: img.Digest, Skip: i}) {
					return false
				}
				out.ImageIds = append(out.ImageIds, ecrtypes.ImageIdentifier{ImageDigest: aws.String(img.Digest), ImageTag: aws.String(img.Tags[i])})
			}
			return true
		}
		after := tok.After
		if tok.At != "" {
			// Go on with image At (gone meanwhile: with the next one).
			after = imageID(name, tok.At)
			img, err := store.Get(tx, images, after)
			if err == nil && !emit(img, tok.Skip) {
				return nil
			} else if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("list images of %s: %w", name, err)
			}
		}
		return store.Scan(tx, images, prefix, after, false, func(_ string, img imageRecord) (bool, error) {
			return emit(img, 0), nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// imageDetail is what DescribeImages says of img of repo.
func (s *Service) imageDetail(repo string, img imageRecord) ecrtypes.ImageDetail {
	d := ecrtypes.ImageDetail{
		RegistryId:             aws.String(s.cfg.AccountID),
		RepositoryName:         aws.String(repo),
		ImageDigest:            aws.String(img.Digest),
		ImageSizeInBytes:       aws.Int64(img.Size),
		ImagePushedAt:          ecrtypes.Time(img.PushedAt),
		ImageManifestMediaType: aws.String(img.MediaType),
		ImageStatus:            aws.String(ecrtypes.ImageStatusACTIVE),
	}
	if img.ArtifactType != "" {
		d.ArtifactMediaType = aws.String(img.ArtifactType)
	}
	if img.tagged() {
		d.ImageTags = append([]string(nil), img.Tags...)
	}
	if !img.LastPulledAt.IsZero() {
		d.LastRecordedPullTime = ecrtypes.Time(img.LastPulledAt)
	}
	if img.Subject != "" {
		d.SubjectManifestDigest = aws.String(img.Subject)
	}
	return d
}

// DescribeImages describes the images imageIds name (all must exist, else
// ImageNotFoundException, as in ECR), or pages through the repository's
// images in digest order, filtered by tagStatus. An image scanned has its
// imageScanStatus and, once the scan is complete, its
// imageScanFindingsSummary.
func (s *Service) DescribeImages(ctx context.Context, in *ecrtypes.DescribeImagesRequest) (*ecrtypes.DescribeImagesResponse, error) {
	st, err := s.imageStore(ctx, in.RegistryId)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	out := &ecrtypes.DescribeImagesResponse{}
	if len(in.ImageIds) > 0 {
		if in.MaxResults != nil || in.NextToken != nil {
			return nil, awserr.InvalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'maxResults and nextToken cannot be used with imageIds'")
		}
		err := st.View(ctx, func(tx *store.Tx) error {
			out.ImageDetails = []ecrtypes.ImageDetail{}
			if _, err := s.getRepository(tx, name); err != nil {
				return err
			}
			found, err := resolveImages(tx, name, in.ImageIds)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			for _, r := range found {
				if r.failure != nil {
					if code := aws.ToString(r.failure.FailureCode); code == ecrtypes.ImageFailureCodeMissingDigestAndTag || code == ecrtypes.ImageFailureCodeInvalidImageDigest {
						return awserr.InvalidParameter("%s", "Invalid parameter at 'imageIds' failed to satisfy constraint: '"+aws.ToString(r.failure.FailureReason)+"'")
					}
					return s.imageNotFound(name, r.id)
				}
				if !seen[r.img.Digest] {
					seen[r.img.Digest] = true
					out.ImageDetails = append(out.ImageDetails, s.imageDetail(name, r.img))
				}
			}
			return s.withScans(tx, name, out.ImageDetails)
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	var f ecrtypes.DescribeImagesFilter
	if in.Filter != nil {
		f = *in.Filter
	}
	tagStatus, active := filters(f.TagStatus, f.ImageStatus)
	limit := maxImagePage
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	tok, err := decodeToken(in.NextToken, "describe-"+tagStatus, imagePrefix(name))
	if err != nil {
		return nil, err
	}
	err = st.View(ctx, func(tx *store.Tx) error {
		out.ImageDetails, out.NextToken = []ecrtypes.ImageDetail{}, nil
		if _, err := s.getRepository(tx, name); err != nil || !active {
			return err
		}
		if tagStatus == ecrtypes.TagStatusANY {
			err := store.Scan(tx, images, imagePrefix(name), tok.After, false, func(id string, img imageRecord) (bool, error) {
				if len(out.ImageDetails) == limit {
					out.NextToken = pageToken{Kind: tok.Kind, After: imageID(name, aws.ToString(out.ImageDetails[limit-1].ImageDigest))}.encode()
					return false, nil
				}
				out.ImageDetails = append(out.ImageDetails, s.imageDetail(name, img))
				return true, nil
			})
			if err != nil {
				return err
			}
			return s.withScans(tx, name, out.ImageDetails)
		}
		// By the tagged/untagged index: only the images of the answer are
		// read.
		tagged := tagStatus == ecrtypes.TagStatusTAGGED
		sp := statusPrefix(name, tagged)
		var ids []string
		more := false
		err := store.Scan(tx, imageStatus, sp, tok.After, false, func(id string, _ statusRecord) (bool, error) {
			if len(ids) == limit {
				more = true
				return false, nil
			}
			ids = append(ids, imageID(name, id[len(sp):]))
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("describe images of %s: %w", name, err)
		}
		found, err := store.GetMany(tx, images, ids)
		if err != nil {
			return fmt.Errorf("describe images of %s: %w", name, err)
		}
		for _, id := range ids {
			if img, ok := found[id]; ok {
				out.ImageDetails = append(out.ImageDetails, s.imageDetail(name, img))
			}
		}
		if more {
			last := ids[len(ids)-1][len(imagePrefix(name)):]
			out.NextToken = pageToken{Kind: tok.Kind, After: statusID(name, tagged, last)}.encode()
		}
		return s.withScans(tx, name, out.ImageDetails)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
