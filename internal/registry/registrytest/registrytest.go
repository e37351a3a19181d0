// Package registrytest is the conformance suite of registry.Meta: every
// implementation (MemMeta, the ECR service's on etcd) runs Run.
package registrytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/registry"
)

// Fixture is one fresh, empty Meta and the way to create repositories in
// it (the ECR API's CreateRepository in production).
type Fixture struct {
	Meta             registry.Meta
	CreateRepository func(ctx context.Context, name string, immutableTags bool) error
}

// Run runs the suite; newFixture returns an empty Meta for each subtest.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	tests := []struct {
		name string
		fn   func(*testing.T, Fixture)
	}{
		{"Repositories", testRepositories},
		{"UnknownRepository", testUnknownRepository},
		{"BlobLinks", testBlobLinks},
		{"Manifests", testManifests},
		{"Tags", testTags},
		{"ImmutableTags", testImmutableTags},
		{"Referrers", testReferrers},
		{"Uploads", testUploads},
		{"CanceledContext", testCanceledContext},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newFixture(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustCreate(t *testing.T, f Fixture, immutable bool, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := f.CreateRepository(ctx(t), n, immutable); err != nil {
			t.Fatalf("create repository %s: %v", n, err)
		}
	}
}

func dg(s string) digest.Digest { return digest.FromString(s) }

func manifest(body string, blobs ...digest.Digest) registry.Manifest {
	return registry.Manifest{
		Digest:       dg(body),
		MediaType:    "application/vnd.oci.image.manifest.v1+json",
		Size:         int64(len(body)),
		ArtifactType: "application/vnd.oci.image.config.v1+json",
		Blobs:        blobs,
	}
}

func testRepositories(t *testing.T, f Fixture) {
	c := ctx(t)
	names := []string{"b", "a/x", "a", "c/d/e", "a-b"}
	mustCreate(t, f, false, names...)
	for _, n := range names {
		if ok, err := f.Meta.RepositoryExists(c, n); err != nil || !ok {
			t.Errorf("RepositoryExists(%s) = %v, %v; want true", n, ok, err)
		}
	}
	if ok, err := f.Meta.RepositoryExists(c, "nope"); err != nil || ok {
		t.Errorf("RepositoryExists(nope) = %v, %v; want false", ok, err)
	}
	sorted := slices.Sorted(slices.Values(names))
	var got []string
	last := ""
	for {
		page, err := f.Meta.Repositories(c, last, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("Repositories(n=2) returned %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		last = page[len(page)-1]
	}
	if !slices.Equal(got, sorted) {
		t.Errorf("paged Repositories = %v, want %v", got, sorted)
	}
	if all, _ := f.Meta.Repositories(c, "", 100); !slices.Equal(all, sorted) {
		t.Errorf("Repositories = %v, want %v", all, sorted)
	}
	if none, _ := f.Meta.Repositories(c, "", 0); len(none) != 0 {
		t.Errorf("Repositories(n=0) = %v", none)
	}
	if after, _ := f.Meta.Repositories(c, "a0", 100); !slices.Equal(after, []string{"b", "c/d/e"}) {
		t.Errorf("Repositories(last=a0) = %v (last need not exist)", after)
	}
}

func testUnknownRepository(t *testing.T, f Fixture) {
	c := ctx(t)
	d := dg("x")
	m := manifest("m")
	calls := map[string]error{
		"LinkBlob":     f.Meta.LinkBlob(c, "nope", d),
		"UnlinkBlob":   f.Meta.UnlinkBlob(c, "nope", d),
		"PutManifest":  f.Meta.PutManifest(c, "nope", m, "t"),
		"DeleteTag":    f.Meta.DeleteTag(c, "nope", "t"),
		"CreateUpload": f.Meta.CreateUpload(c, registry.UploadSession{ID: "u1", Repo: "nope", Started: time.Now()}),
	}
	_, calls["BlobLinked"] = f.Meta.BlobLinked(c, "nope", d)
	_, calls["Manifest"] = f.Meta.Manifest(c, "nope", d)
	_, calls["Resolve"] = f.Meta.Resolve(c, "nope", "t")
	calls["DeleteManifest"] = f.Meta.DeleteManifest(c, "nope", d)
	_, calls["Tags"] = f.Meta.Tags(c, "nope", "", 10)
	_, calls["Referrers"] = f.Meta.Referrers(c, "nope", d, "")
	for name, err := range calls {
		if !errors.Is(err, registry.ErrNameUnknown) {
			t.Errorf("%s in an unknown repository: %v, want ErrNameUnknown", name, err)
		}
	}
}

func testBlobLinks(t *testing.T, f Fixture) {
	c := ctx(t)
	mustCreate(t, f, false, "r1", "r2")
	d := dg("layer")
	if ok, err := f.Meta.BlobLinked(c, "r1", d); err != nil || ok {
		t.Fatalf("BlobLinked before LinkBlob = %v, %v", ok, err)
	}
	if err := f.Meta.LinkBlob(c, "r1", d); err != nil {
		t.Fatal(err)
	}
	if err := f.Meta.LinkBlob(c, "r1", d); err != nil {
		t.Fatalf("LinkBlob twice: %v", err)
	}
	if ok, _ := f.Meta.BlobLinked(c, "r1", d); !ok {
		t.Error("blob not linked in r1 after LinkBlob")
	}
	if ok, _ := f.Meta.BlobLinked(c, "r2", d); ok {
		t.Error("blob linked in r2: links are per repository")
	}
	if err := f.Meta.UnlinkBlob(c, "r2", d); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Errorf("UnlinkBlob of an unlinked blob: %v, want ErrBlobUnknown", err)
	}
	if err := f.Meta.UnlinkBlob(c, "r1", d); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Meta.BlobLinked(c, "r1", d); ok {
		t.Error("blob still linked after UnlinkBlob")
	}
}

func testManifests(t *testing.T, f Fixture) {
	c := ctx(t)
	mustCreate(t, f, false, "r")
	cfg, layer := dg("cfg"), dg("layer")
	m := manifest("image", cfg, layer)
	m.Annotations = map[string]string{"k": "v"}
	if _, err := f.Meta.Manifest(c, "r", m.Digest); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Errorf("Manifest before put: %v, want ErrManifestUnknown", err)
	}
	if err := f.Meta.PutManifest(c, "r", m, "v1", "latest"); err != nil {
		t.Fatal(err)
	}
	got, err := f.Meta.Manifest(c, "r", m.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != m.Digest || got.MediaType != m.MediaType || got.Size != m.Size || got.ArtifactType != m.ArtifactType ||
		!slices.Equal(got.Blobs, m.Blobs) || got.Annotations["k"] != "v" || got.Pushed.IsZero() {
		t.Errorf("Manifest = %+v, want %+v with Pushed set", got, m)
	}
	for _, tag := range []string{"v1", "latest"} {
		if d, err := f.Meta.Resolve(c, "r", tag); err != nil || d != m.Digest {
			t.Errorf("Resolve(%s) = %v, %v", tag, d, err)
		}
	}
	// Putting it again keeps its first push time.
	again := m
	again.Pushed = got.Pushed.Add(time.Hour)
	if err := f.Meta.PutManifest(c, "r", again); err != nil {
		t.Fatal(err)
	}
	if g, _ := f.Meta.Manifest(c, "r", m.Digest); !g.Pushed.Equal(got.Pushed) {
		t.Errorf("re-put moved Pushed from %v to %v", got.Pushed, g.Pushed)
	}
	// A tag moves to another manifest.
	m2 := manifest("image2", cfg)
	if err := f.Meta.PutManifest(c, "r", m2, "latest"); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.Meta.Resolve(c, "r", "latest"); d != m2.Digest {
		t.Errorf("latest = %s after moving, want %s", d, m2.Digest)
	}
	// Deleting a tag leaves its manifest.
	if err := f.Meta.DeleteTag(c, "r", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Meta.Resolve(c, "r", "v1"); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Errorf("Resolve of a deleted tag: %v", err)
	}
	if _, err := f.Meta.Manifest(c, "r", m.Digest); err != nil {
		t.Errorf("manifest gone with its tag: %v", err)
	}
	if err := f.Meta.DeleteTag(c, "r", "v1"); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Errorf("DeleteTag twice: %v, want ErrManifestUnknown", err)
	}
	// Deleting a manifest deletes its tags.
	if err := f.Meta.DeleteManifest(c, "r", m2.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Meta.Resolve(c, "r", "latest"); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Errorf("tag survived its manifest: %v", err)
	}
	if err := f.Meta.DeleteManifest(c, "r", m2.Digest); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Errorf("DeleteManifest twice: %v", err)
	}
	// Manifests are per repository.
	mustCreate(t, f, false, "other")
	if _, err := f.Meta.Manifest(c, "other", m.Digest); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Errorf("manifest of r visible in other: %v", err)
	}
}

