package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/dev/launch"
)

func TestMain(m *testing.M) { harness.Main(m) }

// syncBuffer collects the service's log output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mustClip(tb testing.TB) []byte {
	tb.Helper()
	ffmpeg := harness.MustTool(tb, "ffmpeg")
	out := filepath.Join(tb.TempDir(), "clip.mp4")
	cmd := exec.Command(ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func waitFor(tb testing.TB, what string, timeout time.Duration, ok func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRun starts the service as main does, on real Kafka, MinIO and
// PostgreSQL, uploads a video, watches the projection consumer pick up a
// later stage, and shuts down gracefully with an event stream open.
func TestRun(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 3)
	mi := harness.SharedMinIO(t)
	dbURL := harness.MustDatabase(t, harness.SharedPostgres(t))
	bucket := harness.RandomName("api") // created by run (EnsureBucket)
	addr, opsAddr := launch.MustFreeAddr(t), launch.MustFreeAddr(t)
	env := map[string]string{
		"VIDPIPE_KAFKA_BROKERS":   strings.Join(k.Brokers, ","),
		"VIDPIPE_S3_ENDPOINT":     mi.Endpoint,
		"VIDPIPE_S3_ACCESS_KEY":   mi.AccessKey,
		"VIDPIPE_S3_SECRET_KEY":   mi.SecretKey,
		"VIDPIPE_S3_BUCKET":       bucket,
		"VIDPIPE_POSTGRES_URL":    dbURL,
		"VIDPIPE_API_TOKENS":      "dev-alice=alice,dev-bob=bob",
		"VIDPIPE_API_SIGNING_KEY": "a-signing-key-for-tests-0123456789",
		"VIDPIPE_LOG_FORMAT":      "json",
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--api.addr=" + addr, "--api.ops_addr=" + opsAddr}, func(k string) string { return env[k] }, &logs)
	}()
	defer func() {
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	}()
	base, ops := "http://"+addr, "http://"+opsAddr

	getURL := func(url, token string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	get := func(path, token string) (int, []byte) { return getURL(base+path, token) }
	launch.MustWaitHTTP(t, base+"/healthz", time.Minute)
	launch.MustWaitHTTP(t, ops+"/readyz", time.Minute)
	// /readyz and /metrics are on api.ops_addr only; /healthz on both.
	for _, path := range []string{"/readyz", "/metrics"} {
		if c, b := get(path, ""); c != http.StatusNotFound {
			t.Errorf("API listener %s: %d %s, want 404", path, c, b)
		}
	}
	if c, b := getURL(ops+"/healthz", ""); c != http.StatusOK {
		t.Errorf("ops /healthz: %d %s", c, b)
	}
	if c, b := getURL(ops+"/metrics", ""); c != http.StatusOK || !strings.Contains(string(b), "vidpipe_api_requests_total") {
		t.Errorf("ops /metrics: %d %.200s", c, b)
	}

	// Upload.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "e2e.mp4")
	_, _ = fw.Write(mustClip(t))
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/videos", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer dev-alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var acc struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&acc)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !contract.IsUUID(acc.ID) {
		t.Fatalf("upload: %d", resp.StatusCode)
	}

	// A later stage's event reaches GET through the projection consumer.
	msgs := k.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second)
	up, err := contract.Decode[contract.VideoUploaded](msgs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	tr := up.Transcoded(contract.Media{DurationSeconds: 1, Width: 160, Height: 120},
		[]contract.Rendition{{Name: "120p", Width: 160, Height: 120, Key: contract.RenditionKey(up.VideoID, "120p"), Size: 1}},
		contract.HLS{MasterKey: contract.HLSMasterKey(up.VideoID)}, time.Now())
	value, _ := contract.Encode(tr)
	k.Produce(t, kafka.Message{Topic: contract.TopicTranscoded, Key: []byte(up.VideoID), Value: value})
	waitFor(t, "status transcoded", time.Minute, func() bool {
		c, b := get("/v1/videos/"+acc.ID, "dev-alice")
		return c == 200 && strings.Contains(string(b), `"status":"transcoded"`)
	})
	if c, _ := get("/v1/videos/"+acc.ID, "dev-bob"); c != http.StatusNotFound {
		t.Fatalf("bob sees alice's video: %d", c)
	}

	// An open event stream does not hold up the shutdown.
	sreq, _ := http.NewRequest(http.MethodGet, base+"/v1/videos/"+acc.ID+"/events", nil)
	sreq.Header.Set("Authorization", "Bearer dev-alice")
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	first, err := bufio.NewReader(sresp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "retry:") {
		t.Fatalf("event stream starts with %q (%v)", first, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not return within a minute of cancellation")
	}
	out := logs.String()
	for _, secret := range []string{"dev-alice", "dev-bob", mi.SecretKey, env["VIDPIPE_API_SIGNING_KEY"]} {
		if strings.Contains(out, secret) {
			t.Errorf("a secret (%d chars) appears in the log", len(secret))
		}
	}
	if !strings.Contains(out, `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log")
	}
}

func TestRunHelp(t *testing.T) {
	if err := run(context.Background(), []string{"--help"}, nil, io.Discard); err != nil {
		t.Fatalf("run --help: %v", err)
	}
}

func TestRunOpsAddrTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Validation refuses the same address for both listeners before
	// anything is reached.
	env := map[string]string{"VIDPIPE_API_TOKENS": "dev-alice=alice"}
	err = run(context.Background(), []string{"--api.addr=" + ln.Addr().String(), "--api.ops_addr=" + ln.Addr().String()},
		func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "api.ops_addr") {
		t.Fatalf("run with api.ops_addr = api.addr: %v", err)
	}
}

func TestRunBadConfig(t *testing.T) {
	err := run(context.Background(), nil, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "api.tokens") {
		t.Fatalf("run without tokens: %v", err)
	}
}
