// Package blob owns Berth's content-addressed blob storage: the bytes of
// image layers, configs and manifests, stored once under their digest
// however many repositories reference them.
//
// A Store holds committed blobs and uploads in progress. Bytes reach a
// blob only through an upload: written (in one request or in chunks, over
// several sessions: an upload can be resumed where it stopped), then
// committed under the digest the client claims. Commit checks the bytes
// against the digest and makes the blob visible atomically: a blob is
// either whole and verified or absent, whatever crashes in between. A blob
// committed twice is stored once.
//
// Which blobs are still referenced is not the store's business: the
// registry's metadata says that, and its garbage collector deletes the rest
// (Walk, Delete, and Uploads for abandoned uploads).
//
// Drivers: Memory (tests and fakes) and FS (the default, a directory).
// Every driver passes the shared conformance suite in package blobtest.
package blob

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

// Errors a Store returns; drivers wrap them with context.
var (
	// ErrNotFound: no committed blob has that digest.
	ErrNotFound = errors.New("blob: not found")
	// ErrUploadNotFound: no upload in progress has that id.
	ErrUploadNotFound = errors.New("blob: upload not found")
	// ErrUploadExists: Create of an id already in use.
	ErrUploadExists = errors.New("blob: upload exists")
	// ErrDigestMismatch: the uploaded bytes do not hash to the digest
	// Commit was given; nothing was committed, and the upload is gone.
	ErrDigestMismatch = errors.New("blob: digest mismatch")
	// ErrUnsupportedDigest: a digest whose algorithm the store does not
	// verify (sha256 and sha512 are supported), or that is malformed. Every
	// method that takes a digest checks it first, so Stat, Open and Delete
	// say ErrUnsupportedDigest, not ErrNotFound, for such a digest.
	ErrUnsupportedDigest = errors.New("blob: unsupported digest")
	// ErrInvalidOffset: an Open offset beyond the blob's end.
	ErrInvalidOffset = errors.New("blob: invalid offset")
)

// Info describes a committed blob.
type Info struct {
	Digest digest.Digest
	Size   int64
	// Committed is when the blob was last committed: committing bytes
	// already stored refreshes it. Garbage collection spares blobs younger
	// than a push can take, and a push that dedupes against an old,
	// unreferenced blob must be spared too until its manifest lands.
	Committed time.Time
}

// Store is a blob store. Its methods are safe for concurrent use; each
// honours ctx's deadline.
type Store interface {
	// Stat describes the blob d (ErrNotFound when absent).
	Stat(ctx context.Context, d digest.Digest) (Info, error)
	// Open reads blob d from byte offset (0 <= offset <= size; ErrNotFound,
	// ErrInvalidOffset). The caller closes the reader.
	Open(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error)
	// Delete removes blob d (ErrNotFound when absent). A reader already
	// open may go on reading.
	Delete(ctx context.Context, d digest.Digest) error
	// Walk calls fn for every committed blob, in no particular order, until
	// fn returns an error (which Walk returns).
	Walk(ctx context.Context, fn func(Info) error) error

	// Create starts an empty upload under id (ids are the caller's: random
	// and URL-safe, [A-Za-z0-9_-]{1,128}; ErrUploadExists when in use).
	Create(ctx context.Context, id string) (Upload, error)
	// Resume reopens upload id to append to it (ErrUploadNotFound).
	Resume(ctx context.Context, id string) (Upload, error)
	// Uploads calls fn for every upload in progress with when it was
	// created, until fn returns an error (which Uploads returns).
	Uploads(ctx context.Context, fn func(id string, created time.Time) error) error
	// Cancel discards upload id (ErrUploadNotFound). An Upload open on it
	// fails its next call.
	Cancel(ctx context.Context, id string) error
}

// Upload is one session of writes to an upload in progress. It is not safe
// for concurrent use; one upload id should have one session at a time (the
// registry serialises them).
type Upload interface {
	// Write appends p to the upload.
	io.Writer
	// ID is the upload's id.
	ID() string
	// Size is how many bytes the upload holds so far, this session's
	// writes included.
	Size() int64
	// Commit verifies that the upload's bytes hash to d and makes them
	// blob d, atomically, then ends the upload (its id is free again).
	// When blob d exists already the bytes are still verified, then
	// dropped. On ErrDigestMismatch nothing is committed and the upload is
	// discarded; on other errors (ErrUnsupportedDigest, ctx done) nothing
	// is committed and the upload is kept for Resume. The session is over
	// after Commit, whatever it returns; Close after it is harmless.
	Commit(ctx context.Context, d digest.Digest) (Info, error)
	// Close ends this session and keeps the upload for Resume.
	Close() error
}

// ValidID reports whether id is a valid upload id.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkDigest returns ErrUnsupportedDigest unless d is a well-formed digest
// of an algorithm the store verifies.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return errors.Join(ErrUnsupportedDigest, err)
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return nil
	}
	return ErrUnsupportedDigest
}
