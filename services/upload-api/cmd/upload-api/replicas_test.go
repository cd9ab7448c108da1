package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// mustBinary builds this package's binary (the upload-api service) into a
// temporary directory of the test.
func mustBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "upload-api")
	if err := launch.BuildBinary(context.Background(), "", bin, nil, "."); err != nil {
		tb.Fatalf("build upload-api: %v", err)
	}
	return bin
}

// replica is one upload-api process.
type replica struct {
	name string
	base string // http://127.0.0.1:port of the API
	ops  string // http://127.0.0.1:port of /metrics, /readyz
	proc *procgroup.Process
	logs *syncBuffer
}

// replicaStack is two upload-api processes (A and B) on one kfake broker,
// one MinIO bucket and one PostgreSQL database, as behind a load balancer
// without sticky routing.
type replicaStack struct {
	kafka  *harness.Kafka
	minio  *harness.MinIO
	bucket string
	dbURL  string
	a, b   *replica
}

// startReplicas starts the stack. The replicas log at debug (tusd's
// request lines included) into buffers shown when the test fails.
func startReplicas(t *testing.T) *replicaStack {
	t.Helper()
	bin := mustBinary(t)
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 3)
	mi := harness.SharedMinIO(t)
	bucket := harness.MustBucket(t, mi)
	dbURL := harness.MustDatabase(t, harness.SharedPostgres(t))
	env := map[string]string{
		"VIDPIPE_KAFKA_BROKERS":     strings.Join(k.Brokers, ","),
		"VIDPIPE_S3_ENDPOINT":       mi.Endpoint,
		"VIDPIPE_S3_ACCESS_KEY":     mi.AccessKey,
		"VIDPIPE_S3_SECRET_KEY":     mi.SecretKey,
		"VIDPIPE_S3_BUCKET":         bucket,
		"VIDPIPE_POSTGRES_URL":      dbURL,
		"VIDPIPE_API_TOKENS":        "dev-alice=alice,dev-bob=bob",
		"VIDPIPE_API_SIGNING_KEY":   "a-signing-key-shared-by-replicas-0123456789",
		"VIDPIPE_API_REPLICAS":      "2",
		"VIDPIPE_API_TUS_PART_SIZE": strconv.Itoa(5 << 20),
		// A PATCH left stalled on purpose must end only by the lock.
		"VIDPIPE_API_BODY_IDLE_TIMEOUT": "10m",
		"VIDPIPE_API_MIN_UPLOAD_RATE":   "0",
		"VIDPIPE_LOG_FORMAT":            "json",
		"VIDPIPE_LOG_LEVEL":             "debug",
	}
	s := &replicaStack{kafka: k, minio: mi, bucket: bucket, dbURL: dbURL}
	start := func(name string) *replica {
		addr, ops := launch.MustFreeAddr(t), launch.MustFreeAddr(t)
		vars := procgroup.EnvWithout("VIDPIPE_")
		for k, v := range env {
			vars = append(vars, k+"="+v)
		}
		vars = append(vars, "VIDPIPE_API_ADDR="+addr, "VIDPIPE_API_OPS_ADDR="+ops)
		r := &replica{name: name, base: "http://" + addr, ops: "http://" + ops, logs: &syncBuffer{}}
		p, err := procgroup.Start(context.Background(), procgroup.Spec{
			Name: "upload-api " + name, Path: bin, Env: vars, Stdout: r.logs, Stderr: r.logs, DeathSignal: syscall.SIGTERM,
		})
		if err != nil {
			t.Fatalf("start replica %s: %v", name, err)
		}
		r.proc = p
		t.Cleanup(func() {
			if err := p.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
				t.Errorf("stop replica %s: %v", name, err)
			}
			if t.Failed() {
				t.Logf("replica %s log (last 16 KiB):\n%s", name, tail(r.logs.String(), 16<<10))
			}
		})
		launch.MustWaitHTTP(t, "http://"+ops+"/readyz", 2*time.Minute)
		return r
	}
	s.a, s.b = start("A"), start("B")
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// uploaded returns the video.uploaded records of video id on the topic now.
func (s *replicaStack) uploaded(t *testing.T, id string) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for _, m := range s.kafka.ReadAll(t, contract.TopicUploaded, 0, 30*time.Second) {
		if string(m.Key) == id {
			out = append(out, m)
		}
	}
	return out
}

