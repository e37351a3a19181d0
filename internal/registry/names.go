package registry

import (
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// maxNameLen bounds a repository name (the spec's "fewer than 256").
const maxNameLen = 255

// ValidName reports whether name is a valid repository name. The grammar
// admits no "..", no empty component and no leading or trailing slash, so
// a valid name is safe in a path or a key.
func ValidName(name string) bool {
	return len(name) <= maxNameLen && nameRE.MatchString(name)
}

// ValidTag reports whether tag is a valid tag.
func ValidTag(tag string) bool { return tagRE.MatchString(tag) }

// parseDigest validates d: well formed, of a known algorithm.
func parseDigest(s string) (digest.Digest, bool) {
	d, err := digest.Parse(s)
	if err != nil || !d.Algorithm().Available() {
		return "", false
	}
	return d, true
}

// route is a parsed /v2/ path.
type route struct {
	kind string // "base", "catalog", "manifest", "blob", "uploads", "upload", "tags", "referrers"
	name string // repository
	ref  string // tag or digest, blob digest, upload id
}

// parseRoute splits an escaped /v2/ path. The name is everything before the
// last "/manifests/", "/blobs/", "/tags/list" or "/referrers/": a name may
// itself contain "blobs" or "manifests" as components. ok is false when the
// path matches no endpoint; the name and reference are not validated here.
func parseRoute(path string) (rt route, ok bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return route{kind: "base"}, true
		}
		return rt, false
	}
	switch rest {
	case "":
		return route{kind: "base"}, true
	case "_catalog":
		return route{kind: "catalog"}, true
	}
	if name, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return route{kind: "tags", name: name}, true
	}
	if name, ok := strings.CutSuffix(rest, "/blobs/uploads/"); ok {
		return route{kind: "uploads", name: name}, true
	}
	if name, ok := strings.CutSuffix(rest, "/blobs/uploads"); ok {
		return route{kind: "uploads", name: name}, true
	}
	if i := strings.LastIndex(rest, "/blobs/uploads/"); i > 0 {
		id := rest[i+len("/blobs/uploads/"):]
		if !strings.Contains(id, "/") {
			return route{kind: "upload", name: rest[:i], ref: id}, true
		}
	}
	for _, k := range []struct{ sep, kind string }{{"/manifests/", "manifest"}, {"/blobs/", "blob"}, {"/referrers/", "referrers"}} {
		i := strings.LastIndex(rest, k.sep)
		if i <= 0 {
			continue
		}
		ref := rest[i+len(k.sep):]
		if ref == "" || strings.Contains(ref, "/") {
			continue
		}
		return route{kind: k.kind, name: rest[:i], ref: ref}, true
	}
	return rt, false
}
