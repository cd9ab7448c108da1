package watch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/watch"
)

func TestMain(m *testing.M) { harness.Main(m) }

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestFollowPrintsStageAndDLQRecords(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 2)
	id := contract.NewID()
	dl := contract.DeadLetter{Stage: contract.StageThumbnail, Topic: contract.TopicTranscoded, Class: contract.ErrorClassExhausted,
		Attempts: 5, Err: "rendition missing", FailedAt: time.Now()}
	var dlh []kafka.Header
	for _, h := range dl.Headers([]contract.Header{{Key: contract.HeaderType, Value: []byte(contract.TypeTranscoded)}}) {
		dlh = append(dlh, kafka.Header{Key: h.Key, Value: h.Value})
	}
	k.Produce(t,
		kafka.Message{Topic: contract.TopicUploaded, Key: []byte(id), Value: []byte(`{}`), Headers: []kafka.Header{{Key: contract.HeaderType, Value: []byte(contract.TypeUploaded)}}},
		kafka.Message{Topic: contract.TopicThumbnailDLQ, Key: []byte(id), Value: []byte(`{}`), Headers: dlh},
		kafka.Message{Topic: contract.TopicUploaded, Key: []byte("other\x1b"), Value: []byte(`{}`)},
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuf
	done := make(chan error, 1)
	go func() {
		done <- watch.Follow(ctx, watch.Options{Brokers: k.Brokers, FromBeginning: true, Key: id}, &out)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (filtered by key):\n%s", len(lines), out.String())
	}
	var up, dead string
	for _, l := range lines {
		if strings.Contains(l, contract.TopicUploaded) {
			up = l
		} else {
			dead = l
		}
	}
	if !strings.Contains(up, id) || !strings.Contains(up, contract.TypeUploaded) {
		t.Errorf("stage line %q", up)
	}
	for _, want := range []string{contract.TopicThumbnailDLQ, "stage=thumbnail", "class=exhausted", "code=internal", "attempts=5", `error="rendition missing"`} {
		if !strings.Contains(dead, want) {
			t.Errorf("DLQ line %q lacks %q", dead, want)
		}
	}
}

func TestLineEscapesControlCharacters(t *testing.T) {
	l := watch.Line(kafka.Message{Topic: "video.uploaded", Key: []byte("a\x1b[31mb"), Time: time.Unix(0, 0)})
	if strings.ContainsRune(l, 0x1b) || !strings.Contains(l, "a?[31mb") {
		t.Fatalf("control characters not escaped: %q", l)
	}
	if l2 := watch.Line(kafka.Message{Topic: "video.uploaded"}); !strings.Contains(l2, "(no key)") {
		t.Fatalf("empty key not shown: %q", l2)
	}
}

func TestLineShowsDeadLetterValueRef(t *testing.T) {
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicUploaded, Class: contract.ErrorClassPermanent,
		Attempts: 1, Err: "too big", FailedAt: time.Now(), ValueRef: "s3://vidpipe/deadletters/transcode/video.uploaded/0/7", ValueBytes: 2 << 20}
	var hs []kafka.Header
	for _, h := range dl.Headers(nil) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	line := watch.Line(kafka.Message{Topic: contract.TopicTranscodeDLQ, Key: []byte("v"), Headers: hs, Time: time.Now()})
	if !strings.Contains(line, "value=s3://vidpipe/deadletters/transcode/video.uploaded/0/7 (2097152 bytes)") {
		t.Fatalf("line %q does not show the value reference and size", line)
	}
}

func TestLineShowsWebhookDeadLetter(t *testing.T) {
	dl := contract.DeadLetter{Stage: contract.StageWebhooks, Topic: contract.TopicReady, Partition: -1, Offset: -1, Class: contract.ErrorClassExhausted,
		Attempts: 30, Err: "last: HTTP 503", FailedAt: time.Now()}
	var hs []kafka.Header
	for _, h := range dl.Headers([]contract.Header{{Key: contract.HeaderWebhookEndpoint, Value: []byte("ep-1")}, {Key: contract.HeaderWebhookEventID, Value: []byte("ev-1")}}) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	line := watch.Line(kafka.Message{Topic: contract.TopicWebhooksDLQ, Key: []byte("v"), Headers: hs, Time: time.Now()})
	if !strings.Contains(line, "stage=webhooks class=exhausted") || !strings.Contains(line, "endpoint=ep-1 event=ev-1") {
		t.Fatalf("line %q does not show the webhook delivery", line)
	}
}

