package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
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
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/watch"
)

// lockedBuffer is an io.Writer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// devRun is one run of the dev stack (vidpipe-dev's code path).
type devRun struct {
	cancel context.CancelFunc
	done   chan error
	ep     devstack.Endpoints
	out    *lockedBuffer
}

func startDev(t *testing.T, opts devstack.Options) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &devRun{cancel: cancel, done: make(chan error, 1), out: &lockedBuffer{}}
	ready := make(chan devstack.Endpoints, 1)
	opts.Out = devstack.NewOutput(io.MultiWriter(r.out, testLogWriter{t}), false)
	opts.Ready = func(ep devstack.Endpoints) { ready <- ep }
	go func() { r.done <- devstack.Run(ctx, opts) }()
	select {
	case r.ep = <-ready:
	case err := <-r.done:
		t.Fatalf("dev stack did not start: %v", err)
	case <-time.After(5 * time.Minute):
		cancel()
		t.Fatal("dev stack not ready within 5 minutes")
	}
	return r
}

// stop is the Ctrl-C path.
func (r *devRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("dev stack stopped with %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("dev stack did not stop within 2 minutes")
	}
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// api is a client of upload-api with a bearer token.
type api struct {
	base, token string
}

func (a api) do(t *testing.T, method, path string, body io.Reader, contentType string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, a.base+path, body)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (a api) upload(t *testing.T, path, title, tags string) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("title", title)
	mw.WriteField("tags", tags)
	fw, _ := mw.CreateFormFile("file", filepath.Base(path))
	data, _ := os.ReadFile(path)
	fw.Write(data)
	mw.Close()
	code, body := a.do(t, "POST", "/v1/videos", &buf, mw.FormDataContentType())
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", code, body)
	}
	var r struct{ ID, Status string }
	if err := json.Unmarshal(body, &r); err != nil || !contract.IsUUID(r.ID) || r.Status != "uploaded" {
		t.Fatalf("upload answer %s", body)
	}
	return r.ID
}

