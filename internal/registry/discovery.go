package registry

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// listParams reads n and last of a listing: n defaults to, and is bounded
// by, MaxList (so "_catalog?n=<huge>" cannot make a huge reply).
func (h *Handler) listParams(r *http.Request) (n int, last string, err error) {
	q := r.URL.Query()
	last = q.Get("last")
	n = h.cfg.MaxList
	if s := q.Get("n"); s != "" {
		v, perr := strconv.ParseUint(s, 10, 31)
		switch {
		case errors.Is(perr, strconv.ErrRange):
			v = uint64(h.cfg.MaxList) // all digits, just huge: bounded like any n
		case perr != nil:
			return 0, "", errorf(CodeUnsupported, http.StatusBadRequest, "invalid n %q", truncate(s, 30))
		}
		n = min(int(v), h.cfg.MaxList)
	}
	return n, last, nil
}

// nextLink sets the Link header to the page after last.
func nextLink(w http.ResponseWriter, path string, n int, last string) {
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

// tags serves GET /v2/<name>/tags/list?n=&last=.
func (h *Handler) tags(w http.ResponseWriter, r *http.Request, rt route) error {
	n, last, err := h.listParams(r)
	if err != nil {
		return err
	}
	tags := []string{}
	if n > 0 {
		if tags, err = h.cfg.Meta.Tags(r.Context(), rt.name, last, n+1); err != nil {
			return err
		}
		if len(tags) > n {
			tags = tags[:n]
			nextLink(w, "/v2/"+rt.name+"/tags/list", n, tags[n-1])
		}
	}
	return writeJSON(w, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
}

// catalog serves GET /v2/_catalog?n=&last=.
func (h *Handler) catalog(w http.ResponseWriter, r *http.Request) error {
	n, last, err := h.listParams(r)
	if err != nil {
		return err
	}
	repos := []string{}
	if n > 0 {
		if repos, err = h.cfg.Meta.Repositories(r.Context(), last, n+1); err != nil {
			return err
		}
		if len(repos) > n {
			repos = repos[:n]
			nextLink(w, "/v2/_catalog", n, repos[n-1])
		}
	}
	return writeJSON(w, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

// referrers serves GET /v2/<name>/referrers/<digest>?artifactType=: an image
// index of the manifests whose subject is digest (empty when there are
// none, even for an unknown digest).
func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, rt route) error {
	d, ok := parseDigest(rt.ref)
	if !ok {
		return digestInvalid(rt.ref)
	}
	at := r.URL.Query().Get("artifactType")
	descs, err := h.cfg.Meta.Referrers(r.Context(), rt.name, d, at)
	if err != nil {
		return err
	}
	if descs == nil {
		descs = []ocispec.Descriptor{}
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: descs}
	idx.SchemaVersion = 2
	return writeJSON(w, ocispec.MediaTypeImageIndex, idx)
}

func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}