// source returns the stored source object of video id.
func (s *replicaStack) source(t *testing.T, id string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := s.minio.Client(t).GetObject(ctx, s.bucket, contract.SourceKey(id), minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read source of %s: %v", id, err)
	}
	return b
}

// mustVideoBytes is a real clip followed by random bytes up to size: the
// API sniffs only the head, and the padding makes several S3 parts.
func mustVideoBytes(t *testing.T, size int) []byte {
	t.Helper()
	b := mustClip(t)
	pad := make([]byte, size-len(b))
	_, _ = rand.Read(pad)
	return append(b, pad...)
}

// tusDo sends one tus request as alice and returns the response with its
// body read.
func tusDo(t *testing.T, method, u string, hdr map[string]string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer dev-alice")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// tusCreate creates an upload of size bytes on r and returns its id.
func tusCreate(t *testing.T, r *replica, size int) string {
	t.Helper()
	meta := "filename " + base64.StdEncoding.EncodeToString([]byte("replicas.mp4")) +
		",title " + base64.StdEncoding.EncodeToString([]byte("two replicas"))
	resp, body := tusDo(t, http.MethodPost, r.base+"/v1/uploads/", map[string]string{
		"Upload-Length": strconv.Itoa(size), "Upload-Metadata": meta,
	}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST on %s: %d %s", r.name, resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !contract.IsUUID(path.Base(loc.Path)) {
		t.Fatalf("POST on %s: Location %q", r.name, resp.Header.Get("Location"))
	}
	return path.Base(loc.Path)
}

// tusHead returns the upload's offset as r sees it.
func tusHead(t *testing.T, r *replica, id string) int {
	t.Helper()
	resp, body := tusDo(t, http.MethodHead, r.base+"/v1/uploads/"+id, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD on %s: %d %s", r.name, resp.StatusCode, body)
	}
	n, err := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	if err != nil {
		t.Fatalf("HEAD on %s: Upload-Offset %q", r.name, resp.Header.Get("Upload-Offset"))
	}
	return n
}

func patchHeaders(offset int) map[string]string {
	return map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.Itoa(offset)}
}

// tusPatch sends data at offset on r and returns the status, the new
// offset and the body.
func tusPatch(t *testing.T, r *replica, id string, offset int, data []byte) (int, int, string) {
	t.Helper()
	resp, body := tusDo(t, http.MethodPatch, r.base+"/v1/uploads/"+id, patchHeaders(offset), bytes.NewReader(data))
	n, _ := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	return resp.StatusCode, n, body
}

