package main

import (
	"fmt"
	"strings"
)

// genOperations writes the service's identity (protocol, target prefix or
// API version, signing name, XML namespace), its operations with their
// awsQuery result wrappers, and its error table.
func genOperations(pkg string, m *model) string {
	var b strings.Builder
	b.WriteString(header)
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	str := func(key string) string { v, _ := m.Metadata[key].(string); return v }
	if m.query() {
		b.WriteString("// Protocol is the service's wire protocol.\nconst Protocol = \"query\"\n\n")
		fmt.Fprintf(&b, "// XMLNamespace is the xmlns of this service's XML replies.\nconst XMLNamespace = %q\n\n", str("xmlNamespace"))
	} else {
		fmt.Fprintf(&b, "// Protocol is the service's wire protocol.\nconst Protocol = %q\n\n", str("protocol"))
		fmt.Fprintf(&b, "// TargetPrefix is the X-Amz-Target prefix of this service.\nconst TargetPrefix = %q\n\n", str("targetPrefix"))
		fmt.Fprintf(&b, "// JSONVersion is the awsJson version (1.0 or 1.1) of this service.\nconst JSONVersion = %q\n\n", str("jsonVersion"))
	}
	signing := str("signingName")
	if signing == "" {
		signing = str("endpointPrefix")
	}
	fmt.Fprintf(&b, "// SigningName is the SigV4 service name of this service.\nconst SigningName = %q\n\n", signing)
	fmt.Fprintf(&b, "// APIVersion is the model's API version (the awsQuery Version parameter).\nconst APIVersion = %q\n\n", str("apiVersion"))
	b.WriteString("// Operations lists every operation in the model.\nvar Operations = []string{\n")
	for _, name := range sortedKeys(m.Operations) {
		fmt.Fprintf(&b, "\t%q,\n", name)
	}
	b.WriteString("}\n\n")
	if m.query() {
		b.WriteString("// ResultWrappers names the element that wraps each operation's result\n// in its XML reply; operations without output have none.\nvar ResultWrappers = map[string]string{\n")
		for _, name := range sortedKeys(m.Operations) {
			if out := m.Operations[name].Output; out != nil && out.ResultWrapper != "" {
				fmt.Fprintf(&b, "\t%q: %q,\n", name, out.ResultWrapper)
			}
		}
		b.WriteString("}\n\n")
	}
	var exceptions []string
	for _, name := range sortedKeys(m.Shapes) {
		if m.Shapes[name].Exception {
			exceptions = append(exceptions, name)
		}
	}
	if len(exceptions) > 0 {
		b.WriteString("// Codes of the modeled errors, as sent on the wire.\nconst (\n")
		for _, name := range exceptions {
			fmt.Fprintf(&b, "\tErrCode%s = %q\n", exported(name), m.errorCode(name))
		}
		b.WriteString(")\n\n")
	}
	b.WriteString("// ErrorStatus maps each modeled error code to its HTTP status.\nvar ErrorStatus = map[string]int{\n")
	for _, name := range exceptions {
		s := m.Shapes[name]
		status := 400
		if s.Error != nil && s.Error.HTTPStatusCode != 0 {
			status = s.Error.HTTPStatusCode
		}
		fmt.Fprintf(&b, "\tErrCode%s: %d,\n", exported(name), status)
	}
	b.WriteString("}\n")
	return b.String()
}

// genSupport aliases the shared wire types into the generated package, so
// its users import one package.
func genSupport(pkg string) string {
	var b strings.Builder
	b.WriteString(header)
	fmt.Fprintf(&b, "package %s\n\nimport (\n\t\"time\"\n\n\t%q\n)\n\n", pkg, wireImport)
	b.WriteString(`// Timestamp is a point in time on the wire (see wire.Timestamp).
type Timestamp = wire.Timestamp

// Time returns a pointer to a Timestamp of t, for optional members.
func Time(t time.Time) *Timestamp { return &Timestamp{Time: t} }

// ValidationError is what Validate returns for a value that breaks the
// model's constraints; its message is AWS's.
type ValidationError = wire.ValidationError
`)
	return b.String()
}

// queryTag is the awsQuery/XML serialization of a structure member: its wire
// name, then "flat" for a flattened list or map, "member=" for a list
// element name other than "member", "key="/"value=" for map entry names
// other than "key"/"value". The codec reads nested lists and maps with the
// default names; no awsQuery model names them otherwise, and the generator
// refuses one that does rather than mis-serialize it.
func (m *model) queryTag(member string, ref *shapeRef) string {
	target := m.Shapes[ref.Shape]
	name := firstNonEmpty(ref.LocationName, target.LocationName, member)
	opts := []string{name}
	flat := ref.Flattened || target.Flattened
	switch target.Type {
	case "list":
		if flat {
			opts = append(opts, "flat")
		}
		if el := m.elemName(target.Member, "member"); el != "member" {
			opts = append(opts, "member="+el)
		}
		m.checkNested(member, target.Member)
	case "map":
		if flat {
			opts = append(opts, "flat")
		}
		if k := m.elemName(target.Key, "key"); k != "key" {
			opts = append(opts, "key="+k)
		}
		if v := m.elemName(target.Value, "value"); v != "value" {
			opts = append(opts, "value="+v)
		}
		m.checkNested(member, target.Value)
	}
	return strings.Join(opts, ",")
}

// elemName is the wire name of a list element or map key/value.
func (m *model) elemName(ref *shapeRef, def string) string {
	return firstNonEmpty(ref.LocationName, m.Shapes[ref.Shape].LocationName, def)
}

func (m *model) checkNested(member string, ref *shapeRef) {
	inner := m.Shapes[ref.Shape]
	switch {
	case inner.Type == "list" && (inner.Flattened || m.elemName(inner.Member, "member") != "member"):
	case inner.Type == "map" && (inner.Flattened || m.elemName(inner.Key, "key") != "key" || m.elemName(inner.Value, "value") != "value"):
	default:
		return
	}
	panic(fmt.Sprintf("apigen: member %s nests a %s with custom XML names, which the awsQuery codec does not support", member, inner.Type))
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
