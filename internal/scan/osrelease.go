package scan

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// OSRelease is what an image's /etc/os-release (or /usr/lib/os-release)
// says about its distribution.
type OSRelease struct {
	ID        string // "debian", "alpine", "ubuntu"
	VersionID string // "12", "3.19.1", "22.04"
	IDLike    string
}

// parseOSRelease reads the KEY=value lines of os-release(5), unquoting
// values; unknown keys and malformed lines are ignored.
func parseOSRelease(data []byte) OSRelease {
	var o OSRelease
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		} else {
			v = strings.Trim(v, `"'`)
		}
		switch k {
		case "ID":
			o.ID = strings.ToLower(v)
		case "VERSION_ID":
			o.VersionID = v
		case "ID_LIKE":
			o.IDLike = strings.ToLower(v)
		}
	}
	return o
}

// Ecosystem is the OSV ecosystem of the distribution's packages, e.g.
// "Debian:12", "Alpine:v3.19", "Ubuntu:22.04", or "" when unknown (a
// Debian testing image has no VERSION_ID; OSV has no ecosystem for it).
func (o OSRelease) Ecosystem() string {
	if o.VersionID == "" {
		return ""
	}
	switch o.ID {
	case "debian":
		major, _, _ := strings.Cut(o.VersionID, ".")
		return "Debian:" + major
	case "alpine":
		parts := strings.SplitN(o.VersionID, ".", 3)
		if len(parts) < 2 {
			return ""
		}
		return "Alpine:v" + parts[0] + "." + parts[1]
	case "ubuntu":
		return "Ubuntu:" + o.VersionID
	}
	return ""
}