// TestReplicas runs two upload-api processes on one broker, bucket and
// database, and uses them interchangeably: one tus upload's requests
// alternate between them, concurrent PATCHes of one upload on both never
// write together, an event stream on either sees every state, and a
// signed HLS URL of one verifies on the other.
func TestReplicas(t *testing.T) {
	s := startReplicas(t)
	a, b := s.a, s.b

	// One upload, its requests alternating between the replicas: POST on
	// A, then PATCH on B, HEAD on A, PATCH on A, HEAD on B, ...; 11 MiB in
	// 3 MiB PATCHes over 5 MiB S3 parts, so parts started by one replica
	// are continued by the other.
	data := mustVideoBytes(t, 11<<20+1234)
	id := tusCreate(t, a, len(data))
	const chunk = 3 << 20
	turn := []*replica{b, a}
	var last http.Header
	for off, i := 0, 0; off < len(data); i++ {
		w, h := turn[i%2], turn[(i+1)%2]
		end := min(off+chunk, len(data))
		resp, body := tusDo(t, http.MethodPatch, w.base+"/v1/uploads/"+id, patchHeaders(off), bytes.NewReader(data[off:end]))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH %d-%d on %s: %d %s", off, end, w.name, resp.StatusCode, body)
		}
		if got := tusHead(t, h, id); got != end {
			t.Fatalf("HEAD on %s after PATCH %d-%d on %s: offset %d, want %d", h.name, off, end, w.name, got, end)
		}
		last = resp.Header
		off = end
	}
	if loc := last.Get("Location"); !strings.HasSuffix(loc, "/v1/videos/"+id) {
		t.Errorf("final PATCH: Location %q, want the video", loc)
	}
	// Further requests on both replicas announce nothing again.
	for _, r := range []*replica{a, b} {
		if got := tusHead(t, r, id); got != len(data) {
			t.Errorf("HEAD on %s of the finished upload: %d", r.name, got)
		}
		if code, _, body := tusPatch(t, r, id, len(data), nil); code != http.StatusNoContent {
			t.Errorf("PATCH at the end on %s: %d %s", r.name, code, body)
		}
	}
	if got := s.uploaded(t, id); len(got) != 1 {
		t.Fatalf("%d video.uploaded records of the upload, want exactly 1", len(got))
	}
	if got := s.source(t, id); !bytes.Equal(got, data) {
		t.Fatalf("stored source: %d bytes, differs from the %d uploaded", len(got), len(data))
	}

	t.Run("event streams on both replicas", func(t *testing.T) { testStreams(t, s, id) })
	t.Run("signed HLS URL of A verifies on B", func(t *testing.T) { testSignedHLS(t, s, id) })
	t.Run("concurrent PATCHes on A and B", func(t *testing.T) { testConcurrentPatches(t, s) })
	t.Run("PATCH whose lock session dies", func(t *testing.T) { testLockSessionLoss(t, s) })
	t.Run("HEAD on B takes over from a stalled PATCH on A", func(t *testing.T) { testResumeElsewhere(t, s) })
}

// testResumeElsewhere is a client that lost its connection to A in the
// middle of a PATCH (A still waits for the body) and resumes on B: B's
// HEAD makes A's PATCH stop and answers with the offset A stored, so the
// client goes on from there.
func testResumeElsewhere(t *testing.T, s *replicaStack) {
	data := mustVideoBytes(t, 6<<20)
	id := tusCreate(t, s.a, len(data))
	_, onA := startStalledPatch(t, s.a, id, len(data), data[:1<<20])
	off := tusHead(t, s.b, id)
	select {
	case ra := <-onA:
		t.Logf("A's stalled PATCH after B's HEAD: %d %s (%v); B's HEAD: offset %d", ra.code, ra.body, ra.err, off)
	case <-time.After(time.Minute):
		t.Fatalf("B's HEAD answered (offset %d) while A's PATCH of the upload was still in progress", off)
	}
	if again := tusHead(t, s.a, id); again != off {
		t.Fatalf("HEAD on B said %d before A's PATCH had stored everything: now %d", off, again)
	}
	finishUpload(t, s, s.b, id, data)
}

// sseStream reads the data lines of an event stream into a channel.
func sseStream(t *testing.T, r *replica, id string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/v1/videos/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer dev-alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("event stream on %s: %v", r.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("event stream on %s: %d", r.name, resp.StatusCode)
	}
	ch := make(chan string, 16)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data:"); ok {
				ch <- strings.TrimSpace(d)
			}
		}
	}()
	return ch
}

// waitStatus reads ch until a state with the status arrives.
func waitStatus(t *testing.T, name string, ch <-chan string, status string) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case d, ok := <-ch:
			if !ok {
				t.Fatalf("stream on %s ended before status %q", name, status)
			}
			var st struct{ Status string }
			if err := json.Unmarshal([]byte(d), &st); err != nil {
				t.Fatalf("stream on %s: %v in %q", name, err, d)
			}
			if st.Status == status {
				return
			}
		case <-timeout:
			t.Fatalf("stream on %s: no status %q within a minute", name, status)
		}
	}
}

