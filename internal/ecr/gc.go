package ecr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/store"
)

// markAttempts bounds the reads of one region's marks: a read outlived by
// etcd's compaction of its snapshot is started again.
const markAttempts = 3

// sessionBatch bounds the upload sessions one transaction of GCPass
// removes: two deletes each, within an external etcd's 128 operations.
const sessionBatch = deleteBatch / 2

// GCReport is what one GCPass did, for a log line (LogAttrs).
type GCReport struct {
	// Live is how many distinct digests the mark found referenced.
	Live int
	// BlobsDeleted blobs, of BytesFreed bytes in all, were deleted.
	BlobsDeleted int
	BytesFreed   int64
	// SessionsExpired registry upload sessions were older than
	// Config.UploadMaxAge and removed.
	SessionsExpired int
	// UploadsCancelled blob-store uploads were discarded: those of the
	// expired sessions and those older than UploadMaxAge with no session
	// (a monolithic push that crashed leaves one).
	UploadsCancelled int
}

// LogAttrs is r as slog key-value pairs.
func (r GCReport) LogAttrs() []any {
	return []any{"live", r.Live, "blobsDeleted", r.BlobsDeleted, "bytesFreed", r.BytesFreed,
		"sessionsExpired", r.SessionsExpired, "uploadsCancelled", r.UploadsCancelled}
}

// GCPass runs one mark-and-sweep garbage collection of the account's blob
// store, which the given regions reference, and discards abandoned
// uploads. regions must name every region whose registry uses the store
// (all of them share it): a blob referenced only in a region left out is
// garbage to the pass. The service's default region (Config.Region) is
// always marked; an empty list is refused. GCPass does nothing without a
// blob store. A pass that fails part way has deleted only what it judged
// unreferenced; the next pass goes on.
//
// Mark: every digest any region references is live: the blobs linked in
// any of its repositories (ecr/blob-links), and every image's manifest,
// config, layers and child manifests (ecr/images; the image's own blobs
// count even if a blob DELETE unlinked them, so a pull never misses
// bytes). A region is read at one etcd snapshot, in paged scans (memory
// per page is bounded); the live set itself holds every distinct live
// digest (about 150 bytes each: a million blobs cost some 150 MB). One
// snapshot per region, not a snapshot per page, because pages read at
// different revisions could miss a blob mounted from a repository not
// yet scanned into one already scanned, then unlinked from the first. A
// region's read must finish within etcd's compaction retention (5
// minutes embedded): it is started again, up to markAttempts times, when
// its snapshot is compacted away.
//
// Sweep: a blob not marked is deleted only if it was last committed
// (blob.Info.Committed) before the cutoff now-GCGrace, as a Stat right
// before its Delete says. Why a push racing the pass loses nothing: the
// mark read region R at snapshot S, taken after now (callers pass the
// current time). A blob b unmarked had no link and no image in R at S. A
// reference to b written in R after S, at time w > now, is made by one of:
//   - a push's commit-then-link (registry blob upload, CompleteLayerUpload)
//     or commit-then-record (a manifest's bytes, committed even when the
//     store has them, then PutManifest or PutImage), the commit at time
//     c. If the commit came before the Stat, the pass deletes b only if
//     c < now-GCGrace < w-GCGrace: that one request took longer than
//     GCGrace from its commit to its reference. If the commit came after
//     the Delete, it stored b anew.
//   - a cross-repository mount, or a manifest naming b as a layer or as
//     a child: both require b linked (or recorded) in R when they run.
//     Either that reference existed at S (then b is marked), or it was
//     itself written after S, and by induction the first reference to b
//     written after S is a push's, covered above.
//
// Regions are independent (a mount and a manifest's checks read their
// own region only), so one snapshot per region suffices. Nothing
// referenced is deleted, then, as long as every push request commits and
// records its blob within GCGrace (layers are linked in the request that
// commits them: the grace need not cover a whole image push), and the
// clocks of the blob store and of the caller agree to well within it.
// What remains is a commit landing between the Stat and the Delete: it is
// lost (blob.Store has no delete-if-unchanged), a gap of microseconds
// against a re-push of a blob unreferenced for longer than the grace.
//
// Uploads: registry upload sessions (ecr/uploads) started before now
// minus Config.UploadMaxAge are removed with their blob-store uploads; a
// blob-store upload created before that cutoff with no session is
// cancelled too. A chunked upload still in progress after UploadMaxAge
// is lost: the client starts again.
func (s *Service) GCPass(ctx context.Context, regions []string, now time.Time) (GCReport, error) {
	var rep GCReport
	if s.cfg.Blobs == nil {
		return rep, nil
	}
	if len(regions) == 0 {
		return rep, errors.New("gc: no regions: every blob would be garbage")
	}
	if !slices.Contains(regions, s.cfg.Region) && s.cfg.Region != "" {
		regions = append(slices.Clip(regions), s.cfg.Region)
	}
	stores := make([]*store.Store, len(regions))
	for i, r := range regions {
		st, err := s.regionStore(r)
		if err != nil {
			return rep, fmt.Errorf("gc: region %q: %w", r, err)
		}
		stores[i] = st
	}
	live := map[digest.Digest]struct{}{}
	for i, st := range stores {
		// A failed attempt's marks stay: marking more only keeps more.
		err := markRegion(ctx, st, live)
		for n := 1; n < markAttempts && errors.Is(err, rpctypes.ErrCompacted); n++ {
			err = markRegion(ctx, st, live)
		}
		if err != nil {
			return rep, fmt.Errorf("gc: mark region %s: %w", regions[i], err)
		}
	}
	if err := s.markAccount(ctx, live); err != nil {
		return rep, fmt.Errorf("gc: mark: %w", err)
	}
	rep.Live = len(live)
	if err := s.sweepBlobs(ctx, live, now.Add(-s.cfg.GCGrace), &rep); err != nil {
		return rep, fmt.Errorf("gc: sweep blobs: %w", err)
	}
	clear(live)
	cutoff := now.Add(-s.cfg.UploadMaxAge)
	sessions := map[string]struct{}{} // the sessions kept, of every region
	for i, st := range stores {
		if err := s.expireSessions(ctx, st, cutoff, sessions, &rep); err != nil {
			return rep, fmt.Errorf("gc: upload sessions of region %s: %w", regions[i], err)
		}
	}
	if err := s.cancelOrphans(ctx, sessions, cutoff, &rep); err != nil {
		return rep, fmt.Errorf("gc: uploads: %w", err)
	}
	return rep, nil
}

