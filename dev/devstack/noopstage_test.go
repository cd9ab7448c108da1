package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// The noop stage, declared only by this test: it follows indexer,
// re-publishes video.ready as its own event type, and dead-letters a video
// whose title starts with "noop-fail" (testdata/noopstage).
const (
	noopStage  = "noop"
	noopOutput = "video.nooped"
	noopDLQ    = "video.noop.dlq"
	noopType   = "dev.vidpipe.video.nooped.v1"
)

// noopDeclared is contract.DefaultPipeline with the noop stage appended: it
// consumes the last step (video.ready).
func noopDeclared(t *testing.T) (contract.Pipeline, contract.StageSpec) {
	t.Helper()
	def := contract.DefaultPipeline()
	last, _ := def.StepAt(def.MaxRank())
	spec := contract.StageSpec{Name: noopStage, Input: last.Topic, DLQ: noopDLQ,
		Output: contract.Step{Topic: noopOutput, Type: noopType, Status: "nooped", Decode: contract.DecodeAs[contract.VideoReady]}}
	p, err := def.With(spec)
	if err != nil {
		t.Fatalf("declare the noop stage: %v", err)
	}
	return p, spec
}

// TestRunDeclaredStage runs the dev stack on a pipeline with a stage
// declared at test time, whose worker is a test program (no services/
// folder, no table of the repository names it): the stack builds and runs
// it next to the real services, creates its topics, and a video uploaded
// to the real upload-api goes through transcode, thumbnail and indexer to
// the noop stage, which publishes it to its own topic; a video it refuses
// reaches its own dead-letter topic with the dlq.* headers naming it.
func TestRunDeclaredStage(t *testing.T) {
	ffmpeg := harness.MustTool(t, "ffmpeg") // make deps installs it; a missing tool fails, never skips
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	p, spec := noopDeclared(t)
	dir := mustStackDir(t)
	ports := mustFreePorts(t, 3)
	services := ServicesOf(p)
	if want := append(slices.Clone(Services[:len(Services)-1]), noopStage, Webhooks); !slices.Equal(services, want) {
		t.Fatalf("ServicesOf = %v, want %v", services, want)
	}
	env := append(os.Environ(),
		"VIDPIPE_TRANSCODE_PRESET=ultrafast", "VIDPIPE_TRANSCODE_LADDER=240p:240:300k:64k",
		"VIDPIPE_STAGE_BACKOFF_INITIAL=100ms",
		// The noop worker's row, from the declaration above.
		config.EnvName("noop.input")+"="+spec.Input, config.EnvName("noop.output")+"="+spec.Output.Topic,
		config.EnvName("noop.dlq")+"="+spec.DLQ, config.EnvName("noop.type")+"="+spec.Output.Type)
	r := startRun(t, Options{
		Dir: filepath.Join(dir, "state"), KafkaPort: ports[0], S3Port: ports[1], PGPort: ports[2],
		APIPort:    mustFreeRange(t, len(services)+1), // the services, then the API's operations port
		Partitions: 1,
		RepoRoot:   root,
		Pipeline:   p,
		Packages:   map[string]string{noopStage: "./dev/devstack/testdata/noopstage"},
		Environ:    env,
		Backoff:    Backoff{Initial: 100 * time.Millisecond},
	})
	ep := r.waitReady(t)

	out := r.out.String()
	for _, want := range []string{"building " + strings.Join(services, ", ") + " into ", "starting noop-1 on "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	client := &kafka.Client{Addr: kafka.TCP(ep.Brokers), Timeout: 10 * time.Second}
	for _, topic := range p.AllTopics() {
		if _, err := topics.Partitions(context.Background(), client, topic); err != nil {
			t.Errorf("topic %s of the pipeline: %v", topic, err)
		}
		if !strings.Contains(out, topic) {
			t.Errorf("the stack did not report creating %s:\n%s", topic, out)
		}
	}

	clipPath := filepath.Join(dir, "clip.mp4")
	if b, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", clipPath).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	passed := uploadClip(t, ep.APIURL, clipPath, "through noop")
	refused := uploadClip(t, ep.APIURL, clipPath, "noop-fail on purpose")

	m := readKey(t, ep.Brokers, noopOutput, passed, 90*time.Second, r)
	if typ := header(m, contract.HeaderType); typ != noopType {
		t.Errorf("%s record of %s has type %q, want %q", noopOutput, passed, typ, noopType)
	}
	var doc contract.VideoReady
	if err := json.Unmarshal(m.Value, &doc); err != nil || doc.VideoID != passed || doc.Title != "through noop" || len(doc.Renditions) == 0 {
		t.Errorf("%s value of %s: %v %+v, want the video.ready document", noopOutput, passed, err, doc)
	}

	dead := readKey(t, ep.Brokers, noopDLQ, refused, 30*time.Second, r)
	var hs []contract.Header
	for _, h := range dead.Headers {
		hs = append(hs, contract.Header{Key: h.Key, Value: h.Value})
	}
	dl, ok := contract.ParseDeadLetter(hs)
	if !ok || dl.Stage != noopStage || dl.Topic != spec.Input || dl.Class != contract.ErrorClassPermanent || !strings.Contains(dl.Err, "refused by title") {
		t.Errorf("dead letter of %s: %+v (ok %v), want stage noop, from %s, permanent, refused by title", refused, dl, ok, spec.Input)
	}

	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run: %v\n%s", err, r.out)
	}
}

// uploadClip posts path as dev-alice's video titled title and returns its id.
func uploadClip(t *testing.T, apiURL, path, title string) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("title", title)
	fw, _ := mw.CreateFormFile("file", filepath.Base(path))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, apiURL+"/v1/videos", &body)
	req.Header.Set("Authorization", "Bearer "+DevToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v struct{ ID string }
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &v) != nil || !contract.IsUUID(v.ID) {
		t.Fatalf("upload: %s %s", resp.Status, b)
	}
	return v.ID
}

// readKey reads topic (partition 0) from the start until a record keyed
// id arrives, failing after timeout with the stack's output.
func readKey(t *testing.T, brokers, topic, id string, timeout time.Duration, r *runningStack) kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{brokers}, Topic: topic, Partition: 0, MaxWait: 500 * time.Millisecond})
	defer rd.Close()
	for {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("no %s record of video %s within %v (%v); output:\n%s", topic, id, timeout, err, r.out)
		}
		if string(m.Key) == id {
			return m
		}
	}
}

// header is the value of m's header key.
func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
