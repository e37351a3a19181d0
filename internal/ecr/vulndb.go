package ecr

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/scan"
	"github.com/berth-dev/berth/internal/store"
)

// The vulnerability database scans match images against is the account's,
// whatever the region: a zip of OSV records (`berth vulndb import` builds
// it from local files) stored in the blob store under its digest, and one
// record in etcd, in the account namespace "/berth/<account>", naming the
// current one. Every server sharing the etcd loads that zip on its first
// scan and again when the record names another digest.
//
//	ecr/vulndb  current  vulnDBRecord

// VulnDBPath is the path of the vulnerability database's routes: PUT
// imports a zip of OSV records (IAM action
// berth:ImportVulnerabilityDatabase), GET describes the current one
// (berth:DescribeVulnerabilityDatabase). Both are SigV4-signed for service
// "ecr".
const VulnDBPath = "/berth/vulndb"

// maxVulnDBSize bounds an imported zip: osv.dev's Debian, Ubuntu, Alpine
// and Go archives together are a few hundred megabytes.
const maxVulnDBSize = 2 << 30

// vulnDBImportTimeout bounds an import: the upload, the validating load and
// the store.
const vulnDBImportTimeout = 30 * time.Minute

// vulnDBID is the id of the current database's record.
const vulnDBID = "current"

// vulnDBRecord is the current vulnerability database.
type vulnDBRecord struct {
	Digest     string    `json:"digest"`
	Size       int64     `json:"size"`
	ImportedAt time.Time `json:"importedAt"`
	// What the import loaded, for `berth vulndb status`.
	Files       int            `json:"files"`
	Vulns       int            `json:"vulns"`
	Withdrawn   int            `json:"withdrawn,omitempty"`
	Unsupported int            `json:"unsupported,omitempty"`
	Ecosystems  map[string]int `json:"ecosystems,omitempty"`
}

var vulnDBs = store.NewCollection[vulnDBRecord]("ecr/vulndb")

// VulnDBStatus is the reply of both vulnerability database routes.
type VulnDBStatus struct {
	// Imported is false when no database was ever imported; the other
	// fields are then zero.
	Imported bool `json:"imported"`
	// Digest is the sha256 of the imported zip, its blob in the registry's
	// store.
	Digest     string    `json:"digest,omitempty"`
	SizeBytes  int64     `json:"sizeBytes,omitempty"`
	ImportedAt time.Time `json:"importedAt,omitzero"`
	// Files counts the OSV documents read, Vulnerabilities those kept
	// (the others are withdrawn, or of ecosystems Berth does not scan).
	Files           int `json:"files,omitempty"`
	Vulnerabilities int `json:"vulnerabilities,omitempty"`
	Withdrawn       int `json:"withdrawn,omitempty"`
	Unsupported     int `json:"unsupported,omitempty"`
	// Ecosystems counts vulnerabilities per OSV ecosystem ("Debian:12").
	Ecosystems map[string]int `json:"ecosystems,omitempty"`
	// Loaded says whether the server that answered has this database in
	// memory (it loads it on its first scan).
	Loaded bool `json:"loaded"`
}

func (s *Service) statusOf(rec vulnDBRecord, found bool) VulnDBStatus {
	if !found {
		return VulnDBStatus{}
	}
	s.vdbMu.Lock()
	loaded := s.vdbDigest == rec.Digest
	s.vdbMu.Unlock()
	return VulnDBStatus{
		Imported: true, Digest: rec.Digest, SizeBytes: rec.Size, ImportedAt: rec.ImportedAt,
		Files: rec.Files, Vulnerabilities: rec.Vulns, Withdrawn: rec.Withdrawn, Unsupported: rec.Unsupported,
		Ecosystems: rec.Ecosystems, Loaded: loaded,
	}
}

// errNoVulnDB: no database was imported.
var errNoVulnDB = errors.New("no vulnerability database imported: run `berth vulndb import`")

