package ecr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/scan"
	"github.com/berth-dev/berth/internal/store"
)

// Basic scans: StartImageScan, scanOnPush, DescribeImageScanFindings and
// DescribeImages' scan status and summary.
//
// An image's scan is a record in the regional namespace, beside the image's
// and purged with it:
//
//	ecr/image-scans  <repo>@<digest>  scanRecord: status, counts, and the findings' blob
//
// The record is small whatever the image holds: its findings (thousands,
// for an old base image) are a JSON blob in the blob store, referenced by
// digest. Keeping them out of etcd keeps every record well under etcd's
// value limit and DescribeImages' pages cheap; keeping the record out of
// the image's means a scan finishing never conflicts with a push or pull
// updating the image, and the image's record stays what the registry reads.
//
// Scans run on the service's workers (Close ends them), each within
// Config.ScanTimeout of being started. A server that stops mid-scan
// leaves the record IN_PROGRESS; once past its deadline it reads as
// FAILED and may be started again.

// scanRecord is an image's latest basic scan.
type scanRecord struct {
	Status      string `json:"status"`
	Description string `json:"description,omitempty"`
	// Attempt identifies the scan: a worker only writes the result of the
	// attempt the record still names.
	Attempt   string    `json:"attempt"`
	StartedAt time.Time `json:"startedAt"`
	// DBDigest is the vulnerability database the scan matched against
	// ("" when none was imported).
	DBDigest        string           `json:"dbDigest,omitempty"`
	CompletedAt     time.Time        `json:"completedAt,omitzero"`
	SourceUpdatedAt time.Time        `json:"sourceUpdatedAt,omitzero"`
	Counts          map[string]int32 `json:"counts,omitempty"`
	// Findings is the digest of the findings' blob: a JSON array of
	// ImageScanFinding, in the report's order.
	Findings     string `json:"findings,omitempty"`
	FindingCount int    `json:"findingCount,omitempty"`
}

var imageScans = store.NewCollection[scanRecord]("ecr/image-scans")

// Scan defaults.
const (
	defaultScanTimeout = 10 * time.Minute
	defaultScanWorkers = 2
	defaultScanQuota   = 24 * time.Hour
	// scanQueueSize bounds the scans waiting for a worker; beyond it a
	// scan fails at once (FAILED, "try again later").
	scanQueueSize = 256
	// maxFindingsBlob bounds the findings read back for a page.
	maxFindingsBlob = 256 << 20
	// maxFindingsPage is DescribeImageScanFindings' page without
	// maxResults.
	maxFindingsPage = 100
)

// noVulnDBDescription is a FAILED scan's description without a database.
const noVulnDBDescription = "no vulnerability database imported: run `berth vulndb import`"

// scanJob is a scan waiting for a worker.
type scanJob struct {
	st       *store.Store // the image's regional store
	repo     string
	digest   string
	attempt  string
	deadline time.Time
}

// stale reports whether an IN_PROGRESS record is past its deadline: its
// server stopped before finishing it.
func (s *Service) stale(r scanRecord) bool {
	return r.Status == ecrtypes.ScanStatusINPROGRESS && s.now().After(r.StartedAt.Add(s.cfg.ScanTimeout+time.Minute))
}

// effective is the record as the APIs show it: a stale scan has failed.
func (s *Service) effective(r scanRecord) scanRecord {
	if s.stale(r) {
		r.Status, r.Description = ecrtypes.ScanStatusFAILED, "the scan was interrupted (its server stopped); start it again"
	}
	return r
}

// scannable reports whether img is a container image (not an index, nor
// an artifact whose config is not an image's).
func scannable(img imageRecord) bool {
	if len(img.Manifests) > 0 {
		return false
	}
	switch img.ArtifactType {
	case "", "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json":
		return true
	}
	return false
}

// errScanLimit refuses a scan of an image scanned recently or being
// scanned.
func scanLimitExceeded() error {
	return awserr.Newf(ecrtypes.ErrCodeLimitExceededException, "%s",
		"The scan quota per image has been exceeded. Wait and try again.")
}