// markRegion adds to live every digest region st references, read at one
// snapshot (GCPass says why one).
func markRegion(ctx context.Context, st *store.Store, live map[digest.Digest]struct{}) error {
	return st.View(ctx, func(tx *store.Tx) error {
		err := store.Scan(tx, blobLinks, "", "", false, func(id string, _ linkRecord) (bool, error) {
			if _, d, ok := strings.Cut(id, "@"); ok { // a repository name has no '@'
				live[digest.Digest(d)] = struct{}{}
			}
			return true, ctx.Err()
		})
		if err != nil {
			return fmt.Errorf("blob links: %w", err)
		}
		err = store.Scan(tx, images, "", "", false, func(_ string, img imageRecord) (bool, error) {
			live[digest.Digest(img.Digest)] = struct{}{}
			for _, b := range img.Blobs {
				live[digest.Digest(b)] = struct{}{}
			}
			for _, m := range img.Manifests {
				live[digest.Digest(m)] = struct{}{}
			}
			return true, ctx.Err()
		})
		if err != nil {
			return fmt.Errorf("images: %w", err)
		}
		// Scan findings are blobs too (scans.go); those of replaced scans
		// are garbage like any other.
		err = store.Scan(tx, imageScans, "", "", false, func(_ string, sc scanRecord) (bool, error) {
			if sc.Findings != "" {
				live[digest.Digest(sc.Findings)] = struct{}{}
			}
			return true, ctx.Err()
		})
		if err != nil {
			return fmt.Errorf("image scans: %w", err)
		}
		return nil
	})
}

