package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// examplesDir holds task definitions written exactly as for AWS ECS.
const examplesDir = "../../examples"

// standIn says how a local test image replaces a public image named in an
// example: this machine has no registry, so nginx becomes the test app.
type standIn struct {
	image       func() string
	command     []string // replaces the container's command when not nil
	healthCheck []string // replaces healthCheck.command when not nil
}

// standIns covers every image the examples name; an image missing here
// fails the test, so examples cannot drift away from what is tested.
var standIns = map[string]standIn{
	"123456789012.dkr.ecr.us-east-1.amazonaws.com/storefront/web:1.8.2": {
		image:       func() string { return appImage },
		healthCheck: []string{"CMD", "/app", "-probe", "http://127.0.0.1:8080/healthz"},
	},
	"public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0": {
		image:   func() string { return appImage },
		command: []string{"-port", "4318"},
	},
	"123456789012.dkr.ecr.us-east-1.amazonaws.com/reports/export:2024.06.1": {
		image:   func() string { return appImage },
		command: []string{"-sleep", "-exit-after", "1s", "-exit-code", "0"},
	},
	"public.ecr.aws/nginx/nginx:1.25": {
		image:       func() string { return appImage },
		command:     []string{"-port", "80"},
		healthCheck: []string{"CMD", "/app", "-probe", "http://127.0.0.1:80/healthz"},
	},
}

// loadExample reads examples/<name> as generic JSON, so what is registered
// is exactly the file, not a round trip through Go types.
func loadExample(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return def
}

// containerDefs returns the example's container definitions for editing.
func containerDefs(t *testing.T, def map[string]any) []map[string]any {
	t.Helper()
	list, ok := def["containerDefinitions"].([]any)
	if !ok || len(list) == 0 {
		t.Fatalf("no containerDefinitions in %v", def["family"])
	}
	out := make([]map[string]any, len(list))
	for i, c := range list {
		out[i] = c.(map[string]any)
	}
	return out
}

// substitute replaces every image with its local stand-in and gives the
// definition a family unique to the test.
func substitute(t *testing.T, def map[string]any) map[string]any {
	t.Helper()
	def["family"] = uniqueName(t, def["family"].(string))
	for _, c := range containerDefs(t, def) {
		img, _ := c["image"].(string)
		s, ok := standIns[img]
		if !ok {
			t.Fatalf("example image %q has no local stand-in in standIns", img)
		}
		c["image"] = s.image()
		if s.command != nil {
			c["command"] = s.command
		}
		if hc, ok := c["healthCheck"].(map[string]any); ok {
			if s.healthCheck == nil {
				t.Fatalf("image %q has a health check but its stand-in gives no replacement command", img)
			}
			hc["command"] = s.healthCheck
		}
	}
	return def
}

// writeJSON writes v to a temp file for --cli-input-json file://...
func writeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "input.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sdkInput decodes an example into the SDK's input type. Unknown fields are
// an error, so a typo in an example cannot hide.
func sdkInput(t *testing.T, def map[string]any) *ecs.RegisterTaskDefinitionInput {
	t.Helper()
	b, _ := json.Marshal(def)
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var in ecs.RegisterTaskDefinitionInput
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("example does not decode into ecs.RegisterTaskDefinitionInput: %v", err)
	}
	return &in
}

func exampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want at least 3 examples in %s, got %v (%v)", examplesDir, files, err)
	}
	sort.Strings(files)
	return files
}

// TestExamplesRegisterUnmodified registers every example file byte for byte
// with the AWS CLI v2, as its README tells people to, and checks that
// DescribeTaskDefinition gives back everything the file said.
func TestExamplesRegisterUnmodified(t *testing.T) {
	srv := startServer(t, serverOptions{})
	for _, path := range exampleFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			abs, err := filepath.Abs(path)
			if err != nil {
				t.Fatal(err)
			}
			var reg struct{ TaskDefinition map[string]any }
			cliJSON(t, srv, &reg, "ecs", "register-task-definition", "--cli-input-json", "file://"+abs)
			if rev, _ := reg.TaskDefinition["revision"].(float64); rev != 1 {
				t.Errorf("revision = %v, want 1", reg.TaskDefinition["revision"])
			}
			want := loadExample(t, filepath.Base(path))
			var desc struct {
				TaskDefinition map[string]any
				Tags           []any
			}
			cliJSON(t, srv, &desc, "ecs", "describe-task-definition", "--include", "TAGS",
				"--task-definition", want["family"].(string)+":1")
			if tags, ok := want["tags"]; ok {
				if err := subset("tags", tags, any(desc.Tags)); err != nil {
					t.Errorf("tags not echoed: %v", err)
				}
				delete(want, "tags")
			}
			if err := subset("taskDefinition", any(want), any(desc.TaskDefinition)); err != nil {
				t.Errorf("describe-task-definition lost what the file said: %v\n%s", err, jsonString(desc.TaskDefinition))
			}
			if got := desc.TaskDefinition["status"]; got != "ACTIVE" {
				t.Errorf("status = %v", got)
			}
		})
	}
}

// subset reports where want is not contained in got: maps may have extra
// keys, lists must match element by element, scalars must be equal.
func subset(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %v", path, got)
		}
		for k, v := range w {
			if err := subset(path+"."+k, v, g[k]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: want %v, got %v", path, w, got)
		}
		for i := range w {
			if err := subset(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); err != nil {
				return err
			}
		}
		return nil
	default:
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("%s: want %v, got %v", path, want, got)
		}
		return nil
	}
}