// testStreams opens an event stream on each replica; both see the state
// the stage event brings. One process of the two applies that record
// (the projection consumers share a group), so the other's stream gets it
// through PostgreSQL LISTEN: a change made in another process.
func testStreams(t *testing.T, s *replicaStack, id string) {
	onA, onB := sseStream(t, s.a, id), sseStream(t, s.b, id)
	waitStatus(t, "A", onA, "uploaded")
	waitStatus(t, "B", onB, "uploaded")

	msgs := s.uploaded(t, id)
	up, err := contract.Decode[contract.VideoUploaded](msgs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	master := "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=160x120\n120p/index.m3u8\n"
	if _, err := s.minio.Client(t).PutObject(ctx, s.bucket, contract.HLSMasterKey(id), strings.NewReader(master), int64(len(master)),
		minio.PutObjectOptions{ContentType: "application/vnd.apple.mpegurl"}); err != nil {
		t.Fatal(err)
	}
	tr := up.Transcoded(contract.Media{DurationSeconds: 1, Width: 160, Height: 120},
		[]contract.Rendition{{Name: "120p", Width: 160, Height: 120, Key: contract.RenditionKey(id, "120p"), Size: 1}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, time.Now())
	value, err := contract.Encode(tr)
	if err != nil {
		t.Fatal(err)
	}
	s.kafka.Produce(t, kafka.Message{Topic: contract.TopicTranscoded, Key: []byte(id), Value: value})
	waitStatus(t, "A", onA, "transcoded")
	waitStatus(t, "B", onB, "transcoded")
}

// testSignedHLS takes the signed master URL from A's status and plays it
// on B, without a token; a forged signature is refused there.
func testSignedHLS(t *testing.T, s *replicaStack, id string) {
	req, _ := http.NewRequest(http.MethodGet, s.a.base+"/v1/videos/"+id, nil)
	req.Header.Set("Authorization", "Bearer dev-alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		HLS *struct {
			MasterURL string `json:"master_url"`
		} `json:"hls"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || doc.HLS == nil || !strings.Contains(doc.HLS.MasterURL, "sig=") {
		t.Fatalf("GET on A: %d, hls %+v (%v)", resp.StatusCode, doc.HLS, err)
	}
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	u := s.b.base + doc.HLS.MasterURL // relative: api.public_url is not set
	if code, body := get(u); code != http.StatusOK || !strings.HasPrefix(body, "#EXTM3U") || !strings.Contains(body, "sig=") {
		t.Fatalf("A's signed master URL on B: %d %.300s", code, body)
	}
	forged := u[:len(u)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(u, "0")]
	if code, body := get(forged); code != http.StatusForbidden {
		t.Errorf("forged signature on B: %d %.200s, want 403", code, body)
	}
}

// startStalledPatch starts a PATCH of upload id at offset 0 on r, sends
// first and leaves the body open; it returns once r's tusd has the lock
// and writes (it logs ChunkWriteStart then), with the pipe to close and
// the channel of the answer.
func startStalledPatch(t *testing.T, r *replica, id string, size int, first []byte) (*io.PipeWriter, <-chan patchResult) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	done := make(chan patchResult, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPatch, r.base+"/v1/uploads/"+id, pr)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer dev-alice")
		for k, v := range patchHeaders(0) {
			req.Header.Set(k, v)
		}
		req.ContentLength = int64(size)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- patchResult{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- patchResult{code: resp.StatusCode, body: string(b)}
	}()
	if _, err := pw.Write(first); err != nil {
		t.Fatalf("PATCH body on %s: %v", r.name, err)
	}
	waitFor(t, r.name+"'s PATCH to start writing", time.Minute, func() bool {
		for _, line := range strings.Split(r.logs.String(), "\n") {
			if strings.Contains(line, `"ChunkWriteStart"`) && strings.Contains(line, id) {
				return true
			}
		}
		return false
	})
	return pw, done
}

// patchResult is the answer to a PATCH.
type patchResult struct {
	code int
	body string
	err  error
}

// finishUpload resumes upload id from the offset r reports and checks
// the stored source and that video.uploaded was published once.
func finishUpload(t *testing.T, s *replicaStack, r *replica, id string, data []byte) {
	t.Helper()
	off := tusHead(t, r, id)
	if off < 0 || off > len(data) {
		t.Fatalf("offset %d of a %d-byte upload", off, len(data))
	}
	if off < len(data) {
		if code, got, body := tusPatch(t, r, id, off, data[off:]); code != http.StatusNoContent || got != len(data) {
			t.Fatalf("resume PATCH on %s at %d: %d offset %d %s", r.name, off, code, got, body)
		}
	}
	if got := s.source(t, id); !bytes.Equal(got, data) {
		t.Fatalf("stored source: %d bytes, differs from the %d uploaded", len(got), len(data))
	}
	if got := s.uploaded(t, id); len(got) != 1 {
		t.Fatalf("%d video.uploaded records of the upload, want exactly 1", len(got))
	}
}

// testLockSessionLoss kills the database session that holds the lock of
// a PATCH in progress on A (as a PostgreSQL restart or an administrator
// would): the lock is gone, so A's PATCH must stop and store nothing more
// (its write fence is revoked before its body is closed); the client
// resumes from offset 0 on B.
func testLockSessionLoss(t *testing.T, s *replicaStack) {
	data := mustVideoBytes(t, 6<<20)
	id := tusCreate(t, s.a, len(data))
	_, onA := startStalledPatch(t, s.a, id, len(data), data[:1<<20])

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1
		AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`, "vidpipe-tus-lock:"+id).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d sessions holding the upload's lock, want 1", killed)
	}
	var ra patchResult
	select {
	case ra = <-onA:
	case <-time.After(time.Minute):
		t.Fatal("A's PATCH went on after its lock's session died")
	}
	t.Logf("A's PATCH after its lock's session died: %d %s (%v)", ra.code, ra.body, ra.err)
	if ra.err == nil && ra.code/100 == 2 {
		t.Fatalf("A's PATCH succeeded (%d) after losing its lock", ra.code)
	}
	if off := tusHead(t, s.b, id); off != 0 {
		t.Errorf("offset %d after A lost its lock mid-PATCH, want 0: A wrote without the lock", off)
	}
	if n := metricValue(t, s.a, "vidpipe_api_tus_locks_lost_total"); n != 1 {
		t.Errorf("A: vidpipe_api_tus_locks_lost_total %v, want 1", n)
	}
	finishUpload(t, s, s.b, id, data)
}

