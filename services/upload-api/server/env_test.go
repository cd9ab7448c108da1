package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"
	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
	"github.com/vidpipe/vidpipe/services/upload-api/tusupload"
)

func TestMain(m *testing.M) { harness.Main(m) }

// Test users.
const (
	aliceToken = "dev-alice"
	bobToken   = "dev-bob"
	adminToken = "dev-admin" // user admin, the one administrator (api.admins)
)

var testTokens = map[string]string{aliceToken: "alice", bobToken: "bob", adminToken: "admin"}

// env is one API server on real Kafka, MinIO and PostgreSQL.
type env struct {
	// URL is the API listener, OpsURL the operations listener
	// (/healthz, /readyz, /metrics).
	URL      string
	OpsURL   string
	Kafka    *harness.Kafka
	MinIO    *harness.MinIO
	Bucket   string
	Objects  *storage.Store
	Status   *projection.Store
	Catalog  *catalog.Catalog
	Pool     *pgxpool.Pool
	Metrics  *Metrics
	Consumer *projection.Consumer
	Tus      *tusupload.Handler
	// Publisher and Log are the ones the handlers use.
	Publisher *publish.Publisher
	Log       *slog.Logger
	Limits    *Limits
	Opts      Options
	// TusTempDir is where tus buffers parts (empty when idle).
	TusTempDir string
}

type envConfig struct {
	opts     Options
	partSize int64
	consumer bool // run the projection consumer
	limits   LimitOptions
	// authFailBurst: the hostile tests send many bad credentials from one
	// address; the limiter itself is tested in authlimit_test.go.
	authFailBurst int
	// listen makes the API's listener (socket options for its connections).
	listen net.ListenConfig
}

type envOption func(*envConfig)

func withOptions(f func(*Options)) envOption { return func(c *envConfig) { f(&c.opts) } }
func withPartSize(n int64) envOption         { return func(c *envConfig) { c.partSize = n } }
func withConsumer() envOption                { return func(c *envConfig) { c.consumer = true } }

// withSendBuffer fixes the API connections' socket send buffer (SO_SNDBUF,
// inherited from the listener), so that a client that stops reading blocks
// the server's writes after a few KiB instead of after megabytes.
func withSendBuffer(n int) envOption {
	return func(c *envConfig) {
		c.listen.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, n) })
			return errors.Join(err, serr)
		}
	}
}
func withLimits(f func(*LimitOptions)) envOption {
	return func(c *envConfig) { f(&c.limits) }
}