// markAccount marks what the account keeps in the blob store outside any
// region: the current vulnerability database (vulndb.go). A database
// replaced by a newer import is garbage.
func (s *Service) markAccount(ctx context.Context, live map[digest.Digest]struct{}) error {
	return s.acct.View(ctx, func(tx *store.Tx) error {
		rec, err := store.Get(tx, vulnDBs, vulnDBID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("vulnerability database: %w", err)
		}
		if rec.Digest != "" {
			live[digest.Digest(rec.Digest)] = struct{}{}
		}
		return nil
	})
}

// sweepBlobs deletes the blobs not in live last committed before cutoff.
func (s *Service) sweepBlobs(ctx context.Context, live map[digest.Digest]struct{}, cutoff time.Time, rep *GCReport) error {
	bs := s.cfg.Blobs
	return bs.Walk(ctx, func(info blob.Info) error {
		if _, ok := live[info.Digest]; ok || !info.Committed.Before(cutoff) {
			return nil
		}
		// Committed again since the Walk read it: a push is under way.
		cur, err := bs.Stat(ctx, info.Digest)
		if errors.Is(err, blob.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stat %s: %w", info.Digest, err)
		}
		if !cur.Committed.Before(cutoff) {
			return nil
		}
		if err := bs.Delete(ctx, info.Digest); errors.Is(err, blob.ErrNotFound) {
			return nil
		} else if err != nil {
			return fmt.Errorf("delete %s: %w", info.Digest, err)
		}
		rep.BlobsDeleted++
		rep.BytesFreed += cur.Size
		s.log.DebugContext(ctx, "gc: deleted blob", "digest", info.Digest, "size", cur.Size, "committed", cur.Committed)
		return nil
	})
}

// expireSessions removes region st's upload sessions started before
// cutoff, sessionBatch a transaction, and cancels their blob-store
// uploads; it adds the ids of the sessions it keeps to kept.
func (s *Service) expireSessions(ctx context.Context, st *store.Store, cutoff time.Time, kept map[string]struct{}, rep *GCReport) error {
	after := ""
	for {
		var old []uploadRecord
		more := false
		err := st.View(ctx, func(tx *store.Tx) error {
			old, more = old[:0], false
			return store.Scan(tx, uploads, "", after, false, func(id string, u uploadRecord) (bool, error) {
				after = id
				if !u.Started.Before(cutoff) {
					kept[id] = struct{}{}
					return true, ctx.Err()
				}
				old = append(old, u)
				more = len(old) == sessionBatch
				return !more, ctx.Err()
			})
		})
		if err != nil {
			return err
		}
		if len(old) > 0 {
			// Deleted blind: a session is never rewritten (its id is
			// random and used once), and deleting a missing key is not
			// an error.
			err := st.Update(ctx, func(tx *store.Tx) error {
				for _, u := range old {
					store.Delete(tx, uploads, u.ID)
					store.Delete(tx, repoUploads, imagePrefix(u.Repo)+u.ID)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("remove %d sessions: %w", len(old), err)
			}
			rep.SessionsExpired += len(old)
			for _, u := range old {
				if err := s.cfg.Blobs.Cancel(ctx, u.ID); err == nil {
					rep.UploadsCancelled++
				} else if !errors.Is(err, blob.ErrUploadNotFound) {
					return fmt.Errorf("cancel upload %s: %w", u.ID, err)
				}
			}
		}
		if !more {
			return nil
		}
	}
}

// cancelOrphans cancels the blob-store uploads created before cutoff
// that no kept session owns.
func (s *Service) cancelOrphans(ctx context.Context, kept map[string]struct{}, cutoff time.Time, rep *GCReport) error {
	return s.cfg.Blobs.Uploads(ctx, func(id string, created time.Time) error {
		if _, ok := kept[id]; ok || !created.Before(cutoff) {
			return nil
		}
		if err := s.cfg.Blobs.Cancel(ctx, id); errors.Is(err, blob.ErrUploadNotFound) {
			return nil
		} else if err != nil {
			return fmt.Errorf("cancel upload %s: %w", id, err)
		}
		rep.UploadsCancelled++
		return nil
	})
}
