// Command apigen generates Go wire types and their validation from a botocore
// service model (service-2.json). It also writes the model stripped of its
// documentation text, which is what the repository keeps.
//
//	go run ./internal/api/gen/apigen -model service-2.json[.gz] -strip out.json
//	go run ./internal/api/gen/apigen -model ecs.json -pkg ecstypes -out dir
//
// It handles the awsJson and awsQuery protocols: for awsQuery models the
// structures also carry `query` tags (wire names, flattening, list and map
// element names) for the API's form and XML codec, and the operations file
// has the XML namespace and each operation's result wrapper.
package main

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	modelPath := flag.String("model", "", "botocore service-2.json (optionally .gz)")
	strip := flag.String("strip", "", "write the model without documentation to this file and exit")
	pkg := flag.String("pkg", "", "Go package name of the generated code")
	out := flag.String("out", ".", "output directory")
	flag.Parse()
	if *modelPath == "" {
		log.Fatal("apigen: -model is required")
	}
	raw, err := readModel(*modelPath)
	if err != nil {
		log.Fatalf("apigen: %v", err)
	}
	if *strip != "" {
		if err := writeStripped(raw, *strip); err != nil {
			log.Fatalf("apigen: %v", err)
		}
		return
	}
	var m model
	if err := json.Unmarshal(raw, &m); err != nil {
		log.Fatalf("apigen: parse model: %v", err)
	}
	if *pkg == "" {
		log.Fatal("apigen: -pkg is required")
	}
	files := map[string]string{
		"zz_types.go":      genTypes(*pkg, &m),
		"zz_enums.go":      genEnums(*pkg, &m),
		"zz_validate.go":   genValidate(*pkg, &m),
		"zz_operations.go": genOperations(*pkg, &m),
		"zz_support.go":    genSupport(*pkg),
	}
	for name, src := range files {
		formatted, err := format.Source([]byte(src))
		if err != nil {
			log.Fatalf("apigen: format %s: %v\n%s", name, err, src)
		}
		if err := os.WriteFile(filepath.Join(*out, name), formatted, 0o644); err != nil {
			log.Fatalf("apigen: %v", err)
		}
	}
}

func readModel(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("open model: %w", err)
		}
		r = gz
	}
	return io.ReadAll(r)
}

// writeStripped removes every "documentation" and "documentationUrl" key,
// keeping the rest of the model byte-for-byte meaningful.
func writeStripped(raw []byte, path string) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("parse model: %w", err)
	}
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			delete(t, "documentation")
			delete(t, "documentationUrl")
			for _, c := range t {
				walk(c)
			}
		case []any:
			for _, c := range t {
				walk(c)
			}
		}
	}
	walk(v)
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