// TestFollowPipelineTopics: without Topics, Follow reads every topic of
// Options.Pipeline, so a stage declared in the table is watched with no
// list to update, and its longer topic names keep the columns aligned.
func TestFollowPipelineTopics(t *testing.T) {
	def := contract.DefaultPipeline()
	last, _ := def.StepAt(def.MaxRank())
	// Its dead-letter topic is longer than every topic of the default
	// pipeline (video.transcode.chunks-done, 27 characters).
	const longDLQ = "video.noop-stage-with-a-long-name.dlq"
	p, err := def.With(contract.StageSpec{Name: "noop", Input: last.Topic, DLQ: longDLQ,
		Output: contract.Step{Topic: "video.nooped", Type: "dev.vidpipe.video.nooped.v1", Status: "nooped", Decode: contract.DecodeAs[contract.VideoReady]}})
	if err != nil {
		t.Fatal(err)
	}
	k := harness.StartKafka(t)
	k.CreateTopics(t, 1, p.AllTopics()...)
	id := contract.NewID()
	k.Produce(t,
		kafka.Message{Topic: "video.nooped", Key: []byte(id), Value: []byte(`{}`), Headers: []kafka.Header{{Key: contract.HeaderType, Value: []byte("dev.vidpipe.video.nooped.v1")}}},
		kafka.Message{Topic: contract.TopicUploaded, Key: []byte(id), Value: []byte(`{}`), Headers: []kafka.Header{{Key: contract.HeaderType, Value: []byte(contract.TypeUploaded)}}},
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuf
	done := make(chan error, 1)
	go func() {
		done <- watch.Follow(ctx, watch.Options{Brokers: k.Brokers, FromBeginning: true, Pipeline: p}, &out)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want the video.nooped and video.uploaded records:\n%s", len(lines), out.String())
	}
	// Padded to longDLQ: the key starts at the same column on both lines.
	col := -1
	for _, l := range lines {
		i := strings.Index(l, id)
		if i < 0 || (col >= 0 && i != col) {
			t.Fatalf("key not at one column:\n%s", out.String())
		}
		col = i
		if strings.Contains(l, "video.nooped") && !strings.Contains(l, "video.nooped"+strings.Repeat(" ", len(longDLQ)-len("video.nooped")+2)+id) {
			t.Errorf("nooped line not padded to the longest topic: %q", l)
		}
	}
}

// segmentRecords are one video's records of the segment pipeline: a plan's
// work items, their completions, video.playable and a chunk's dead letter.
func segmentRecords(t *testing.T, id string) []kafka.Message {
	t.Helper()
	video := contract.Video{VideoID: id, Owner: "alice", Source: contract.SourceObject{Bucket: "b", Key: contract.SourceKey(id)}}
	run := contract.DeriveID("run", id)
	work := func(kind string, index int) contract.TranscodeChunk {
		return contract.TranscodeChunk{SchemaVersion: contract.SchemaVersion, Video: video, Run: run, Kind: kind, Index: index, Chunks: 30,
			PlanKey: contract.ChunkWorkPrefix(id, run) + "plan.json"}
	}
	done := func(kind string, index, segments int, complete bool) contract.TranscodeChunkDone {
		return contract.TranscodeChunkDone{SchemaVersion: contract.SchemaVersion, Video: video, Run: run, Kind: kind, Index: index,
			Chunks: 30, Segments: segments, Complete: complete, SegmentsTotal: 59}
	}
	msg := func(e contract.Event) kafka.Message {
		v, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Topic: e.Topic(), Key: []byte(e.Key()), Value: v, Time: time.Unix(0, 0),
			Headers: []kafka.Header{{Key: contract.HeaderType, Value: []byte(e.EventType())}}}
	}
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicTranscodeChunks, Group: "transcode-chunks",
		Class: contract.ErrorClassExhausted, Attempts: 5, Err: "ffmpeg: exit status 1", FailedAt: time.Now()}
	dead := msg(work(contract.ChunkVideo, 7))
	dead.Topic, dead.Headers = contract.TopicTranscodeDLQ, nil
	for _, h := range dl.Headers([]contract.Header{{Key: contract.HeaderType, Value: []byte(contract.TypeTranscodeChunk)}}) {
		dead.Headers = append(dead.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return []kafka.Message{
		msg(work(contract.ChunkVideo, 3)),
		msg(work(contract.ChunkAudio, 0)),
		msg(done(contract.ChunkVideo, 3, 2, true)),
		msg(done(contract.ChunkAudio, 0, 12, false)),
		msg(done(contract.ChunkAudio, 0, 150, true)),
		msg(contract.VideoPlayable{SchemaVersion: contract.SchemaVersion, Video: video, Chunks: 30, Segments: 59,
			HLS: contract.HLS{MasterKey: contract.HLSMasterKey(id)}}),
		dead,
	}
}

// TestLineSegmentPipeline: the work items, their completions and
// video.playable read as what they say, keyed by the video.
func TestLineSegmentPipeline(t *testing.T) {
	id := contract.NewID()
	want := []string{
		id + "  " + contract.TypeTranscodeChunk + "  chunk 3/30",
		id + "  " + contract.TypeTranscodeChunk + "  audio",
		id + "  " + contract.TypeTranscodeChunkDone + "  chunk 3 done (2 segments)",
		id + "  " + contract.TypeTranscodeChunkDone + "  audio 12 segments",
		id + "  " + contract.TypeTranscodeChunkDone + "  audio done (150 segments)",
		id + "  " + contract.TypePlayable + "  playable (30 chunks, 59 segments)",
		id + "  " + contract.TypeTranscodeChunk + "  chunk 7/30  stage=transcode class=exhausted",
	}
	for i, m := range segmentRecords(t, id) {
		l := watch.Line(m)
		if !strings.Contains(l, want[i]) || !strings.Contains(l, m.Topic+" ") {
			t.Errorf("line %d: %q\nlacks %q", i, l, want[i])
		}
	}
	// A work item whose value says nothing still shows its item.
	l := watch.Line(kafka.Message{Topic: contract.TopicTranscodeChunks, Key: []byte(id + "/v00004"), Value: []byte("{")})
	if !strings.Contains(l, id+"  -  item=v00004") {
		t.Errorf("undecodable work item: %q", l)
	}
	if got := watch.Summary(contract.TopicUploaded, []byte(`{}`)); got != "" {
		t.Errorf("Summary of video.uploaded = %q, want none", got)
	}
}

// TestFollowWorkTopics: Follow reads the work topics and video.playable by
// default, and --id keeps a video's work items (keys "<id>/<item>").
func TestFollowWorkTopics(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 2)
	id := contract.NewID()
	recs := segmentRecords(t, id)
	k.Produce(t, append(recs, segmentRecords(t, contract.NewID())...)...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuf
	done := make(chan error, 1)
	go func() {
		done <- watch.Follow(ctx, watch.Options{Brokers: k.Brokers, FromBeginning: true, Key: id}, &out)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(out.String(), "\n") < len(recs) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("got %d lines, want the video's %d records:\n%s", len(lines), len(recs), out.String())
	}
	for _, want := range []string{"chunk 3/30", "chunk 3 done (2 segments)", "playable (30 chunks, 59 segments)", "chunk 7/30  stage=transcode"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), id) != len(recs) {
		t.Errorf("lines of another video:\n%s", out.String())
	}
}

