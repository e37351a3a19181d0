// Package registry owns Berth's OCI registry: the HTTP handler of the OCI
// distribution spec 1.1 (/v2/: pull, push, content discovery, content
// management, cross-repository mount) and the metadata contract it needs
// (Meta: repositories, per-repository blob links, manifests, tags,
// referrers, upload sessions), with MemMeta, an in-memory Meta. Blob bytes
// are a blob.Store's business; authentication is the API layer's, and
// authorization per repository and action is the Config.Authorize hook.
//
// Hostile input is refused before it reaches a store: names, tags and
// digests are checked against the spec's grammars (a path holding any
// percent-escape is refused, so "%2e%2e" and "%2f" never decode into a
// name), bodies are streamed and checked against their digests, manifests
// and listings are bounded.
package registry

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/registry/blob"
)

// Action is what a request does to a repository, for Config.Authorize.
type Action string

const (
	// ActionPull reads manifests, blobs, tags and referrers (and is asked
	// of a mount's source repository).
	ActionPull Action = "pull"
	// ActionPush uploads blobs (mounts included) and puts manifests.
	ActionPush Action = "push"
	// ActionDelete deletes manifests, tags and blobs.
	ActionDelete Action = "delete"
	// ActionCatalog lists repositories (repo is "").
	ActionCatalog Action = "catalog"
)

// Limits.
const (
	// DefaultMaxManifestSize bounds a manifest's body (4 MiB, as most
	// registries).
	DefaultMaxManifestSize = 4 << 20
	// DefaultMaxList bounds n in tag and catalog listings, and is the page
	// size when n is absent.
	DefaultMaxList = 1000
)

// Config configures a Handler.
type Config struct {
	Meta  Meta
	Blobs blob.Store
	// Authorize, when set, is asked before any repository is touched; its
	// error is the reply (an *Error as it is; anything else DENIED).
	// Authentication is the API layer's, before the handler.
	Authorize func(r *http.Request, repo string, action Action) error
	// MaxManifestSize defaults to DefaultMaxManifestSize; MaxList to
	// DefaultMaxList.
	MaxManifestSize int64
	MaxList         int
	// Now is the clock (time.Now when nil); Logger defaults to
	// slog.Default().
	Now    func() time.Time
	Logger *slog.Logger
}

// Handler serves the OCI distribution API under /v2/.
type Handler struct {
	cfg Config
	log *slog.Logger

	// uploads serialises requests on one upload id (a blob.Upload takes one
	// session at a time).
	mu      sync.Mutex
	uploads map[string]*uploadLock
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler; cfg.Meta and cfg.Blobs are required.
func New(cfg Config) *Handler {
	if cfg.Meta == nil || cfg.Blobs == nil {
		panic("registry: New needs Meta and Blobs")
	}
	if cfg.MaxManifestSize <= 0 {
		cfg.MaxManifestSize = DefaultMaxManifestSize
	}
	if cfg.MaxList <= 0 {
		cfg.MaxList = DefaultMaxList
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Handler{cfg: cfg, log: log, uploads: map[string]*uploadLock{}}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if err := h.serve(w, r); err != nil {
		e := ociError(err)
		if e.Status >= 500 {
			h.log.ErrorContext(r.Context(), "registry request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeError(w, e)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	// Names, tags, digests and upload ids never hold a '%': refusing any
	// escape keeps "%2e%2e" and "%2f" from decoding into a name.
	path := r.URL.EscapedPath()
	if strings.Contains(path, "%") || strings.Contains(path, "//") {
		return errorf(CodeNameInvalid, http.StatusBadRequest, "invalid repository name or reference")
	}
	rt, ok := parseRoute(path)
	if !ok {
		return errorf(CodeUnsupported, http.StatusNotFound, "no such endpoint")
	}
	switch rt.kind {
	case "base":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return notAllowed(w, "GET, HEAD")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte("{}"))
		}
		return nil
	case "catalog":
		if r.Method != http.MethodGet {
			return notAllowed(w, "GET")
		}
		if err := h.authorize(r, "", ActionCatalog); err != nil {
			return err
		}
		return h.catalog(w, r)
	}
	if !ValidName(rt.name) {
		return &Error{Code: CodeNameInvalid, Status: http.StatusBadRequest, Message: "invalid repository name", Detail: map[string]string{"name": truncate(rt.name, 300)}}
	}
	act, allow := action(rt.kind, r.Method)
	if act == "" {
		return notAllowed(w, allow)
	}
	if err := h.authorize(r, rt.name, act); err != nil {
		return err
	}
	if ok, err := h.cfg.Meta.RepositoryExists(r.Context(), rt.name); err != nil {
		return err
	} else if !ok {
		return &Error{Code: CodeNameUnknown, Status: http.StatusNotFound, Message: "repository name not known to registry", Detail: map[string]string{"name": rt.name}}
	}
	switch rt.kind {
	case "manifest":
		return h.manifest(w, r, rt)
	case "blob":
		return h.blob(w, r, rt)
	case "uploads":
		return h.startUpload(w, r, rt)
	case "upload":
		return h.upload(w, r, rt)
	case "tags":
		return h.tags(w, r, rt)
	case "referrers":
		return h.referrers(w, r, rt)
	}
	return errorf(CodeUnsupported, http.StatusNotFound, "no such endpoint")
}

// action returns the Action method does on an endpoint, or "" and the
// methods it allows.
func action(kind, method string) (Action, string) {
	switch kind + " " + method {
	case "manifest GET", "manifest HEAD", "blob GET", "blob HEAD", "tags GET", "referrers GET":
		return ActionPull, ""
	case "manifest PUT", "uploads POST", "upload PATCH", "upload PUT", "upload GET", "upload DELETE":
		return ActionPush, ""
	case "manifest DELETE", "blob DELETE":
		return ActionDelete, ""
	}
	switch kind {
	case "manifest":
		return "", "GET, HEAD, PUT, DELETE"
	case "blob":
		return "", "GET, HEAD, DELETE"
	case "uploads":
		return "", "POST"
	case "upload":
		return "", "GET, PATCH, PUT, DELETE"
	}
	return "", "GET"
}

func notAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return errorf(CodeUnsupported, http.StatusMethodNotAllowed, "method not allowed")
}

func (h *Handler) authorize(r *http.Request, repo string, act Action) error {
	if h.cfg.Authorize == nil {
		return nil
	}
	err := h.cfg.Authorize(r, repo, act)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if e := ociError(err); e.Code != CodeUnknown {
		return e
	}
	return errorf(CodeDenied, http.StatusForbidden, "requested access to the resource is denied")
}

// lockUpload serialises requests on upload id; call the returned func to
// unlock.
func (h *Handler) lockUpload(id string) func() {
	h.mu.Lock()
	l, ok := h.uploads[id]
	if !ok {
		l = &uploadLock{}
		h.uploads[id] = l
	}
	l.users++
	h.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		h.mu.Lock()
		if l.users--; l.users == 0 {
			delete(h.uploads, id)
		}
		h.mu.Unlock()
	}
}

type uploadLock struct {
	sync.Mutex
	users int // guarded by Handler.mu
}

// newID returns a random upload id (URL-safe, valid for blob.Store).
func newID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
