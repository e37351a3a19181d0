package scan

import (
	"bufio"
	"bytes"
	"strings"
)

// paragraphs splits an RFC 822-style database (dpkg status, apk installed)
// into paragraphs of fields, calling fn with each. Continuation lines (dpkg's
// leading space) are dropped: no field the inventory reads spans lines.
// keyValue splits one line into its field name and value.
func paragraphs(data []byte, keyValue func(line string) (string, string, bool), fn func(map[string]string)) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	cur := map[string]string{}
	flush := func() {
		if len(cur) > 0 {
			fn(cur)
			cur = map[string]string{}
		}
	}
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if k, v, ok := keyValue(line); ok {
			cur[k] = v
		}
	}
	// A line over the buffer limit ends the scan; what was read still counts.
	flush()
}

func dpkgField(line string) (string, string, bool) {
	k, v, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", false
	}
	return strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v), true
}

// parseDpkgStatus lists the installed packages of a dpkg status file or a
// distroless status.d entry. A package counts when its Status says
// "installed" (status.d entries may omit Status: they are all installed).
// The match name and version are the source package's, which is what OSV's
// Debian and Ubuntu advisories name: "Source: glibc" or "Source: openssl
// (3.0.11-1~deb12u1)" when the binary was rebuilt with another version.
func parseDpkgStatus(data []byte, location string) []Package {
	var out []Package
	paragraphs(data, dpkgField, func(f map[string]string) {
		name, version := f["package"], f["version"]
		if name == "" || version == "" {
			return
		}
		if st, ok := f["status"]; ok {
			words := strings.Fields(st)
			if len(words) == 0 || words[len(words)-1] != "installed" {
				return
			}
		}
		p := Package{
			Kind:          KindDeb,
			Name:          name,
			Version:       version,
			SourceName:    name,
			SourceVersion: version,
			Location:      location,
		}
		if src := f["source"]; src != "" {
			sn, sv, hasVersion := strings.Cut(src, " ")
			p.SourceName = sn
			if hasVersion {
				sv = strings.TrimSpace(sv)
				if strings.HasPrefix(sv, "(") && strings.HasSuffix(sv, ")") {
					p.SourceVersion = strings.TrimSpace(sv[1 : len(sv)-1])
				}
			}
		}
		out = append(out, p)
	})
	return out
}

// parseApkInstalled lists the packages of apk's /lib/apk/db/installed:
// P: name, V: version, o: origin (the source package OSV's Alpine advisories
// name).
func parseApkInstalled(data []byte, location string) []Package {
	var out []Package
	field := func(line string) (string, string, bool) {
		if len(line) < 2 || line[1] != ':' {
			return "", "", false
		}
		return line[:1], line[2:], true
	}
	paragraphs(data, field, func(f map[string]string) {
		name, version := f["P"], f["V"]
		if name == "" || version == "" {
			return
		}
		src := f["o"]
		if src == "" {
			src = name
		}
		out = append(out, Package{
			Kind:          KindApk,
			Name:          name,
			Version:       version,
			SourceName:    src,
			SourceVersion: version,
			Location:      location,
		})
	})
	return out
}
