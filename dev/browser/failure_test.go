package browser

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// TestFailedVideoRetry: a video fails for a reason its owner can fix (its
// video.uploaded announces a source object that is not stored, so
// transcode dead-letters it as source_missing); the card shows the reason
// in words, live, and the admin's ops page lists the dead letter with its
// reason and a redrive button; once the source is stored, Retry on the
// card makes it ready, live.
func TestFailedVideoRetry(t *testing.T) {
	s, _ := shared(t)
	ep := s.Endpoints
	tab := signedIn(t, "dev-alice")
	clip := Clip(t, s.Dir(), "early.mp4", 320, 180, 2)
	st, err := os.Stat(clip)
	if err != nil {
		t.Fatal(err)
	}
	ev := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: contract.NewID(), Owner: "alice", Title: "Published too early",
		Source:     contract.SourceObject{Bucket: ep.Bucket, Size: st.Size(), ContentType: "video/mp4", Filename: "early.mp4"},
		UploadedAt: time.Now().UTC(),
	}}
	ev.Source.Key = contract.SourceKey(ev.VideoID)
	msg, err := stage.NewMessage(ev, "browser-test", "")
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(ep.Brokers), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(context.Background(), msg); err != nil {
		t.Fatalf("publish video.uploaded without its source: %v", err)
	}
	w.Close()

	card := fmt.Sprintf(`li.video-card[data-video-id=%q]`, ev.VideoID)
	tab.WaitJS("the card to show failed", fmt.Sprintf(`document.querySelector(%q)?.dataset.status === "failed"`, card), 3*time.Minute)
	reason := tab.Text(card + " .card-failure")
	t.Logf("failure on the card: %q", reason)
	if len(reason) < 5 {
		t.Errorf(".card-failure = %q, want the reason in words", reason)
	}

	// The admin's ops page lists the dead letter with its reason.
	ops := signedIn(t, "dev-admin")
	ops.Go("/ops")
	ops.WaitReady("ops")
	if d := ops.Text(`table#ops-stages tr[data-stage="transcode"] .dlq-depth`); d == "" || d == "0" {
		t.Errorf("ops: transcode dead letters = %q, want at least 1", d)
	}
	row := fmt.Sprintf(`[...document.querySelectorAll("table#dead-letters tr[data-dlq-id]")].find(r => r.textContent.includes(%q))`, ev.VideoID)
	if !Eval[bool](ops, "!!"+row) {
		t.Errorf("ops: no dead-letter row of %s", ev.VideoID)
	} else {
		if r := Eval[string](ops, row+`.querySelector(".reason")?.textContent ?? ""`); r == "" {
			t.Errorf("ops: the dead letter of %s has no .reason", ev.VideoID)
		}
		if !Eval[bool](ops, "!!"+row+`.querySelector("button.redrive")`) {
			t.Errorf("ops: the dead letter of %s has no button.redrive", ev.VideoID)
		}
	}

	mc, err := minio.New(ep.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(ep.AccessKey, ep.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.FPutObject(context.Background(), ep.Bucket, ev.Source.Key, clip, minio.PutObjectOptions{ContentType: "video/mp4"}); err != nil {
		t.Fatalf("store the missing source: %v", err)
	}
	tab.Click(card + " button.card-retry")
	tab.WaitJS("the retried card to turn ready", fmt.Sprintf(`document.querySelector(%q)?.dataset.status === "ready"`, card), 4*time.Minute)
	if tab.Exists(card+" .card-failure") && tab.Text(card+" .card-failure") != "" {
		t.Errorf("the ready card still shows a failure: %q", tab.Text(card+" .card-failure"))
	}
}
