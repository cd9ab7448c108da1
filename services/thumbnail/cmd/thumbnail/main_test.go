package main

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/storage"
)

func TestMain(m *testing.M) { harness.Main(m) }

func TestRunHelpAndBadConfig(t *testing.T) {
	ctx := context.Background()
	if err := run(ctx, []string{"-h"}, nil, io.Discard); err != nil {
		t.Errorf("run -h: %v, want nil", err)
	}
	if err := run(ctx, []string{"--thumbnail.thumb_width=1"}, nil, io.Discard); err == nil {
		t.Error("run with thumb_width=1 succeeded")
	}
	if err := run(ctx, []string{"--thumbnail.ffmpeg=/nonexistent/ffmpeg"}, nil, io.Discard); err == nil {
		t.Error("run with a missing ffmpeg succeeded")
	}
}

func record(tb testing.TB, e contract.VideoTranscoded) kafka.Message {
	tb.Helper()
	value, err := contract.Encode(e)
	if err != nil {
		tb.Fatal(err)
	}
	var hs []kafka.Header
	for _, h := range contract.CloudEventHeaders(e, contract.Meta{ID: contract.NewID(), Source: contract.SourceFor("transcode"), Time: time.Now()}) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return kafka.Message{Topic: contract.TopicTranscoded, Key: []byte(e.Key()), Value: value, Headers: hs}
}

func transcoded(bucket string) contract.VideoTranscoded {
	id := contract.NewID()
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "alice", Title: "Wiring",
		Source:     contract.SourceObject{Bucket: bucket, Key: contract.SourceKey(id), Size: 1000, ContentType: "video/mp4"},
		UploadedAt: time.Now().UTC(),
	}}
	return up.Transcoded(contract.Media{DurationSeconds: 2, Width: 640, Height: 360},
		[]contract.Rendition{{Name: "360p", Width: 640, Height: 360, Key: contract.RenditionKey(id, "360p"), Size: 1}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, time.Now())
}

// TestRunThumbnailsAndDeadLetters runs the service against a real broker
// and a real MinIO: a good video is thumbnailed and published; one whose
// rendition is missing goes to the DLQ as permanent.
func TestRunThumbnailsAndDeadLetters(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	m := harness.SharedMinIO(t)
	bucket := harness.MustBucket(t, m)
	s3 := m.S3Config(bucket)
	store, err := storage.New(s3)
	if err != nil {
		t.Fatal(err)
	}

	good, missing := transcoded(bucket), transcoded(bucket)
	clip := filepath.Join(t.TempDir(), "360p.mp4")
	out, err := exec.Command(harness.MustTool(t, "ffmpeg"), "-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", clip).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	if _, err := store.PutFile(context.Background(), good.Renditions[0].Key, clip, "video/mp4"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"--kafka.brokers=" + k.Brokers[0],
			"--s3.endpoint=" + s3.Endpoint, "--s3.bucket=" + bucket, "--s3.region=" + s3.Region,
			"--s3.access_key=" + s3.AccessKey, "--s3.secret_key=" + s3.SecretKey,
			"--stage.http_addr=127.0.0.1:0",
			"--stage.commit_interval=0",
			"--stage.shutdown_grace=5s",
			"--thumbnail.temp_dir=" + t.TempDir(),
		}, nil, testWriter{t})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not return after cancel")
		}
	}()

	k.Produce(t, record(t, good), record(t, missing))
	msgs := k.ReadAll(t, contract.TopicThumbnailed, 1, 90*time.Second)
	th, err := contract.Decode[contract.VideoThumbnailed](msgs[0].Value)
	if err != nil {
		t.Fatalf("video.thumbnailed does not decode: %v", err)
	}
	if th.VideoID != good.VideoID || th.Thumbnails.Poster.Width != 640 || th.Thumbnails.Sprite == nil {
		t.Errorf("video.thumbnailed = %s", msgs[0].Value)
	}
	if _, err := store.Stat(context.Background(), th.Thumbnails.Poster.Key); err != nil {
		t.Errorf("poster object: %v", err)
	}

	dlq := k.ReadAll(t, contract.TopicThumbnailDLQ, 1, 90*time.Second)
	var hs []contract.Header
	for _, h := range dlq[0].Headers {
		hs = append(hs, contract.Header{Key: h.Key, Value: h.Value})
	}
	d, ok := contract.ParseDeadLetter(hs)
	if !ok || string(dlq[0].Key) != missing.VideoID || d.Class != contract.ErrorClassPermanent || d.Attempts != 1 {
		t.Errorf("dead letter = %+v (key %s), want the missing video, permanent, 1 attempt", d, dlq[0].Key)
	}
	t.Logf("dead letter reason: %s", d.Err)
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", p)
	return len(p), nil
}