// waitStatus polls GET /v1/videos/{id} until its status is want.
func (a api) waitStatus(t *testing.T, id, want string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []byte
	for time.Now().Before(deadline) {
		code, body := a.do(t, "GET", "/v1/videos/"+id, nil, "")
		last = body
		if code == 200 {
			var v map[string]any
			json.Unmarshal(body, &v)
			if v["status"] == want {
				return v
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("video %s not %s within %v; last answer: %s", id, want, timeout, last)
	return nil
}

// TestDevStackUserJourney drives the dev stack as a user would: upload,
// watch, ready, search, a broken video in the DLQ, redrive after fixing its
// cause, Ctrl-C, start again with the same data.
func TestDevStackUserJourney(t *testing.T) {
	// PostgreSQL runs as user postgres when the test runs as root: its
	// directory must be reachable for that user (t.TempDir's parent is 0700).
	dir, err := os.MkdirTemp("", "vidpipe-dev-e2e-")
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
		Scale:   oneOfEach(),
		Environ: append(os.Environ(), "VIDPIPE_TRANSCODE_PRESET=ultrafast", "VIDPIPE_STAGE_BACKOFF_INITIAL=100ms"),
	}
	run := startDev(t, opts)
	ep := run.ep
	alice := api{base: ep.APIURL, token: "dev-alice"}
	var mc *minio.Client
	bob := api{base: ep.APIURL, token: "dev-bob"}

	// Follow every topic as vidpipectl watch does.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watched lockedBuffer
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- watch.Follow(watchCtx, watch.Options{Brokers: []string{ep.Brokers}, FromBeginning: true}, &watched)
	}()

	clipPath := clip(t, dir, "beach.mp4", 640, 360, 2, true)
	id := alice.upload(t, clipPath, "Beach at dawn", "beach,sunrise")
	doc := alice.waitStatus(t, id, "ready", 3*time.Minute)
	if doc["title"] != "Beach at dawn" {
		t.Errorf("ready document title = %v", doc["title"])
	}
	checkPackage(t, doc) // package_test.go: HLS and DASH, stock parsers, ffprobe
	if code, _ := bob.do(t, "GET", "/v1/videos/"+id, nil, ""); code != 404 {
		t.Errorf("bob sees alice's video: %d", code)
	}
	code, body := alice.do(t, "GET", "/v1/videos?q=dawn", nil, "")
	if code != 200 || !strings.Contains(string(body), id) {
		t.Errorf("search for dawn: %d %s", code, body)
	}
	if _, body := bob.do(t, "GET", "/v1/videos?q=dawn", nil, ""); strings.Contains(string(body), id) {
		t.Errorf("bob's search finds alice's video")
	}
	waitFor(t, 30*time.Second, "watch shows video.ready", func() bool {
		return strings.Contains(watched.String(), contract.TopicReady) && strings.Contains(watched.String(), id)
	})

	// Break one video on purpose: its event announces a source object that
	// is not in storage (an upstream producer published too early).
	mc, err = minio.New(ep.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(ep.AccessKey, ep.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
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
	if err := w.WriteMessages(context.Background(), msg); err != nil {
		t.Fatalf("publish broken event: %v", err)
	}
	w.Close()
	failed := alice.waitStatus(t, broken.VideoID, "failed", 2*time.Minute)
	t.Logf("broken video failed as expected: %v", failed)
	admin := dlq.NewAdmin([]string{ep.Brokers})
	defer admin.Close()
	pending, err := admin.List(context.Background(), contract.StageTranscode, false)
	if err != nil || len(pending) != 1 || pending[0].Key != broken.VideoID || pending[0].DeadLetter.Err == "" {
		t.Fatalf("transcode DLQ = %+v, %v; want the broken video with a reason", pending, err)
	}

	// Fix the cause (store the source), then redrive.
	if _, err := mc.FPutObject(context.Background(), ep.Bucket, broken.Source.Key, clipPath, minio.PutObjectOptions{ContentType: "video/mp4"}); err != nil {
		t.Fatalf("store the missing source: %v", err)
	}
	redriven, err := admin.Redrive(context.Background(), contract.StageTranscode, dlq.RedriveOptions{VideoID: broken.VideoID})
	if err != nil || len(redriven) != 1 {
		t.Fatalf("redrive = %+v, %v", redriven, err)
	}
	alice.waitStatus(t, broken.VideoID, "ready", 3*time.Minute)
	if again, _ := admin.Redrive(context.Background(), contract.StageTranscode, dlq.RedriveOptions{}); len(again) != 0 {
		t.Fatalf("a second redrive applied %d records again", len(again))
	}
	stopWatch()
	<-watchDone
	if !strings.Contains(watched.String(), "stage=transcode class=permanent") {
		t.Errorf("watch output lacks the DLQ line:\n%s", watched.String())
	}

	// Ctrl-C, then start again on the same data.
	run.stop(t)
	run2 := startDev(t, opts)
	defer run2.stop(t)
	alice = api{base: run2.ep.APIURL, token: "dev-alice"}
	for _, v := range []string{id, broken.VideoID} {
		alice.waitStatus(t, v, "ready", 30*time.Second)
	}
	code, body = alice.do(t, "GET", "/v1/videos?q=dawn", nil, "")
	if code != 200 || !strings.Contains(string(body), id) {
		t.Errorf("after restart, search for dawn: %d %s", code, body)
	}
	k := &kafka.Client{Addr: kafka.TCP(run2.ep.Brokers), Timeout: 10 * time.Second}
	md, err := k.Metadata(context.Background(), &kafka.MetadataRequest{Topics: contract.AllTopics()})
	if err != nil {
		t.Fatalf("metadata after restart: %v", err)
	}
	for _, tp := range md.Topics {
		if tp.Error != nil || len(tp.Partitions) != 3 {
			t.Errorf("topic %s after restart: %v, %d partitions", tp.Name, tp.Error, len(tp.Partitions))
		}
	}
	// The ready records are still in the log: nothing was re-processed or lost.
	readyLog := readTopic(t, run2.ep.Brokers, contract.TopicReady)
	if readyLog[id] < 1 || readyLog[broken.VideoID] < 1 {
		t.Errorf("video.ready after restart: %v", readyLog)
	}
}

func readTopic(t *testing.T, brokers, topic string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out lockedBuffer
	_ = watch.Follow(ctx, watch.Options{Brokers: []string{brokers}, Topics: []string{topic}, FromBeginning: true}, &out)
	counts := map[string]int{}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) >= 3 {
			counts[f[2]]++
		}
	}
	return counts
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// oneOfEach is a dev stack scale of one copy of every service.
func oneOfEach() devstack.Scale {
	sc := devstack.Scale{}
	for _, name := range serviceNames() {
		sc[name] = 1
	}
	return sc
}
