package ecr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/blob"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
)

const otherRegion = "eu-west-1"

// gcClock is a fake clock the service, the registry and the blob store
// share.
type gcClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *gcClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *gcClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sweepHooked is the service's view of the blob store in GC tests: onWalk,
// if set, runs once a Walk has listed the blobs, before it hands out the
// first: between a pass's mark and its deletes.
type sweepHooked struct {
	blob.Store
	onWalk func()
}

// Walk implements blob.Store.
func (s *sweepHooked) Walk(ctx context.Context, fn func(blob.Info) error) error {
	hook := s.onWalk
	s.onWalk = nil
	return s.Store.Walk(ctx, func(info blob.Info) error {
		if hook != nil {
			hook()
			hook = nil
		}
		return fn(info)
	})
}

// newGCHarness is a harness (its registry, blob store and service; no
// API client) whose clocks are one fake clock; the service reaches the
// blob store through the returned sweepHooked.
func newGCHarness(t *testing.T) (*harness, *gcClock, *sweepHooked) {
	t.Helper()
	clock := &gcClock{t: testNow}
	h := &harness{st: storetest.New(t), now: testNow, blobs: blob.NewMemory(clock.Now)}
	hooked := &sweepHooked{Store: h.blobs}
	h.s = New(Config{Store: h.st, AccountID: testAccount, Region: testRegion, RegistryHost: testHost, Blobs: hooked,
		Logger: slog.New(slog.DiscardHandler), Now: clock.Now})
	h.reg = httptest.NewServer(registry.New(registry.Config{Meta: h.s.RegistryMeta(), Blobs: h.blobs,
		Logger: slog.New(slog.DiscardHandler), Now: clock.Now}))
	t.Cleanup(h.reg.Close)
	return h, clock, hooked
}

// createIn creates repositories in region.
func createIn(t *testing.T, h *harness, region string, names ...string) {
	t.Helper()
	ctx := api.WithRegion(t.Context(), region)
	for _, n := range names {
		if _, err := h.s.CreateRepository(ctx, &ecrtypes.CreateRepositoryRequest{RepositoryName: aws.String(n)}); err != nil {
			t.Fatalf("CreateRepository(%s in %s): %v", n, region, err)
		}
	}
}

