package main

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/config"
)

func TestMain(m *testing.M) { harness.Main(m) }

func TestRunHelpAndBadConfig(t *testing.T) {
	ctx := context.Background()
	if err := run(ctx, []string{"-h"}, nil, io.Discard); err != nil {
		t.Errorf("run -h: %v, want nil", err)
	}
	if err := run(ctx, []string{"--postgres.max_conns=0"}, nil, io.Discard); err == nil {
		t.Error("run with max_conns=0 succeeded")
	}
}

// record returns a video.thumbnailed record as the thumbnail stage
// publishes it.
func record(tb testing.TB, e contract.VideoThumbnailed) kafka.Message {
	tb.Helper()
	value, err := contract.Encode(e)
	if err != nil {
		tb.Fatal(err)
	}
	var hs []kafka.Header
	for _, h := range contract.CloudEventHeaders(e, contract.Meta{ID: contract.NewID(), Source: contract.SourceFor("thumbnail"), Time: time.Now()}) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return kafka.Message{Topic: contract.TopicThumbnailed, Key: []byte(e.Key()), Value: value, Headers: hs}
}

func thumbnailed() contract.VideoThumbnailed {
	id := contract.NewID()
	t0 := time.Now().UTC().Truncate(time.Second)
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "alice", Title: "Harbour at dawn", Tags: []string{"boats"},
		Source:     contract.SourceObject{Bucket: "vidpipe", Key: contract.SourceKey(id), Size: 10_000, ContentType: "video/mp4"},
		UploadedAt: t0,
	}}
	tr := up.Transcoded(contract.Media{DurationSeconds: 8, Width: 640, Height: 360},
		[]contract.Rendition{{Name: "360p", Width: 640, Height: 360, Key: contract.RenditionKey(id, "360p"), Size: 5000}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, t0)
	return tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 640, Height: 360, Size: 5000},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "thumb.jpg", Width: 320, Height: 180, Size: 900},
	}, t0)
}

// TestRunIndexesAndPublishes runs the service against a real broker and a
// real PostgreSQL: the event lands in the catalog and video.ready carries
// the document; a replayed event republishes the same document.
func TestRunIndexesAndPublishes(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	dbURL := harness.MustDatabase(t, harness.SharedPostgres(t))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"--kafka.brokers=" + k.Brokers[0],
			"--postgres.url=" + dbURL,
			"--stage.http_addr=127.0.0.1:0",
			"--stage.commit_interval=0",
			"--stage.shutdown_grace=5s",
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

	in := thumbnailed()
	k.Produce(t, record(t, in))
	msgs := k.ReadAll(t, contract.TopicReady, 1, 90*time.Second)
	ready, err := contract.Decode[contract.VideoReady](msgs[0].Value)
	if err != nil {
		t.Fatalf("video.ready does not decode: %v", err)
	}
	if ready.VideoID != in.VideoID || string(msgs[0].Key) != in.VideoID || ready.ReadyAt.IsZero() {
		t.Errorf("video.ready = %s", msgs[0].Value)
	}

	pool, err := catalog.Connect(context.Background(), config.Postgres{URL: dbURL, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	stored, err := catalog.New(pool).Get(context.Background(), "alice", in.VideoID)
	if err != nil {
		t.Fatalf("catalog row: %v", err)
	}
	if !stored.ReadyAt.Equal(ready.ReadyAt) || stored.Title != in.Title {
		t.Errorf("catalog row = %+v, want the published document", stored)
	}

	// Replay: the same input record again.
	k.Produce(t, record(t, in))
	msgs = k.ReadAll(t, contract.TopicReady, 2, 90*time.Second)
	if !bytes.Equal(msgs[0].Value, msgs[1].Value) {
		t.Errorf("replay published another document:\n%s\n%s", msgs[0].Value, msgs[1].Value)
	}
	if lag := waitLag(t, k); lag != 0 {
		t.Errorf("consumer lag = %d, want 0", lag)
	}

	// video.captions (as upload-api publishes it): the cues become
	// searchable, with their start (consumer lifecycle-captions, group
	// indexer-lifecycle).
	caps := contract.VideoCaptions{SchemaVersion: contract.SchemaVersion, VideoID: in.VideoID, Owner: "alice", Language: "en",
		Label: "English", ObjectKey: contract.CaptionKey(in.VideoID, "en"), UpdatedAt: time.Now().UTC(),
		Cues: []contract.CaptionCue{{StartMS: 0, EndMS: 2000, Text: "good morning"}, {StartMS: 4250, EndMS: 6000, Text: "the lighthouse keeper waves"}}}
	value, err := contract.Encode(caps)
	if err != nil {
		t.Fatal(err)
	}
	var hs []kafka.Header
	for _, h := range contract.CloudEventHeaders(caps, contract.Meta{ID: contract.NewID(), Source: contract.SourceFor("upload-api"), Time: time.Now()}) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	k.Produce(t, kafka.Message{Topic: contract.TopicCaptions, Key: []byte(caps.VideoID), Value: value, Headers: hs})
	var hits []catalog.CaptionHit
	for range 600 { // bounded wait for the consumer, not a timing assertion
		rs, _, err := catalog.New(pool).Search(context.Background(), "alice", "lighthouse", 10, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 1 {
			hits = rs[0].CaptionHits
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(hits) != 1 || hits[0].StartMS != 4250 || hits[0].Language != "en" || hits[0].Text != "the lighthouse keeper waves" {
		t.Fatalf("caption hits after video.captions: %+v", hits)
	}
}

// waitLag waits (bounded) for the indexer group to commit everything.
func waitLag(tb testing.TB, k *harness.Kafka) int64 {
	tb.Helper()
	var lag int64
	for range 100 {
		if lag = k.Lag(tb, contract.StageIndexer.Group(), contract.TopicThumbnailed); lag == 0 {
			return 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	return lag
}

// testWriter sends the service's logs to the test log.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", p)
	return len(p), nil
}
