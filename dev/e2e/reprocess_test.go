package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/devstack"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/watch"
)

// getDoc returns GET /v1/videos/{id} decoded (status 200 required).
func (a api) getDoc(t *testing.T, id string) map[string]any {
	t.Helper()
	code, body := a.do(t, "GET", "/v1/videos/"+id, nil, "")
	var v map[string]any
	if code != http.StatusOK || json.Unmarshal(body, &v) != nil {
		t.Fatalf("GET %s: %d %s", id, code, body)
	}
	return v
}

// waitDoc polls GET /v1/videos/{id} until cond holds for the document.
func (a api) waitDoc(t *testing.T, id, what string, timeout time.Duration, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]any
	for time.Now().Before(deadline) {
		last = a.getDoc(t, id)
		if cond(last) {
			return last
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("video %s: %s not reached within %v; last document: %v", id, what, timeout, last)
	return nil
}

func field(doc map[string]any, path ...string) any {
	var v any = doc
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(doc map[string]any, path ...string) string { s, _ := field(doc, path...).(string); return s }

// firstSegment fetches a signed HLS master URL, its first media playlist
// and that playlist's first segment, and returns the three status codes
// and the segment's size.
func firstSegment(t *testing.T, masterURL string) (codes []int, segBytes int) {
	t.Helper()
	get := func(u string) (int, []byte) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	firstRef := func(body []byte) string {
		for _, l := range strings.Split(string(body), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				return l
			}
		}
		return ""
	}
	code, master := get(masterURL)
	codes = append(codes, code)
	ref := firstRef(master)
	if ref == "" {
		return codes, 0
	}
	base := masterURL[:strings.LastIndex(strings.SplitN(masterURL, "?", 2)[0], "/")+1]
	code, media := get(base + ref)
	codes = append(codes, code)
	seg := firstRef(media)
	if seg == "" {
		return codes, 0
	}
	code, data := get(seg)
	return append(codes, code), len(data)
}

// TestRetryAndReprocess drives the dev stack (real broker, MinIO,
// PostgreSQL, API and workers): a video that failed for a fixable reason
// is retried by its owner once the cause is fixed (a double click
// redrives once) and becomes ready; a ready video is reprocessed: while
// the new generation runs (here: fails, then is retried) the document
// keeps the old URLs, which keep playing; once the new generation is ready
// the document points at its keys and the old generation's objects are
// removed, leaving only the new generation and the source.
func TestRetryAndReprocess(t *testing.T) {
	dir, err := os.MkdirTemp("", "vidpipe-reproc-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := devstack.Options{
		Dir: filepath.Join(dir, "state"), KafkaPort: launch.MustFreePort(t), S3Port: launch.MustFreePort(t), PGPort: launch.MustFreePort(t),
		APIPort: launch.MustFreePortRun(t, len(serviceNames())+1), Partitions: 3,
		Scale: oneOfEach(),
		Environ: append(os.Environ(), "VIDPIPE_TRANSCODE_PRESET=ultrafast", "VIDPIPE_STAGE_BACKOFF_INITIAL=100ms",
			"VIDPIPE_STAGE_MAX_ATTEMPTS=2", "VIDPIPE_TRANSCODE_GC_DELAY=1s", "VIDPIPE_THUMBNAIL_GC_DELAY=1s"),
	}
	run := startDev(t, opts)
	defer run.stop(t)
	ep := run.ep
	alice := api{base: ep.APIURL, token: "dev-alice"}
	bob := api{base: ep.APIURL, token: "dev-bob"}
	ctx := context.Background()
	mc, err := minio.New(ep.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(ep.AccessKey, ep.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	clipPath := clip(t, dir, "beach.mp4", 640, 360, 2, true)

	// 1. Retry. A video.uploaded whose source is not stored yet fails
	// (source_missing); once the source is there, the owner retries.
	broken := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: contract.NewID(), Owner: "alice", Title: "Published too early",
		Source:     contract.SourceObject{Bucket: ep.Bucket, Size: fileSize(t, clipPath), ContentType: "video/mp4", Filename: "early.mp4"},
		UploadedAt: time.Now().UTC(),
	}}
	broken.Source.Key = contract.SourceKey(broken.VideoID)
	msg, err := stage.NewMessage(broken, "e2e", "")
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(ep.Brokers), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(ctx, msg); err != nil {
		t.Fatalf("publish broken event: %v", err)
	}
	w.Close()
	failed := alice.waitStatus(t, broken.VideoID, "failed", 2*time.Minute)
	if str(failed, "failure", "code") != contract.ErrorCodeSourceMissing {
		t.Fatalf("failed document: %v, want failure code source_missing", failed)
	}
	if code, body := bob.do(t, "POST", "/v1/videos/"+broken.VideoID+"/retry", nil, ""); code != http.StatusNotFound {
		t.Fatalf("bob's retry of alice's video: %d %s, want 404", code, body)
	}
	if _, err := mc.FPutObject(ctx, ep.Bucket, broken.Source.Key, clipPath, minio.PutObjectOptions{ContentType: "video/mp4"}); err != nil {
		t.Fatalf("store the missing source: %v", err)
	}
	// A double click: both requests at once.
	var (
		mu    sync.Mutex
		codes []int
		wg    sync.WaitGroup
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := alice.do(t, "POST", "/v1/videos/"+broken.VideoID+"/retry", nil, "")
			t.Logf("retry: %d %s", code, body)
			mu.Lock()
			codes = append(codes, code)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(codes)
	if !slices.Equal(codes, []int{http.StatusAccepted, http.StatusConflict}) {
		t.Fatalf("two retries at once answered %v, want one 202 and one 409", codes)
	}
	alice.waitStatus(t, broken.VideoID, "ready", 3*time.Minute)
	redrives := 0
	for _, l := range watchLines(t, ep.Brokers, contract.TopicUploaded) {
		if strings.Contains(l, broken.VideoID) && strings.Contains(l, "redrive=") {
			redrives++
		}
	}
	if redrives != 1 {
		t.Errorf("redriven video.uploaded records of the retried video: %d, want 1", redrives)
	}
	if code, body := alice.do(t, "POST", "/v1/videos/"+broken.VideoID+"/retry", nil, ""); code != http.StatusConflict {
		t.Errorf("retry of a ready video: %d %s, want 409", code, body)
	}

	// 2. Reprocess.
	id := alice.upload(t, clipPath, "Beach again", "beach")
	doc := alice.waitStatus(t, id, "ready", 3*time.Minute)
	oldMaster := str(doc, "hls", "master_url")
	if oldMaster == "" || field(doc, "generation") != nil {
		t.Fatalf("ready document: %v, want hls.master_url and no generation (0)", doc)
	}
	oldMaster = ep.APIURL + strings.TrimPrefix(oldMaster, ep.APIURL)
	if c, n := firstSegment(t, oldMaster); !slices.Equal(c, []int{200, 200, 200}) || n == 0 {
		t.Fatalf("generation 0 before the reprocess: %v (%d bytes)", c, n)
	}
	if code, body := bob.do(t, "POST", "/v1/videos/"+id+"/reprocess", nil, ""); code != http.StatusNotFound {
		t.Fatalf("bob's reprocess of alice's video: %d %s, want 404", code, body)
	}
	// Generation 1 is made to fail, fixably: the source is replaced by
	// bytes that are no video.
	src := contract.SourceKey(id)
	if _, err := mc.PutObject(ctx, ep.Bucket, src, strings.NewReader("this is not a video"), 19, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	code, body := alice.do(t, "POST", "/v1/videos/"+id+"/reprocess", nil, "")
	var acc struct {
		Generation int `json:"generation"`
	}
	if code != http.StatusAccepted || json.Unmarshal(body, &acc) != nil || acc.Generation != 1 {
		t.Fatalf("reprocess: %d %s, want 202 generation 1", code, body)
	}
	doc = alice.waitDoc(t, id, "reprocessing failed", 3*time.Minute, func(d map[string]any) bool {
		return str(d, "reprocessing", "state") == "failed"
	})
	t.Logf("while generation 1 is failed: %v", doc)
	if str(doc, "status") != "ready" || field(doc, "generation") != nil || field(doc, "reprocessing", "generation") != float64(1) ||
		str(doc, "reprocessing", "failure", "stage") != "transcode" || field(doc, "failure") != nil {
		t.Fatalf("document while generation 1 failed: %v, want ready on generation 0, reprocessing generation 1 failed at transcode", doc)
	}
	for _, u := range []string{oldMaster, ep.APIURL + strings.TrimPrefix(str(doc, "hls", "master_url"), ep.APIURL)} {
		if strings.Contains(u, "?g=") || strings.Contains(u, "&g=") {
			t.Errorf("master URL %s names a generation while generation 0 is served", u)
		}
		if c, n := firstSegment(t, u); !slices.Equal(c, []int{200, 200, 200}) || n == 0 {
			t.Fatalf("generation 0 while generation 1 runs: %v (%d bytes), want master, playlist and segment 200", c, n)
		}
	}
	if !strings.Contains(mustJSON(t, field(doc, "renditions")), "/videos/"+id+"/mp4/") {
		t.Errorf("renditions while generation 1 runs: %v, want generation 0's", field(doc, "renditions"))
	}
	// Fix the cause, retry generation 1.
	if _, err := mc.FPutObject(ctx, ep.Bucket, src, clipPath, minio.PutObjectOptions{ContentType: "video/mp4"}); err != nil {
		t.Fatal(err)
	}
	if code, body := alice.do(t, "POST", "/v1/videos/"+id+"/retry", nil, ""); code != http.StatusAccepted {
		t.Fatalf("retry of the failed reprocess: %d %s", code, body)
	}
	doc = alice.waitDoc(t, id, "generation 1 served", 3*time.Minute, func(d map[string]any) bool {
		return field(d, "generation") == float64(1)
	})
	t.Logf("generation 1 served: %v", doc)
	g1 := contract.GenerationPrefix(id, 1)
	if str(doc, "status") != "ready" || field(doc, "reprocessing") != nil ||
		!strings.Contains(mustJSON(t, field(doc, "renditions")), g1+"mp4/") ||
		!strings.Contains(str(doc, "thumbnails", "poster", "url"), g1+"thumbs/") ||
		!strings.Contains(str(doc, "hls", "master_url"), "?g=1&") {
		t.Fatalf("document after generation 1 is ready: %v, want its renditions, thumbnails and HLS under %s", doc, g1)
	}
	newMaster := ep.APIURL + strings.TrimPrefix(str(doc, "hls", "master_url"), ep.APIURL)
	if c, n := firstSegment(t, newMaster); !slices.Equal(c, []int{200, 200, 200}) || n == 0 {
		t.Fatalf("generation 1: %v (%d bytes)", c, n)
	}
	// The superseded generation goes: only generation 1 and the source stay.
	var left []string
	waitFor(t, 2*time.Minute, "generation 0 outputs removed", func() bool {
		left = left[:0]
		for o := range mc.ListObjects(ctx, ep.Bucket, minio.ListObjectsOptions{Prefix: contract.OutputPrefix(id), Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			if !strings.HasPrefix(o.Key, g1) {
				left = append(left, o.Key)
			}
		}
		return len(left) == 0
	})
	var g1Objects int
	for o := range mc.ListObjects(ctx, ep.Bucket, minio.ListObjectsOptions{Prefix: g1, Recursive: true}) {
		if o.Err == nil {
			g1Objects++
		}
	}
	if _, err := mc.StatObject(ctx, ep.Bucket, src, minio.StatObjectOptions{}); err != nil || g1Objects == 0 {
		t.Fatalf("after the GC: source %v, %d objects of generation 1", err, g1Objects)
	}
	if c, n := firstSegment(t, newMaster); !slices.Equal(c, []int{200, 200, 200}) || n == 0 {
		t.Fatalf("generation 1 after the GC: %v (%d bytes)", c, n)
	}
	lines := watchLines(t, ep.Brokers, contract.TopicReady)
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, id) && strings.HasSuffix(l, "generation=1") }) {
		t.Errorf("watch shows no video.ready of generation 1 for %s:\n%s", id, strings.Join(lines, "\n"))
	}
}

func watchLines(t *testing.T, brokers, topic string) []string {
	t.Helper()
	var out []string
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var buf lockedBuffer
	_ = watchFollow(ctx, brokers, topic, &buf)
	for _, l := range strings.Split(buf.String(), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func watchFollow(ctx context.Context, brokers, topic string, w *lockedBuffer) error {
	return watch.Follow(ctx, watch.Options{Brokers: []string{brokers}, Topics: []string{topic}, FromBeginning: true}, w)
}