func testTags(t *testing.T, f Fixture) {
	c := ctx(t)
	mustCreate(t, f, false, "r")
	m := manifest("m")
	want := []string{"1.0", "1.1", "A", "_x", "latest", "v2"}
	if err := f.Meta.PutManifest(c, "r", m, "v2", "latest", "1.0", "A", "_x", "1.1"); err != nil {
		t.Fatal(err)
	}
	if all, err := f.Meta.Tags(c, "r", "", 100); err != nil || !slices.Equal(all, want) {
		t.Errorf("Tags = %v, %v; want %v (lexical)", all, err, want)
	}
	var got []string
	for last := ""; ; {
		page, err := f.Meta.Tags(c, "r", last, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 4 {
			t.Fatalf("Tags(n=4) returned %d", len(page))
		}
		got = append(got, page...)
		last = page[len(page)-1]
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged Tags = %v, want %v", got, want)
	}
	mustCreate(t, f, false, "empty")
	if none, err := f.Meta.Tags(c, "empty", "", 10); err != nil || len(none) != 0 {
		t.Errorf("Tags of an empty repository = %v, %v", none, err)
	}
}

func testImmutableTags(t *testing.T, f Fixture) {
	c := ctx(t)
	mustCreate(t, f, true, "r")
	m1, m2 := manifest("m1"), manifest("m2")
	if err := f.Meta.PutManifest(c, "r", m1, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Meta.PutManifest(c, "r", m1, "v1"); err != nil {
		t.Errorf("re-putting the same manifest under its tag: %v", err)
	}
	err := f.Meta.PutManifest(c, "r", m2, "v2", "v1")
	if !errors.Is(err, registry.ErrTagImmutable) {
		t.Fatalf("moving an immutable tag: %v, want ErrTagImmutable", err)
	}
	if d, _ := f.Meta.Resolve(c, "r", "v1"); d != m1.Digest {
		t.Error("immutable tag moved")
	}
	if _, err := f.Meta.Resolve(c, "r", "v2"); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Error("a refused put changed something: v2 exists")
	}
	if err := f.Meta.PutManifest(c, "r", m2); err != nil {
		t.Errorf("untagged put in an immutable repository: %v", err)
	}
}

func testReferrers(t *testing.T, f Fixture) {
	c := ctx(t)
	mustCreate(t, f, false, "r")
	subject := dg("subject") // need not exist
	var want []digest.Digest
	for i, at := range []string{"application/sig", "application/sbom", "application/sig"} {
		m := manifest(fmt.Sprint("ref", i))
		m.ArtifactType = at
		m.Subject = subject
		m.Annotations = map[string]string{"i": fmt.Sprint(i)}
		if err := f.Meta.PutManifest(c, "r", m); err != nil {
			t.Fatal(err)
		}
		if at == "application/sig" {
			want = append(want, m.Digest)
		}
	}
	if err := f.Meta.PutManifest(c, "r", manifest("unrelated")); err != nil {
		t.Fatal(err)
	}
	all, err := f.Meta.Referrers(c, "r", subject, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("Referrers = %v, %v; want 3", all, err)
	}
	if !slices.IsSortedFunc(all, func(a, b ociDesc) int { return compare(a.Digest, b.Digest) }) {
		t.Error("Referrers not ordered by digest")
	}
	for _, d := range all {
		if d.MediaType == "" || d.Size == 0 || d.ArtifactType == "" || d.Annotations["i"] == "" {
			t.Errorf("referrer descriptor incomplete: %+v", d)
		}
	}
	sigs, _ := f.Meta.Referrers(c, "r", subject, "application/sig")
	var got []digest.Digest
	for _, d := range sigs {
		got = append(got, d.Digest)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Referrers(artifactType=sig) = %v, want %v", got, want)
	}
	if none, err := f.Meta.Referrers(c, "r", dg("nothing"), ""); err != nil || len(none) != 0 {
		t.Errorf("Referrers of an unreferenced digest = %v, %v", none, err)
	}
	// A deleted referrer is gone from the list.
	if err := f.Meta.DeleteManifest(c, "r", want[0]); err != nil {
		t.Fatal(err)
	}
	if sigs, _ := f.Meta.Referrers(c, "r", subject, "application/sig"); len(sigs) != 1 {
		t.Errorf("after delete, %d sig referrers, want 1", len(sigs))
	}
}

func testUploads(t *testing.T, f Fixture) {
	c := ctx(t)
	mustCreate(t, f, false, "r")
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	u := registry.UploadSession{ID: "abc-_123", Repo: "r", Started: started}
	if _, err := f.Meta.Upload(c, u.ID); !errors.Is(err, registry.ErrUploadUnknown) {
		t.Errorf("Upload before create: %v", err)
	}
	if err := f.Meta.CreateUpload(c, u); err != nil {
		t.Fatal(err)
	}
	if err := f.Meta.CreateUpload(c, u); !errors.Is(err, registry.ErrUploadExists) {
		t.Errorf("CreateUpload twice: %v, want ErrUploadExists", err)
	}
	got, err := f.Meta.Upload(c, u.ID)
	if err != nil || got.ID != u.ID || got.Repo != "r" || !got.Started.Equal(started) {
		t.Errorf("Upload = %+v, %v; want %+v", got, err, u)
	}
	if err := f.Meta.DeleteUpload(c, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.Meta.DeleteUpload(c, u.ID); !errors.Is(err, registry.ErrUploadUnknown) {
		t.Errorf("DeleteUpload twice: %v", err)
	}
}

func testCanceledContext(t *testing.T, f Fixture) {
	mustCreate(t, f, false, "r")
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Meta.RepositoryExists(c, "r"); err == nil {
		t.Error("RepositoryExists ignored a canceled context")
	}
	if err := f.Meta.LinkBlob(c, "r", dg("x")); err == nil {
		t.Error("LinkBlob ignored a canceled context")
	}
	if err := f.Meta.PutManifest(c, "r", manifest("m"), "t"); err == nil {
		t.Error("PutManifest ignored a canceled context")
	}
}

func testConcurrent(t *testing.T, f Fixture) {
	c := ctx(t)
	mustCreate(t, f, false, "r")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			m := manifest(fmt.Sprint("m", i))
			if err := f.Meta.LinkBlob(c, "r", m.Digest); err != nil {
				t.Error(err)
			}
			if err := f.Meta.PutManifest(c, "r", m, fmt.Sprint("t", i), "shared"); err != nil {
				t.Error(err)
			}
			if _, err := f.Meta.Tags(c, "r", "", 100); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	tags, _ := f.Meta.Tags(c, "r", "", 100)
	if len(tags) != 9 {
		t.Errorf("%d tags after concurrent puts, want 9", len(tags))
	}
}

type ociDesc = ocispec.Descriptor

func compare(a, b digest.Digest) int { return strings.Compare(string(a), string(b)) }
