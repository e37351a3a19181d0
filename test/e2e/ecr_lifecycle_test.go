package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestECRLifecyclePolicy pushes three tags of a repository through the
// registry (Basic AWS and the get-login-password password, as docker
// does), previews then puts a lifecycle policy keeping one image with the
// AWS CLI, and waits for the server's controller (every second here) to
// expire the two older images and record lastEvaluatedAt.
func TestECRLifecyclePolicy(t *testing.T) {
	s := startServer(t, serverOptions{Args: []string{"--ecr-controller-interval", "1s"}})
	repo := createECRRepository(t, s, ecrRepoName(t, "lifecycle/app"))
	pw := loginPassword(t, s)
	registryDo := func(method, path, contentType, body string, want int) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, "http://"+s.addr+"/v2/"+repo.RepositoryName+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("AWS", pw)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d", method, path, res.StatusCode, want)
		}
	}
	digestOf := func(b string) string {
		sum := sha256.Sum256([]byte(b))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	var last string
	for _, tag := range []string{"v1", "v2", "v3"} {
		config := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"tag":"` + tag + `"}`
		registryDo(http.MethodPost, "/blobs/uploads/?digest="+digestOf(config), "application/octet-stream", config, http.StatusCreated)
		manifest, _ := json.Marshal(map[string]any{
			"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digestOf(config), "size": len(config)},
			"layers": []any{},
		})
		registryDo(http.MethodPut, "/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", string(manifest), http.StatusCreated)
		last = digestOf(string(manifest))
	}

	policy := `{"rules":[{"rulePriority":1,"description":"keep the newest","selection":{"tagStatus":"tagged","tagPrefixList":["v"],` +
		`"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	// Previewed first (the controller applies a policy within a second).
	var preview struct {
		Status         string
		PreviewResults []struct{ ImageTags []string }
	}
	awsCLI(t, s, "ecr", "start-lifecycle-policy-preview", "--repository-name", repo.RepositoryName, "--lifecycle-policy-text", policy)
	cliJSON(t, s, &preview, "ecr", "get-lifecycle-policy-preview", "--repository-name", repo.RepositoryName)
	if preview.Status != "COMPLETE" || fmt.Sprint(preview.PreviewResults) != "[{[v1]} {[v2]}]" {
		t.Fatalf("get-lifecycle-policy-preview: %+v", preview)
	}
	awsCLI(t, s, "ecr", "put-lifecycle-policy", "--repository-name", repo.RepositoryName, "--lifecycle-policy-text", policy)

	waitFor(t, 30*time.Second, "the lifecycle controller to expire v1 and v2 and record its evaluation", func() bool {
		var list struct {
			ImageIds []struct{ ImageDigest, ImageTag string }
		}
		cliJSON(t, s, &list, "ecr", "list-images", "--repository-name", repo.RepositoryName)
		var got struct{ LastEvaluatedAt any }
		cliJSON(t, s, &got, "ecr", "get-lifecycle-policy", "--repository-name", repo.RepositoryName)
		return len(list.ImageIds) == 1 && list.ImageIds[0].ImageTag == "v3" && list.ImageIds[0].ImageDigest == last &&
			got.LastEvaluatedAt != nil
	})
}