// startScan records a new IN_PROGRESS scan of image d of repo and queues
// it. With quota, an image scanned in the last Config.ScanQuota against
// the current database is refused (LimitExceededException), as ECR allows
// one scan a day; an image being scanned always is.
func (s *Service) startScan(ctx context.Context, st *store.Store, repo, d string, quota bool) (scanRecord, error) {
	dbRec, _, err := s.readVulnDB(ctx)
	if err != nil {
		return scanRecord{}, err
	}
	rec := scanRecord{Status: ecrtypes.ScanStatusINPROGRESS, Attempt: newAttempt(), StartedAt: s.now(), DBDigest: dbRec.Digest}
	err = st.Update(ctx, func(tx *store.Tx) error {
		if _, err := getImage(tx, repo, d); err != nil {
			return err
		}
		old, err := store.Get(tx, imageScans, imageID(repo, d))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("start scan of %s in %s: %w", d, repo, err)
		}
		if err == nil {
			if old.Status == ecrtypes.ScanStatusINPROGRESS && !s.stale(old) {
				return scanLimitExceeded()
			}
			if quota && s.cfg.ScanQuota > 0 && old.DBDigest == rec.DBDigest && rec.StartedAt.Sub(old.StartedAt) < s.cfg.ScanQuota {
				return scanLimitExceeded()
			}
		}
		store.Put(tx, imageScans, imageID(repo, d), rec)
		return nil
	})
	if err != nil {
		return scanRecord{}, err
	}
	// The deadline is the real clock's (a context's), the record's times
	// the service's clock.
	job := scanJob{st: st, repo: repo, digest: d, attempt: rec.Attempt, deadline: time.Now().Add(s.cfg.ScanTimeout)}
	if !s.enqueue(job) {
		s.finishScan(ctx, job, func(r *scanRecord) {
			r.Status, r.Description = ecrtypes.ScanStatusFAILED, "too many scans are waiting; try again later"
		})
	}
	return rec, nil
}

func newAttempt() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// enqueue hands job to the workers, starting them on first use; false
// when the queue is full or the service closed.
func (s *Service) enqueue(job scanJob) bool {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	if s.scanClosed {
		return false
	}
	if s.scanQueue == nil {
		s.scanQueue = make(chan scanJob, scanQueueSize)
		var ctx context.Context
		ctx, s.scanStop = context.WithCancel(context.Background())
		for range s.cfg.ScanWorkers {
			s.scanWG.Add(1)
			go s.scanWorker(ctx)
		}
	}
	select {
	case s.scanQueue <- job:
		return true
	default:
		return false
	}
}

// Close stops the scan workers and waits for them: scans in progress are
// cancelled (their records go stale, then read as FAILED), queued ones
// dropped.
func (s *Service) Close() {
	s.scanMu.Lock()
	s.scanClosed = true
	stop := s.scanStop
	s.scanMu.Unlock()
	if stop != nil {
		stop()
	}
	s.scanWG.Wait()
}

func (s *Service) scanWorker(ctx context.Context) {
	defer s.scanWG.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-s.scanQueue:
			s.runScan(ctx, job)
		}
	}
}

// runScan scans one image within the job's deadline and records the
// result (FAILED with the reason on any error).
func (s *Service) runScan(parent context.Context, job scanJob) {
	ctx, cancel := context.WithDeadline(parent, job.deadline)
	defer cancel()
	rep, dbRec, err := s.scanImage(ctx, job.digest)
	if err != nil {
		desc := err.Error()
		if errors.Is(err, errNoVulnDB) {
			desc = noVulnDBDescription
		} else {
			s.log.Warn("image scan failed", "repository", job.repo, "digest", job.digest, "err", err)
		}
		s.finishScan(ctx, job, func(r *scanRecord) {
			r.Status, r.Description = ecrtypes.ScanStatusFAILED, desc
			r.DBDigest = dbRec.Digest
		})
		return
	}
	findings := rep.ECR()
	body, err := json.Marshal(findings.Findings)
	if err == nil {
		err = s.storeBytes(ctx, digest.FromBytes(body), body)
	}
	if err != nil {
		err = fmt.Errorf("store findings: %w", err)
		s.log.Warn("image scan failed", "repository", job.repo, "digest", job.digest, "err", err)
		s.finishScan(ctx, job, func(r *scanRecord) {
			r.Status, r.Description = ecrtypes.ScanStatusFAILED, err.Error()
		})
		return
	}
	s.finishScan(ctx, job, func(r *scanRecord) {
		r.Status, r.Description = ecrtypes.ScanStatusCOMPLETE, "The scan was completed successfully."
		r.DBDigest, r.SourceUpdatedAt = dbRec.Digest, dbRec.ImportedAt
		r.CompletedAt = s.now()
		r.Counts = findings.FindingSeverityCounts
		r.Findings, r.FindingCount = digest.FromBytes(body).String(), len(findings.Findings)
	})
}