// VulnDBRoutes returns the routes of the vulnerability database, with auth
// the API listener's SigV4 authenticator for service "ecr".
func (s *Service) VulnDBRoutes(auth api.Authenticator) []api.Route {
	return []api.Route{
		{
			Pattern: "PUT " + VulnDBPath, Handler: http.HandlerFunc(s.importVulnDB),
			Auth: []api.Authenticator{auth}, Action: "berth:ImportVulnerabilityDatabase",
			Timeout: vulnDBImportTimeout,
		},
		{
			Pattern: "GET " + VulnDBPath, Handler: http.HandlerFunc(s.describeVulnDB),
			Auth: []api.Authenticator{auth}, Action: "berth:DescribeVulnerabilityDatabase",
		},
	}
}

// readVulnDB reads the current database's record (found false when none).
func (s *Service) readVulnDB(ctx context.Context) (rec vulnDBRecord, found bool, err error) {
	err = s.acct.View(ctx, func(tx *store.Tx) error {
		r, err := store.Get(tx, vulnDBs, vulnDBID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read vulnerability database record: %w", err)
		}
		rec, found = r, true
		return nil
	})
	return rec, found, err
}

func (s *Service) describeVulnDB(w http.ResponseWriter, r *http.Request) {
	rec, found, err := s.readVulnDB(r.Context())
	if err != nil {
		s.writeRouteError(w, r, err)
		return
	}
	writeJSON(w, s.statusOf(rec, found))
}

// importVulnDB reads a zip of OSV records from the body (to a temporary
// file, hashing it), loads it as scans will, and refuses it unless every
// JSON document in it is an OSV record; then stores it in the blob store
// and makes it the current database. A refused import changes nothing.
func (s *Service) importVulnDB(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.cfg.Blobs == nil {
		s.writeRouteError(w, r, blobsMissing("Importing a vulnerability database"))
		return
	}
	tmp, err := os.CreateTemp("", "berth-vulndb-*.zip")
	if err != nil {
		s.writeRouteError(w, r, fmt.Errorf("import vulnerability database: %w", err))
		return
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), http.MaxBytesReader(w, r.Body, maxVulnDBSize))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.writeRouteError(w, r, awserr.InvalidParameter("The vulnerability database is over %d bytes.", int64(maxVulnDBSize)))
		return
	}
	if err != nil {
		s.writeRouteError(w, r, fmt.Errorf("import vulnerability database: read body: %w", err))
		return
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	db, err := loadVulnDBZip(tmp, n)
	if err != nil {
		s.writeRouteError(w, r, err)
		return
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		s.writeRouteError(w, r, fmt.Errorf("import vulnerability database: %w", err))
		return
	}
	if err := s.storeBlob(ctx, d, n, tmp); err != nil {
		s.writeRouteError(w, r, fmt.Errorf("import vulnerability database: store %s: %w", d, err))
		return
	}
	st := db.Stats()
	rec := vulnDBRecord{
		Digest: d.String(), Size: n, ImportedAt: s.now(),
		Files: st.Files, Vulns: st.Vulns, Withdrawn: st.Withdrawn, Unsupported: st.Unsupported, Ecosystems: st.Ecosystems,
	}
	err = s.acct.Update(ctx, func(tx *store.Tx) error {
		store.Put(tx, vulnDBs, vulnDBID, rec)
		return nil
	})
	if err != nil {
		s.writeRouteError(w, r, fmt.Errorf("import vulnerability database: record it: %w", err))
		return
	}
	s.vdbMu.Lock()
	s.vdb, s.vdbDigest = db, rec.Digest
	s.vdbMu.Unlock()
	s.log.Info("vulnerability database imported", "digest", rec.Digest, "size", n, "vulns", st.Vulns)
	writeJSON(w, s.statusOf(rec, true))
}

