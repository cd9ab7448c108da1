package dlq_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/dlq"
)

// chunkDeadLetter is the dead letter transcode's chunk consumer writes for
// video chunk 3 of id: key "<id>/v00003", dlq.topic video.transcode.chunks.
func chunkDeadLetter(t *testing.T, id string) kafka.Message {
	t.Helper()
	orig := []contract.Header{
		{Key: contract.HeaderSpecVersion, Value: []byte("1.0")},
		{Key: contract.HeaderType, Value: []byte(contract.TypeTranscodeChunk)},
		{Key: contract.HeaderID, Value: []byte("ce-chunk-" + id)},
	}
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicTranscodeChunks, Partition: 1, Offset: 9,
		Group: "transcode-chunks", Err: "ffmpeg: exit status 1", Class: contract.ErrorClassExhausted, Attempts: 5, FailedAt: time.Now()}
	var hs []kafka.Header
	for _, h := range dl.Headers(orig) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return kafka.Message{Topic: contract.TopicTranscodeDLQ, Key: []byte(contract.ChunkKey(id, contract.ChunkVideo, 3)),
		Value: []byte(`{"video_id":"` + id + `","kind":"video","index":3}`), Headers: hs}
}

// TestRedriveChunkDeadLetter: a dead letter of a work item goes back to
// the work topic it came from, with its key, and --id selects it by its
// video; the stage's input dead letters still go to the input.
func TestRedriveChunkDeadLetter(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 3)
	id, other := contract.NewID(), contract.NewID()
	k.Produce(t, chunkDeadLetter(t, id), deadLetter(t, id, 0), chunkDeadLetter(t, other))
	ctx := context.Background()
	admin := dlq.NewAdmin(k.Brokers)
	defer admin.Close()

	recs, err := admin.List(ctx, contract.StageTranscode, false)
	if err != nil || len(recs) != 3 {
		t.Fatalf("List = %d records, %v; want 3", len(recs), err)
	}
	got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{VideoID: id})
	if err != nil || len(got) != 2 {
		t.Fatalf("redrive --id = %+v, %v; want the video's chunk and upload dead letters", got, err)
	}
	for _, r := range got {
		want := contract.TopicUploaded
		if r.Key != id {
			want = contract.TopicTranscodeChunks
		}
		if to := dlq.RedriveTopic(contract.StageTranscode, r); to != want {
			t.Errorf("RedriveTopic(%s) = %s, want %s", r.Key, to, want)
		}
	}
	chunks := k.ReadAll(t, contract.TopicTranscodeChunks, 1, 10*time.Second)
	if len(chunks) != 1 || string(chunks[0].Key) != id+"/v00003" {
		t.Fatalf("redriven to %s: %d records (key %q), want the chunk with its key %s/v00003", contract.TopicTranscodeChunks, len(chunks), keyOf(chunks), id)
	}
	hs := make([]contract.Header, len(chunks[0].Headers))
	for i, h := range chunks[0].Headers {
		hs[i] = contract.Header{Key: h.Key, Value: h.Value}
	}
	if _, isDLQ := contract.ParseDeadLetter(hs); isDLQ || contract.HeaderValue(hs, contract.HeaderType) != contract.TypeTranscodeChunk ||
		contract.HeaderValue(hs, contract.HeaderID) != contract.RedriveEventID("ce-chunk-"+id, 1) {
		t.Errorf("redriven chunk headers %v: want the original CloudEvents headers, a redrive ce_id, no dlq.*", hs)
	}
	if ups := k.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second); len(ups) != 1 || string(ups[0].Key) != id {
		t.Fatalf("redriven to %s: %d records, want the upload's", contract.TopicUploaded, len(ups))
	}
	pending, err := admin.List(ctx, contract.StageTranscode, false)
	if err != nil || len(pending) != 1 || pending[0].Key != contract.ChunkKey(other, contract.ChunkVideo, 3) {
		t.Fatalf("pending after redrive --id = %+v, %v; want the other video's chunk", pending, err)
	}
	// Run again: nothing of this video is left.
	if again, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{VideoID: id}); err != nil || len(again) != 0 {
		t.Fatalf("second redrive --id = %+v, %v; want none", again, err)
	}
}

func keyOf(ms []kafka.Message) string {
	if len(ms) == 0 {
		return ""
	}
	return string(ms[0].Key)
}

func TestRedriveTopic(t *testing.T) {
	rec := func(topic string) dlq.Record { return dlq.Record{DeadLetter: contract.DeadLetter{Topic: topic}} }
	for _, c := range []struct {
		stage contract.Stage
		from  string
		want  string
	}{
		{contract.StageTranscode, contract.TopicUploaded, contract.TopicUploaded},
		{contract.StageTranscode, contract.TopicTranscodeChunks, contract.TopicTranscodeChunks},
		{contract.StageTranscode, contract.TopicTranscodeChunksDone, contract.TopicTranscodeChunksDone},
		{contract.StageTranscode, "", contract.TopicUploaded},
		{contract.StageThumbnail, contract.TopicTranscodeChunks, contract.TopicTranscoded}, // not thumbnail's work
		{contract.StageThumbnail, contract.TopicTranscoded, contract.TopicTranscoded},
		{contract.StageThumbnail, contract.TopicDeleted, contract.TopicDeleted}, // its video.deleted consumer
		{contract.StageIndexer, contract.TopicUpdated, contract.TopicUpdated},
		{contract.StageIndexer, contract.TopicCaptions, contract.TopicCaptions}, // its video.captions consumer
	} {
		if got := dlq.RedriveTopic(c.stage, rec(c.from)); got != c.want {
			t.Errorf("RedriveTopic(%s, dlq.topic %q) = %s, want %s", c.stage, c.from, got, c.want)
		}
	}
	if !dlq.OfVideo("a/v00003", "a") || !dlq.OfVideo("a", "a") || dlq.OfVideo("ab", "a") || dlq.OfVideo("b/a", "a") {
		t.Error("OfVideo")
	}
}