// commitBlob stores content in the blob store directly: committed,
// referenced by nothing.
func commitBlob(t *testing.T, bs blob.Store, content string) digest.Digest {
	t.Helper()
	ctx := t.Context()
	up, err := bs.Create(ctx, "c"+digest.FromString(content).Encoded()[:20])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(up, content); err != nil {
		t.Fatal(err)
	}
	d := digest.FromString(content)
	if _, err := up.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// present reports whether the blob store holds d.
func present(t *testing.T, bs blob.Store, d digest.Digest) bool {
	t.Helper()
	_, err := bs.Stat(t.Context(), d)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// gcPass runs a pass over both test regions at the clock's time.
func gcPass(t *testing.T, h *harness, clock *gcClock) GCReport {
	t.Helper()
	rep, err := h.s.GCPass(t.Context(), []string{testRegion, otherRegion}, clock.Now())
	if err != nil {
		t.Fatalf("GCPass: %v", err)
	}
	return rep
}

func TestGCPassDeletesOnlyOldUnreferencedBlobs(t *testing.T) {
	h, clock, _ := newGCHarness(t)
	createIn(t, h, testRegion, "app")
	old := commitBlob(t, h.blobs, "old and unreferenced")
	linked := h.pushBlob(t, "app", "old and linked")
	clock.Advance(DefaultGCGrace + time.Minute)
	young := commitBlob(t, h.blobs, "young: a push may be about to link it")

	rep := gcPass(t, h, clock)
	if present(t, h.blobs, old) || !present(t, h.blobs, linked) || !present(t, h.blobs, young) {
		t.Fatalf("after the pass: old %v (want gone), linked %v, young %v (want kept)",
			present(t, h.blobs, old), present(t, h.blobs, linked), present(t, h.blobs, young))
	}
	if rep.BlobsDeleted != 1 || rep.BytesFreed != int64(len("old and unreferenced")) || rep.Live != 1 {
		t.Fatalf("report %+v", rep)
	}

	// Never linked, the young blob goes once it is older than the grace.
	clock.Advance(DefaultGCGrace + time.Minute)
	if rep := gcPass(t, h, clock); rep.BlobsDeleted != 1 || present(t, h.blobs, young) {
		t.Fatalf("second pass %+v: young blob present %v", rep, present(t, h.blobs, young))
	}
}

func TestGCPassSparesAnOldBlobCommittedAgain(t *testing.T) {
	h, clock, _ := newGCHarness(t)
	d := commitBlob(t, h.blobs, "pushed again by a client that deduped nothing")
	clock.Advance(2 * DefaultGCGrace)
	commitBlob(t, h.blobs, "pushed again by a client that deduped nothing") // a push in progress, not linked yet
	if rep := gcPass(t, h, clock); rep.BlobsDeleted != 0 || !present(t, h.blobs, d) {
		t.Fatalf("report %+v: blob present %v", rep, present(t, h.blobs, d))
	}
}

func TestGCPassKeepsBlobsOfAnyRegion(t *testing.T) {
	h, clock, _ := newGCHarness(t)
	createIn(t, h, testRegion, "app")
	createIn(t, h, otherRegion, "app")
	d := commitBlob(t, h.blobs, "linked in eu-west-1 only")
	if err := h.s.RegistryMeta().LinkBlob(api.WithRegion(t.Context(), otherRegion), "app", d); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * DefaultGCGrace)
	if rep := gcPass(t, h, clock); rep.BlobsDeleted != 0 || !present(t, h.blobs, d) {
		t.Fatalf("report %+v: blob present %v", rep, present(t, h.blobs, d))
	}
	// A pass told of us-east-1 only does not know the blob is used.
	if _, err := h.s.GCPass(t.Context(), []string{testRegion}, clock.Now()); err != nil || present(t, h.blobs, d) {
		t.Fatalf("GCPass(us-east-1 only): %v, blob present %v", err, present(t, h.blobs, d))
	}
	for _, regions := range [][]string{{"not a region"}, nil} {
		if _, err := h.s.GCPass(t.Context(), regions, clock.Now()); err == nil {
			t.Fatalf("GCPass(%q): no error", regions)
		}
	}
	// The default region is marked even when the caller forgets it.
	d = commitBlob(t, h.blobs, "linked in us-east-1 only")
	if err := h.s.RegistryMeta().LinkBlob(t.Context(), "app", d); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * DefaultGCGrace)
	if _, err := h.s.GCPass(t.Context(), []string{otherRegion}, clock.Now()); err != nil || !present(t, h.blobs, d) {
		t.Fatalf("GCPass(eu-west-1 only): %v, blob present %v", err, present(t, h.blobs, d))
	}
}

func TestGCPassKeepsALayerAnotherRepositoryLinks(t *testing.T) {
	h, clock, _ := newGCHarness(t)
	createIn(t, h, testRegion, "a", "b")
	layer, config := "shared layer", "config of a"
	h.pushBlob(t, "a", layer)
	h.pushBlob(t, "a", config)
	h.pushBlob(t, "b", layer)
	man, _ := imageManifest(config, layer)
	if code := h.pushManifest(t, "a", "v1", dockerManifest, man); code != http.StatusCreated {
		t.Fatalf("push manifest: %d", code)
	}
	md := digest.FromString(man)

	// Repository a forgets the image and its blobs.
	for _, p := range []string{"/v2/a/manifests/" + md.String(), "/v2/a/blobs/" + digest.FromString(layer).String(),
		"/v2/a/blobs/" + digest.FromString(config).String()} {
		if res := h.regDo(t, http.MethodDelete, p, "", ""); res.StatusCode != http.StatusAccepted {
			t.Fatalf("DELETE %s: %d", p, res.StatusCode)
		}
	}
	clock.Advance(2 * DefaultGCGrace)
	rep := gcPass(t, h, clock)
	if !present(t, h.blobs, digest.FromString(layer)) {
		t.Fatal("the layer b links was deleted")
	}
	if present(t, h.blobs, digest.FromString(config)) || present(t, h.blobs, md) || rep.BlobsDeleted != 2 {
		t.Fatalf("report %+v: config present %v, manifest present %v", rep,
			present(t, h.blobs, digest.FromString(config)), present(t, h.blobs, md))
	}
	if code, body := h.pull(t, "/v2/b/blobs/"+digest.FromString(layer).String()); code != http.StatusOK || body != layer {
		t.Fatalf("pull the layer from b: %d %q", code, body)
	}
}

