package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
)

func TestMain(m *testing.M) { harness.Main(m) }

// testLog sends the service's stdout to t.Logf.
type testLog struct{ tb testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.tb.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

func TestRunHelp(t *testing.T) {
	if err := run(context.Background(), []string{"--help"}, nil, testLog{t}); err != nil {
		t.Fatalf("run --help = %v, want nil", err)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := run(context.Background(), []string{"--transcode.preset=turbo"}, nil, testLog{t})
	if err == nil || !strings.Contains(err.Error(), "transcode.preset") {
		t.Fatalf("run = %v, want an error naming transcode.preset", err)
	}
}

// The binary's run function against a real broker and MinIO: a good video
// comes out on video.transcoded, a playlist attack lands in the DLQ as
// permanent.
func TestRunTranscodesAndDeadLetters(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	mi := harness.SharedMinIO(t)
	bucket := harness.MustBucket(t, mi)
	tmp := t.TempDir()

	src := filepath.Join(t.TempDir(), "good.mp4")
	cmd := exec.Command(harness.MustTool(t, "ffmpeg"), "-hide_banner", "-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-f", "lavfi", "-i", "sine=duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mp4", src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	evil := filepath.Join(t.TempDir(), "evil.mp4")
	if err := os.WriteFile(evil, []byte("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := storage.New(mi.S3Config(bucket))
	if err != nil {
		t.Fatal(err)
	}
	upload := func(path string) contract.VideoUploaded {
		id := contract.NewID()
		info, err := store.PutFile(context.Background(), contract.SourceKey(id), path, "video/mp4")
		if err != nil {
			t.Fatal(err)
		}
		return contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
			VideoID: id, Owner: "u1", Title: filepath.Base(path),
			Source:     contract.SourceObject{Bucket: bucket, Key: contract.SourceKey(id), Size: info.Size, ContentType: "video/mp4"},
			UploadedAt: time.Now().UTC(),
		}}
	}
	good, bad := upload(src), upload(evil)
	var msgs []kafka.Message
	for _, e := range []contract.VideoUploaded{good, bad} {
		value, err := contract.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: contract.TopicUploaded, Key: []byte(e.Key()), Value: value,
			Headers: stage.ToKafkaHeaders(contract.CloudEventHeaders(e, contract.Meta{ID: contract.NewID(), Source: contract.SourceFor("test"), Time: time.Now()}))})
	}
	// Records the runtime must dead-letter before the handler sees them.
	v2 := good
	v2.SchemaVersion = 2
	v2json, _ := json.Marshal(v2)
	missing, _ := json.Marshal(map[string]any{"schema_version": 1, "video_id": good.VideoID})
	noKey, _ := contract.Encode(good)
	broken := map[string]kafka.Message{
		"invalid json":           {Key: []byte(good.VideoID), Value: []byte(`{"schema_version":1,`)},
		"missing fields":         {Key: []byte(good.VideoID), Value: missing},
		"unknown schema version": {Key: []byte(good.VideoID), Value: v2json},
		"no key":                 {Value: noKey},
	}
	for _, m := range broken {
		m.Topic = contract.TopicUploaded
		msgs = append(msgs, m)
	}
	k.Produce(t, msgs...)

	env := map[string]string{
		"VIDPIPE_KAFKA_BROKERS":         strings.Join(k.Brokers, ","),
		"VIDPIPE_S3_ENDPOINT":           mi.Endpoint,
		"VIDPIPE_S3_ACCESS_KEY":         mi.AccessKey,
		"VIDPIPE_S3_SECRET_KEY":         mi.SecretKey,
		"VIDPIPE_S3_BUCKET":             bucket,
		"VIDPIPE_STAGE_HTTP_ADDR":       "127.0.0.1:0",
		"VIDPIPE_STAGE_MAX_ATTEMPTS":    "2",
		"VIDPIPE_STAGE_BACKOFF_INITIAL": "10ms",
		"VIDPIPE_STAGE_COMMIT_INTERVAL": "0",
		"VIDPIPE_TRANSCODE_PRESET":      "ultrafast",
		"VIDPIPE_TRANSCODE_TEMP_DIR":    tmp,
		"VIDPIPE_TRANSCODE_FFMPEG":      harness.MustTool(t, "ffmpeg"),
		"VIDPIPE_TRANSCODE_FFPROBE":     harness.MustTool(t, "ffprobe"),
		"VIDPIPE_LOG_LEVEL":             "debug",
	}
	t.Chdir(t.TempDir()) // no vidpipe.yaml
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, testLog{t}) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("run did not return after cancel")
		}
	}()

	out := k.ReadAll(t, contract.TopicTranscoded, 1, 2*time.Minute)
	got, err := contract.Decode[contract.VideoTranscoded](out[0].Value)
	if err != nil {
		t.Fatalf("decode output: %v", err)
	}
	if got.VideoID != good.VideoID || string(out[0].Key) != good.VideoID || len(got.Renditions) != 1 || got.Renditions[0].Name != "240p" {
		t.Errorf("output %+v", got)
	}
	dlq := k.ReadAll(t, contract.TopicTranscodeDLQ, 1+len(broken), 2*time.Minute)
	var sawPlaylist int
	for _, m := range dlq {
		hs := stage.FromKafkaHeaders(m.Headers)
		if c := contract.HeaderValue(hs, contract.HeaderDLQErrorClass); c != contract.ErrorClassPermanent {
			t.Errorf("DLQ record %q: error class %q, want permanent", m.Value, c)
		}
		reason := contract.HeaderValue(hs, contract.HeaderDLQError)
		if reason == "" {
			t.Errorf("DLQ record %q without a reason", m.Value)
		}
		if string(m.Key) == bad.VideoID {
			sawPlaylist++
			if !strings.Contains(reason, "Format not on whitelist") {
				t.Errorf("playlist attack DLQ reason %q", reason)
			}
		}
	}
	if sawPlaylist != 1 {
		t.Errorf("playlist attack dead-lettered %d times, want once", sawPlaylist)
	}
	if n := len(k.ReadAll(t, contract.TopicTranscoded, 1, time.Second)); n != 1 {
		t.Errorf("%d video.transcoded records, want 1", n)
	}
}