// testLogger writes to t.Log.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tLogWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tLogWriter struct{ tb testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// mustEnv starts the dependencies and the API server for one test.
func mustEnv(tb testing.TB, options ...envOption) *env {
	tb.Helper()
	cfg := envConfig{partSize: 16 << 20, authFailBurst: 10_000}
	for _, o := range options {
		o(&cfg)
	}
	cfg.opts.defaults() // one signing key for the server and the test
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	log := testLogger(tb)

	k := harness.StartKafka(tb)
	k.CreatePipelineTopics(tb, 3)
	mi := harness.SharedMinIO(tb)
	bucket := harness.MustBucket(tb, mi)
	s3cfg := mi.S3Config(bucket)
	s3cfg.PartSize = cfg.partSize
	objects, err := storage.New(s3cfg)
	if err != nil {
		tb.Fatal(err)
	}
	pool, err := catalog.Connect(ctx, config.Postgres{URL: harness.MustDatabase(tb, harness.SharedPostgres(tb)), MaxConns: 8})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	status, err := projection.Open(ctx, pool, projection.WithLogger(log))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := catalog.Migrate(ctx, pool); err != nil {
		tb.Fatal(err)
	}
	if err := endpoints.Migrate(ctx, pool); err != nil {
		tb.Fatal(err)
	}
	cat := catalog.New(pool)
	pub, err := publish.New(config.Kafka{Brokers: k.Brokers}, publish.Options{Service: "upload-api", MaxAttempts: 2, Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = pub.Close() })
	s3client, err := tusupload.NewS3Client(ctx, s3cfg)
	if err != nil {
		tb.Fatal(err)
	}
	metrics := NewMetrics()
	e := &env{Kafka: k, MinIO: mi, Bucket: bucket, Objects: objects, Status: status, Catalog: cat, Pool: pool, Metrics: metrics}
	if cfg.consumer {
		e.Consumer = projection.NewConsumer(config.Kafka{Brokers: k.Brokers}, status, log, projection.WithGroup(harness.RandomName("upload-api")))
		done := make(chan struct{})
		go func() { defer close(done); _ = e.Consumer.Run(ctx) }()
		tb.Cleanup(func() { cancel(); <-done })
	}
	e.TusTempDir = tb.TempDir()
	e.Limits = NewLimits(cfg.limits, status, log)
	tus, err := NewTus(TusDeps{Logger: log, Options: cfg.opts, S3: s3client, PartSize: cfg.partSize, TempDir: e.TusTempDir,
		Objects: objects, Publisher: pub, Status: status, Metrics: metrics, Limits: e.Limits})
	if err != nil {
		tb.Fatal(err)
	}
	e.Tus, e.Publisher, e.Log = tus, pub, log
	ready := []Check{
		{Name: "kafka", Fn: func(ctx context.Context) error { return pub.Ping(ctx, contract.TopicUploaded) }},
		{Name: "storage", Fn: objects.Ping},
		{Name: "postgres", Fn: status.Ping},
	}
	if e.Consumer != nil {
		ready = append(ready, Check{Name: "projection", Fn: func(context.Context) error {
			if !e.Consumer.Ready() {
				return context.DeadlineExceeded
			}
			return nil
		}})
	}
	deps := Deps{Logger: log, Options: cfg.opts, Auth: NewAuth(testTokens).LimitFailures(cfg.authFailBurst, 0).WithAdmins([]string{"admin"}), Objects: objects, Publisher: pub,
		Status: status, Catalog: cat, Tus: tus, Metrics: metrics, Ready: ready, Redriver: dlq.NewAdmin(k.Brokers),
		Webhooks: endpoints.NewAPI(endpoints.NewStore(pool), endpoints.APIOptions{Logger: log})}
	e.URL = serveOn(tb, NewHTTPServer("127.0.0.1:0", NewServer(deps), 5*time.Second, time.Minute, log), cfg.listen)
	e.OpsURL = serve(tb, NewOpsHTTPServer("127.0.0.1:0", NewOpsServer(deps), log))
	e.Opts = cfg.opts
	return e
}

// serve serves srv on a free port of 127.0.0.1 until the test ends and
// returns its base URL.
func serve(tb testing.TB, srv *http.Server) string {
	tb.Helper()
	return serveOn(tb, srv, net.ListenConfig{})
}

// serveOn is serve with the listener made by lc (e.g. with socket options
// that accepted connections inherit).
func serveOn(tb testing.TB, srv *http.Server, lc net.ListenConfig) string {
	tb.Helper()
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
	})
	return "http://" + ln.Addr().String()
}

// keys lists the bucket's objects (sorted).
func (e *env) keys(tb testing.TB) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	infos, err := e.Objects.List(ctx, "")
	if err != nil {
		tb.Fatalf("list bucket: %v", err)
	}
	out := make([]string, 0, len(infos))
	for _, i := range infos {
		out = append(out, i.Key)
	}
	sort.Strings(out)
	return out
}