func TestGCPassKeepsAnImagesBlobsAfterAnUnlink(t *testing.T) {
	h, clock, _ := newGCHarness(t)
	createIn(t, h, testRegion, "app")
	layer, config := "layer of a live image", "config of a live image"
	h.pushBlob(t, "app", layer)
	h.pushBlob(t, "app", config)
	man, _ := imageManifest(config, layer)
	if code := h.pushManifest(t, "app", "v1", dockerManifest, man); code != http.StatusCreated {
		t.Fatalf("push manifest: %d", code)
	}
	if res := h.regDo(t, http.MethodDelete, "/v2/app/blobs/"+digest.FromString(layer).String(), "", ""); res.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE blob: %d", res.StatusCode)
	}
	clock.Advance(2 * DefaultGCGrace)
	if rep := gcPass(t, h, clock); rep.BlobsDeleted != 0 {
		t.Fatalf("a live image lost blobs: %+v", rep)
	}
}

func TestGCPassSparesAnInProgressPush(t *testing.T) {
	h, clock, _ := newGCHarness(t)
	createIn(t, h, testRegion, "app")
	clock.Advance(2 * DefaultGCGrace)
	// Committed by the push's upload, not yet linked (the request is
	// between its commit and its LinkBlob when the pass runs).
	layer := commitBlob(t, h.blobs, "a layer being pushed")
	gcPass(t, h, clock)
	if !present(t, h.blobs, layer) {
		t.Fatal("the pass deleted a blob a push just committed")
	}
	if err := h.s.RegistryMeta().LinkBlob(t.Context(), "app", layer); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * DefaultGCGrace)
	if gcPass(t, h, clock); !present(t, h.blobs, layer) {
		t.Fatal("the pass deleted a linked blob")
	}
}

// TestGCPassPushBetweenMarkAndSweep re-pushes an image whose blobs are
// old and unreferenced after the pass has marked and listed the blobs
// (its manifest through the registry or through PutImage): the uploads
// and the manifest put commit the bytes again, and the Stat before each
// Delete sees it.
func TestGCPassPushBetweenMarkAndSweep(t *testing.T) {
	for _, via := range []string{"registry", "PutImage"} {
		t.Run(via, func(t *testing.T) {
			h, clock, hooked := newGCHarness(t)
			createIn(t, h, testRegion, "app")
			ctx := t.Context()
			man, err := pushImage(ctx, h.reg.URL, "app", 1)
			if err != nil {
				t.Fatal(err)
			}
			blobs := []digest.Digest{digest.FromString(man), digest.FromString("layer 1"), digest.FromString("config 1")}
			for _, p := range []string{"/v2/app/manifests/" + blobs[0].String(), "/v2/app/blobs/" + blobs[1].String(), "/v2/app/blobs/" + blobs[2].String()} {
				if res := h.regDo(t, http.MethodDelete, p, "", ""); res.StatusCode != http.StatusAccepted {
					t.Fatalf("DELETE %s: %d", p, res.StatusCode)
				}
			}
			clock.Advance(2 * DefaultGCGrace)
			var pushErr error
			hooked.onWalk = func() {
				if via == "registry" {
					_, pushErr = pushImage(ctx, h.reg.URL, "app", 1)
					return
				}
				for _, b := range []string{"layer 1", "config 1"} {
					h.pushBlob(t, "app", b)
				}
				_, pushErr = h.s.PutImage(api.WithRegion(ctx, testRegion), &ecrtypes.PutImageRequest{
					RepositoryName: aws.String("app"), ImageManifest: aws.String(man), ImageTag: aws.String("v1")})
			}
			rep := gcPass(t, h, clock)
			if pushErr != nil {
				t.Fatalf("push during the pass: %v", pushErr)
			}
			if rep.BlobsDeleted != 0 {
				t.Fatalf("report %+v", rep)
			}
			for _, p := range []string{"/v2/app/manifests/v1", "/v2/app/blobs/" + blobs[1].String(), "/v2/app/blobs/" + blobs[2].String()} {
				if code, _ := h.pull(t, p); code != http.StatusOK {
					t.Fatalf("GET %s: %d", p, code)
				}
			}
		})
	}
}

// pushImage pushes image i (a layer, a config, a manifest tagged v<i>)
// to repo through the registry, from any goroutine.
func pushImage(ctx context.Context, base, repo string, i int) (manifest string, err error) {
	layer, config := fmt.Sprintf("layer %d", i), fmt.Sprintf("config %d", i)
	do := func(method, path, contentType, body string, want int) error {
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			return err
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			return fmt.Errorf("%s %s: %d", method, path, res.StatusCode)
		}
		return nil
	}
	for _, b := range []string{layer, config} {
		if err := do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromString(b).String(), "application/octet-stream", b, http.StatusCreated); err != nil {
			return "", err
		}
	}
	man, _ := imageManifest(config, layer)
	return man, do(http.MethodPut, fmt.Sprintf("/v2/%s/manifests/v%d", repo, i), dockerManifest, man, http.StatusCreated)
}