// testConcurrentPatches starts a PATCH on A and leaves its body open
// mid-way, then PATCHes the same upload on B. The shared lock makes B's
// request ask A's to stop: A's PATCH ends although its body is still
// open, and only then does B's go on (it finds the offset moved: 409, or
// nothing stored yet: it writes). Never do both write. With a lock per
// process, B writes the whole upload while A is still writing.
func testConcurrentPatches(t *testing.T, s *replicaStack) {
	a, b := s.a, s.b
	data := mustVideoBytes(t, 8<<20)
	id := tusCreate(t, a, len(data))
	_, onA := startStalledPatch(t, a, id, len(data), data[:1<<20])

	codeB, _, bodyB := tusPatch(t, b, id, 0, data)
	var ra patchResult
	select {
	case ra = <-onA:
	case <-time.After(time.Minute):
		t.Fatalf("B's PATCH answered %d while A's PATCH of the same upload was still in progress: two writers", codeB)
	}
	t.Logf("A's PATCH (body left open): %d %s (%v); B's PATCH: %d %s", ra.code, ra.body, ra.err, codeB, bodyB)
	if ra.err == nil && ra.code/100 == 2 && codeB/100 == 2 {
		t.Fatalf("both PATCHes succeeded (A %d, B %d)", ra.code, codeB)
	}
	// The client resumes where the upload is, on either replica.
	finishUpload(t, s, a, id, data)
	// A's holder was asked to give up its lock, as its metrics show.
	if n := metricValue(t, a, "vidpipe_api_tus_lock_release_requests_total"); n < 1 {
		t.Errorf("A: vidpipe_api_tus_lock_release_requests_total %v, want at least 1", n)
	}
}

// metricValue reads an unlabelled metric from r's /metrics.
func metricValue(t *testing.T, r *replica, name string) float64 {
	t.Helper()
	resp, err := http.Get(r.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s on %s: %q", name, r.name, v)
			}
			return f
		}
	}
	t.Fatalf("%s: no %s in /metrics", r.name, name)
	return 0
}