// mustEmptyBucket fails unless the bucket holds no object and no
// unfinished multipart upload.
func (e *env) mustEmptyBucket(tb testing.TB) {
	tb.Helper()
	if keys := e.keys(tb); len(keys) != 0 {
		tb.Fatalf("bucket not empty: %v", keys)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for up := range e.MinIO.Client(tb).ListIncompleteUploads(ctx, e.Bucket, "", true) {
		if up.Err != nil {
			tb.Fatalf("list incomplete uploads: %v", up.Err)
		}
		tb.Fatalf("unfinished multipart upload left behind: %s (%s)", up.Key, up.UploadID)
	}
}

// object returns the bytes and info of key.
func (e *env) object(tb testing.TB, key string) ([]byte, minio.ObjectInfo) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	obj, err := e.MinIO.Client(tb).GetObject(ctx, e.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		tb.Fatalf("get %s: %v", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		tb.Fatalf("read %s: %v", key, err)
	}
	info, err := obj.Stat()
	if err != nil {
		tb.Fatalf("stat %s: %v", key, err)
	}
	return b, info
}

// do sends a request with token ("" for none) and returns the response
// with its body read.
func (e *env) do(tb testing.TB, method, path, token string, body io.Reader, header map[string]string) (*http.Response, []byte) {
	tb.Helper()
	return doURL(tb, method, e.URL+path, token, body, header)
}

// ops sends a request without credentials to the operations listener.
func (e *env) ops(tb testing.TB, method, path string) (*http.Response, []byte) {
	tb.Helper()
	return doURL(tb, method, e.OpsURL+path, "", nil, nil)
}

func doURL(tb testing.TB, method, url, token string, body io.Reader, header map[string]string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, b
}

// formPart is one part of a multipart body.
type formPart struct {
	name, filename string
	data           []byte
}

// multipartBody builds a multipart/form-data body with a fixed boundary.
func multipartBody(tb testing.TB, parts ...formPart) (string, []byte) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary("vidpipe-test-boundary"); err != nil {
		tb.Fatal(err)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p.filename != "" {
			h.Set("Content-Disposition", `form-data; name="`+p.name+`"; filename="`+p.filename+`"`)
			h.Set("Content-Type", "application/octet-stream")
		} else {
			h.Set("Content-Disposition", `form-data; name="`+p.name+`"`)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			tb.Fatal(err)
		}
		_, _ = w.Write(p.data)
	}
	if err := mw.Close(); err != nil {
		tb.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

// upload posts a multipart body as token.
func (e *env) upload(tb testing.TB, token string, parts ...formPart) (*http.Response, []byte) {
	tb.Helper()
	ct, body := multipartBody(tb, parts...)
	return e.do(tb, http.MethodPost, "/v1/videos", token, bytes.NewReader(body), map[string]string{"Content-Type": ct})
}

// mustAccepted decodes a 202 body.
func mustAccepted(tb testing.TB, resp *http.Response, body []byte) uploadResponse {
	tb.Helper()
	if resp.StatusCode != http.StatusAccepted {
		tb.Fatalf("status %d, want 202: %s", resp.StatusCode, body)
	}
	var out uploadResponse
	if err := json.Unmarshal(body, &out); err != nil {
		tb.Fatalf("decode 202 body %s: %v", body, err)
	}
	if !contract.IsUUID(out.ID) || out.Status != "uploaded" {
		tb.Fatalf("bad 202 body: %s", body)
	}
	return out
}

// mustErrorCode checks an error response's status and code.
func mustErrorCode(tb testing.TB, resp *http.Response, body []byte, status int, code string) {
	tb.Helper()
	if resp.StatusCode != status {
		tb.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		tb.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if eb.Error.Code != code || eb.Error.Message == "" {
		tb.Fatalf("error body %s, want code %q", body, code)
	}
}

var (
	clipOnce sync.Once
	clipData []byte
	clipErr  error
)

// mustClip returns a tiny MP4 made by ffmpeg (testsrc + sine, 1 s).
func mustClip(tb testing.TB) []byte {
	tb.Helper()
	ffmpeg := harness.MustTool(tb, "ffmpeg")
	clipOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vidpipe-clip-")
		if err != nil {
			clipErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "clip.mp4")
		cmd := exec.Command(ffmpeg, "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1",
			"-f", "lavfi", "-i", "sine=frequency=440:duration=1",
			"-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			clipErr = err
			tb.Logf("ffmpeg: %s", b)
			return
		}
		clipData, clipErr = os.ReadFile(out)
	})
	if clipErr != nil {
		tb.Fatalf("generate test clip with ffmpeg (install it: apt-get install ffmpeg): %v", clipErr)
	}
	return clipData
}

// header returns a Kafka record header's value.
func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