// TestGCPassRacingPushes re-pushes images whose blobs are old and
// unreferenced (pushed, then deleted, longer than the grace ago: the
// pushes dedupe against blobs the pass is about to judge) and new ones,
// while passes run, then checks that every image pushed pulls whole.
func TestGCPassRacingPushes(t *testing.T) {
	const images, workers = 24, 4
	h, clock, _ := newGCHarness(t)
	createIn(t, h, testRegion, "app")
	ctx := t.Context()
	for i := range images / 2 { // pushed, then deleted with their links
		man, err := pushImage(ctx, h.reg.URL, "app", i)
		if err != nil {
			t.Fatal(err)
		}
		paths := []string{"/v2/app/manifests/" + digest.FromString(man).String(),
			"/v2/app/blobs/" + digest.FromString(fmt.Sprintf("layer %d", i)).String(),
			"/v2/app/blobs/" + digest.FromString(fmt.Sprintf("config %d", i)).String()}
		for _, p := range paths {
			if res := h.regDo(t, http.MethodDelete, p, "", ""); res.StatusCode != http.StatusAccepted {
				t.Fatalf("DELETE %s: %d", p, res.StatusCode)
			}
		}
	}
	junk := commitBlob(t, h.blobs, "junk")
	clock.Advance(2 * DefaultGCGrace)

	work := make(chan int)
	errs := make(chan error, images)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				_, err := pushImage(ctx, h.reg.URL, "app", i)
				errs <- err
			}
		}()
	}
	done := make(chan struct{})
	passes := make(chan error, 1)
	go func() {
		for {
			select {
			case <-done:
				passes <- nil
				return
			default:
			}
			if _, err := h.s.GCPass(ctx, []string{testRegion}, clock.Now()); err != nil {
				passes <- err
				return
			}
		}
	}()
	for i := range images {
		work <- i
	}
	close(work)
	wg.Wait()
	close(done)
	if err := <-passes; err != nil {
		t.Fatalf("GCPass: %v", err)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("push: %v", err)
		}
	}

	// Long after: a pass keeps everything the images reference.
	clock.Advance(2 * DefaultGCGrace)
	gcPass(t, h, clock)
	if present(t, h.blobs, junk) {
		t.Fatal("junk survived")
	}
	for i := range images {
		man, _ := imageManifest(fmt.Sprintf("config %d", i), fmt.Sprintf("layer %d", i))
		for _, p := range []string{fmt.Sprintf("/v2/app/manifests/v%d", i),
			"/v2/app/blobs/" + digest.FromString(fmt.Sprintf("layer %d", i)).String(),
			"/v2/app/blobs/" + digest.FromString(fmt.Sprintf("config %d", i)).String()} {
			if code, _ := h.pull(t, p); code != http.StatusOK {
				t.Fatalf("image %d (%s): GET %s: %d", i, digest.FromString(man), p, code)
			}
		}
		if !present(t, h.blobs, digest.FromString(man)) {
			t.Fatalf("image %d: manifest bytes gone", i)
		}
	}
}

