package dlq_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/platform/storage"
)

func TestValueRefs(t *testing.T) {
	if got, want := dlq.ValueKey(contract.StageThumbnail, contract.TopicTranscoded, 3, 42), "deadletters/thumbnail/video.transcoded/3/42"; got != want {
		t.Errorf("ValueKey = %q, want %q", got, want)
	}
	ref := dlq.S3Ref("vidpipe", "deadletters/thumbnail/video.transcoded/3/42")
	if b, k, ok := dlq.ParseS3Ref(ref); !ok || b != "vidpipe" || k != "deadletters/thumbnail/video.transcoded/3/42" {
		t.Errorf("ParseS3Ref(%q) = %q, %q, %v", ref, b, k, ok)
	}
	for _, bad := range []string{"", "s3://", "s3://bucket", "s3://bucket/", "s3:///key", "http://b/k", "kafka://t/0/1"} {
		if _, _, ok := dlq.ParseS3Ref(bad); ok {
			t.Errorf("ParseS3Ref(%q) accepted", bad)
		}
	}
	if tp, p, o, ok := dlq.ParseKafkaRef("kafka://video.uploaded/2/17"); !ok || tp != "video.uploaded" || p != 2 || o != 17 {
		t.Errorf("ParseKafkaRef = %q %d %d %v", tp, p, o, ok)
	}
	for _, bad := range []string{"kafka://t/0", "kafka://t/x/1", "kafka:///0/1", "kafka://t/0/-1", "s3://b/k"} {
		if _, _, _, ok := dlq.ParseKafkaRef(bad); ok {
			t.Errorf("ParseKafkaRef(%q) accepted", bad)
		}
	}
	// The headers carry the reference both ways.
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicUploaded, Class: contract.ErrorClassPermanent,
		Code: contract.ErrorCodeInternal, FailedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ValueRef: ref, ValueBytes: 1234}
	got, ok := contract.ParseDeadLetter(dl.Headers(nil))
	if !ok || got != dl {
		t.Errorf("ParseDeadLetter = %+v, want %+v", got, dl)
	}
	dl.ValueRef, dl.ValueBytes = "", 0
	if hs := dl.Headers(nil); contract.HeaderValue(hs, contract.HeaderDLQValueRef) != "" || len(hs) != len(contract.DLQHeaderKeys) {
		t.Errorf("a dead letter without a reference has headers %v", hs)
	}
}

// A dead letter whose value was moved to S3 (or left in its input record)
// is listed with its reference and size, and redriven with its value
// restored.
func TestRedriveRestoresReferencedValues(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 2)
	k.CreateTopics(t, 1, "origin")
	m := harness.SharedMinIO(t)
	cfg := m.S3Config(harness.MustBucket(t, m))
	st, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), 900<<10) // fits the input topic, not a dead letter with a long error
	key := dlq.ValueKey(contract.StageTranscode, contract.TopicUploaded, 0, 7)
	ref, err := dlq.S3Store{Store: st}.PutDeadLetterValue(ctx, key, big)
	if err != nil || ref != "s3://"+cfg.Bucket+"/"+key {
		t.Fatalf("PutDeadLetterValue = %q, %v", ref, err)
	}
	inKafka := []byte(`{"video_id":"kept in kafka"}`)
	k.Produce(t, kafka.Message{Topic: "origin", Key: []byte("k"), Value: inKafka})

	s3ID, kID := contract.NewID(), contract.NewID()
	withRef := func(id string, offset int64, ref string, n int) kafka.Message {
		m := deadLetter(t, id, offset)
		m.Value = nil
		m.Headers = append(m.Headers, kafka.Header{Key: contract.HeaderDLQValueRef, Value: []byte(ref)},
			kafka.Header{Key: contract.HeaderDLQValueBytes, Value: []byte(strconv.Itoa(n))})
		return m
	}
	k.Produce(t, withRef(s3ID, 7, ref, len(big)), withRef(kID, 8, "kafka://origin/0/0", len(inKafka)))

	admin := dlq.NewAdmin(k.Brokers)
	defer admin.Close()
	recs, err := admin.List(ctx, contract.StageTranscode, false)
	if err != nil || len(recs) != 2 {
		t.Fatalf("List = %+v, %v", recs, err)
	}
	for _, r := range recs {
		if len(r.Value) != 0 || r.DeadLetter.ValueRef == "" || r.DeadLetter.ValueBytes == 0 {
			t.Errorf("record %s: value %d bytes, ref %q (%d bytes)", r.Key, len(r.Value), r.DeadLetter.ValueRef, r.DeadLetter.ValueBytes)
		}
	}

	// Without an object store the S3 record cannot be redriven, and
	// nothing is published for it.
	if _, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{VideoID: s3ID}); err == nil || !strings.Contains(err.Error(), "no object store") {
		t.Fatalf("redrive without a store = %v", err)
	}
	admin.Values = dlq.S3Values(cfg, 0)
	got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{})
	if err != nil || len(got) != 2 {
		t.Fatalf("redrive = %+v, %v", got, err)
	}
	out := k.ReadAll(t, contract.TopicUploaded, 2, 20*time.Second)
	if len(out) != 2 {
		t.Fatalf("%d records redriven, want 2", len(out))
	}
	for _, m := range out {
		want := inKafka
		if string(m.Key) == s3ID {
			want = big
		}
		if !bytes.Equal(m.Value, want) {
			t.Errorf("%s: value of %d bytes redriven, want %d", m.Key, len(m.Value), len(want))
		}
		hs := headersOf(m)
		if contract.HeaderValue(hs, contract.HeaderDLQValueRef) != "" || contract.HeaderValue(hs, contract.HeaderDLQValueBytes) != "" {
			t.Errorf("%s: dlq value headers kept", m.Key)
		}
	}
}