// TestLifecycleLines: video.deleted and video.updated have a line that
// says who deleted or what was edited.
func TestLifecycleLines(t *testing.T) {
	id := contract.NewID()
	del, err := contract.Encode(contract.VideoDeleted{SchemaVersion: contract.SchemaVersion, VideoID: id, Owner: "alice", DeletedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	upd, err := contract.Encode(contract.VideoUpdated{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "alice", Title: "New title", Tags: []string{"a", "b"},
		Source:     contract.SourceObject{Bucket: "b", Key: contract.SourceKey(id), Size: 1, ContentType: "video/mp4"},
		UploadedAt: time.Now()}, UpdatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	caps, err := contract.Encode(contract.VideoCaptions{SchemaVersion: contract.SchemaVersion, VideoID: id, Owner: "alice",
		Language: "en-US", Label: "English", ObjectKey: contract.CaptionKey(id, "en-US"),
		Cues: []contract.CaptionCue{{StartMS: 0, EndMS: 1000, Text: "a"}, {StartMS: 1000, EndMS: 2000, Text: "b"}}, UpdatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	capsDel, err := contract.Encode(contract.VideoCaptions{SchemaVersion: contract.SchemaVersion, VideoID: id, Owner: "alice",
		Language: "fr", ObjectKey: contract.CaptionKey(id, "fr"), Deleted: true, UpdatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		topic string
		value []byte
		want  string
	}{
		{contract.TopicDeleted, del, "deleted by alice"},
		{contract.TopicUpdated, upd, `updated by alice: title "New title", 2 tags`},
		{contract.TopicCaptions, caps, `captions en-US "English" by alice: 2 cues`},
		{contract.TopicCaptions, capsDel, `captions fr deleted by alice`},
	} {
		l := watch.Line(kafka.Message{Topic: c.topic, Key: []byte(id), Value: c.value})
		if !strings.Contains(l, c.topic) || !strings.Contains(l, id) || !strings.Contains(l, c.want) {
			t.Errorf("%s line %q lacks %q", c.topic, l, c.want)
		}
	}
}