// loadVulnDBZip loads a zip of OSV records (JSON documents, and zips of
// them as osv.dev publishes each ecosystem), refusing one with any
// document that is not an OSV record, or none at all, in words for the
// operator (InvalidParameterException).
func loadVulnDBZip(ra io.ReaderAt, size int64) (*scan.DB, error) {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, awserr.InvalidParameter("The vulnerability database is not a zip archive: %v", err)
	}
	db, err := scan.LoadDB(zr)
	if err != nil {
		return nil, awserr.InvalidParameter("The vulnerability database cannot be read: %v", err)
	}
	st := db.Stats()
	if st.Malformed > 0 {
		return nil, awserr.InvalidParameter("The vulnerability database has %d documents that are not OSV records: %s",
			st.Malformed, strings.Join(st.Notes, "; "))
	}
	if st.Files == 0 {
		return nil, awserr.InvalidParameter("The vulnerability database has no OSV records (*.json files, or *.zip archives of them).")
	}
	return db, nil
}

// storeBlob commits size bytes of r as blob d, unless the store has it.
func (s *Service) storeBlob(ctx context.Context, d digest.Digest, size int64, r io.Reader) error {
	if info, err := s.cfg.Blobs.Stat(ctx, d); err == nil && info.Size == size {
		return nil
	} else if err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	up, err := s.cfg.Blobs.Create(ctx, newUploadID())
	if err != nil {
		return err
	}
	if _, err := io.Copy(up, r); err != nil {
		_ = up.Close()
		_ = s.cfg.Blobs.Cancel(context.WithoutCancel(ctx), up.ID())
		return err
	}
	_, err = up.Commit(ctx, d)
	return err
}

// vulnDB returns the current database, loading it from the blob store when
// this server has not loaded it yet (or has an older one), with its
// record. Loads are serialized: concurrent scans wait for one load.
func (s *Service) vulnDB(ctx context.Context) (*scan.DB, vulnDBRecord, error) {
	rec, found, err := s.readVulnDB(ctx)
	if err != nil {
		return nil, vulnDBRecord{}, err
	}
	if !found {
		return nil, vulnDBRecord{}, errNoVulnDB
	}
	s.vdbLoad.Lock()
	defer s.vdbLoad.Unlock()
	s.vdbMu.Lock()
	db, loaded := s.vdb, s.vdbDigest
	s.vdbMu.Unlock()
	if db != nil && loaded == rec.Digest {
		return db, rec, nil
	}
	if s.cfg.Blobs == nil {
		return nil, vulnDBRecord{}, blobsMissing("Scanning")
	}
	db, err = s.loadVulnDBBlob(ctx, digest.Digest(rec.Digest))
	if err != nil {
		return nil, vulnDBRecord{}, err
	}
	s.vdbMu.Lock()
	s.vdb, s.vdbDigest = db, rec.Digest
	s.vdbMu.Unlock()
	s.log.Info("vulnerability database loaded", "digest", rec.Digest, "vulns", db.Stats().Vulns)
	return db, rec, nil
}

// loadVulnDBBlob spools blob d to a temporary file (zip needs random
// access) and loads it.
func (s *Service) loadVulnDBBlob(ctx context.Context, d digest.Digest) (*scan.DB, error) {
	rc, err := s.cfg.Blobs.Open(ctx, d, 0)
	if err != nil {
		return nil, fmt.Errorf("load vulnerability database %s: %w", d, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp("", "berth-vulndb-*.zip")
	if err != nil {
		return nil, fmt.Errorf("load vulnerability database %s: %w", d, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := io.Copy(tmp, rc)
	if err != nil {
		return nil, fmt.Errorf("load vulnerability database %s: %w", d, err)
	}
	db, err := loadVulnDBZip(tmp, n)
	if err != nil {
		return nil, fmt.Errorf("load vulnerability database %s: %w", d, err)
	}
	return db, nil
}

// writeRouteError answers a plain route's request with an awsJson error,
// in the ECR service's table of statuses.
func (s *Service) writeRouteError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := awserr.As(err)
	if !ok {
		s.log.Error("vulnerability database request failed", "err", err)
		e = awserr.New(ecrtypes.ErrCodeServerException, http.StatusInternalServerError, "%s", err.Error())
	}
	if e.Status == 0 {
		e.Status = ecrtypes.ErrorStatus[e.Code]
		if e.Status == 0 {
			e.Status = http.StatusBadRequest
		}
	}
	rid, _ := api.RequestIDFrom(r.Context())
	awserr.EncodeJSON(w, awserr.ContentTypeJSON11, rid, e)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
