package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/vidpipe/vidpipe/dev/devstack"
	"github.com/vidpipe/vidpipe/dev/launch"
)

// Stack is a running dev stack (dev/devstack, what `make run` starts): the
// embedded Kafka broker, MinIO, PostgreSQL, upload-api (serving the web
// app at /), the pipeline's workers and the webhooks service, as real
// processes on 127.0.0.1.
type Stack struct {
	Endpoints devstack.Endpoints
	dir       string
	cancel    context.CancelFunc
	done      chan error
}

// StackEnv is the configuration the stack's services get on top of the
// environment: the fastest x264 preset, short backoffs and two attempts
// per record, so that a failure reaches its dead-letter topic in seconds.
var StackEnv = []string{
	"VIDPIPE_TRANSCODE_PRESET=ultrafast",
	"VIDPIPE_STAGE_BACKOFF_INITIAL=100ms",
	"VIDPIPE_STAGE_MAX_ATTEMPTS=2",
}

// StartStack starts the dev stack with its data in a new temporary
// directory (world-readable: PostgreSQL runs as user postgres when the
// process is root), logs to out, and waits (up to 5 minutes: the first run
// builds the service binaries) until it is up. Stop ends it and removes
// the directory.
func StartStack(ctx context.Context, out io.Writer) (*Stack, error) {
	dir, err := os.MkdirTemp("", "vidpipe-browser-")
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = launch.FreePort(); err != nil {
			return nil, fmt.Errorf("stack: %w", err)
		}
	}
	apiPort, err := launch.FreePortRun(len(devstack.Services) + 1)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Stack{dir: dir, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan devstack.Endpoints, 1)
	opts := devstack.Options{
		Dir: filepath.Join(dir, "state"), KafkaPort: ports[0], S3Port: ports[1], PGPort: ports[2],
		APIPort: apiPort, Partitions: 3, RepoRoot: root,
		Environ: append(os.Environ(), StackEnv...),
		Out:     devstack.NewOutput(out, false),
		Ready:   func(ep devstack.Endpoints) { ready <- ep },
	}
	go func() { s.done <- devstack.Run(ctx, opts) }()
	select {
	case s.Endpoints = <-ready:
		return s, nil
	case err := <-s.done:
		cancel()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("stack: did not start: %w", err)
	case <-time.After(5 * time.Minute):
		cancel()
		<-s.done
		os.RemoveAll(dir)
		return nil, fmt.Errorf("stack: not ready within 5 minutes")
	}
}

// Dir is the stack's temporary directory (tests put their clips there).
func (s *Stack) Dir() string { return s.dir }

// Stop stops the stack (Ctrl-C path: services get SIGTERM) and removes its
// directory.
func (s *Stack) Stop() error {
	s.cancel()
	var err error
	select {
	case err = <-s.done:
	case <-time.After(2 * time.Minute):
		err = fmt.Errorf("stack: did not stop within 2 minutes")
	}
	os.RemoveAll(s.dir)
	return err
}

// API is a client of upload-api's HTTP API with a bearer token.
type API struct {
	Base, Token string
}

// Do sends a request and returns the status code and the body.
func (a API) Do(t T, method, path string, body io.Reader, contentType string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, a.Base+path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
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

// Upload posts the file at path as a new video (multipart POST
// /v1/videos) and returns its id.
func (a API) Upload(t T, path, title, tags string) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("title", title)
	mw.WriteField("tags", tags)
	fw, _ := mw.CreateFormFile("file", filepath.Base(path))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	fw.Write(data)
	mw.Close()
	code, body := a.Do(t, "POST", "/v1/videos", &buf, mw.FormDataContentType())
	if code != http.StatusAccepted {
		t.Fatalf("upload %s: %d %s", path, code, body)
	}
	var r struct{ ID string }
	if err := json.Unmarshal(body, &r); err != nil || r.ID == "" {
		t.Fatalf("upload answer %s", body)
	}
	return r.ID
}

// Video is GET /v1/videos/{id} decoded, and its status code.
func (a API) Video(t T, id string) (int, map[string]any) {
	t.Helper()
	code, body := a.Do(t, "GET", "/v1/videos/"+id, nil, "")
	var v map[string]any
	_ = json.Unmarshal(body, &v)
	return code, v
}

// WaitStatus polls GET /v1/videos/{id} until its status is want.
func (a API) WaitStatus(t T, id, want string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]any
	for time.Now().Before(deadline) {
		code, v := a.Video(t, id)
		last = v
		if code == http.StatusOK && v["status"] == want {
			return v
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("video %s not %s within %v; last answer: %v", id, want, timeout, last)
	return nil
}

// Clip writes an H.264/AAC MP4 of secs seconds (ffmpeg's testsrc2 and a
// sine tone, width × height) to dir/name and returns its path.
func Clip(t T, dir, name string, width, height int, secs float64) string {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg not found (%v): run make deps", err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=25:duration=%g", width, height, secs),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%g", secs),
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", name, err, b)
	}
	return out
}