func TestGCPassExpiresUploads(t *testing.T) {
	const oldSessions = sessionBatch + 10 // more than one transaction's worth
	h, clock, _ := newGCHarness(t)
	createIn(t, h, testRegion, "app")
	createIn(t, h, otherRegion, "app")
	ctx := t.Context()
	meta := h.s.RegistryMeta()
	startUpload := func() string {
		t.Helper()
		res := h.regDo(t, http.MethodPost, "/v2/app/blobs/uploads/", "", "")
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("start upload: %d", res.StatusCode)
		}
		return res.Header.Get("Docker-Upload-UUID")
	}
	oldUpload := startUpload()
	var oldOther []string // sessions of the other region, made as the ECR layer API does
	euCtx := api.WithRegion(ctx, otherRegion)
	for i := range oldSessions {
		id := fmt.Sprintf("eu-%03d", i)
		if err := meta.CreateUpload(euCtx, registry.UploadSession{ID: id, Repo: "app", Started: clock.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.blobs.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
		oldOther = append(oldOther, id)
	}
	if _, err := h.blobs.Create(ctx, "crashed-monolithic"); err != nil { // no session
		t.Fatal(err)
	}
	clock.Advance(DefaultUploadMaxAge + time.Minute)
	youngUpload := startUpload()
	if _, err := h.blobs.Create(ctx, "young-monolithic"); err != nil {
		t.Fatal(err)
	}

	rep := gcPass(t, h, clock)
	if rep.SessionsExpired != 1+oldSessions || rep.UploadsCancelled != 2+oldSessions {
		t.Fatalf("report %+v", rep)
	}
	uploadsLeft := map[string]bool{}
	if err := h.blobs.Uploads(ctx, func(id string, _ time.Time) error { uploadsLeft[id] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(uploadsLeft) != 2 || !uploadsLeft[youngUpload] || !uploadsLeft["young-monolithic"] {
		t.Fatalf("blob-store uploads left: %v", uploadsLeft)
	}
	if _, err := meta.Upload(ctx, oldUpload); !errors.Is(err, registry.ErrUploadUnknown) {
		t.Fatalf("old session: %v", err)
	}
	if _, err := meta.Upload(euCtx, oldOther[len(oldOther)-1]); !errors.Is(err, registry.ErrUploadUnknown) {
		t.Fatalf("old session of %s: %v", otherRegion, err)
	}
	if _, err := meta.Upload(ctx, youngUpload); err != nil {
		t.Fatalf("young session: %v", err)
	}
	if res := h.regDo(t, http.MethodGet, "/v2/app/blobs/uploads/"+oldUpload, "", ""); res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET the old upload: %d", res.StatusCode)
	}
	// Nothing is left of the sessions under the repositories' prefix.
	for _, region := range []string{testRegion, otherRegion} {
		st, err := h.s.regionStore(region)
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		err = st.View(ctx, func(tx *store.Tx) error {
			return store.Scan(tx, repoUploads, "", "", false, func(id string, _ statusRecord) (bool, error) {
				left = append(left, id)
				return true, nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if region == testRegion {
			want = 1 // the young session
		}
		if len(left) != want {
			t.Fatalf("%s: repo-uploads left %v", region, left)
		}
	}
}

// TestGCPassOverTheFSDriver sweeps the default driver, whose Walk reads
// directories while the pass deletes from them, and whose Committed is a
// file's modification time.
func TestGCPassOverTheFSDriver(t *testing.T) {
	const garbage, kept = 100, 10
	clock := &gcClock{t: testNow}
	fs, err := blob.NewFS(t.TempDir(), blob.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Store: storetest.New(t), AccountID: testAccount, Region: testRegion, Blobs: fs,
		Logger: slog.New(slog.DiscardHandler), Now: clock.Now})
	ctx := api.WithRegion(t.Context(), testRegion)
	if _, err := s.CreateRepository(ctx, &ecrtypes.CreateRepositoryRequest{RepositoryName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	var linked []digest.Digest
	for i := range garbage + kept {
		d := commitBlob(t, fs, fmt.Sprintf("blob %d", i))
		if i < kept {
			if err := s.RegistryMeta().LinkBlob(ctx, "app", d); err != nil {
				t.Fatal(err)
			}
			linked = append(linked, d)
		}
	}
	clock.Advance(2 * DefaultGCGrace)
	rep, err := s.GCPass(t.Context(), []string{testRegion}, clock.Now())
	if err != nil || rep.BlobsDeleted != garbage || rep.Live != kept {
		t.Fatalf("GCPass: %+v, %v", rep, err)
	}
	n := 0
	if err := fs.Walk(t.Context(), func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, d := range linked {
		if !present(t, fs, d) {
			t.Fatalf("linked blob %s deleted", d)
		}
	}
	if n != kept {
		t.Fatalf("%d blobs left, want %d", n, kept)
	}
}

func TestGCPassWithoutABlobStore(t *testing.T) {
	s := New(Config{Store: storetest.New(t), AccountID: testAccount, Region: testRegion, Logger: slog.New(slog.DiscardHandler)})
	if rep, err := s.GCPass(t.Context(), []string{testRegion}, time.Now()); err != nil || rep != (GCReport{}) {
		t.Fatalf("GCPass: %+v, %v", rep, err)
	}
}

// A controller round collects garbage after its per-region passes.
func TestControllerRoundCollectsGarbage(t *testing.T) {
	h, clock, _ := newGCHarness(t)
	createIn(t, h, testRegion, "app")
	old := commitBlob(t, h.blobs, "left by nobody")
	clock.Advance(DefaultGCGrace + time.Minute)
	h.s.runRound(t.Context())
	if present(t, h.blobs, old) {
		t.Fatal("an old unreferenced blob survived a controller round")
	}
}