// scanImage matches image d's layers against the current database.
func (s *Service) scanImage(ctx context.Context, d string) (*scan.Report, vulnDBRecord, error) {
	db, dbRec, err := s.vulnDB(ctx)
	if err != nil {
		return nil, dbRec, err
	}
	if s.cfg.Blobs == nil {
		return nil, dbRec, blobsMissing("Scanning")
	}
	body, err := s.manifestBytes(ctx, digest.Digest(d))
	if err != nil {
		return nil, dbRec, err
	}
	if body == nil {
		return nil, dbRec, fmt.Errorf("manifest %s is not in the blob store", d)
	}
	layers, err := scan.LayersFromManifest(s.cfg.Blobs, body)
	if err != nil {
		return nil, dbRec, err
	}
	rep, err := scan.Scan(ctx, db, layers, scan.InventoryConfig{})
	if err != nil {
		return nil, dbRec, err
	}
	return rep, dbRec, nil
}

// finishScan applies set to the scan record of job, if it is still job's
// attempt and the image still exists. It has its own deadline: a scan
// that ran out of time still records that it failed.
func (s *Service) finishScan(ctx context.Context, job scanJob, set func(*scanRecord)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	id := imageID(job.repo, job.digest)
	err := job.st.Update(ctx, func(tx *store.Tx) error {
		if _, err := store.Get(tx, images, id); errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		rec, err := store.Get(tx, imageScans, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && rec.Attempt != job.attempt {
			return nil
		} else if err != nil {
			return err
		}
		set(&rec)
		store.Put(tx, imageScans, id, rec)
		return nil
	})
	if err != nil {
		s.log.Error("record image scan", "repository", job.repo, "digest", job.digest, "err", err)
	}
}

// scanOnPush starts a scan of image d, just pushed to repo, when the
// repository asks for it; a failure to start is logged, not returned: the
// push has succeeded. A pushed index or artifact is marked
// UNSUPPORTED_IMAGE.
func (s *Service) scanOnPush(ctx context.Context, st *store.Store, repo string, rec repoRecord, img imageRecord) {
	c := rec.Repository.ImageScanningConfiguration
	if c == nil || !aws.ToBool(c.ScanOnPush) {
		return
	}
	if !scannable(img) {
		err := st.Update(ctx, func(tx *store.Tx) error {
			if _, err := getImage(tx, repo, img.Digest); err != nil {
				return err
			}
			store.Put(tx, imageScans, imageID(repo, img.Digest), scanRecord{
				Status: ecrtypes.ScanStatusUNSUPPORTEDIMAGE, Description: "The image is an index or an artifact, not a container image.",
				Attempt: newAttempt(), StartedAt: s.now(),
			})
			return nil
		})
		if err != nil {
			s.log.Warn("scan on push", "repository", repo, "digest", img.Digest, "err", err)
		}
		return
	}
	if _, err := s.startScan(ctx, st, repo, img.Digest, true); err != nil {
		if e, ok := awserr.As(err); !ok || e.Code != ecrtypes.ErrCodeLimitExceededException {
			s.log.Warn("scan on push", "repository", repo, "digest", img.Digest, "err", err)
		}
	}
}

// resolveOne resolves imageId in repo (ImageNotFoundException, or
// InvalidParameterException for a malformed id).
func (s *Service) resolveOne(tx *store.Tx, repo string, id *ecrtypes.ImageIdentifier) (imageRecord, error) {
	if id == nil {
		return imageRecord{}, awserr.InvalidParameter("Invalid parameter at 'imageId' failed to satisfy constraint: 'must not be null'")
	}
	found, err := resolveImages(tx, repo, []ecrtypes.ImageIdentifier{*id})
	if err != nil {
		return imageRecord{}, err
	}
	r := found[0]
	if r.failure != nil {
		if code := aws.ToString(r.failure.FailureCode); code == ecrtypes.ImageFailureCodeMissingDigestAndTag || code == ecrtypes.ImageFailureCodeInvalidImageDigest {
			return imageRecord{}, awserr.InvalidParameter("%s", "Invalid parameter at 'imageId' failed to satisfy constraint: '"+aws.ToString(r.failure.FailureReason)+"'")
		}
		return imageRecord{}, s.imageNotFound(repo, *id)
	}
	return r.img, nil
}

// StartImageScan starts a basic scan of an image (by digest or tag): the
// reply says IN_PROGRESS, DescribeImageScanFindings the outcome. An index
// or artifact is UnsupportedImageTypeException; an image scanned in the
// last day against the same database, or being scanned,
// LimitExceededException (a database imported since lifts the limit).
func (s *Service) StartImageScan(ctx context.Context, in *ecrtypes.StartImageScanRequest) (*ecrtypes.StartImageScanResponse, error) {
	st, err := s.imageStore(ctx, in.RegistryId)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	var img imageRecord
	err = st.View(ctx, func(tx *store.Tx) error {
		if _, err := s.getRepository(tx, name); err != nil {
			return err
		}
		img, err = s.resolveOne(tx, name, in.ImageId)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !scannable(img) {
		return nil, awserr.Newf(ecrtypes.ErrCodeUnsupportedImageTypeException, "%s",
			"The image with imageId "+idString(*in.ImageId)+" in the repository with name '"+name+"' is an image index or an artifact, not a container image, and cannot be scanned.")
	}
	rec, err := s.startScan(ctx, st, name, img.Digest, true)
	if err != nil {
		return nil, err
	}
	return &ecrtypes.StartImageScanResponse{
		RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name),
		ImageId:         &ecrtypes.ImageIdentifier{ImageDigest: aws.String(img.Digest), ImageTag: in.ImageId.ImageTag},
		ImageScanStatus: &ecrtypes.ImageScanStatus{Status: aws.String(rec.Status)},
	}, nil
}

// scanStatus is ECR's imageScanStatus of a record.
func scanStatus(r scanRecord) *ecrtypes.ImageScanStatus {
	out := &ecrtypes.ImageScanStatus{Status: aws.String(r.Status)}
	if r.Description != "" {
		out.Description = aws.String(r.Description)
	}
	return out
}

// DescribeImageScanFindings answers an image's latest scan: its status
// and, once COMPLETE, its severity counts and a page of its findings
// (maxResults 1-1000, default 100). An image never scanned is
// ScanNotFoundException.
func (s *Service) DescribeImageScanFindings(ctx context.Context, in *ecrtypes.DescribeImageScanFindingsRequest) (*ecrtypes.DescribeImageScanFindingsResponse, error) {
	st, err := s.imageStore(ctx, in.RegistryId)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	limit := maxFindingsPage
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, awserr.InvalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: 'must be between 1 and 1000'")
		}
		limit = int(*in.MaxResults)
	}
	var (
		img imageRecord
		rec scanRecord
	)
	err = st.View(ctx, func(tx *store.Tx) error {
		if _, err := s.getRepository(tx, name); err != nil {
			return err
		}
		img, err = s.resolveOne(tx, name, in.ImageId)
		if err != nil {
			return err
		}
		rec, err = store.Get(tx, imageScans, imageID(name, img.Digest))
		if errors.Is(err, store.ErrNotFound) {
			return awserr.Newf(ecrtypes.ErrCodeScanNotFoundException, "%s",
				"Image scan does not exist for the image with '"+idString(*in.ImageId)+"' in the repository with name '"+name+"' in the registry with id '"+s.cfg.AccountID+"'")
		}
		if err != nil {
			return fmt.Errorf("describe scan of %s in %s: %w", img.Digest, name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rec = s.effective(rec)
	out := &ecrtypes.DescribeImageScanFindingsResponse{
		RegistryId: aws.String(s.cfg.AccountID), RepositoryName: aws.String(name),
		ImageId:         &ecrtypes.ImageIdentifier{ImageDigest: aws.String(img.Digest), ImageTag: in.ImageId.ImageTag},
		ImageScanStatus: scanStatus(rec),
	}
	if rec.Status != ecrtypes.ScanStatusCOMPLETE {
		return out, nil
	}
	kind := "findings@" + rec.Findings
	tok, err := decodeToken(in.NextToken, kind, "")
	if err != nil {
		return nil, err
	}
	findings, err := s.readFindings(ctx, rec)
	if err != nil {
		return nil, err
	}
	if tok.Skip > len(findings) {
		tok.Skip = len(findings)
	}
	page := findings[tok.Skip:]
	if len(page) > limit {
		page = page[:limit]
		out.NextToken = pageToken{Kind: kind, Skip: tok.Skip + limit}.encode()
	}
	counts := rec.Counts
	if counts == nil {
		counts = map[string]int32{}
	}
	out.ImageScanFindings = &ecrtypes.ImageScanFindings{
		Findings:                     page,
		FindingSeverityCounts:        counts,
		ImageScanCompletedAt:         ecrtypes.Time(rec.CompletedAt),
		VulnerabilitySourceUpdatedAt: ecrtypes.Time(rec.SourceUpdatedAt),
	}
	return out, nil
}

// readFindings reads a completed scan's findings from their blob.
func (s *Service) readFindings(ctx context.Context, rec scanRecord) ([]ecrtypes.ImageScanFinding, error) {
	out := []ecrtypes.ImageScanFinding{}
	if rec.FindingCount == 0 || rec.Findings == "" {
		return out, nil
	}
	if s.cfg.Blobs == nil {
		return nil, blobsMissing("DescribeImageScanFindings")
	}
	rc, err := s.cfg.Blobs.Open(ctx, digest.Digest(rec.Findings), 0)
	if err != nil {
		return nil, fmt.Errorf("read findings %s: %w", rec.Findings, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxFindingsBlob))
	if err != nil {
		return nil, fmt.Errorf("read findings %s: %w", rec.Findings, err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode findings %s: %w", rec.Findings, err)
	}
	return out, nil
}

// withScans adds to details (of repo's images) their scan status and,
// once complete, findings summary: one read for the page.
func (s *Service) withScans(tx *store.Tx, repo string, details []ecrtypes.ImageDetail) error {
	if len(details) == 0 {
		return nil
	}
	ids := make([]string, len(details))
	for i, d := range details {
		ids[i] = imageID(repo, aws.ToString(d.ImageDigest))
	}
	recs, err := store.GetMany(tx, imageScans, ids)
	if err != nil {
		return fmt.Errorf("describe images of %s: scans: %w", repo, err)
	}
	for i := range details {
		rec, ok := recs[ids[i]]
		if !ok {
			continue
		}
		rec = s.effective(rec)
		details[i].ImageScanStatus = scanStatus(rec)
		if rec.Status == ecrtypes.ScanStatusCOMPLETE {
			counts := rec.Counts
			if counts == nil {
				counts = map[string]int32{}
			}
			details[i].ImageScanFindingsSummary = &ecrtypes.ImageScanFindingsSummary{
				FindingSeverityCounts:        counts,
				ImageScanCompletedAt:         ecrtypes.Time(rec.CompletedAt),
				VulnerabilitySourceUpdatedAt: ecrtypes.Time(rec.SourceUpdatedAt),
			}
		}
	}
	return nil
}
